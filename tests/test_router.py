"""Router (scipy CSR Dijkstra) against networkx on the real Coquimbo graph, plus hand-built traps.

Rows are stored as float32 (about 7 significant digits), so exact comparisons use a relative
tolerance of 1e-5 (a float32 rounding is <= 6e-8 relative; the slack covers summing in float64
versus float32) plus 1e-6 s absolute.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from policetwin.maps import RoadNetwork, Router
from policetwin.maps.router import MIN_EDGE_TIME_S

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and /dev/shm")

REL = 1e-5
ABS = 1e-6


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * abs(b) + ABS


def _digraph(n_nodes: int, u: np.ndarray, v: np.ndarray, t: np.ndarray) -> nx.DiGraph:
    """networkx DiGraph keeping the fastest of parallel edges."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n_nodes))
    for a, b, w in zip(u.tolist(), v.tolist(), t.tolist(), strict=True):
        if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
            graph.add_edge(a, b, weight=w)
    return graph


@pytest.fixture(scope="module")
def coquimbo(coquimbo_network: RoadNetwork):
    """(network, edge times, router, networkx graph) for the bundled Coquimbo map."""
    net = coquimbo_network
    times = net.travel_times_s()
    router = Router(net.n_nodes, net.edge_u, net.edge_v, times)
    graph = _digraph(net.n_nodes, net.edge_u, net.edge_v, times)
    return net, times, router, graph


def test_coquimbo_is_big_and_has_the_traps(coquimbo):
    """The real graph has what the router must handle: parallel edges and one-way streets."""
    net, times, _, graph = coquimbo
    assert net.n_nodes > 10_000  # ~15.5k nodes (unsimplified aequilibrae network)
    assert np.all(times > 0)
    assert graph.number_of_edges() < net.n_edges  # some parallel edges were merged
    assert nx.is_strongly_connected(graph)


def test_travel_time_matches_networkx_dijkstra(coquimbo):
    """30 random (source, target) pairs: Router.travel_time == nx.dijkstra_path_length."""
    net, _, router, graph = coquimbo
    pairs = np.random.default_rng(11).integers(0, net.n_nodes, size=(30, 2))
    for s, t in pairs.tolist():
        expected = nx.dijkstra_path_length(graph, s, t)
        got = router.travel_time(s, t)
        assert _close(got, expected), (s, t, got, expected)


def test_full_rows_match_networkx(coquimbo):
    """times_from(s) is forward Dijkstra; times_to(t) is Dijkstra on the reversed graph (all nodes)."""
    net, _, router, graph = coquimbo
    nodes = np.random.default_rng(12).integers(0, net.n_nodes, size=3).tolist()
    for s in nodes:
        expected = nx.single_source_dijkstra_path_length(graph, s)
        exp = np.array([expected[i] for i in range(net.n_nodes)])
        row = router.times_from(s)
        assert row.dtype == np.float32
        np.testing.assert_allclose(row, exp, rtol=REL, atol=ABS)
    reverse = graph.reverse(copy=False)
    for t in nodes:
        expected = nx.single_source_dijkstra_path_length(reverse, t)
        exp = np.array([expected[i] for i in range(net.n_nodes)])
        np.testing.assert_allclose(router.times_to(t), exp, rtol=REL, atol=ABS)


def test_path_is_valid_and_sums_to_travel_time(coquimbo):
    """Router.path gives existing edges whose (fastest) times add up to the travel time."""
    net, _, router, graph = coquimbo
    pairs = np.random.default_rng(13).integers(0, net.n_nodes, size=(10, 2))
    for s, t in pairs.tolist():
        nodes, cum = router.path(s, t)
        assert nodes[0] == s and nodes[-1] == t
        assert len(set(nodes.tolist())) == nodes.size  # a shortest path never repeats a node
        edge_sum = sum(
            graph[a][b]["weight"] for a, b in zip(nodes[:-1].tolist(), nodes[1:].tolist(), strict=True)
        )
        total = router.travel_time(s, t)
        assert _close(edge_sum, total), (s, t, edge_sum, total)
        assert cum[0] == 0.0
        assert np.all(np.diff(cum) >= 0)
        assert _close(cum[-1], total)


