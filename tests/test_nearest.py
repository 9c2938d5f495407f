"""The early-stopping many-to-one search (maps/nearest.py) equals brute force over scipy's Dijkstra."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from policetwin.maps import Router
from policetwin.maps.nearest import NearestSearch
from policetwin.maps.synthetic import synthetic_city


@pytest.fixture(scope="module", params=["synthetic", "coquimbo"])
def city(request):
    """A synthetic grid (one-way streets, parallel edges) and the bundled real map."""
    if request.param == "coquimbo":
        from policetwin.maps import load_map

        return load_map("coquimbo")
    return synthetic_city(n_nodes=3000, seed=3)


@pytest.mark.parametrize("directed", [False, True])
def test_nearest_equals_the_least_head_start_plus_dijkstra_time(city, directed):
    """Plain, and goal-directed by straight-line bounds (A*: the key adds the least straight-line time to
    a source, at the network's top speed, plus its head start), on a grid and on a real map."""
    net = city  # (the router keeps the fastest of parallel edges, as the engine does)
    router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())
    coo = router.forward.tocoo()
    top = float(np.max(np.hypot(net.x[coo.row] - net.x[coo.col], net.y[coo.row] - net.y[coo.col]) / coo.data))
    search = NearestSearch(router.reverse, x=net.x, y=net.y, top_speed_mps=top * 1.001) if directed else (
        NearestSearch(router.reverse))  # fmt: skip
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
    search = NearestSearch(forward.T.tocsr())
    assert search.nearest(np.array([2, 0]), np.array([3.0, 0.0]), 2) == (3.0, 0)  # at the call, 3 s away
    assert search.nearest(np.array([0, 1]), np.array([1.0, 0.0]), 2) == (7.0, 1)
    assert search.nearest(np.array([0]), np.array([0.0]), 3) == (np.inf, -1)  # nothing leads to node 3


def test_big_map_origin_bounds_never_drop_a_unit_that_could_win():
    """On the big-map path (forced), every moving unit that the bounds from its trip's origin leave out
    has an exact ETA (its position, then scipy's Dijkstra) at or beyond the limit; the run's decisions
    equal those with dense rows (exact ETAs for all)."""
    from policetwin.scenarios import Scenario
    from policetwin.sim import eta as eta_module
    from policetwin.sim.model import PoliceModel

    net = synthetic_city(n_nodes=4000, seed=2)
    lon0, lat0, lon1, lat1 = net.bbox()
    stations = [{"name": f"S{i}", "lon": lon0 + (lon1 - lon0) * fx, "lat": lat0 + (lat1 - lat0) * fy}
                for i, (fx, fy) in enumerate([(0.2, 0.2), (0.8, 0.3), (0.5, 0.8)])]  # fmt: skip
    scenario = Scenario.model_validate({
        "seed": 3, "duration": "8h", "map": "synthetic:4000:2", "stations": stations, "units": {"count": 24},
        "demand": {"rate_per_hour": 40, "profile": "flat"}, "outputs": {"report": False},
    })  # fmt: skip
    times = net.travel_times_s()
    big = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0, hierarchy=True, lon=net.lon,
                 lat=net.lat)  # fmt: skip
    model = PoliceModel(scenario, network=net, router=big)
    assert model.trip_origins is not None
    checked = {"pruned": 0, "kept": 0}
    bounds = eta_module.Etas._origin_bounds

    def checking(self, eta, node, candidates, moving_idx, limit, now):
        kept = bounds(self, eta, node, candidates, moving_idx, limit, now)
        row = dijkstra(big.reverse, directed=True, indices=node)
        for j in moving_idx.tolist():
            nxt, offset = model.units[candidates[j]].position(now)
            if j not in kept:
                assert offset + row[nxt] >= limit - 1e-6
                checked["pruned"] += 1
            else:
                checked["kept"] += 1
        return kept

    eta_module.Etas._origin_bounds = checking
    try:
        model.run()
    finally:
        eta_module.Etas._origin_bounds = bounds
    assert checked["pruned"] > 20 and checked["kept"] > 5
    dense = PoliceModel(scenario, network=net)
    dense.run()
    assert list(dense.recorder.a_unit) == list(model.recorder.a_unit)
