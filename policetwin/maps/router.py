"""Travel-time queries on scipy CSR arrays.

The engine's question is "how long from each unit's position to incident node v?", answered by ONE
reverse Dijkstra from v on the transposed graph (correct on one-way streets, unlike running forward
from v), bounded by a limit when the caller already knows a good answer. Full rows are cached in a
dense float32 matrix filled lazily when the graph is small enough (``dense_max_bytes``); bounded
rows, and full rows of big graphs, in an LRU dictionary. Forward rows from stations answer "how long
from the station to v" for all idle units at once. Parallel edges keep the fastest one. Maps too big
for dense rows answer by contraction-hierarchy queries instead (:mod:`policetwin.maps.cch`,
``backend``), so no search has to touch the whole map.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import multiprocessing
import os
import signal
import sys
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:
    from policetwin.maps.cch import ContractionHierarchy
    from policetwin.maps.network import RoadNetwork

#: Edges faster than this are stored with this time: CSR drops explicit zeros.
MIN_EDGE_TIME_S = 1e-3
DEFAULT_DENSE_MAX_BYTES = 2 * 1024**3
PR_SET_PDEATHSIG = 1  # Linux prctl option: signal sent to this process when its parent dies


def default_backend(n_nodes: int, *, dense_max_bytes: int = DEFAULT_DENSE_MAX_BYTES) -> str:
    """The routing backend a map of ``n_nodes`` gets by default: ``dense-rows`` while a float32 row per
    node fits ``dense_max_bytes``, else ``cch`` (see :attr:`Router.backend`)."""
    return "dense-rows" if n_nodes * n_nodes * 4 <= dense_max_bytes else "cch"


def prepare_routing(network: RoadNetwork) -> str:
    """Do once, for a map, what its runs would otherwise each start with: for a map that gets the
    contraction hierarchy (:func:`default_backend`), compute its node order into the map cache (tens of
    seconds on 300k nodes). Returns the backend."""
    backend = default_backend(network.n_nodes)
    if backend == "cch":
        from policetwin.maps.cch import node_order
        from policetwin.maps.load import cache_dir

        router = Router(network.n_nodes, network.edge_u, network.edge_v, network.travel_times_s(),
                        dense_max_bytes=0, hierarchy=False)  # fmt: skip
        node_order(router.forward.tocoo(), lon=network.lon, lat=network.lat, cache=cache_dir())
    return backend


class Router:
    """Shortest travel times and paths on a directed graph of ``n_nodes`` nodes."""

    def __init__(
        self,
        n_nodes: int,
        edge_u: np.ndarray,
        edge_v: np.ndarray,
        edge_time_s: np.ndarray,
        *,
        dense_max_bytes: int = DEFAULT_DENSE_MAX_BYTES,
        lru_rows: int = 4096,
        hierarchy: bool | None = None,
        lon: np.ndarray | None = None,
        lat: np.ndarray | None = None,
        like: Router | None = None,
    ) -> None:
        self.n_nodes = int(n_nodes)
        u = np.asarray(edge_u, dtype=np.int64)
        v = np.asarray(edge_v, dtype=np.int64)
        t = np.maximum(np.asarray(edge_time_s, dtype=float), MIN_EDGE_TIME_S)
        # fastest of parallel edges: sort by (u, v, t) and keep the first of each (u, v)
        order = np.lexsort((t, v, u))
        u, v, t = u[order], v[order], t[order]
        first = np.ones(u.size, dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        u, v, t = u[first], v[first], t[first]
        self.forward = csr_matrix((t, (u, v)), shape=(self.n_nodes, self.n_nodes))
        self.reverse = self.forward.T.tocsr()
        self.dense = self.n_nodes * self.n_nodes * 4 <= dense_max_bytes and (like is None or like.dense)
        if like is not None and hierarchy is None:  # the same backend as the router it is like
            hierarchy = like._use_hierarchy
        if self.dense:
            self._matrix = np.empty((self.n_nodes, self.n_nodes), dtype=np.float32)
            self._filled = np.zeros(self.n_nodes, dtype=bool)
        self._lru: OrderedDict[int, tuple[np.ndarray, float]] = OrderedDict()
        self._lru_rows = int(lru_rows)
        self._from: dict[int, np.ndarray] = {}
        self._succ: dict[int, np.ndarray] = {}
        self._trees: dict[int, tuple[list[int], list[float]]] = {}
        self.dijkstra_calls = 0
        self.precompute_workers_used = 0
        # exact times on maps too big for dense rows: a contraction hierarchy (None: auto, there)
        self._use_hierarchy = (not self.dense) if hierarchy is None else bool(hierarchy)
        self._coords = (lon, lat)
        self._hierarchy = None
        self._like = like  # a router of the same roads with other times: its hierarchy is re-customized

    @property
    def backend(self) -> str:
        """How exact travel times are found: ``dense-rows`` (a cached row per target node: small maps),
        ``cch`` (contraction hierarchy queries for the few units that may win: big maps) or
        ``dijkstra`` (a bounded reverse search per call)."""
        return "cch" if self._use_hierarchy else "dense-rows" if self.dense else "dijkstra"

    @property
    def hierarchy(self) -> ContractionHierarchy | None:
        """The contraction hierarchy (:class:`policetwin.maps.cch.ContractionHierarchy`), built on first
        use (seconds on 300k nodes; its node order is cached on disk); None unless ``backend`` is cch."""
        if self._hierarchy is None and self._use_hierarchy:
            from policetwin.maps.cch import ContractionHierarchy
            from policetwin.maps.load import cache_dir

            if self._like is not None and self._like.hierarchy is not None:
                self._hierarchy = ContractionHierarchy(self.forward, cch=self._like.hierarchy.cch)
                return self._hierarchy
            lon, lat = self._coords
            if lon is None or lat is None:  # (no coordinates: a placeholder order, slower queries)
                lon = lat = np.arange(self.n_nodes, dtype=float)
            self._hierarchy = ContractionHierarchy(self.forward, lon=lon, lat=lat, cache=cache_dir())
        return self._hierarchy

    def times_to(self, target: int, *, limit_s: float = np.inf) -> np.ndarray:
        """Travel time (s, float32) from every node to ``target``; cached.

        With ``limit_s``, only times up to the limit are guaranteed: larger ones may be ``inf``.
        A bounded search explores only the ball around the target, which is much cheaper when the
        caller already knows a good answer (e.g. the nearest idle unit).
        """
        if self.dense and self._filled[target]:
            return self._matrix[target]
        hit = self._lru.get(target)
        if hit is not None and hit[1] >= limit_s:
            self._lru.move_to_end(target)
            return hit[0]
        row = self._reverse_dijkstra(target, limit_s)
        if self.dense and limit_s == np.inf:
            self._matrix[target] = row
            self._filled[target] = True
            self._lru.pop(target, None)
            return self._matrix[target]
        row = row.astype(np.float32)
        self._lru[target] = (row, limit_s)
        self._lru.move_to_end(target)
        if len(self._lru) > self._lru_rows:
            self._lru.popitem(last=False)
        return row

    def has_full_row(self, target: int) -> bool:
        """True when the exact row of ``target`` is cached (a query costs no search)."""
        if self.dense and self._filled[target]:
            return True
        hit = self._lru.get(target)
        return hit is not None and hit[1] == np.inf

    def times_from(self, source: int) -> np.ndarray:
        """Travel time (s, float32) from ``source`` to every node; cached (meant for stations)."""
        row = self._from.get(source)
        if row is None:
            row = dijkstra(self.forward, directed=True, indices=int(source)).astype(np.float32)
            self.dijkstra_calls += 1
            self._from[source] = row
        return row

    def _reverse_dijkstra(self, target: int, limit_s: float = np.inf) -> np.ndarray:
        self.dijkstra_calls += 1
        return dijkstra(self.reverse, directed=True, indices=int(target), limit=limit_s)

    def precompute(self, targets: np.ndarray | None = None, *, chunk: int = 256, workers: int = 1) -> None:
        """Fill cache rows for ``targets`` (all nodes by default) in batched Dijkstra calls.

        With ``workers > 1`` and a dense cache, the rows are computed by that many forked processes
        writing into shared memory (scipy's Dijkstra holds the GIL). Forking is only done while this
        process runs a single thread; otherwise the rows are computed here, serially.
        """
        todo = np.arange(self.n_nodes) if targets is None else np.unique(np.asarray(targets, dtype=np.int64))
        if self.dense:
            todo = todo[~self._filled[todo]]
        can_fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
        if self.dense and workers > 1 and todo.size >= 4 * chunk and can_fork:
            self._precompute_parallel(todo, chunk=chunk, workers=workers)
            self.precompute_workers_used = workers
            return
        self.precompute_workers_used = 1
        for start in range(0, todo.size, chunk):
            batch = todo[start : start + chunk]
            rows = dijkstra(self.reverse, directed=True, indices=batch)
            self.dijkstra_calls += batch.size
            if self.dense:
                self._matrix[batch] = rows
                self._filled[batch] = True
            else:
                for node, row in zip(batch.tolist(), rows, strict=True):
                    self._lru[node] = (row.astype(np.float32), np.inf)
                while len(self._lru) > self._lru_rows:
                    self._lru.popitem(last=False)

    def _precompute_parallel(
        self, todo: np.ndarray, *, chunk: int, workers: int, slab_bytes: int = 256 * 1024**2
    ) -> None:
        """Rows in slabs (bounded extra memory), filled by a pool of forked workers.

        The workers write into ONE anonymous shared mapping, sized for a slab and reused for every
        slab; they inherit it, and the reverse graph, through fork (a job is just its targets), so
        no named segment is ever created in /dev/shm, and the mapping dies with its last process.
        Workers ask the kernel to SIGKILL them when this process dies (see ``_worker_init``).
        """
        n = self.n_nodes
        slab_rows = min(max(chunk, (slab_bytes // (4 * n)) // chunk * chunk), todo.size)
        shared = np.frombuffer(mmap.mmap(-1, slab_rows * n * 4, flags=mmap.MAP_SHARED), dtype=np.float32)
        context = multiprocessing.get_context("fork")  # fork: initargs are inherited, never pickled
        initargs = (os.getpid(), shared, self.reverse)
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=initargs
        ) as pool:
            try:
                for first in range(0, todo.size, slab_rows):
                    slab = todo[first : first + slab_rows]
                    jobs = [(start, slab[start : start + chunk]) for start in range(0, slab.size, chunk)]
                    list(pool.map(_rows_into_shared, jobs))
                    self._matrix[slab] = shared[: slab.size * n].reshape(slab.size, n)
                    self._filled[slab] = True
                    self.dijkstra_calls += slab.size
            except BaseException:  # Ctrl-C / SIGTERM: drop queued jobs, wait only for running ones
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def travel_time(self, source: int, target: int) -> float:
        """Shortest travel time source -> target in seconds (one query on the hierarchy when the row of
        ``target`` is not cached)."""
        if self._use_hierarchy and not self.has_full_row(target):
            return self.hierarchy.time(source, target)
        return float(self.times_to(target)[source])

    def successors_to(self, target: int) -> np.ndarray:
        """Next node on a shortest path from every node towards ``target`` (-1 at target); cached. The
        same search gives the row of ``target``, cached too unless it already is (one search, not two)."""
        succ = self._succ.get(target)
        if succ is None:
            dist, pred = dijkstra(self.reverse, directed=True, indices=int(target), return_predecessors=True)
            self.dijkstra_calls += 1
            succ = pred.astype(np.int32)  # predecessor in the reverse graph = successor forward
            if not self.has_full_row(target):
                if self.dense:
                    self._matrix[target] = dist
                    self._filled[target] = True
                else:
                    self._lru[target] = (dist.astype(np.float32), np.inf)
                    if len(self._lru) > self._lru_rows:
                        self._lru.popitem(last=False)
            if len(self._succ) > 1024:
                self._succ.clear()
            self._succ[target] = succ
        return succ

    def tree_to(self, target: int) -> tuple[list[int], list[float]]:
        """(next node towards ``target`` from each node, time from each node to ``target``) as lists.

        Plain lists make walking a route in Python cheap; meant for the few station targets.
        """
        tree = self._trees.get(target)
        if tree is None:
            tree = (self.successors_to(target).tolist(), self.times_to(target).astype(float).tolist())
            if len(self._trees) > 64:
                self._trees.clear()
            self._trees[target] = tree
        return tree

    def path_nodes(self, source: int, target: int) -> np.ndarray:
        """Node indices of a fastest path from ``source`` to ``target`` (both included)."""
        succ, _ = self.tree_to(target)
        node = int(source)
        nodes = [node]
        while node != target:
            node = succ[node]
            if node < 0 or len(nodes) > self.n_nodes:
                msg = f"no path from node index {source} to {target}"
                raise ValueError(msg)
            nodes.append(node)
        return np.asarray(nodes, dtype=np.int64)

    def path(self, source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
        """Node indices of a fastest path and the cumulative time (s) at each node."""
        nodes = self.path_nodes(source, target)
        to_target = self.times_to(target).astype(float)
        return nodes, to_target[source] - to_target[nodes]


#: In a pool worker: (shared float32 rows, reverse CSR graph), inherited from the parent at fork.
_worker_state: tuple[np.ndarray, csr_matrix] | None = None


def _worker_init(parent_pid: int, shared: np.ndarray, reverse: csr_matrix) -> None:
    """Pool initializer: die with the parent, and keep the inherited shared rows and graph.

    Without PR_SET_PDEATHSIG a SIGKILLed parent leaves its workers computing, orphaned. The
    ``getppid`` check covers a parent that died before the prctl call. Where prctl is missing, the
    workers simply do not get the signal.
    """
    global _worker_state
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (the CLI's Ctrl-C-like one)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent handles it
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL))
    if os.getppid() != parent_pid:
        os._exit(1)
    _worker_state = (shared, reverse)


def _rows_into_shared(job: tuple[int, np.ndarray]) -> None:
    """Worker: reverse Dijkstra rows to ``targets`` written at shared rows ``start, start + 1, ...``."""
    start, targets = job
    shared, reverse = _worker_state
    n = reverse.shape[0]
    shared[start * n : (start + targets.size) * n] = dijkstra(reverse, directed=True, indices=targets).ravel()