def test_one_way_streets_are_asymmetric(coquimbo):
    """On one-way edges u->v (no v->u edge), the time v->u differs from u->v, and the reverse
    search (times_to) agrees with the forward search (times_from) in the right direction."""
    net, times, router, graph = coquimbo
    u = net.edge_u.astype(np.int64)
    v = net.edge_v.astype(np.int64)
    key = u * net.n_nodes + v
    one_way = np.flatnonzero(~np.isin(key, v * net.n_nodes + u))
    assert one_way.size > 100
    sample = np.random.default_rng(14).choice(one_way, size=20, replace=False)
    differing = 0
    for e in sample.tolist():
        a, b = int(u[e]), int(v[e])
        a_to_b = float(router.times_to(b)[a])
        b_to_a = float(router.times_to(a)[b])
        assert a_to_b > 0 and b_to_a > 0
        assert a_to_b <= times[e] * (1 + REL)  # the edge itself is a path a -> b
        assert _close(a_to_b, nx.dijkstra_path_length(graph, a, b))
        assert _close(b_to_a, nx.dijkstra_path_length(graph, b, a))
        assert _close(b_to_a, float(router.times_from(b)[a]))  # forward from b == reverse to a
        differing += not _close(a_to_b, b_to_a)
    assert differing >= 15  # going back against a one-way street needs a detour


def test_bounded_queries_are_exact_below_the_limit(coquimbo):
    """times_to(t, limit_s=L) is exact for entries <= L (others may be inf); a later unbounded
    query of the same target is not served from the bounded cache entry."""
    net, times, _, graph = coquimbo
    router = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0)  # LRU cache only
    reverse = graph.reverse(copy=False)
    for t in np.random.default_rng(15).integers(0, net.n_nodes, size=4).tolist():
        expected = nx.single_source_dijkstra_path_length(reverse, t)
        exact = np.array([expected[i] for i in range(net.n_nodes)])
        limit = float(np.quantile(exact, 0.1))
        bounded = router.times_to(t, limit_s=limit)
        inside = exact <= limit
        np.testing.assert_allclose(bounded[inside], exact[inside], rtol=REL, atol=ABS)
        outside = bounded[~inside]
        assert np.all(np.isinf(outside) | (outside >= limit * (1 - REL)))
        assert np.isinf(outside).any()  # the search really was bounded
        tighter = router.times_to(t, limit_s=limit / 2)  # served from the cache: still exact inside
        np.testing.assert_allclose(tighter[exact <= limit / 2], exact[exact <= limit / 2], rtol=REL)
        full = router.times_to(t)
        assert np.all(np.isfinite(full))
        np.testing.assert_allclose(full, exact, rtol=REL, atol=ABS)


def test_bounded_then_full_on_dense_router(coquimbo):
    """Same cache rules on the dense (matrix) cache: a bounded row never answers a full query."""
    _, _, router, graph = coquimbo
    t = 4321
    limit = 60.0
    bounded = router.times_to(t, limit_s=limit)
    full = router.times_to(t)
    assert np.all(np.isfinite(full))
    ok = np.isfinite(bounded)
    np.testing.assert_allclose(bounded[ok], full[ok], rtol=REL)
    assert _close(float(full[0]), nx.dijkstra_path_length(graph, 0, t))


# ------------------------------------------------------------------ tiny hand-built graphs
def test_parallel_edges_keep_the_fastest():
    """Two parallel edges 0->1 (9 s and 4 s): the router uses 4 s, in both directions of search
    (converting a MultiDiGraph naively would sum them to 13 s)."""
    u = np.array([0, 0, 1, 1, 2])
    v = np.array([1, 1, 2, 0, 0])
    t = np.array([9.0, 4.0, 5.0, 7.0, 3.0])
    router = Router(3, u, v, t)
    assert router.travel_time(0, 1) == pytest.approx(4.0)
    assert router.times_from(0)[1] == pytest.approx(4.0)
    assert router.travel_time(0, 2) == pytest.approx(9.0)
    nodes, cum = router.path(0, 2)
    assert nodes.tolist() == [0, 1, 2]
    assert cum.tolist() == pytest.approx([0.0, 4.0, 9.0])
    # order of the parallel edges in the input does not matter
    router2 = Router(3, u[[1, 0, 2, 3, 4]], v[[1, 0, 2, 3, 4]], t[[1, 0, 2, 3, 4]])
    assert router2.travel_time(0, 1) == pytest.approx(4.0)


