"""Engine event-log tests (SimPy style): hand-made calls on a hand-built line, exact expected logs.

The line network (``conftest.make_line_network``) is 0 - 1 - 2 - 3 - 4, two-way, every edge exactly
100 s; the station is at node 0, so the travel time from the station to node k is 100 k seconds.
Calls are injected by replacing ``model.calls`` after constructing the model and before ``run()``:
the arrivals process reads ``self.calls`` only when the clock starts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policetwin.agents import UnitState
from policetwin.maps import RoadNetwork, Router
from policetwin.maps.synthetic import synthetic_city
from policetwin.scenarios import Scenario
from policetwin.sim.demand import CallBatch
from policetwin.sim.model import PoliceModel

FIXED = {"dist": "fixed", "mean": 60}
#: Kinds used by the tests: index 0..3.
KINDS = [
    {"name": "p1", "priority": 1, "share": 1, "on_scene": FIXED, "units": 1, "target": 600},
    {"name": "p2", "priority": 2, "share": 1, "on_scene": FIXED, "units": 1, "target": 600},
    {"name": "p3", "priority": 3, "share": 1, "on_scene": FIXED, "units": 1, "target": 600},
    {"name": "pair", "priority": 1, "share": 1, "on_scene": FIXED, "units": 2, "target": 600},
]
P1, P2, P3, PAIR = range(4)


def make_scenario(*, units: int = 1, takers: int = 50, handling_s: float = 0.0, travel: str = "network",
                  rate_per_hour: float = 1.0) -> Scenario:  # fmt: skip
    return Scenario.model_validate({
        "name": "engine-test",
        "duration": "1h",
        "map": "line",
        "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}],
        "units": {"count": units},
        # the two-unit kind (last) only where two units exist: a kind needing more units is an error
        "demand": {"rate_per_hour": rate_per_hour, "profile": "flat", "kinds": KINDS[: 3 + (units >= 2)]},
        "call_handling": {"takers": takers, "handling": {"dist": "fixed", "mean": handling_s}},
        "travel": {"mode": travel},
        "outputs": {"report": False},
    })  # fmt: skip


def run_calls(scenario: Scenario, network: RoadNetwork, calls: list[tuple[float, int, int, float]],
              handling_s: float = 0.0) -> tuple[pd.DataFrame, list[tuple], PoliceModel]:  # fmt: skip
    """Run exactly ``calls`` = [(t_call, kind, node index, on_scene_s), ...]; returns (incidents, unit log, model)."""
    model = PoliceModel(scenario, seed=0, network=network)
    t, kind, node, on_scene = (np.array(col) for col in zip(*calls, strict=True))
    model.calls = CallBatch(
        t_call=t.astype(float), kind=kind.astype(np.int16), node=node.astype(np.int64),
        handling_s=np.full(len(calls), handling_s), on_scene_s=on_scene.astype(float),
    )  # fmt: skip
    model.run()
    incidents = model.recorder.incidents_frame(
        kinds=model.kinds,
        node_ids=network.node_id,
        lon=network.lon,
        lat=network.lat,
        unit_names=model.unit_names,
    )
    units = model.recorder.units_frame(model.unit_names)
    log = [
        (r.unit_id, r.state, r.t_start, r.t_end, None if pd.isna(r.incident_id) else int(r.incident_id))
        for r in units.itertuples()
    ]
    return incidents, log, model


def stages(incidents: pd.DataFrame) -> list[tuple]:
    """(t_call, t_answer, t_ready, t_dispatch, t_arrive, t_clear, first_unit, n_units) per incident."""
    cols = ["t_call", "t_answer", "t_ready", "t_dispatch", "t_arrive", "t_clear", "first_unit", "n_units"]
    return [tuple(row) for row in incidents[cols].itertuples(index=False)]


def test_second_call_waits_for_the_only_unit(line_network):
    """Call 0 at t=10 to node 2 (200 s away, 500 s on scene); call 1 at t=100 to node 1 waits until
    the unit clears call 0 at 710, then drives 2 -> 1 (100 s) from where it is."""
    incidents, log, model = run_calls(make_scenario(), line_network, [(10, P1, 2, 500), (100, P1, 1, 300)])
    assert stages(incidents) == [
        (10.0, 10.0, 10.0, 10.0, 210.0, 710.0, "S-1", 1),
        (100.0, 100.0, 100.0, 710.0, 810.0, 1110.0, "S-1", 1),
    ]
    assert log == [
        ("S-1", "idle", 0.0, 10.0, None),
        ("S-1", "enroute", 10.0, 210.0, 0),
        ("S-1", "onscene", 210.0, 710.0, 0),
        ("S-1", "enroute", 710.0, 810.0, 1),  # no zero-length 'returning' interval at 710
        ("S-1", "onscene", 810.0, 1110.0, 1),
        ("S-1", "returning", 1110.0, 1210.0, None),
        ("S-1", "idle", 1210.0, 3600.0, None),  # the clock runs to the scenario's end
    ]
    assert len(model.dispatcher.queue) == 0  # the waiting call was taken off the queue


def test_priority_one_jumps_the_queue_and_fifo_within_a_priority(line_network):
    """The unit is busy until 1100 (at node 1). Waiting: p3 (t=200, node 2), p3 (t=250, node 4),
    p1 (t=300, node 3). It serves p1 first, then the two p3 calls in order of arrival."""
    calls = [(0, P2, 1, 1000), (200, P3, 2, 100), (250, P3, 4, 100), (300, P1, 3, 100)]
    incidents, log, _ = run_calls(make_scenario(), line_network, calls)
    assert stages(incidents) == [
        (0.0, 0.0, 0.0, 0.0, 100.0, 1100.0, "S-1", 1),
        (200.0, 200.0, 200.0, 1400.0, 1500.0, 1600.0, "S-1", 1),  # from node 3 to 2
        (250.0, 250.0, 250.0, 1600.0, 1800.0, 1900.0, "S-1", 1),  # from node 2 to 4
        (300.0, 300.0, 300.0, 1100.0, 1300.0, 1400.0, "S-1", 1),  # p1: from node 1 to 3
    ]
    assert [entry[4] for entry in log if entry[1] == "enroute"] == [0, 3, 1, 2]
    assert log[-2:] == [("S-1", "returning", 1900.0, 2300.0, None), ("S-1", "idle", 2300.0, 3600.0, None)]


def test_returning_unit_is_dispatched_from_where_it_is(line_network):
    """Call 0 at node 4 clears at 500; driving home the unit passes node 3 at 600 and node 2 at 700.
    Call 1 at t=650 at node 3: the unit is between 3 and 2, reaches node 2 at 700 (no U-turn
    mid-edge) and is back at node 3 at 800 - ETA 150 s, not the 300 s from the station."""
    incidents, log, _ = run_calls(make_scenario(), line_network, [(0, P1, 4, 100), (650, P1, 3, 100)])
    assert stages(incidents)[1] == (650.0, 650.0, 650.0, 650.0, 800.0, 900.0, "S-1", 1)
    assert log[:6] == [
        ("S-1", "enroute", 0.0, 400.0, 0),
        ("S-1", "onscene", 400.0, 500.0, 0),
        ("S-1", "returning", 500.0, 650.0, None),
        ("S-1", "enroute", 650.0, 800.0, 1),
        ("S-1", "onscene", 800.0, 900.0, 1),
        ("S-1", "returning", 900.0, 1200.0, None),
    ]


def test_nearest_compares_returning_and_idle_units(line_network):
    """Two units at the station; S-1 drives home from node 4 and is between 3 and 2 at t=650.
    A call at node 3 at 650: S-1 needs 50 + 100 = 150 s, idle S-2 300 s -> S-1. In a second run a
    call at node 1 at 650: S-1 needs 50 + 100 = 150 s, S-2 100 s -> S-2."""
    scenario = make_scenario(units=2)
    incidents, _, _ = run_calls(scenario, line_network, [(0, P1, 4, 100), (650, P1, 3, 100)])
    assert stages(incidents) == [
        (0.0, 0.0, 0.0, 0.0, 400.0, 500.0, "S-1", 1),  # equal ETAs: the lower unit index
        (650.0, 650.0, 650.0, 650.0, 800.0, 900.0, "S-1", 1),  # the returning unit is nearer
    ]
    incidents, _, _ = run_calls(scenario, line_network, [(0, P1, 4, 100), (650, P1, 1, 100)])
    assert stages(incidents)[1] == (650.0, 650.0, 650.0, 650.0, 750.0, 850.0, "S-2", 1)


def test_two_unit_call_gets_one_unit_now_and_the_second_later(line_network):
    """S-1 works call 0 at node 1 until 400. The pair call (t=50, node 2) gets S-2 at once
    (arrives 250; the call's 500 s of work run to 750) and S-1 when it frees at 400 (from node 1:
    arrives 500). Both units are released together when the work ends at 750."""
    incidents, log, _ = run_calls(make_scenario(units=2), line_network, [(0, P2, 1, 300), (50, PAIR, 2, 500)])
    assert stages(incidents) == [
        (0.0, 0.0, 0.0, 0.0, 100.0, 400.0, "S-1", 1),
        (50.0, 50.0, 50.0, 50.0, 250.0, 750.0, "S-2", 2),
    ]
    assert log == [
        ("S-1", "enroute", 0.0, 100.0, 0),
        ("S-1", "onscene", 100.0, 400.0, 0),
        ("S-1", "enroute", 400.0, 500.0, 1),
        ("S-1", "onscene", 500.0, 750.0, 1),
        ("S-1", "returning", 750.0, 950.0, None),  # from node 2
        ("S-1", "idle", 950.0, 3600.0, None),
        ("S-2", "idle", 0.0, 50.0, None),
        ("S-2", "enroute", 50.0, 250.0, 1),
        ("S-2", "onscene", 250.0, 750.0, 1),
        ("S-2", "returning", 750.0, 950.0, None),
        ("S-2", "idle", 950.0, 3600.0, None),
    ]


def test_two_unit_call_finished_before_a_second_unit_frees(line_network):
    """Same, but S-1 is busy until 1100: the pair call's work ends at 750 with one unit, so it
    clears at 750 with n_units 1 and S-1 goes home instead of driving to a finished call."""
    incidents, log, _ = run_calls(
        make_scenario(units=2), line_network, [(0, P2, 1, 1000), (50, PAIR, 2, 500)]
    )
    assert stages(incidents)[1] == (50.0, 50.0, 50.0, 50.0, 250.0, 750.0, "S-2", 1)
    assert ("S-1", "returning", 1100.0, 1200.0, None) in log
    assert [e for e in log if e[4] == 1] == [
        ("S-2", "enroute", 50.0, 250.0, 1),
        ("S-2", "onscene", 250.0, 750.0, 1),
    ]


def test_unit_arriving_after_the_work_ended_is_released_at_once(line_network):
    """S-1 works call 0 (node 1, 400 s) until 500. The pair call (t=10, node 4, 150 s of work) gets
    S-2 at once (arrives 410, work ends 560) and S-1 only at 500 from node 1 (300 s away): S-1 arrives
    at 800, after the work ended, so it is released on arrival; the call clears at 800."""
    incidents, log, _ = run_calls(make_scenario(units=2), line_network, [(0, P2, 1, 400), (10, PAIR, 4, 150)])
    assert stages(incidents)[1] == (10.0, 10.0, 10.0, 10.0, 410.0, 800.0, "S-2", 2)
    assert [e for e in log if e[4] == 1] == [
        ("S-1", "enroute", 500.0, 800.0, 1),
        ("S-2", "enroute", 10.0, 410.0, 1),
        ("S-2", "onscene", 410.0, 560.0, 1),
    ]
    assert ("S-1", "returning", 800.0, 1200.0, None) in log


def test_call_takers_queue_and_instant_travel(line_network):
    """One call-taker, 60 s handling: three calls at t=0 are answered at 0, 60, 120 and ready at 60,
    120, 180. With instant travel the units arrive the moment they are dispatched."""
    scenario = make_scenario(units=2, takers=1, handling_s=60, travel="instant")
    calls = [(0, P1, 4, 1000), (0, P1, 3, 1000), (0, P1, 2, 1000)]
    incidents, log, model = run_calls(scenario, line_network, calls, handling_s=60.0)
    assert model.router is None
    assert stages(incidents) == [
        (0.0, 0.0, 60.0, 60.0, 60.0, 1060.0, "S-1", 1),
        (0.0, 60.0, 120.0, 120.0, 120.0, 1120.0, "S-2", 1),
        (0.0, 120.0, 180.0, 1060.0, 1060.0, 2060.0, "S-1", 1),  # waits for S-1
    ]
    assert all(state != "enroute" for _, state, *_ in log)  # zero-length intervals are not logged


def test_call_at_the_station_node_is_reached_at_once(line_network):
    """A call at the unit's own node: ETA 0, t_arrive == t_dispatch; the unit is on scene for it."""
    incidents, log, _ = run_calls(make_scenario(), line_network, [(30, P1, 0, 100)])
    assert stages(incidents) == [(30.0, 30.0, 30.0, 30.0, 30.0, 130.0, "S-1", 1)]
    assert log == [
        ("S-1", "idle", 0.0, 30.0, None),
        ("S-1", "onscene", 30.0, 130.0, 0),
        ("S-1", "idle", 130.0, 3600.0, None),
    ]


