"""The mesoscopic crowd (policetwin.event.crowd) against pedestrian-dynamics benchmarks, shared by
``tests/test_event_crowd.py`` (whose docstring gives the set-ups and measured values) and ``policetwin
verify``: Weidmann's fundamental diagram in a 200 m corridor, RiMEA test 1 and a 1 m door's flow.
"""

from __future__ import annotations

import time

import numpy as np

from policetwin.event.crowd import EDGE, GONE, Crowd
from policetwin.event.los import CAPACITY_P_MS, weidmann_speed_mps
from policetwin.event.walknet import WalkNetwork, build_walk_network
from policetwin.verify.record import CheckResult, Figure, within_rel

CRS = "+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"


def corridor(n_links: int, link_m: float, width_m: float | list[float]) -> WalkNetwork:
    """Nodes 0..n on a straight line along x, link i from node i to i + 1."""
    x = np.concatenate([[0.0], np.cumsum(np.broadcast_to(link_m, (n_links,)))])
    ids = np.arange(n_links + 1) + 1
    return build_walk_network(
        name="corridor", source="hand-built", kind="walking", node_id=ids, lon=x / 111_320.0,
        lat=np.zeros(ids.size), link_u_id=ids[:-1], link_v_id=ids[1:],
        length_m=np.broadcast_to(link_m, (n_links,)).astype(float),
        width_m=np.broadcast_to(width_m, (n_links,)).astype(float),
        highway=np.full(n_links, "footway", dtype=object), xy=(x, np.zeros(ids.size), CRS),
    )  # fmt: skip


def place(crowd: Crowd, pids: np.ndarray, *, edges: np.ndarray, pos_m: np.ndarray, target: int) -> None:
    """Put people on edges directly (initial conditions of the benchmarks)."""
    crowd.reroute()
    crowd.state[pids] = EDGE
    crowd.edge[pids] = edges
    crowd.pos_m[pids] = pos_m
    crowd.target[pids] = target
    crowd.active = np.concatenate([crowd.active, pids])


def fd_run(*, rho0: float, rate_p_s: float, exit_capacity_p_ms: float, seed: int = 1) -> dict:
    """One corridor experiment (see the module docstring): measured density, flow and speed."""
    n_links, link_m, width_m, horizon_s, warm_s = 40, 5.0, 2.0, 900.0, 300.0
    net = corridor(n_links, link_m, width_m)
    cap = np.full(n_links, CAPACITY_P_MS)
    cap[-1] = exit_capacity_p_ms
    per_link = round(rho0 * link_m * width_m)
    pre = per_link * (n_links - 1)
    n = pre + int(rate_p_s * horizon_s) + 1
    crowd = Crowd(net, n_people=n, rng=np.random.default_rng(seed), free_speed_mps=1.34, capacity_p_ms=cap)
    target = crowd.add_target([n_links], arrive=GONE)
    if pre:
        place(crowd, np.arange(pre), edges=2 * np.repeat(np.arange(1, n_links), per_link),
              pos_m=np.tile((np.arange(per_link) + 0.5) / per_link * link_m, n_links - 1), target=target)  # fmt: skip
    rest = np.arange(pre, n)
    crowd.depart(
        rest, node=np.zeros(rest.size, dtype=np.int64), at_s=np.arange(rest.size) / rate_p_s, target=target
    )
    section = np.arange(10, 30)
    area = net.area_m2()[section].sum()
    occupancy, crossed, link_flow, link_rho = [], 0, np.zeros(n_links), np.zeros(n_links)
    while crowd.now < horizon_s:
        link_before = np.where(crowd.state == EDGE, crowd.edge >> 1, -1)
        crowd.step()
        if crowd.now <= warm_s:
            continue
        link_after = np.where(crowd.state == EDGE, crowd.edge >> 1, n_links)
        occupancy.append(crowd.link_counts()[section].sum())
        crossed += int(((link_before == section[-1]) & (link_after > section[-1])).sum())
        left = (link_before >= 0) & (link_after != link_before)
        link_flow += np.bincount(link_before[left], minlength=n_links)
        link_rho += crowd.link_counts() / net.area_m2()
    steps = len(occupancy)
    rho = float(np.mean(occupancy) / area)
    flow = crossed / (steps * crowd.step_s) / width_m
    return {"rho": rho, "flow": flow, "speed": flow / rho, "link_flow": link_flow / steps / width_m,
            "link_rho": link_rho / steps}  # fmt: skip


#: The fundamental-diagram cases: target density (p/m^2) -> (initial density, feed rate p/s, exit capacity p/(m s)).
FD_CASES = {
    1.0: (0.0, 1.0580629 * 2.0, CAPACITY_P_MS),
    2.0: (2.0, 3.0, 2 * 0.6062384),
    3.0: (3.0, 3.0, 3 * 0.3306948),
}
RIMEA_1_CORRIDOR_M = 40.0
RIMEA_1_SPEED_MPS = 1.33


