"""The square-root law of travel distance (Kolesar & Blum 1973; Larson & Odoni, ch. 3), shared by
``tests/test_sqrt_law.py`` (whose docstring derives ``RHO`` and the pilot SD) and ``policetwin verify``.

A full two-way 100 x 100 street grid (100 m blocks, one speed, so distance = travel time x 10 m/s), 100
units at random posts, uniform calls far apart in time: the first unit's trip is the nearest post's L1
distance, and interior calls follow E[D] = RHO c sqrt(A / n), c = sqrt(pi / 8).
"""

from __future__ import annotations

import math
import time

import numpy as np
from pyproj import Transformer
from scipy.special import gammaln

from policetwin.maps import RoadNetwork, build_network
from policetwin.scenarios import Scenario
from policetwin.sim.run import simulate
from policetwin.verify.record import CheckResult, within_se

G = 100  # nodes per side
BLOCK_M = 100.0
SPEED_MPS = 10.0  # 36 km/h: one block = exactly 10 s
N_POSTS = 100
N_LAYOUTS = 12
CALLS_PER_LAYOUT = 3000
HOURS = 87_000.0  # ~10 years (the schema's limit): calls ~29 h apart
MARGIN = 15  # blocks from the edge for an interior call
C_L1 = math.sqrt(math.pi / 8)  # 0.6267: right-angle metric, random posts
K_SE = 4.0
#: SD over layouts of one simulated layout's interior mean (m): exhaustive lattice pilot (36.8 m), plus the
#: calls' sampling noise (8.4 m: per-call SD 323 m over ~1 470 interior calls), in quadrature.
PILOT_SD_M = 37.8
CRS = "+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
ROW, COL = np.divmod(np.arange(G * G), G)


def grid_network() -> RoadNetwork:
    """A full two-way G x G grid, every block 100 m at 36 km/h; node id = index + 1, x/y in metres."""
    x, y = COL * BLOCK_M, ROW * BLOCK_M
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    grid = np.arange(G * G).reshape(G, G)
    a = np.concatenate([grid[:, :-1].ravel(), grid[:-1, :].ravel()])
    b = np.concatenate([grid[:, 1:].ravel(), grid[1:, :].ravel()])
    u, v = np.concatenate([a, b]), np.concatenate([b, a])
    return build_network(
        name="sqrt-law-grid", source="hand-built two-way grid, one speed", node_id=np.arange(G * G) + 1,
        lon=np.asarray(lon), lat=np.asarray(lat), edge_u_id=u + 1, edge_v_id=v + 1,
        length_m=np.full(u.size, BLOCK_M), highway=np.full(u.size, "residential", dtype=object),
        maxspeed_kph=np.full(u.size, SPEED_MPS * 3.6), xy=(x, y, CRS),
    )  # fmt: skip


def nearest_l1_m(posts: np.ndarray) -> np.ndarray:
    """Exact L1 distance (m) from every lattice node to its nearest post (node indices)."""
    d = np.abs(ROW[:, None] - ROW[posts]) + np.abs(COL[:, None] - COL[posts])
    return d.min(axis=1) * BLOCK_M


def interior_expectation_m(n_nodes: int, n: int) -> float:
    """E[D] (m) for an interior call, n distinct uniform posts: h sum_k C(N - N_k, n) / C(N, n)."""
    k = np.arange(1, 4 * G)
    inside = 2 * k * k - 2 * k + 1
    inside = inside[n_nodes - inside >= n]
    log_ratio = gammaln(n_nodes - inside + 1) - gammaln(n_nodes - inside - n + 1)
    log_ratio -= gammaln(n_nodes + 1) - gammaln(n_nodes - n + 1)
    return float(BLOCK_M * np.exp(log_ratio).sum())


def layout_scenario(posts: np.ndarray, network: RoadNetwork, seed: int) -> Scenario:
    """One unit at each post, uniform calls, 1 s on scene, no handling, network travel."""
    where = [{"lon": float(network.lon[p]), "lat": float(network.lat[p])} for p in posts]
    return Scenario.model_validate({
        "name": f"sqrt-law-{seed}", "seed": seed, "duration": HOURS * 3600.0, "map": network.name,
        "stations": [{"name": "HQ", **where[0]}],
        "units": {"groups": [{"name": "u", "count": len(posts), "station": "HQ", "idle": "post",
                              "posts": where}]},
        "demand": {"rate_per_hour": CALLS_PER_LAYOUT / HOURS, "profile": "flat", "background_weight": 1,
                   "kinds": [{"name": "call", "priority": 1, "share": 1, "target": 600,
                              "on_scene": {"dist": "fixed", "mean": 1.0}}]},
        "call_handling": {"takers": 1000, "handling": {"dist": "fixed", "mean": 0}},
        "travel": {"mode": "network"},
        "outputs": {"report": False},
    })  # fmt: skip


