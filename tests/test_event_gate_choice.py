"""Gate choice (policetwin.event.gate_choice): routes in weigh jammed approaches, not only gate queues.

Two gates into a venue: A is 20 m closer but behind a 1 m passage; B is behind a 60 m detour. Gate A's
queue stays empty (the passage meters the flow), so a choice by gate queues alone sends everyone to A
while the crowd jams in front of the passage. With the approach's congestion in the route cost, a jam
shifts the choice to B.
"""

from __future__ import annotations

import numpy as np
from test_event_crowd import CRS

from policetwin.event.crowd import EDGE, INSIDE, Crowd
from policetwin.event.gate_choice import gate_waits_s, in_route_cost_m
from policetwin.event.gates import Gate
from policetwin.event.walknet import WalkNetwork, build_walk_network
from policetwin.scenarios.base import Distribution

# directed edges: link k walked u -> v is edge 2k
O_TO_A, PASSAGE, GATE_A, O_TO_B, GATE_B = 0, 2, 4, 6, 8


def two_gates() -> WalkNetwork:
    """O -(20 m, 4 m)- A -(10 m, 1 m passage)- A2 -(10 m, gate A)- V; O -(60 m)- B -(10 m, gate B)- V."""
    ids = np.arange(1, 7)  # O, A, A2, B, V (index 4), spare id 6 unused by links
    x = np.array([0.0, 20.0, 30.0, 0.0, 40.0, 99.0])
    y = np.array([0.0, 0.0, 0.0, -60.0, 0.0, 99.0])
    u, v = np.array([1, 2, 3, 1, 4]), np.array([2, 3, 5, 4, 5])
    return build_walk_network(
        name="two-gates", source="hand-built", kind="walking", node_id=ids[:5], lon=x[:5] / 111_320.0,
        lat=y[:5] / 110_574.0, link_u_id=u, link_v_id=v, length_m=np.array([20.0, 10.0, 10.0, 60.0, 10.0]),
        width_m=np.array([4.0, 1.0, 4.0, 4.0, 4.0]), highway=np.full(5, "footway", dtype=object),
        xy=(x[:5], y[:5], CRS),
    )  # fmt: skip


def crowd_with_gates(n: int, seed: int = 3) -> tuple[Crowd, int]:
    crowd = Crowd(two_gates(), n_people=n, rng=np.random.default_rng(seed), free_speed_mps=1.34)
    venue = crowd.add_target([4], arrive=INSIDE)
    for name, edge in (("A", GATE_A), ("B", GATE_B)):
        gate = Gate(
            name=name, lanes=4, screening=Distribution(dist="fixed", mean=1.0), rng=np.random.default_rng(1)
        )
        crowd.add_gate(gate, edge=edge)
    return crowd, venue


def test_cost_of_a_jammed_edge_and_of_a_gate_queue():
    cost = in_route_cost_m(length_m=np.array([20.0, 20.0]), speed_factor=np.array([1.0, 0.25]),
                           standing=np.array([0, 11]), exit_p_s=np.array([1.0, 2.0]), gate_edges=np.array([0]),
                           gate_wait_s=np.array([10.0]), walk_speed_mps=1.0)  # fmt: skip
    assert np.allclose(cost, [20.0 + 10.0, 80.0 + 5.5])
    assert np.allclose(gate_waits_s(np.array([8, 8]), np.array([6.0, 6.0]), np.array([4, 0])), [12.0, 3600.0])


def test_jammed_approach_shifts_the_choice_to_another_gate():
    """No gate queue anywhere, but 200 people standing in front of the passage: the way in from O turns
    from gate A to gate B (before the revision, and with the jam gone, it is A)."""
    crowd, venue = crowd_with_gates(200)
    crowd.reroute()
    assert crowd.next_tab[venue, 0] == O_TO_A
    pids = np.arange(200)
    crowd.state[pids], crowd.edge[pids], crowd.pos_m[pids] = EDGE, O_TO_A, 20.0
    crowd._counts[:] = [0, 200, 0, 0, 0]
    crowd.active = pids
    assert crowd.balance_gates()
    crowd.reroute()
    assert all(len(g) == 0 for g in crowd.gates)  # not the queues: the approach
    assert crowd.next_tab[venue, 0] == O_TO_B
    crowd.state[pids], crowd.edge[pids], crowd.active = INSIDE, -1, pids[:0]
    crowd._counts[:] = [0, 0, 0, 200, 0]
    while crowd.balance_gates():  # the cost relaxes back (smoothed) once the jam is gone
        crowd.reroute()
    assert crowd.next_tab[venue, 0] == O_TO_A


def test_arrivals_spread_over_gates_when_an_approach_jams():
    """5 people/s set out from O for 10 min; the passage lets ~1.2/s through. With gate choice revised
    every 30 s (as the event does) gate B takes a large share and everyone gets in; the passage's
    approach never holds more than its cap."""
    n = 3000
    crowd, venue = crowd_with_gates(n)
    crowd.depart(np.arange(n), node=np.zeros(n, dtype=np.int64), at_s=np.linspace(0, 600, n), target=venue)
    while (crowd.state != INSIDE).any() and crowd.now < 3600:
        if crowd.now % 30.0 < crowd.step_s - 1e-9:
            crowd.balance_gates()
        crowd.step()
        assert crowd.census().sum() == n
    assert (crowd.state == INSIDE).all()
    screened = np.array([g.records()["pid"].size for g in crowd.gates])
    assert screened.sum() == n
    assert screened[1] > 0.4 * n, screened  # gate B: the passage alone would take ~40 min for all
    assert crowd.now < 1500
