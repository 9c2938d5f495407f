"""The early-stopping many-to-one search (maps/nearest.py) equals brute force over scipy's Dijkstra."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from policetwin.maps import Router
from policetwin.maps.nearest import NearestSearch
from policetwin.maps.synthetic import synthetic_city


@pytest.mark.parametrize("directed", [False, True])
def test_nearest_equals_the_least_head_start_plus_dijkstra_time(directed):
    """Plain, and goal-directed by straight-line bounds (A*: the key adds the least straight-line time to
    a source, at the network's top speed, plus its head start)."""
    net = synthetic_city(n_nodes=3000, seed=3)  # one-way streets, parallel edges kept fastest by the router
    router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())
    coo = router.forward.tocoo()
    top = float(np.max(np.hypot(net.x[coo.row] - net.x[coo.col], net.y[coo.row] - net.y[coo.col]) / coo.data))
    search = NearestSearch(router.forward, x=net.x, y=net.y, top_speed_mps=top * 1.001) if directed else (
        NearestSearch(router.forward))  # fmt: skip
    rng = np.random.default_rng(5)
    found = limited = 0
    for _ in range(300):
        target = int(rng.integers(net.n_nodes))
        row = dijkstra(router.reverse, directed=True, indices=target)  # float64 seconds to the target
        k = int(rng.integers(1, 40))
        sources = rng.integers(net.n_nodes, size=k)
        sources[: k // 4] = sources[0]  # several units at one node: the smallest head start counts
        offsets = rng.uniform(0.0, 60.0, size=k) * (rng.random(k) < 0.7)
        eta = offsets + row[sources]
        limit = float(rng.choice([np.inf, np.quantile(eta, 0.3), eta.min()]))  # (at the best: nothing wins)
        time, j = search.nearest(sources, offsets, target, limit_s=limit)
        if eta.min() < limit:
            assert time == pytest.approx(eta.min(), rel=1e-12, abs=1e-9)  # float sums along the path
            assert eta[j] == pytest.approx(time, rel=1e-12, abs=1e-9)
            found += 1
        else:
            assert (time, j) == (np.inf, -1)
            limited += 1
    assert found > 150 and limited > 50
    if directed:  # the bounds keep the search small: about the first source's corridor
        assert search.settled[0] < net.n_nodes / 2


def test_a_source_at_the_target_and_an_unreachable_target():
    from scipy.sparse import csr_matrix

    forward = csr_matrix((np.array([5.0, 7.0]), (np.array([0, 1]), np.array([1, 2]))), shape=(4, 4))
    search = NearestSearch(forward)
    assert search.nearest(np.array([2, 0]), np.array([3.0, 0.0]), 2) == (3.0, 0)  # at the call, 3 s away
    assert search.nearest(np.array([0, 1]), np.array([1.0, 0.0]), 2) == (7.0, 1)
    assert search.nearest(np.array([0]), np.array([0.0]), 3) == (np.inf, -1)  # nothing leads to node 3
