"""Validation: the square-root law of travel distance (Kolesar & Blum 1973; Larson & Odoni, ch. 3).

Set-up. A clean two-way G x G street grid (100 x 100 nodes, 100 m blocks, ONE speed: 36 km/h, so one
block takes exactly 10 s and distance = travel time x 10 m/s); n = 100 units, each waiting at its own
post on a distinct node drawn uniformly at random; calls uniform over the nodes (background weight 1,
no hotspots), 1 s on scene, no handling time, ~3 000 calls per layout spread over ten years, so every
unit waits at its post when a call arrives (a unit is out for ~2 min per call, calls are ~29 h apart).
K = 12 independent post layouts. On a full two-way grid the network distance between nodes is their
L1 (right-angle) distance, so the first unit's trip must be the nearest post's L1 distance.

(a) Per call, the simulated distance equals the exact nearest-post L1 distance of the same posts (up to
float rounding), for every call at which all units were idle (>= 99% of them). The mean over all calls
matches the mean over ALL lattice points of the square (uniform calls; this includes the edge effect)
within 5% and within 4 SE, SE = sd(per-call distance) / sqrt(calls): ~1.1% of the mean per layout,
~0.3% pooled; the difference is only which nodes the calls happened to fall on.

(b) The law E[D] = c sqrt(A / n), c = sqrt(pi / 8) = 0.6267, for a call whose L1 ball of radius r
stays in the square: P(D > r) = (1 - 2 r^2 / A)^n. A = N h^2 (each node stands for one h x h cell).
Calls count as interior when they are >= 15 blocks (1 500 m, ~2.4 E[D]) from the grid's edge (49% of
nodes): P(D > 1 500 m) ~ exp(-4.5) = 1%, and beyond that radius only a corner of the ball is lost (the
exact expectation with clipped balls differs from the unclipped one by 6e-6). Derived correction: on
the lattice with n distinct posts, exactly P(D >= k blocks) = C(N - N_k, n) / C(N, n), N_k = 2k^2 - 2k + 1
sites within k - 1 blocks, so E[D] = h sum_k C(N - N_k, n) / C(N, n) = RHO c sqrt(A / n). RHO = 0.9888
here; a midpoint-rule argument gives e^(-p/2) (lattice, p = n / N) x (1 - 3 / (8n)) (finite n) = 0.991.
The layout dominates the noise: one layout's interior mean has SD 36.8 m (5.9%) over layouts (pilot:
exhaustive lattice means of 2 000 layouts, 619.1 +- 0.8 m vs RHO c sqrt(A / n) = 619.6 m) plus 8 m
from the calls; SE = max(sd of the K layout means, PILOT_SD) / sqrt(K) ~ 11 m (1.8%). Checks:
|sim - RHO c sqrt(A / n)| < 4 SE, and |sim / (c sqrt(A / n)) - 1| < |1 - RHO| + 4 SE / c sqrt(A / n).

Measured (seed 20240611): (a) per-call error 0 m on 99.9% of calls (the rest had a unit out); per
layout sim - lattice mean -0.95% .. +1.78% (SE ~1.0%); pooled 651.5 m vs 648.3 m (+0.49%, SE 0.30%).
(b) interior 628.3 m (layout SD 39.6 m, SE 11.4 m) vs RHO c sqrt(A / n) = 619.6 m (+0.8 SE) and
c sqrt(A / n) = 626.7 m (+0.3%); the exact lattice interior mean of these 12 layouts is 624.9 m.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Transformer
from scipy.special import gammaln

from policetwin.maps import RoadNetwork, build_network
from policetwin.scenarios import Scenario
from policetwin.sim.run import simulate

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


@pytest.fixture(scope="module")
def layouts() -> list[dict]:
    network = grid_network()
    assert (network.n_nodes, network.n_edges) == (G * G, 4 * G * (G - 1))
    rng = np.random.default_rng(20240611)
    out = []
    for seed in range(N_LAYOUTS):
        posts = np.sort(rng.choice(G * G, N_POSTS, replace=False))
        result = simulate(layout_scenario(posts, network, seed), network=network)
        inc = result.incidents
        assert (inc["n_units"] == 1).all() and inc["t_enroute"].equals(inc["t_dispatch"])
        node = inc["node"].to_numpy() - 1  # index = id - 1
        sim_m = (inc["t_arrive"] - inc["t_enroute"]).to_numpy() * SPEED_MPS
        idle = all_idle(result.units, inc["t_dispatch"].to_numpy())
        out.append({"posts": posts, "node": node, "sim_m": sim_m, "idle": idle, "l1_m": nearest_l1_m(posts)})
    return out


def test_simulated_distance_is_the_nearest_post_l1_distance(layouts):
    """(a): per call exact; per layout and pooled, the mean matches the lattice mean within 5% and 4 SE."""
    diffs = []
    for lay in layouts:
        sim, exact, idle = lay["sim_m"], lay["l1_m"][lay["node"]], lay["idle"]
        assert len(sim) > 0.9 * CALLS_PER_LAYOUT and idle.mean() > 0.99
        np.testing.assert_allclose(sim[idle], exact[idle], rtol=0, atol=1e-3)
        mean_all = lay["l1_m"].mean()  # uniform calls over the whole square: edge effect included
        se = sim.std(ddof=1) / math.sqrt(sim.size)
        assert abs(sim.mean() - mean_all) < min(0.05 * mean_all, K_SE * se), (sim.mean(), mean_all, se)
        diffs.append((sim.mean() - mean_all, se))
    d, se = np.array(diffs).T
    pooled_se = math.sqrt((se**2).sum()) / len(se)
    assert abs(d.mean()) < K_SE * pooled_se and pooled_se < 0.005 * 650.0


def test_interior_distance_follows_the_square_root_law(layouts):
    """(b): interior calls, K layouts, against c sqrt(A / n) (A = N h^2) with the derived RHO."""
    area = G * G * BLOCK_M**2
    law = C_L1 * math.sqrt(area / N_POSTS)
    rho = interior_expectation_m(G * G, N_POSTS) / law
    assert rho == pytest.approx(math.exp(-N_POSTS / (2 * G * G)) * (1 - 3 / (8 * N_POSTS)), abs=0.005)
    interior = (np.minimum(ROW, G - 1 - ROW) >= MARGIN) & (np.minimum(COL, G - 1 - COL) >= MARGIN)
    means = np.array([lay["sim_m"][interior[lay["node"]]].mean() for lay in layouts])
    sim = means.mean()
    se = max(means.std(ddof=1), PILOT_SD_M) / math.sqrt(len(means))
    assert se < 0.025 * law, "SE too large for a meaningful check"
    assert abs(sim - rho * law) < K_SE * se, (sim, rho * law, se)
    assert abs(sim / law - 1) < abs(1 - rho) + K_SE * se / law, (sim, law)