def test_arrivals_read_the_replaced_calls(line_network):
    """Replacing model.calls before run() is honoured (the generated calls are not used)."""
    scenario = make_scenario(rate_per_hour=30.0)
    assert len(PoliceModel(scenario, seed=0, network=line_network).calls) > 5  # it did generate calls
    incidents, _, model = run_calls(scenario, line_network, [(5, P1, 1, 10)])
    assert model.recorder.n == 1
    assert stages(incidents) == [(5.0, 5.0, 5.0, 5.0, 105.0, 115.0, "S-1", 1)]


@pytest.mark.parametrize("on_scene_s", [0.0, 1e-6])
def test_zero_and_tiny_on_scene_times(line_network, on_scene_s):
    """Degenerate on-scene times still clear the call and free the unit."""
    incidents, _, _ = run_calls(make_scenario(), line_network, [(0, P1, 2, on_scene_s), (1, P1, 3, 10)])
    assert incidents["t_clear"].tolist() == pytest.approx([200.0 + on_scene_s, 200.0 + on_scene_s + 110.0])


class RecordingNearest:
    """Wraps the model's policy: checks each choice against exact ETAs from an independent router.

    The exact ETA of an idle unit is the full shortest time from its station; of a returning unit, the
    time to the next node on its way home plus the full shortest time from there (no U-turn mid-edge).
    """

    def __init__(self, policy, network: RoadNetwork) -> None:
        self.policy = policy
        self.name = policy.name
        self.router = Router(network.n_nodes, network.edge_u, network.edge_v, network.travel_times_s())
        self.decisions = 0
        self.with_returning = 0
        self.with_cut = 0

    def exact_etas(self, node: int, candidates: np.ndarray, model: PoliceModel) -> np.ndarray:
        row = self.router.times_to(node).astype(float)
        out = np.empty(candidates.size)
        for j, index in enumerate(candidates.tolist()):
            unit = model.units[index]
            nxt, offset = unit.position(model.env.now)
            assert unit.state != UnitState.idle or (nxt, offset) == (unit.home_node, 0.0)
            out[j] = row[nxt] + offset
        return out

    def select(self, incident, candidates, eta_s, model):
        chosen = self.policy.select(incident, candidates, eta_s, model)
        exact = self.exact_etas(incident.node, candidates, model)
        need = incident.units_needed - incident.assigned
        assert len(chosen) == min(need, candidates.size)
        kth_best = np.sort(exact)[len(chosen) - 1]
        for i in chosen:
            assert eta_s[i] == pytest.approx(exact[i], rel=1e-6, abs=1e-6)  # the bound never cut a chosen one
            assert exact[i] <= kth_best + 1e-6  # the chosen are the nearest
        finite = np.isfinite(eta_s)
        np.testing.assert_allclose(eta_s[finite], exact[finite], rtol=1e-6, atol=1e-6)
        assert np.all(exact[~finite] >= kth_best)  # only units that could not win were cut
        self.decisions += 1
        self.with_returning += bool(model.unit_returning[candidates].any())
        self.with_cut += bool((~finite).any())
        return chosen

    def next_call(self, unit, waiting, model):
        return self.policy.next_call(unit, waiting, model)