def all_idle(units, t: np.ndarray) -> np.ndarray:
    """Whether no unit was enroute, on scene or returning at each time in ``t`` (sorted intervals)."""
    busy = units[units["state"].isin(["enroute", "onscene", "returning"])].sort_values("t_start")
    start, end = busy["t_start"].to_numpy(), np.maximum.accumulate(busy["t_end"].to_numpy())
    j = np.searchsorted(start, t, side="left") - 1  # intervals starting strictly before t
    return (j < 0) | (end[np.maximum(j, 0)] <= t)


#: Seed of the post layouts (drawn one after the other from one generator).
LAYOUT_SEED = 20240611


def simulate_layouts(network: RoadNetwork, *, n_layouts: int = N_LAYOUTS) -> list[dict]:
    """The first ``n_layouts`` random post layouts, each run through the engine: per layout its posts,
    incidents, call nodes (indices), simulated distance (m), whether all units were idle at dispatch
    and the exact nearest-post L1 distance of every node."""
    rng = np.random.default_rng(LAYOUT_SEED)
    out = []
    for seed in range(n_layouts):
        posts = np.sort(rng.choice(G * G, N_POSTS, replace=False))
        result = simulate(layout_scenario(posts, network, seed), network=network)
        inc = result.incidents
        node = inc["node"].to_numpy() - 1  # index = id - 1
        sim_m = (inc["t_arrive"] - inc["t_enroute"]).to_numpy() * SPEED_MPS
        idle = all_idle(result.units, inc["t_dispatch"].to_numpy())
        out.append({"posts": posts, "incidents": inc, "node": node, "sim_m": sim_m, "idle": idle,
                    "l1_m": nearest_l1_m(posts)})  # fmt: skip
    return out


def interior_mask() -> np.ndarray:
    """Nodes at least ``MARGIN`` blocks from the grid's edge."""
    return (np.minimum(ROW, G - 1 - ROW) >= MARGIN) & (np.minimum(COL, G - 1 - COL) >= MARGIN)


def interior_law() -> tuple[float, float]:
    """(c sqrt(A / n), RHO) in metres and as a ratio: the law and its exact lattice correction."""
    law = C_L1 * math.sqrt(G * G * BLOCK_M**2 / N_POSTS)
    return law, interior_expectation_m(G * G, N_POSTS) / law


def check_sqrt_law(*, n_layouts: int = N_LAYOUTS) -> CheckResult:
    """Nearest-unit distance on the grid: the engine vs the exact lattice mean, and interior calls vs the law."""
    start = time.perf_counter()
    layouts = simulate_layouts(grid_network(), n_layouts=n_layouts)
    diffs = np.array([(lay["sim_m"].mean(), lay["l1_m"].mean(),
                       lay["sim_m"].std(ddof=1) / math.sqrt(lay["sim_m"].size)) for lay in layouts])  # fmt: skip
    pooled_se = math.sqrt((diffs[:, 2] ** 2).sum()) / len(diffs)
    law, rho = interior_law()
    interior = interior_mask()
    means = np.array([lay["sim_m"][interior[lay["node"]]].mean() for lay in layouts])
    se = max(means.std(ddof=1), PILOT_SD_M) / math.sqrt(len(means))
    rows = [
        within_se("mean distance, all calls (exact lattice mean)", theory=float(diffs[:, 1].mean()),
                  simulated=float(diffs[:, 0].mean()), se=pooled_se, k_se=K_SE, unit="m"),
        within_se("mean distance, interior calls (RHO c sqrt(A/n))", theory=rho * law,
                  simulated=float(means.mean()), se=se, k_se=K_SE, unit="m"),
    ]  # fmt: skip
    calls = sum(len(lay["sim_m"]) for lay in layouts)
    note = (f"100 x 100 grid, 100 m blocks, {N_POSTS} units at random posts, {n_layouts} layouts, "
            f"{calls:,} calls; c sqrt(A/n) = {law:.1f} m, lattice correction RHO = {rho:.4f}.")  # fmt: skip
    return CheckResult("sqrt_law", "Square-root law", rows, note, time.perf_counter() - start)
