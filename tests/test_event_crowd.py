"""Validation of the mesoscopic crowd (policetwin.event.crowd) against pedestrian-dynamics benchmarks.

All runs are deterministic (fixed seeds; free speeds fixed where a benchmark prescribes them).

- Fundamental diagram (Weidmann 1993). A 200 m corridor (40 links of 5 m, 2 m wide). Free branch: people
  depart at a steady rate q W from its start (q = 1.058 p/(m s) = Weidmann's flow at 1 p/m^2). Congested
  branch: the corridor starts filled at rho0 (2 or 3 p/m^2) and its last link lets out only Weidmann's
  flow at rho0, while the start feeds at capacity. Peak flow: departures faster than capacity, so a
  queue discharges into the corridor. Measured over 600 s after 300 s of warm-up on links 10-29 (100 m):
  density = mean people / area, flow = people leaving the section per second and metre of width,
  speed = flow / density (Little's law: the mean speed of everyone in the section, waiting included).
  Checks: speed within 5% of v(measured density) and density within 5% of its target at 1, 2, 3 p/m^2;
  the discharge flow within 2% of the diagram's maximum 1.2249 p/(m s), at a density within 0.15 of
  1.75 p/m^2. Measured (seed 1): rho 1.002 / 1.996 / 2.991 p/m^2; speed errors below 1%; discharge flow
  1.22 p/(m s) at 1.75-1.8 p/m^2 on the first links.
- RiMEA test 1: one person, 40 m corridor at 1.33 m/s -> 26-34 s (measured: 30.08 s).
- Bottleneck (IMO MSC.1/Circ.1238 test 4 style): 100 persons spread over a 10 m x 10 m room leave through a
  1 m wide, 0.5 m deep door. The door lets through at most its capacity 1.2249 p/s: flow over any 10
  consecutive headways <= 1.33 p/s, overall flow within 5% of capacity, and the clearance time equals 100 / capacity plus the
  first person's walking time within 5%.
"""

from __future__ import annotations

import numpy as np
import pytest

from policetwin.event.crowd import EDGE, GONE, INSIDE, ORIGIN, Crowd
from policetwin.event.los import (
    CAPACITY_P_MS,
    CRITICAL_DENSITY_P_M2,
    level_of_service,
    weidmann_flow_p_ms,
    weidmann_speed_mps,
)
from policetwin.event.walknet import WalkNetwork, build_walk_network
from policetwin.verify.crowd import CRS, FD_CASES, bottleneck_run, corridor, fd_run, rimea_1_time_s


def test_weidmann_constants():
    """v(1) = 1.06, v(2) = 0.61, v(3) = 0.33 m/s; the flow peaks at 1.2249 p/(m s) at 1.75 p/m^2."""
    assert weidmann_speed_mps(np.array([1.0, 2.0, 3.0])) == pytest.approx([1.058, 0.606, 0.331], abs=1e-3)
    grid = np.linspace(0.05, 5.3, 200_001)
    flow = weidmann_flow_p_ms(grid)
    assert flow.max() == pytest.approx(CAPACITY_P_MS, abs=1e-4)
    assert grid[flow.argmax()] == pytest.approx(CRITICAL_DENSITY_P_M2, abs=1e-3)
    assert weidmann_speed_mps(np.array([0.0]))[0] == pytest.approx(1.34)
    assert weidmann_speed_mps(np.array([5.4, 6.0])) == pytest.approx([0.0, 0.0])


@pytest.mark.parametrize(
    ("rho_target", "rho0", "rate", "exit_cap"),
    [(rho_target, *case) for rho_target, case in FD_CASES.items()],  # 1, 2, 3 p/m^2
)
def test_fundamental_diagram_emerges(rho_target, rho0, rate, exit_cap):
    assert len(FD_CASES) == 3 and FD_CASES[1.0] == (0.0, 1.0580629 * 2.0, CAPACITY_P_MS)
    got = fd_run(rho0=rho0, rate_p_s=rate, exit_capacity_p_ms=exit_cap)
    assert got["rho"] == pytest.approx(rho_target, rel=0.05)
    expected = float(weidmann_speed_mps(np.array([got["rho"]]))[0])
    assert got["speed"] == pytest.approx(expected, rel=0.05), got


def test_peak_flow_is_the_diagrams_capacity_near_1_75():
    """A queue discharging into the corridor: the first links carry the diagram's maximum flow."""
    got = fd_run(rho0=0.0, rate_p_s=3.0, exit_capacity_p_ms=CAPACITY_P_MS)
    head = slice(1, 6)  # links just downstream of the source queue
    assert got["link_flow"][head].mean() == pytest.approx(CAPACITY_P_MS, rel=0.02)
    assert got["link_rho"][head].mean() == pytest.approx(CRITICAL_DENSITY_P_M2, abs=0.15)
    assert got["link_flow"].max() <= CAPACITY_P_MS * 1.001  # never above capacity


def test_rimea_1_straight_corridor():
    t_gone_s = rimea_1_time_s()
    assert 26.0 <= t_gone_s <= 34.0
    assert t_gone_s == pytest.approx(40.0 / 1.33, abs=0.01)


