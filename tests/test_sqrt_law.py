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

from policetwin.verify.sqrt_law import (
    BLOCK_M,
    C_L1,
    CALLS_PER_LAYOUT,
    COL,
    K_SE,
    MARGIN,
    N_LAYOUTS,
    N_POSTS,
    PILOT_SD_M,
    ROW,
    G,
    grid_network,
    interior_expectation_m,
    simulate_layouts,
)


@pytest.fixture(scope="module")
def layouts() -> list[dict]:
    network = grid_network()
    assert (network.n_nodes, network.n_edges) == (G * G, 4 * G * (G - 1))
    out = simulate_layouts(network, n_layouts=N_LAYOUTS)  # posts from rng(20240611), layout seeds 0..11
    assert len(out) == N_LAYOUTS == 12
    for lay in out:
        inc = lay["incidents"]
        assert (inc["n_units"] == 1).all() and inc["t_enroute"].equals(inc["t_dispatch"])
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