@pytest.fixture(scope="module")
def grid_city() -> RoadNetwork:
    """A SYNTHETIC 50 x 50 grid city with one-way streets (deterministic; ~6 km across)."""
    return synthetic_city(n_nodes=2500, seed=1)


def test_bounded_eta_search_picks_the_truly_nearest_units(grid_city):
    """A day with 16 units at 3 stations, 20 calls/h (a fifth of them need 2 units), many units driving
    home: every dispatch choice made with the pruned, bounded reverse search equals the choice made
    with exact ETAs, and exact ETAs are given for every unit not cut (this run: 400 decisions, 246
    with returning candidates, 108 bounded searches, 174 decisions with a unit cut)."""
    lon0, lat0, lon1, lat1 = grid_city.bbox()
    stations = [
        {"name": f"S{i}", "lon": lon0 + (lon1 - lon0) * fx, "lat": lat0 + (lat1 - lat0) * fy}
        for i, (fx, fy) in enumerate([(0.25, 0.25), (0.75, 0.5), (0.3, 0.8)])
    ]
    on_scene = {"dist": "exponential", "mean": "20min"}
    scenario = Scenario.model_validate({
        "seed": 3, "duration": "24h", "map": "synthetic:2500:1", "stations": stations, "units": {"count": 16},
        "demand": {"rate_per_hour": 20, "profile": "flat", "kinds": [
            {"name": "pair", "priority": 1, "share": 0.2, "units": 2, "target": 600, "on_scene": on_scene},
            {"name": "one", "priority": 2, "share": 0.8, "units": 1, "target": 600, "on_scene": on_scene},
        ]},
        "outputs": {"report": False},
    })  # fmt: skip
    model = PoliceModel(scenario, network=grid_city)
    bounded = []
    times_to = model.router.times_to

    def counting_times_to(target, *, limit_s=np.inf):
        bounded.append(limit_s < np.inf)
        return times_to(target, limit_s=limit_s)

    model.router.times_to = counting_times_to
    model.dispatcher.policy = RecordingNearest(model.dispatcher.policy, grid_city)
    model.run()
    assert model.dispatcher.policy.decisions > 200
    assert model.dispatcher.policy.with_returning > 120
    assert sum(bounded) > 50  # bounded searches did happen
    assert model.dispatcher.policy.with_cut > 80  # and returning units were cut by the lower bounds