def test_bottleneck_1m_door():
    t, pos = bottleneck_run()  # sorted exit times; raises when not clear within 600 s
    assert (10.0 / (t[10:] - t[:-10])).max() <= 1.33  # over any 10 consecutive headways
    assert (t.size - 1) / (t[-1] - t[0]) == pytest.approx(CAPACITY_P_MS, rel=0.05)
    first_walk_s = (10.0 - pos.max() + 0.5) / 1.34
    assert t[-1] == pytest.approx(100 / CAPACITY_P_MS + first_walk_s, rel=0.05)


def square_with_detour() -> WalkNetwork:
    """0 -(20 m)- 1 -(20 m)- 3 directly, or 0 - 2 - 3 via a 60 m detour; 3 is the target."""
    ids = np.array([1, 2, 3, 4])
    x, y = np.array([0.0, 20.0, 0.0, 40.0]), np.array([0.0, 0.0, 30.0, 0.0])
    return build_walk_network(
        name="detour", source="hand-built", kind="walking", node_id=ids, lon=x / 111_320.0, lat=y / 110_574.0,
        link_u_id=np.array([1, 2, 1, 3]), link_v_id=np.array([2, 4, 3, 4]),
        length_m=np.array([20.0, 20.0, 30.0, 50.0]), width_m=np.full(4, 3.0),
        highway=np.full(4, "footway", dtype=object), xy=(x, y, CRS),
    )  # fmt: skip


def test_conservation_and_closure_rerouting():
    """Every step: everyone is at an origin, on an edge, queued, inside or gone. Closing the direct
    link makes people reroute; closing every link makes them wait where they are: they finish the link
    they are on (arriving if it ends at the venue) and never enter another; reopening lets all in."""
    net = square_with_detour()
    n = 300
    crowd = Crowd(net, n_people=n, rng=np.random.default_rng(5))
    venue = crowd.add_target([3], arrive=INSIDE)
    crowd.depart(np.arange(n), node=np.zeros(n, dtype=np.int64), at_s=np.linspace(0, 300, n), target=venue)
    used = set()
    while crowd.now < 400:
        if crowd.now == 50:
            crowd.close_links([1])  # 1 - 3: people at node 1 turn back to 0, then take 0 - 2 - 3
        if crowd.now == 150:
            crowd.close_links(np.arange(4))
            frozen_pos = crowd.pos_m.copy()
            frozen_edge = crowd.edge.copy()
            frozen_inside = int((crowd.state == INSIDE).sum())
            frozen_state = crowd.state.copy()
        crowd.step()
        census = crowd.census()
        assert census.sum() == n
        assert set(np.unique(crowd.state).tolist()) <= {ORIGIN, EDGE, INSIDE}
        assert ((crowd.edge >= 0) == (crowd.state == EDGE)).all()
        used |= set((crowd.edge[crowd.active] >> 1).tolist())
        if 50 < crowd.now <= 150:
            assert not ((crowd.edge[crowd.active] == 2) & (crowd.pos_m[crowd.active] < 0.0)).any()
    assert {2, 3} <= used  # the detour was taken
    # after the full closure people finish the link they are on, and nobody enters another one
    on_edge = crowd.state == EDGE
    assert on_edge.sum() > 0 and (crowd.state == ORIGIN).sum() == (frozen_state == ORIGIN).sum() > 0
    assert (crowd.edge[on_edge] == frozen_edge[on_edge]).all()  # waiting where they were
    assert (crowd.pos_m[on_edge] >= np.minimum(frozen_pos[on_edge], 0.0) - 1e-9).all()
    assert ((crowd.state == INSIDE) <= ((frozen_state == INSIDE) | (frozen_edge >= 0))).all()
    assert int((crowd.state == INSIDE).sum()) > frozen_inside
    crowd.close_links(np.arange(4), closed=False)
    while crowd.now < 800:
        crowd.step()
    assert (crowd.state == INSIDE).all()


def test_fruin_levels():
    assert list(level_of_service(np.array([0.1, 0.35, 0.6, 0.9, 1.5, 2.5]))) == list("ABCDEF")
    assert list(level_of_service(np.array([0.5, 1.0, 1.3, 2.0, 4.0, 6.0]), queuing=True)) == list("ABCDEF")


def test_holding_cap_is_never_exceeded_by_walkers():
    """A wide feeder into a narrow dead-end-like bottleneck: the narrow link's density stays <= 4 p/m^2."""
    net = corridor(3, [20.0, 5.0, 20.0], [10.0, 1.0, 10.0])
    n = 2000
    crowd = Crowd(
        net, n_people=n, rng=np.random.default_rng(7), capacity_p_ms=np.array([1.2249, 1.2249, 0.1])
    )
    target = crowd.add_target([3], arrive=GONE)
    crowd.depart(np.arange(n), node=np.zeros(n, dtype=np.int64), at_s=np.linspace(0, 200, n), target=target)
    while crowd.now < 400:
        crowd.step()
        density = crowd.link_counts() / net.area_m2()
        assert density.max() <= 4.0 + 1e-9
        assert crowd.census().sum() == n
