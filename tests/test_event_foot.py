"""Officers on foot at the event walk to crowd calls at the crowd-slowed speed of the walk links they use
(policetwin.event.foot): hand-computed on a corridor, and end to end in the twin (dispatch and arrival)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policetwin.event.foot import link_times_s, walk_times_to_s
from policetwin.maps.load import load_map
from policetwin.scenarios.loader import load_scenario
from policetwin.sim.demand import CallBatch
from policetwin.sim.model import PoliceModel
from policetwin.verify.crowd import corridor

SMALL = ["event.attendees.total=3000", "duration=3h", "event.start=23:00", "event.end=23:45",
         "event.attendees.arrival.before=1h", "event.counterfactual=false", "travel.turnout=null"]  # fmt: skip


def weidmann_mps(rho: float) -> float:
    return 1.34 * (1.0 - math.exp(-1.913 * (1.0 / rho - 1.0 / 5.4))) if rho > 0 else 1.34


def test_walk_time_on_a_corridor_is_length_over_the_crowd_slowed_speed() -> None:
    net = corridor(3, 10.0, 2.0)
    rho = np.array([0.0, 2.0, 3.0])
    row = walk_times_to_s(net, link_times_s(net.length_m, rho), 3)
    # 10 m at 1.34 m/s, at v(2) = 0.606 m/s and at v(3) = 0.3307 m/s: 54.197 s
    expected = 10 / 1.34 + 10 / weidmann_mps(2.0) + 10 / weidmann_mps(3.0)
    assert expected == pytest.approx(10 / 1.34 + 10 / 0.60624 + 10 / 0.33069, rel=1e-4)
    assert row[0] == pytest.approx(expected, rel=1e-6)
    assert row[2] == pytest.approx(10 / weidmann_mps(3.0), rel=1e-6)
    # a jam at the holding cap is slow but passable (factor floored at 0.05 of free speed)
    assert link_times_s(np.array([10.0]), np.array([6.0]))[0] == pytest.approx(10 / (1.34 * 0.05))


@pytest.fixture(scope="module")
def network():
    return load_map(load_scenario("helsinki-newyear", SMALL).map)


def foot_arrival(network, rho_p_m2: float) -> tuple[float, float, str]:
    """(seconds from dispatch to arrival, walk time hand-built from the post, unit) of a crowd call at a
    venue node with every walk link at ``rho_p_m2``."""
    model = PoliceModel(load_scenario("helsinki-newyear", SMALL), seed=0, network=network)
    glue = model.event
    assert glue.foot is not None and model.etas.override is glue.foot
    net = glue.crowd.layout.network
    rho = np.full(net.n_links, rho_p_m2)
    glue.foot.density_p_m2 = lambda: rho
    model.calls = CallBatch(t_call=np.zeros(0), kind=np.zeros(0, np.int16), node=np.zeros(0, np.int64),
                            handling_s=np.zeros(0), on_scene_s=np.zeros(0))  # fmt: skip
    walk_node = int(glue.crowd.layout.venue_nodes[0])
    glue._call(glue.first_kind, walk_node, 600.0, "medical", link=-1)
    model.env.run(until=1800)
    rec = model.recorder
    unit = model.units[int(rec.first_unit[0])]
    assert glue.foot.foot[unit.index]
    # by hand: Dijkstra on the walk network, each link length / (1.34 x Weidmann factor), from the post
    link_s = net.length_m / weidmann_mps(rho_p_m2)
    expected = walk_times_to_s(net, link_s, walk_node)[glue.foot.post_walk[unit.index]]
    return float(rec.a_arrive[0] - rec.times["t_dispatch"][0]), float(expected), unit.name


def test_foot_officer_arrives_after_the_crowd_slowed_walk(network) -> None:
    free, expected_free, name = foot_arrival(network, 0.0)
    assert name.startswith("event-") and free == pytest.approx(expected_free, rel=1e-6, abs=1e-3)
    dense, expected_dense, _ = foot_arrival(network, 2.0)
    assert dense == pytest.approx(expected_dense, rel=1e-6, abs=1e-3)
    assert dense > free * 2.0  # v(2) = 0.61 m/s: the same walk takes 1.34 / 0.61 = 2.2 times as long
    assert dense == pytest.approx(free * 1.34 / weidmann_mps(2.0), rel=1e-4)


CLOSURE = ["event.road_closures=[]", "event.interventions=[{at: 1h, action: close_roads, ring: outer}, "
           "{at: 2h, action: open_roads}]"]  # fmt: skip


def test_timed_road_closure_times_calls_on_the_network_of_their_dispatch(network) -> None:
    """A routine call inside the outer ring dispatched before the closure is driven on the open roads,
    one while it holds on the closed roads (walking pace inside), one after it on the open roads again."""
    from policetwin.maps.router import Router
    from policetwin.sim.timed_roads import closure_areas, slowed_times

    scenario = load_scenario("helsinki-newyear", SMALL + CLOSURE)
    model = PoliceModel(scenario, seed=0, network=network)
    glue = model.event
    assert model.closed_edges is None and glue.timed_roads is not None
    model.calls = CallBatch(t_call=np.zeros(0), kind=np.zeros(0, np.int16), node=np.zeros(0, np.int64),
                            handling_s=np.zeros(0), on_scene_s=np.zeros(0))  # fmt: skip
    node = int(glue.walk_to_road[int(glue.crowd.layout.venue_nodes[0])])
    env = model.env
    env.process(glue.timed_roads.process(env))
    for t_s in (1800.0, 4000.0, 8000.0):
        env.timeout(t_s).callbacks.append(lambda _e: model.submit_call(kind=0, node=node, handling_s=0.0,
                                                                       on_scene_s=60.0, source="test"))  # fmt: skip
    env.run(until=9000)
    rec = model.recorder
    times = network.travel_times_s(
        overrides_kph=scenario.travel.speeds_kph, speed_factor=scenario.travel.speed_factor
    )
    closed = slowed_times(
        network, times, closure_areas(model.scenario, network, [scenario.event.interventions[0]]), [5.0]
    )
    assert (closed > times).sum() > 10
    open_row = Router(network.n_nodes, network.edge_u, network.edge_v, times).times_to(node)
    closed_row = Router(network.n_nodes, network.edge_u, network.edge_v, closed).times_to(node)
    got = []
    for row in range(3):
        unit = model.units[int(rec.first_unit[row])]
        factor = model.fleet._speed[model.kinds[0].priority]
        drive_s = (rec.times["t_arrive"][row] - rec.times["t_dispatch"][row]) / factor
        got.append((drive_s, float(open_row[unit.home_node]), float(closed_row[unit.home_node])))
    (before, before_open, _), (during, _, during_closed), (after, after_open, _) = got
    assert before == pytest.approx(before_open, rel=1e-5) and after == pytest.approx(after_open, rel=1e-5)
    assert during == pytest.approx(during_closed, rel=1e-5) and during > before
    assert [entry["at_s"] for entry in glue.timed_roads.log] == [3600.0, 7200.0]


def test_one_way_closes_the_direction_against_the_heading(network) -> None:
    """``one_way`` heading east: of each walk link near the point the westward direction closes for
    walkers (both ways in and out); routes no longer use it."""
    scenario = load_scenario("helsinki-newyear", SMALL)
    model = PoliceModel(scenario, seed=0, network=network)
    event = model.event.crowd
    walk = event.layout.network
    node = int(event.layout.venue_nodes[0])
    step = {"at": "10min", "action": "one_way", "lon": float(walk.lon[node]), "lat": float(walk.lat[node]),
            "radius_m": 60.0, "heading_deg": 90.0}  # fmt: skip
    scenario = load_scenario("helsinki-newyear", [*SMALL, f"event.interventions=[{step}]"])
    event = PoliceModel(scenario, seed=0, network=network).event.crowd
    crowd = event.crowd
    links = event._links_near(scenario.event.interventions[0])
    assert links.size >= 2
    before = crowd.closed_mode["in"].copy()
    event._do_one_way(0)
    dx = walk.x[walk.link_v[links]] - walk.x[walk.link_u[links]]
    eastward = np.where(dx > 0, 2 * links, 2 * links + 1)  # the direction with an eastward step stays open
    westward = eastward ^ 1
    for mode in ("in", "out"):
        assert crowd.closed_mode[mode][westward].all()
        assert (crowd.closed_mode[mode][eastward] == before[eastward]).all()
    crowd.reroute()
    used = crowd.next_tab[crowd.next_tab >= 0]
    assert not np.isin(used, westward).any()


def test_round_walks_the_posts_in_turn() -> None:
    """A round over nodes 0, 2, 4 of a 4-link corridor (10 m links): dwell, walk, dwell ... and back."""
    from policetwin.event.foot_round import ROUND_DWELL_S, ROUND_SPEED_MPS, Round

    net = corridor(4, 10.0, 2.0)
    r = Round(net, np.array([0, 2, 4]))
    leg = 20.0 / ROUND_SPEED_MPS
    assert r.moves and r.leg_s == pytest.approx([leg, leg, 2 * leg])
    assert r.where(0, 10.0) == (0, 0, 0.0, 0.0)  # waiting at its first post
    a, b, walked, length = r.where(0, ROUND_DWELL_S + 5.0)
    assert (a, b, length) == (0, 2, pytest.approx(leg)) and walked == pytest.approx(5.0)
    assert r.where(1, ROUND_DWELL_S + leg + 1.0)[:2] == (4, 4)  # unit starting at post 1 waits at post 2
    row = walk_times_to_s(net, net.length_m / ROUND_SPEED_MPS, 4)  # seconds to node 4
    # 5 s past post 0 towards post 2: on to node 2 (leg - 5 s), then 20 m more; not back to 0 (5 s + 40 m)
    assert r.eta_s(row, 0, ROUND_DWELL_S + 5.0) == pytest.approx(leg - 5.0 + leg)
    cycle = 3 * ROUND_DWELL_S + 4 * leg
    assert r.where(0, cycle + 10.0) == r.where(0, 10.0)  # round and round


def test_ring_patrol_answers_from_where_it_is_on_its_round(network) -> None:
    """In the twin: an idle ring-patrol officer's walk to a crowd call starts where its round has taken
    it (derived from time), not at its first post; gate posts stay put."""
    model = PoliceModel(load_scenario("helsinki-newyear", SMALL), seed=0, network=network)
    foot = model.event.foot
    unit = next(u for u in model.units if u.index in foot.rounds)
    gate = next(u for u in model.units if foot.foot[u.index] and u.index not in foot.rounds)
    r, start = foot.rounds[unit.index]
    target = int(model.event.crowd.layout.venue_nodes[0])
    node = int(model.event.walk_to_road[target])
    foot.call_walk[node] = target
    foot.density_p_m2 = lambda: np.zeros(foot.net.n_links)
    seen, gate_seen = [], []
    for t in (0.0, 200.0, 400.0, 700.0, 1000.0, 1500.0):
        if t > 0:
            model.env.run(until=t)
        assert unit.state.name == "idle" and unit.since == 0.0
        eta = foot(node, np.array([unit.index, gate.index]), np.zeros(2))
        row = foot.times_to_s(target)
        assert eta[0] == pytest.approx(r.eta_s(row, start, t))
        seen.append(eta[0])
        gate_seen.append(eta[1])
    assert seen[0] == pytest.approx(foot.times_to_s(target)[foot.post_walk[unit.index]])  # at its post first
    assert len({round(s, 3) for s in seen}) > 2  # then it moves
    assert len(set(gate_seen)) == 1