def test_precomputed_rows_and_bounded_searches_choose_the_same_units(coquimbo_network, monkeypatch):
    """Dispatch with all rows precomputed (route-free pruning on exact rows) and dispatch with bounded
    reverse searches (pruning by station and straight-line bounds) give identical incident logs."""
    import policetwin.sim.model as engine
    from policetwin.scenarios import load_scenario
    from policetwin.sim.run import simulate

    scenario = load_scenario(
        "coquimbo", ["duration=1d", "demand.rate_per_hour=40", "units.count=40", "outputs.report=false"]
    )
    logs = {}
    for label, threshold in (("precomputed", 0), ("bounded", 10**9)):
        monkeypatch.setattr(engine, "WARM_CALLS_PER_NODE", threshold)
        result = simulate(scenario, network=coquimbo_network)
        assert result.model.router.dense
        logs[label] = (result.incidents, result.model.etas.pruned_searches)
    assert logs["bounded"][1] > 0  # the bounded path really pruned searches
    pd.testing.assert_frame_equal(logs["precomputed"][0], logs["bounded"][0])


def test_returning_unit_position_matches_a_walk_along_its_route(grid_city):
    """PatrolUnit.position (binary lifting on the station's tree) equals a plain walk along the
    fastest route home: the first node passed at or after now, and the seconds until then."""
    lon0, lat0, lon1, lat1 = grid_city.bbox()
    scenario = Scenario.model_validate({
        "duration": "1h", "map": "synthetic:2500:1", "units": {"count": 1},
        "stations": [{"name": "S", "lon": (lon0 + lon1) / 2, "lat": (lat0 + lat1) / 2}],
        "demand": {"rate_per_hour": 1}, "outputs": {"report": False},
    })  # fmt: skip
    model = PoliceModel(scenario, network=grid_city)
    unit = model.units[0]
    rng = np.random.default_rng(5)
    checked = 0
    for origin in rng.choice(grid_city.n_nodes, size=40, replace=False).tolist():
        nodes, cum = model.router.path(origin, unit.home_node)
        unit.set_state(UnitState.returning, 0.0)
        unit.start_trip(origin, 0.0)
        # the engine asks with non-decreasing times within a trip (the walk resumes where it stopped)
        for now in sorted([*rng.uniform(0.0, cum[-1] * 1.2, size=15).tolist(), *cum[1:].tolist()]):
            if now <= 0:
                continue
            got = unit.position(now)
            if cum[-1] < now - 1e-6:  # already home
                assert got == (unit.home_node, 0.0)
            else:
                i = int(np.argmax(cum >= now - 1e-6))  # first node passed at or after now
                at_node = (
                    abs(cum[i] - now) < 1e-6
                )  # float32 rows: a node passed exactly now may go either way
                assert got[0] == int(nodes[i]) or (
                    at_node and got[0] == int(nodes[min(i + 1, nodes.size - 1)])
                )
                assert got[1] == pytest.approx(max(float(cum[i] - now), 0.0), abs=1e-2)
            checked += 1
    assert checked > 500
