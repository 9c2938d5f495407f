"""Time-of-day travel (``travel.congestion``): validation, exact trip times on a hand-built line,
factor 1.0 reproducing today's logs byte for byte, and exact dispatch ETAs with patrol under congestion.

The line network (``conftest.make_line_network``) is 0 - 1 - 2 - 3 - 4, two-way, 100 s per edge; the
station is at node 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policetwin.errors import ScenarioError
from policetwin.maps import Router
from policetwin.maps.synthetic import synthetic_city
from policetwin.scenarios import Scenario, scenario_from_text
from policetwin.sim.congestion import PROFILES, Congestion
from policetwin.sim.demand import CallBatch
from policetwin.sim.model import PoliceModel
from policetwin.sim.patrol import Patrol
from policetwin.sim.run import simulate, write_run_dir

#: 2.0 in the 08 h hour of every day, else 1.0 (a rush hour that doubles travel times).
RUSH = [2.0 if h == 8 else 1.0 for h in range(24)]

TEXT = """\
name: c
duration: 1h
map: synthetic:100:1
stations:
  - {name: A, lon: 0.0, lat: 0.0}
units: {count: 2}
demand: {rate_per_hour: 2}
travel:
  congestion: CONGESTION
"""


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("[1, 2, 3]", "24 (daily) or 168 (hour-of-week) factors, got 3"),
        ("weekday-peak", "unknown congestion profile 'weekday-peak'"),
        ("{primary: " + str([1.0] * 23) + "}", "congestion.primary: congestion needs 24"),
        ("{highway: weekday-peaks}", "unknown OSM highway class 'highway' in congestion"),
        ("{primary: 11}", "congestion.primary: congestion factors are numbers in [0.1, 10]"),
        ("{}", "needs at least one class"),
        (str([1.0] * 23 + [0.0]), "item 23 is 0.0"),
        ("[true" + ", 1" * 23 + "]", "item 0 is True"),
    ],
)
def test_bad_congestion_names_file_line_and_field(value: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(TEXT.replace("CONGESTION", value), "city.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("city.yaml:9: travel.congestion: "), problem
    assert fragment in problem


def test_congestion_is_off_by_default_and_named_profiles_resolve() -> None:
    assert (
        scenario_from_text(
            TEXT.replace("  congestion: CONGESTION\n", "  mode: network\n"), "x"
        ).travel.congestion
        is None
    )
    sc = scenario_from_text(TEXT.replace("CONGESTION", "weekday-peaks"), "x")
    week = Congestion(sc.travel.congestion, start="Mon 00:00").week
    assert week.size == 168 and list(week) == PROFILES["weekday-peaks"]
    assert week[8] == 1.5 and week[17] == 1.6 and week[5 * 24 + 8] == 1.0  # Mon 08 h, Mon 17 h, Sat 08 h
    daily = Congestion(RUSH, start="Tue 07:00")  # run time 0 is Tuesday 07:00
    assert [daily.factor_at(t) for t in (0.0, 3599.0, 3600.0, 7199.0, 7200.0, 86400.0 + 3600.0)] == [
        1.0, 1.0, 2.0, 2.0, 1.0, 2.0,
    ]  # fmt: skip


def line_scenario(congestion: object) -> Scenario:
    return Scenario.model_validate({
        "name": "rush", "start": "Mon 07:00", "duration": "2h", "map": "line",
        "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}], "units": {"count": 1},
        "demand": {"rate_per_hour": 1.0, "profile": "flat", "kinds": [{"name": "p1", "priority": 1, "share": 1,
                   "on_scene": {"dist": "fixed", "mean": 60}, "units": 1, "target": 600}]},
        "call_handling": {"takers": 5, "handling": {"dist": "fixed", "mean": 0}},
        "travel": {"congestion": congestion}, "outputs": {"report": False},
    })  # fmt: skip


def test_rush_hour_trip_times_on_the_line_are_the_analytic_ones(line_network) -> None:
    """07:10 to node 4: 400 s; 08:10 to node 3: 2 x 300 s; home at 2 x 300 s; then, 150 s into the drive
    home (half-way along 3 -> 2 at 200 s an edge), a call at node 4: 50 s to node 2, then 2 x 200 s."""
    model = PoliceModel(line_scenario(RUSH), seed=0, network=line_network)
    t = np.array([600.0, 4200.0, 5010.0])
    model.calls = CallBatch(t_call=t, kind=np.zeros(3, np.int16), node=np.array([4, 3, 4]),
                            handling_s=np.zeros(3), on_scene_s=np.full(3, 60.0))  # fmt: skip
    model.run()
    times = model.recorder.times
    assert times["t_arrive"][:3].tolist() == [1000.0, 4800.0, 5460.0]
    units = model.recorder.units_frame(model.unit_names)
    log = [(r.state, r.t_start, r.t_end) for r in units.itertuples()]
    assert log[:10] == [
        ("idle", 0.0, 600.0), ("enroute", 600.0, 1000.0), ("onscene", 1000.0, 1060.0),
        ("returning", 1060.0, 1460.0),  # 07:17: at 07 h's factor (1.0)
        ("idle", 1460.0, 4200.0), ("enroute", 4200.0, 4800.0), ("onscene", 4800.0, 4860.0),
        ("returning", 4860.0, 5010.0), ("enroute", 5010.0, 5460.0), ("onscene", 5460.0, 5520.0),
    ]  # fmt: skip
    assert log[10][:2] == ("returning", 5520.0) and log[10][2] == pytest.approx(5520.0 + 800.0)


def test_a_trip_keeps_its_departure_hours_factor(line_network) -> None:
    """Sent at 07:59 (factor 1) to node 4: 400 s although it arrives in the rush hour."""
    model = PoliceModel(line_scenario(RUSH), seed=0, network=line_network)
    model.calls = CallBatch(t_call=np.array([3540.0]), kind=np.zeros(1, np.int16), node=np.array([4]),
                            handling_s=np.zeros(1), on_scene_s=np.full(1, 60.0))  # fmt: skip
    model.run()
    assert model.recorder.times["t_arrive"][0] == 3940.0


def rich_scenario(policy: str, congestion: object) -> Scenario:
    """Patrol and station groups, emergency speeds, turn-out, a busy hour: every travel path used."""
    net = synthetic_city(n_nodes=900, seed=2)
    lon0, lat0, lon1, lat1 = net.bbox()
    stations = [{"name": f"S{i}", "lon": lon0 + (lon1 - lon0) * fx, "lat": lat0 + (lat1 - lat0) * fy}
                for i, (fx, fy) in enumerate([(0.25, 0.25), (0.75, 0.7)])]  # fmt: skip
    kinds = [{"name": "k1", "priority": 1, "share": 0.3, "units": 2, "target": 600,
              "on_scene": {"dist": "exponential", "mean": "20min"}},
             {"name": "k3", "priority": 3, "share": 0.7, "units": 1, "target": 1800,
              "on_scene": {"dist": "exponential", "mean": "30min"}}]  # fmt: skip
    return Scenario.model_validate({
        "seed": 5, "start": "Mon 07:00", "duration": "5h", "map": "synthetic:900:2", "stations": stations,
        "units": {"groups": [{"name": "p", "count": 3, "station": "S0", "idle": "random_beat"},
                             {"name": "h", "count": 2, "station": "S1", "idle": "hotspot"},
                             {"name": "s", "count": 3, "station": "S1"}]},
        "demand": {"rate_per_hour": 9, "profile": "flat", "kinds": kinds},
        "dispatch": {"policy": policy},
        "travel": {"priority_speed_factor": {1: 1.3}, "turnout": {"dist": "fixed", "mean": 45},
                   "congestion": congestion},
        "outputs": {"report": False},
    })  # fmt: skip


@pytest.mark.parametrize("policy", ["nearest", "priority_preempt"])
def test_congestion_one_everywhere_reproduces_the_logs_byte_for_byte(policy: str, tmp_path: Path) -> None:
    net = synthetic_city(n_nodes=900, seed=2)
    files = {}
    for label, congestion in [
        ("off", None),
        ("ones", [1.0] * 168),
        ("class-ones", {"primary": 1, "other": [1] * 24}),
    ]:
        result = simulate(rich_scenario(policy, congestion), network=net)
        write_run_dir(result, tmp_path / label)
        files[label] = {p.name: p.read_bytes() for p in sorted((tmp_path / label).glob("*.parquet"))}
    assert {"incidents.parquet", "units.parquet", "trips.parquet"} <= set(files["off"])
    assert files["ones"] == files["off"]
    assert files["class-ones"] == files["off"]  # per road class: every hour on the run's own router


class CongestedEtas:
    """Wraps the policy: every ETA equals brute force, position + the hour's factor x exact reverse row."""

    def __init__(self, policy, network, congestion: Congestion) -> None:
        self.policy, self.congestion = policy, congestion
        self.router = Router(network.n_nodes, network.edge_u, network.edge_v, network.travel_times_s())
        self.checked = self.from_patrol = 0

    def select(self, incident, candidates, eta_s, model):
        now = model.env.now
        row = self.router.times_to(incident.node).astype(float) * self.congestion.factor_at(now)
        for j, index in enumerate(candidates.tolist()):
            unit = model.units[index]
            nxt, offset = unit.position(now)
            assert eta_s[j] == pytest.approx(row[nxt] + offset, rel=1e-5, abs=1e-3)
            self.checked += 1
            self.from_patrol += unit.state.name == "patrol"
        return self.policy.select(incident, candidates, eta_s, model)

    def next_call(self, unit, waiting, model):
        return self.policy.next_call(unit, waiting, model)