def test_zero_time_edges_still_connect():
    """A 0 s edge must stay an edge (CSR drops explicit zeros): stored as MIN_EDGE_TIME_S."""
    u = np.array([0, 1, 2, 2])
    v = np.array([1, 2, 0, 1])
    t = np.array([0.0, 5.0, 2.0, 0.0])
    router = Router(3, u, v, t)
    assert np.isfinite(router.times_to(1)).all()
    assert router.travel_time(0, 1) == pytest.approx(0.0, abs=MIN_EDGE_TIME_S * 1.01)
    assert router.travel_time(2, 1) == pytest.approx(0.0, abs=MIN_EDGE_TIME_S * 1.01)
    assert router.travel_time(0, 2) == pytest.approx(5.0, abs=2 * MIN_EDGE_TIME_S)
    assert router.times_from(0)[2] == pytest.approx(5.0, abs=2 * MIN_EDGE_TIME_S)
    assert router.path_nodes(0, 2).tolist() == [0, 1, 2]


def test_times_from_equals_forward_dijkstra_on_small_random_graph(rng):
    """times_from / times_to against networkx on a random strongly connected digraph with one-way arcs."""
    n = 60
    ring_u = np.arange(n)
    ring_v = (ring_u + 1) % n  # a one-way ring makes it strongly connected
    extra_u = rng.integers(0, n, 200)
    extra_v = rng.integers(0, n, 200)
    keep = extra_u != extra_v
    u = np.concatenate([ring_u, extra_u[keep]])
    v = np.concatenate([ring_v, extra_v[keep]])
    t = rng.uniform(1.0, 60.0, u.size)
    router = Router(n, u, v, t)
    graph = _digraph(n, u, v, t)
    for s in range(0, n, 7):
        expected = nx.single_source_dijkstra_path_length(graph, s)
        np.testing.assert_allclose(router.times_from(s), [expected[i] for i in range(n)], rtol=REL)
        back = nx.single_source_dijkstra_path_length(graph.reverse(copy=False), s)
        np.testing.assert_allclose(router.times_to(s), [back[i] for i in range(n)], rtol=REL)


def test_build_network_keeps_the_largest_strongly_connected_component(tiny_network):
    """Only the two-way square 1-2-3-4 survives: the one-way dead end 4->5, the entry 8->1, the
    separate pair 6-7, the self-loop and the edge to a missing node are gone."""
    net = tiny_network
    assert sorted(net.node_id.tolist()) == [1, 2, 3, 4]
    assert net.stats["nodes_read"] == 8
    assert net.stats["nodes_dropped_not_strongly_connected"] == 4
    assert net.stats["edges_dropped_missing_nodes_or_loops"] == 2  # 2->2 and 3->99
    ids = net.node_id
    kept = sorted(zip(ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), net.length_m.tolist(), strict=True))
    assert kept == [
        (1, 2, 100.0), (1, 2, 300.0), (1, 4, 100.0), (2, 1, 100.0), (2, 3, 0.0),
        (3, 2, 0.0), (3, 4, 100.0), (4, 1, 100.0), (4, 3, 100.0),
    ]  # fmt: skip
    assert 5 not in ids.tolist()  # the one-way dead end
    router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())
    i = {int(node): k for k, node in enumerate(ids.tolist())}
    # 100 m at 36 km/h = 10 s; the 0 m edge 2-3 costs (almost) nothing; parallel 1->2 keeps 10 s
    assert router.travel_time(i[1], i[2]) == pytest.approx(10.0)
    assert router.travel_time(i[1], i[3]) == pytest.approx(10.0, abs=2 * MIN_EDGE_TIME_S)
    assert router.travel_time(i[4], i[2]) == pytest.approx(10.0, abs=2 * MIN_EDGE_TIME_S)
    assert np.isfinite(router.times_to(i[1])).all()


_PARALLEL_CHECK = """
import numpy as np
from policetwin.maps import Router, load_map

network = load_map("coquimbo")
times = network.travel_times_s()
targets = np.arange(0, network.n_nodes, 97)[:160]
serial = Router(network.n_nodes, network.edge_u, network.edge_v, times)
parallel = Router(network.n_nodes, network.edge_u, network.edge_v, times)
serial.precompute(targets, chunk=16)
parallel.precompute(targets, chunk=16, workers=2)
assert parallel.dijkstra_calls == targets.size
assert parallel.precompute_workers_used == 2 and serial.precompute_workers_used == 1
for target in targets.tolist():
    assert parallel.has_full_row(target)
    np.testing.assert_array_equal(parallel.times_to(target), serial.times_to(target))
print("same rows")
"""


