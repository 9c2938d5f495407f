"""Patrol (idle: random_beat / hotspot): a unit's position always lies on its route, dispatch from patrol
uses exact ETAs from where the unit is, hotspot patrol visits the beat's top demand nodes in turn, and
units resume patrol after a call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policetwin.agents import UnitState
from policetwin.maps import Router
from policetwin.maps.synthetic import synthetic_city
from policetwin.scenarios import Scenario
from policetwin.sim.model import PoliceModel
from policetwin.sim.recorder import TRIP_PURPOSES


@pytest.fixture(scope="module")
def grid_city():
    """A SYNTHETIC grid city with one-way streets (deterministic)."""
    return synthetic_city(n_nodes=2500, seed=1)


def patrol_scenario(network, idle: str, *, rate_per_hour: float = 6.0, duration: str = "12h") -> Scenario:
    lon0, lat0, lon1, lat1 = network.bbox()
    stations = [{"name": f"S{i}", "lon": lon0 + (lon1 - lon0) * fx, "lat": lat0 + (lat1 - lat0) * fy}
                for i, (fx, fy) in enumerate([(0.25, 0.25), (0.75, 0.7)])]  # fmt: skip
    on_scene = {"dist": "exponential", "mean": "20min"}
    return Scenario.model_validate({
        "seed": 4, "duration": duration, "map": "synthetic:2500:1", "stations": stations,
        "units": {"groups": [{"name": "p", "count": 4, "station": "S0", "idle": idle},
                             {"name": "q", "count": 2, "station": "S1", "idle": idle}]},
        "demand": {"rate_per_hour": rate_per_hour, "profile": "flat", "kinds": [
            {"name": "k", "priority": 1, "share": 1, "units": 1, "target": 600, "on_scene": on_scene}]},
        "outputs": {"report": False},
    })  # fmt: skip


def test_a_patrolling_unit_is_always_on_its_route(grid_city):
    model = PoliceModel(patrol_scenario(grid_city, "random_beat"), network=grid_city)
    router = Router(grid_city.n_nodes, grid_city.edge_u, grid_city.edge_v, grid_city.travel_times_s())
    unit = model.units[0]
    assert unit.state == UnitState.patrol
    checked = joining = 0
    for k in range(1, 400):
        now = k * 7.3
        model.env.run(until=now)
        if unit.state != UnitState.patrol:
            continue
        node, offset = unit.position(now)
        if unit.tour.on_at(now):  # on its tour: the leg under way
            leg = next(leg for leg in unit.tour.legs() if leg[3] >= now)
            origin, dest, depart, _ = leg
            assert (node, offset) == model.checkpoints.position(unit.index, now)  # asked again: the same
        else:  # driving back to its tour after a call
            origin, dest, depart = unit.node, unit.trip_dest, unit.trip_depart
            joining += 1
        path = router.path_nodes(origin, dest).tolist()
        assert node in path  # on the route of the leg under way
        if now > depart:  # arrives at that node at the time the route says (patrol speed)
            along = router.times_to(dest)[origin] - router.times_to(dest)[node]
            rate = model.scenario.units.groups[0].speed_factor
            assert depart + along / rate == pytest.approx(now + offset, abs=1e-3)  # float32 rows
        checked += 1
    assert checked > 100
    assert joining > 0  # also while driving back to the tour


class ExactEtas:
    """Wraps the policy: every decision's ETAs must equal brute force (position + exact reverse row)."""

    def __init__(self, policy, network):
        self.policy = policy
        self.router = Router(network.n_nodes, network.edge_u, network.edge_v, network.travel_times_s())
        self.decisions = self.from_patrol = 0

    def select(self, incident, candidates, eta_s, model):
        row = self.router.times_to(incident.node).astype(float)
        for j, index in enumerate(candidates.tolist()):
            unit = model.units[index]
            nxt, offset = unit.position(model.env.now)
            exact = row[nxt] + offset
            if np.isfinite(eta_s[j]):
                assert eta_s[j] == pytest.approx(exact, rel=1e-6, abs=1e-6)
            else:  # pruned by a lower bound: it could not have won
                assert exact >= eta_s.min()
            self.from_patrol += unit.state == UnitState.patrol
        self.decisions += 1
        chosen = self.policy.select(incident, candidates, eta_s, model)
        best = min(
            row[n] + o for n, o in (model.units[candidates[i]].position(model.env.now) for i in chosen)
        )
        assert (
            best
            <= min(row[n] + o for n, o in (model.units[c].position(model.env.now) for c in candidates)) + 1e-6
        )
        return chosen

    def next_call(self, unit, waiting, model):
        return self.policy.next_call(unit, waiting, model)