def test_dispatch_under_congestion_times_units_exactly_and_tours_keep_their_hours_factor(monkeypatch) -> None:
    net = synthetic_city(n_nodes=900, seed=2)
    factors = [1.0, 1.8, 1.3] * 8  # 07 h (the start): 1.8
    tours: list[tuple[float, float, int]] = []  # (when drawn, the tour's rate, group)
    new_tour = Patrol._new_tour

    def noting(self: Patrol, g: int, first: int, unit: int):
        tour = new_tour(self, g, first, unit)
        tours.append((self.env.now, tour.rate, g))
        return tour

    monkeypatch.setattr(Patrol, "_new_tour", noting)
    model = PoliceModel(rich_scenario("nearest", factors), network=net)
    wrapped = model.dispatcher.policy = CongestedEtas(model.dispatcher.policy, net, model.congestion)
    model.run()
    assert wrapped.checked > 100 and wrapped.from_patrol > 20
    assert len(tours) >= 5 and model.congestion.factor_at(tours[0][0]) == 1.8
    for when, rate, g in tours:
        assert rate == model.patrol.rate[g] / model.congestion.factor_at(when)


def triangle_network():
    """0 - 1 - 2 on a primary road (100 s an edge), and a residential short cut 0 - 2 of 300 s; two-way."""
    from policetwin.maps.network import build_network

    ids = np.array([100, 101, 102])
    u = np.array([100, 101, 100, 101, 102, 102])
    v = np.array([101, 102, 102, 100, 101, 100])
    return build_network(
        name="triangle", source="hand-built test triangle", node_id=ids,
        lon=np.array([0.0, 0.009, 0.018]), lat=np.zeros(3), edge_u_id=u, edge_v_id=v,
        length_m=np.array([1000.0, 1000.0, 3000.0, 1000.0, 1000.0, 3000.0]),
        highway=np.array(["primary", "primary", "residential"] * 2, dtype=object),
        maxspeed_kph=np.full(6, 36.0),
    )  # fmt: skip