def test_parallel_precompute_equals_serial_rows():
    """Rows computed by forked workers in shared memory equal rows computed in this process. In a fresh
    interpreter: the router forks only from a single-threaded process, and earlier tests in this one may
    leave threads behind (Dask's event loop, DuckDB)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _PARALLEL_CHECK], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "same rows"


def test_parallel_precompute_reuses_one_buffer_for_many_slabs(coquimbo):
    """With slabs of 48 rows, 160 targets take four slabs (the last one partial) through the same
    shared buffer: every row still equals the serial one."""
    network, times, serial, _ = coquimbo
    targets = np.arange(5, network.n_nodes, 89)[:160]
    parallel = Router(network.n_nodes, network.edge_u, network.edge_v, times)
    parallel._precompute_parallel(targets, chunk=16, workers=2, slab_bytes=4 * network.n_nodes * 50)
    assert parallel.dijkstra_calls == targets.size
    serial.precompute(targets, chunk=16)
    for target in targets.tolist():
        assert parallel.has_full_row(target)
        np.testing.assert_array_equal(parallel.times_to(target), serial.times_to(target))


# ------------------------------------------------------------------ forked workers, seen from outside
#: A child Python that fills all rows of a synthetic city with 2 forked workers (a few seconds).
PRECOMPUTE_SCRIPT = """
import sys
from policetwin.maps import Router
from policetwin.maps.synthetic import synthetic_city
net = synthetic_city(n_nodes=int(sys.argv[1]), seed=0)
router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())
router.precompute(workers=2)
print(router.precompute_workers_used)
"""


def _shm_names() -> set[str]:
    """Entries of /dev/shm, without the named semaphores multiprocessing unlinks right away."""
    return {name for name in os.listdir("/dev/shm") if not name.startswith("sem.")}


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_ticks(pid: int) -> int:
    """User CPU time of a process in clock ticks (0 once gone)."""
    fields = _stat(pid)
    return 0 if fields is None else int(fields[11])


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in "ZX"  # a zombie has finished


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        fields = _stat(int(entry)) if entry.isdigit() else None
        if fields is not None and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _mapped_from_dev_shm(pids: list[int]) -> list[str]:
    """Memory maps of files in /dev/shm (but named semaphores) in any of ``pids``."""
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            lines += [
                line
                for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                if "/dev/shm/" in line and "/dev/shm/sem." not in line
            ]
    return lines


@linux_only
def test_parallel_precompute_leaves_nothing_in_dev_shm():
    """While a child process precomputes with forked workers, none of them maps a /dev/shm file and
    no entry appears there; none is left afterwards (a named segment outlives a killed process)."""
    before = _shm_names()
    proc = subprocess.Popen(
        [sys.executable, "-c", PRECOMPUTE_SCRIPT, "3000"], stdout=subprocess.PIPE, text=True
    )
    seen_new, seen_mapped, most_workers = set(), [], 0
    while proc.poll() is None:
        workers = _children(proc.pid)
        seen_new |= _shm_names() - before
        seen_mapped += _mapped_from_dev_shm([proc.pid, *workers])
        most_workers = max(most_workers, len(workers))
        time.sleep(0.01)
    assert proc.communicate()[0].strip() == "2" and proc.returncode == 0  # rows by 2 workers
    assert most_workers >= 2  # we looked while the workers ran
    assert not seen_new and not seen_mapped
    assert _shm_names() - before == set()


@linux_only
def test_workers_die_with_a_killed_parent():
    """SIGKILL a process while its forked workers compute rows: the workers are gone within seconds
    (PR_SET_PDEATHSIG), instead of lingering as orphans, and nothing is left in /dev/shm."""
    before = _shm_names()
    proc = subprocess.Popen([sys.executable, "-c", PRECOMPUTE_SCRIPT, "5000"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 8
        workers = []
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            workers = [pid for pid in _children(proc.pid) if _alive(pid)]
        assert len(workers) >= 2, "the workers never started"
        while not all(_cpu_ticks(pid) > 0 for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.01)  # until each has spent CPU time in its first job
        assert all(_cpu_ticks(pid) > 0 for pid in workers), "the workers never computed"
        assert proc.poll() is None, "precompute finished before the kill: use a bigger graph"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 3
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [pid for pid in workers if _alive(pid)]
    assert _shm_names() - before == set()