def rimea_1_time_s() -> float:
    """RiMEA test 1: one person walks a 40 m x 2 m corridor at 1.33 m/s; the time to leave it (s)."""
    net = corridor(4, 10.0, 2.0)
    crowd = Crowd(net, n_people=1, rng=np.random.default_rng(0), free_speed_mps=RIMEA_1_SPEED_MPS)
    target = crowd.add_target([4], arrive=GONE)
    crowd.depart(np.array([0]), node=np.array([0]), at_s=np.array([0.0]), target=target)
    while crowd.state[0] != GONE:
        crowd.step()
    return float(crowd.t_gone[0])


def bottleneck_run() -> tuple[np.ndarray, np.ndarray]:
    """100 persons in a 10 m x 10 m room leave through a 1 m door: (sorted exit times s, start positions m)."""
    net = corridor(2, [10.0, 0.5], [10.0, 1.0])
    crowd = Crowd(net, n_people=100, rng=np.random.default_rng(3), free_speed_mps=1.34)
    target = crowd.add_target([2], arrive=GONE)
    pos = np.random.default_rng(4).uniform(0.0, 10.0, 100)
    place(crowd, np.arange(100), edges=np.zeros(100, dtype=np.int64), pos_m=pos, target=target)
    while (crowd.state != GONE).any():
        crowd.step()
        if crowd.now >= 600:
            raise RuntimeError("the bottleneck did not clear within 600 s")
    return np.sort(crowd.t_gone), pos


def check_weidmann() -> CheckResult:
    """Density (5% of target) and speed at 1, 2, 3 p/m^2 against Weidmann's v(rho) (5%), and the discharge flow against capacity (2%)."""
    start = time.perf_counter()
    rows = []
    for target, (rho0, rate, exit_cap) in FD_CASES.items():
        got = fd_run(rho0=rho0, rate_p_s=rate, exit_capacity_p_ms=exit_cap)
        expected = float(weidmann_speed_mps(np.array([got["rho"]]))[0])
        rows.append(within_rel(f"density, target {target:g} p/m2", theory=target, simulated=got["rho"], rel=0.05,
                               unit="p/m2"))  # fmt: skip
        rows.append(within_rel(f"speed at {got['rho']:.3f} p/m2 (target {target:g})", theory=expected,
                               simulated=got["speed"], rel=0.05, unit="m/s"))  # fmt: skip
    peak = fd_run(rho0=0.0, rate_p_s=3.0, exit_capacity_p_ms=CAPACITY_P_MS)
    rows.append(within_rel("peak (discharge) flow", theory=CAPACITY_P_MS,
                           simulated=float(peak["link_flow"][1:6].mean()), rel=0.02, unit="p/(m s)"))  # fmt: skip
    note = "200 m x 2 m corridor, 600 s measured after 300 s warm-up on 100 m; speed = flow / density."
    return CheckResult("weidmann", "Weidmann speed-density", rows, note, time.perf_counter() - start)


def check_rimea_1() -> CheckResult:
    """RiMEA test 1: 40 m at 1.33 m/s must take 26-34 s (theory 30.08 s)."""
    start = time.perf_counter()
    theory = RIMEA_1_CORRIDOR_M / RIMEA_1_SPEED_MPS
    row = Figure("time to walk 40 m at 1.33 m/s", theory, rimea_1_time_s(), 34.0 - theory, unit="s",
                 rule="RiMEA 26-34 s")  # fmt: skip
    return CheckResult(
        "rimea_1", "RiMEA test 1", [row], "One person, 40 m x 2 m corridor.", time.perf_counter() - start
    )


def check_bottleneck() -> CheckResult:
    """A 1 m door: overall flow and clearance time against its capacity 1.2249 p/s (5%)."""
    start = time.perf_counter()
    t, pos = bottleneck_run()
    first_walk_s = (10.0 - pos.max() + 0.5) / 1.34
    rows = [
        within_rel("flow through a 1 m door", theory=CAPACITY_P_MS, simulated=float((t.size - 1) / (t[-1] - t[0])),
                   rel=0.05, unit="p/s"),
        within_rel("clearance time, 100 persons", theory=100 / CAPACITY_P_MS + first_walk_s,
                   simulated=float(t[-1]), rel=0.05, unit="s"),
        Figure("max flow over 10 headways", CAPACITY_P_MS, float((10.0 / (t[10:] - t[:-10])).max()),
               1.33 - CAPACITY_P_MS, unit="p/s", rule="<= 1.33 p/s"),
    ]  # fmt: skip
    note = "100 persons spread over a 10 m x 10 m room, 1 m wide, 0.5 m deep door (IMO test 4 style)."
    return CheckResult("bottleneck", "Bottleneck flow", rows, note, time.perf_counter() - start)