def test_rush_hour_on_one_road_class_takes_the_other_route() -> None:
    """Primary roads twice as slow in the 08 h hour: at 07:10 the call at node 2 is reached over the
    primary road (200 s), at 08:10 by the residential short cut (300 s, not 400 s): a different route,
    exactly the analytic times; the drive home departs in its own hour."""
    network = triangle_network()
    scenario = line_scenario({"primary": RUSH}).model_copy(update={"map": "triangle"})
    model = PoliceModel(scenario, seed=0, network=network)
    assert model.class_congestion is not None
    model.calls = CallBatch(t_call=np.array([600.0, 4200.0]), kind=np.zeros(2, np.int16), node=np.array([2, 2]),
                            handling_s=np.zeros(2), on_scene_s=np.full(2, 60.0))  # fmt: skip
    model.run()
    assert model.recorder.times["t_arrive"][:2].tolist() == [800.0, 4500.0]
    units = model.recorder.units_frame(model.unit_names)
    log = [(r.state, r.t_start, r.t_end) for r in units.itertuples()]
    assert log[3] == ("returning", 860.0, 1060.0)  # 07 h: the primary road
    assert log[7] == ("returning", 4560.0, 4860.0)  # 08 h: the short cut
    assert model.class_congestion.switches >= 2  # into the rush hour and out of it


def test_a_run_starting_in_the_rush_hour_gets_the_free_router_back_after_it() -> None:
    """Started at 08:00 (primary roads doubled): the call at 08:10 takes the short cut (300 s); the one at
    09:10, after the rush hour, the primary road again (200 s), on the run's own router."""
    network = triangle_network()
    scenario = line_scenario({"primary": RUSH}).model_copy(update={"map": "triangle", "start": "Mon 08:00"})
    model = PoliceModel(scenario, seed=0, network=network)
    base = model.router
    model.calls = CallBatch(t_call=np.array([600.0, 4200.0]), kind=np.zeros(2, np.int16), node=np.array([2, 2]),
                            handling_s=np.zeros(2), on_scene_s=np.full(2, 60.0))  # fmt: skip
    model.run()
    assert model.recorder.times["t_arrive"][:2].tolist() == [900.0, 4400.0]
    assert model.class_congestion.router(model.class_congestion.weighting(9)) is base


def test_class_factors_of_one_keep_the_run_s_own_router() -> None:
    network = triangle_network()
    scenario = line_scenario({"primary": 1, "other": "weekday-peaks"}).model_copy(update={"map": "triangle"})
    model = PoliceModel(scenario, seed=0, network=network)
    base = model.router
    congestion = model.class_congestion
    assert congestion.router(congestion.weighting(0)) is base  # Monday 00 h: every factor 1
    assert congestion.weighting(8) == (1.0, 1.5)  # Monday 08 h: residential (other) in the morning peak
    assert congestion.router(congestion.weighting(8)) is not base
    assert model.congestion.factor_at(8 * 3600.0) == 1.0  # the router carries the factors


def test_factors_for_a_road_class_the_map_lacks_are_a_warning() -> None:
    text = TEXT.replace("CONGESTION", "{motorway: weekday-peaks, primary: weekday-peaks}")
    scenario = scenario_from_text(text, "city.yaml")
    model = PoliceModel(scenario, network=synthetic_city(n_nodes=100, seed=1))
    (warning,) = [w for w in model.warnings if "travel.congestion" in w]
    assert warning.startswith("scenario:0: travel.congestion.motorway: warning: the map")
    assert "no 'motorway' roads" in warning