@pytest.mark.parametrize("idle", ["random_beat", "hotspot"])
def test_dispatch_from_patrol_uses_exact_etas(grid_city, idle):
    model = PoliceModel(patrol_scenario(grid_city, idle, rate_per_hour=10), network=grid_city)
    model.dispatcher.policy = ExactEtas(model.dispatcher.policy, grid_city)
    model.run()
    assert model.dispatcher.policy.decisions > 80
    assert model.dispatcher.policy.from_patrol > 200  # candidates on patrol were timed from where they were


def test_units_driving_back_to_their_tour_are_timed_alike_with_and_without_tree_arrays(
    grid_city, monkeypatch
):
    """Dispatch times units driving back to their tour in compiled code (the waypoints' trees as arrays)
    or, beyond the memory for those, by bounds and walks in Python: the same decisions and times."""
    import policetwin.sim.patrol as patrol
    from policetwin.sim.checkpoints import Checkpoints

    driving_back = []
    road_etas = Checkpoints.road_etas

    def counting(self, row, home_rows, unit_home, returning, candidates, node, now, **options):
        driving_back.append(int((self.exact[candidates] & (self.lead_end[candidates] > now)).sum()))
        return road_etas(self, row, home_rows, unit_home, returning, candidates, node, now, **options)

    monkeypatch.setattr(Checkpoints, "road_etas", counting)

    def logs():
        model = PoliceModel(patrol_scenario(grid_city, "random_beat", rate_per_hour=12), network=grid_city)
        model.run()
        return model.recorder.assignments_frame(model.unit_names), model.checkpoints.tree_rows

    compiled, rows = logs()
    assert sum(driving_back) >= 5  # candidates driving back to their tour, timed in compiled code
    monkeypatch.setattr(patrol, "TREES_BYTES", 0)
    walked, no_rows = logs()
    assert rows and not no_rows  # the two ways were both used
    pd.testing.assert_frame_equal(compiled, walked, check_exact=True)
    assert (compiled["unit_id"] != "").all() and len(compiled) > 80


def test_hotspot_patrol_visits_the_top_demand_nodes_in_turn(grid_city):
    model = PoliceModel(patrol_scenario(grid_city, "hotspot", rate_per_hour=0.01), network=grid_city)
    unit = model.units[0]
    beat = np.flatnonzero(model.node_district == 0)
    top = beat[np.argsort(-model.demand_weights[beat], kind="stable")[:5]]
    assert model.patrol.waypoints[0].tolist() == top.tolist()
    legs = unit.tour.legs()
    visits = [legs[0][0]] + [leg[1] for leg in legs]
    assert visits == [int(top[k % 5]) for k in range(len(legs) + 1)]
    dwell = [legs[k][2] - legs[k - 1][3] for k in range(1, len(legs))]
    assert dwell == pytest.approx([600.0] * (len(legs) - 1))  # the default 10 min at each


def test_units_resume_patrol_after_a_call(grid_city):
    from policetwin.sim.run import simulate

    result = simulate(patrol_scenario(grid_city, "random_beat"), network=grid_city)
    units = result.units.sort_values(["unit_id", "t_start"])
    following = units.groupby("unit_id")["state"].shift(-1)
    after_scene = following[units["state"] == "onscene"].dropna()
    assert len(after_scene) > 20
    assert set(after_scene) <= {"patrol", "enroute"}  # never back to the station first
    assert "idle" not in set(units["state"])


# ------------------------------------------------------------------------------------------- deterrence
def deterrence_scenario(probability: float, *, idle: str = "post") -> Scenario:
    from conftest import STEP_DEG

    group = {"name": "g", "count": 1, "station": "S", "idle": idle}
    if idle == "post":
        group["posts"] = [{"lon": 2 * STEP_DEG, "lat": 0.0}]
    return Scenario.model_validate({
        "name": "deter", "duration": "1h", "map": "line", "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}],
        "units": {"groups": [group]}, "deterrence": {"probability": probability, "radius_m": 50, "window": "15min"},
        "demand": {"rate_per_hour": 1.0, "profile": "flat", "kinds": [
            {"name": "k", "priority": 1, "share": 1, "on_scene": {"dist": "fixed", "mean": 60}, "target": 600}]},
        "call_handling": {"takers": 10, "handling": {"dist": "fixed", "mean": 0}}, "outputs": {"report": False},
    })  # fmt: skip


def test_presence_at_a_post_prevents_calls_there_only(line_network):
    from engine_calls import run_calls

    calls = [(100, 0, 2, 60), (1000, 0, 4, 60), (2000, 0, 2, 60)]
    incidents, _, _, model = run_calls(deterrence_scenario(1.0), line_network, calls)
    prevented = model.recorder.extra_tables["prevented"]
    # node 2 is the post: prevented while the unit waits there (at 100, and again at 2000: it went to node
    # 4 for the call at 1000, was back at its post at 1460); the call at node 4 is made
    assert [row["t_s"] for row in prevented] == [100.0, 2000.0]
    assert incidents["t_call"].tolist() == [1000.0]
    assert prevented[0]["node"] == 102 and prevented[0]["seen_unit"] == "g-1"


def test_deterrence_is_logged_never_dropped(line_network, tmp_path):
    from policetwin.sim.run import run

    result = run(deterrence_scenario(0.5).model_copy(update={"duration": 30 * 86400.0}), network=line_network,
                 out_dir=tmp_path / "run")  # fmt: skip
    import pandas as pd

    prevented = pd.read_parquet(tmp_path / "run" / "prevented.parquet")
    n = result.summary["prevented_by_presence"]
    assert n == len(prevented) > 0
    generated = len(result.model.calls)
    assert len(result.incidents) + n == generated  # every generated call is either made or prevented
    at_post = (result.model.calls.node == 2).sum()  # calls at the post: about half prevented
    assert abs(n - 0.5 * at_post) < 4 * np.sqrt(0.25 * at_post) + 0.1 * at_post


def test_deterrence_off_by_default_changes_nothing(line_network):
    from engine_calls import run_calls

    sc = deterrence_scenario(1.0).model_copy(update={"deterrence": None})
    incidents, _, _, model = run_calls(sc, line_network, [(100, 0, 2, 60)])
    assert len(incidents) == 1 and model.deterrence is None


def test_patrol_coverage_equals_walking_the_trip_log(grid_city):
    """The coverage figures (whole legs marked by route when their tour is done, cut legs up to where
    the unit was, drives back walked) equal an independent count from the trip log: every patrol trip
    (tour legs and drives back to a tour, whole or cut short by a call or the run's end) walked in Python
    along its route up to the last node reached by its end, its beat segments per shift instance (the
    one under way when it left), on a day with calls cutting tours short. A unit sent just as it
    reaches a node is a float tie (the engine and this walk add times in another order): such edges
    may count or not (``maybe``), all others must agree."""
    from itertools import pairwise

    sc = patrol_scenario(grid_city, "random_beat", rate_per_hour=8, duration="30h")
    sc = sc.model_copy(update={"outputs": sc.outputs.model_copy(update={"trips": True})})
    model = PoliceModel(sc, network=grid_city)
    model.run()
    coverage, network, rec = model.patrol_coverage, grid_city, model.recorder
    rate = sc.units.groups[0].speed_factor
    beat = model.node_district == 0
    u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
    inside = beat[u] & beat[v]
    length = {}
    for a, b, m in zip(
        u[inside].tolist(), v[inside].tolist(), network.length_m[inside].tolist(), strict=True
    ):
        length.setdefault((min(a, b), max(a, b)), m)
    spans = coverage.spans[0]
    passed: list[set] = [set() for _ in spans]
    maybe: list[set] = [set() for _ in spans]
    times = np.frombuffer(rec.tr_times, dtype=float).reshape(-1, 3)
    patrol = [i for i, (unit, purpose) in enumerate(zip(rec.tr_unit, rec.tr_purpose, strict=True))
              if purpose == TRIP_PURPOSES.index("patrol") and model.units[unit].group == 0]  # fmt: skip
    cut = 0
    for i in patrol:
        depart, arrive = times[i, 1], times[i, 2]
        end = min(arrive, model.env.now if np.isnan(rec.tr_end[i]) else rec.tr_end[i])
        cut += end < arrive
        k = next((k for k, (a, b, _) in enumerate(spans) if a <= depart < b), None)
        if k is None:
            continue
        route, reached = model.patrol.path(rec.tr_origin[i], rec.tr_dest[i])
        for into, tie in ((passed, -1e-6 if end < arrive else 0.0), (maybe, 1e-6)):
            nodes = route if end == arrive else [n for n, r in zip(route, reached, strict=True)
                                                 if depart + r / rate <= end + tie]  # fmt: skip
            into[k] |= {(min(a, b), max(a, b)) for a, b in pairwise(nodes)} & length.keys()
    assert cut > 10  # legs cut short
    low, high = ([sum(length[s] for s in p) / sum(length.values()) for p in sets] for sets in (passed, maybe))
    figures = coverage.figures()["p"]
    assert len(low) == 2  # two days
    assert np.mean(low) - 1e-12 <= figures["coverage_mean"] <= np.mean(high) + 1e-12
    assert np.mean(high) - np.mean(low) < 0.005  # (a few tied edges)
    assert 0.05 < figures["coverage_mean"] < 1.0
