"""Exact travel times on big road networks: customizable contraction hierarchies (RoutingKit's CCH).

On maps too big for a dense table of travel-time rows, the engine asks "how long from each of these
few units' next nodes to the call?" CCH (Dibbelt, Strasser & Wagner 2016) answers such a query by two
small upward searches instead of a Dijkstra over the whole map (scipy's ``dijkstra`` also spends
O(nodes) on every call, ~0.8 ms at 300k nodes, however small the search). The library is the
maintained RoutingKit implementation (``routingkit-cch`` bindings): preprocessing (a nested-dissection
node order, weight independent, cached on disk beside the map cache), customization (weights: cheap,
redone for other travel times), queries.

Weights are integer milliseconds (the road seconds rounded), so a CCH time differs from the float
Dijkstra by at most 0.5 ms per edge of the path (``MS_PER_S``; tested on real maps and a synthetic
city). Parallel edges: the router keeps the fastest one before this sees them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import routingkit_cch as rk
from scipy.sparse import coo_matrix, csr_matrix

from policetwin.maps.io_util import write_cache_atomic

#: Weight resolution: a CCH weight is an edge's road seconds times this, rounded (at least 1).
MS_PER_S = 1000.0
#: Node orders are cached for graphs of at least this many nodes (smaller ones order in milliseconds).
CACHE_ORDER_NODES = 20_000


class ContractionHierarchy:
    """A CCH over the directed graph ``forward`` (CSR, road seconds) with node coordinates for the
    order: exact fastest times from a few sources to one target (:meth:`times_to`,
    :meth:`nearest`), re-customizable with new road seconds of the same edges (:meth:`customize`).
    ``cch``: the preprocessing of another hierarchy of the same roads, shared (only the customization is
    done for ``forward``'s times)."""

    def __init__(
        self,
        forward: csr_matrix,
        *,
        lon: np.ndarray | None = None,
        lat: np.ndarray | None = None,
        cache: Path | None = None,
        cch: rk.CCH | None = None,
    ) -> None:
        coo = forward.tocoo()
        if cch is None:
            order = node_order(coo, lon=lon, lat=lat, cache=cache)
            cch = rk.CCH(order, coo.row.tolist(), coo.col.tolist(), False)
        self.cch = cch
        self.metric: rk.CCHMetric | None = None
        self._query: rk.CCHQuery | None = None
        self.queries = 0  # queries answered (for the engine figures)
        self.customize(coo.data)

    def customize(self, edge_s: np.ndarray) -> None:
        """Bind new road seconds to the edges (same order as the CSR's entries): a re-customization, not
        a rebuild (time-of-day travel)."""
        weights = np.maximum(np.rint(np.asarray(edge_s, dtype=float) * MS_PER_S), 1).astype(np.int64)
        self._query = None  # (a metric cannot be reset while a query on it is alive)
        if self.metric is None:
            self.metric = rk.CCHMetric(self.cch, weights.tolist())
        else:
            self.metric.reset(weights.tolist())
        self._query = rk.CCHQuery(self.metric)

    def time(self, source: int, target: int) -> float:
        """Fastest time (s) from ``source`` to ``target`` (inf when unreachable)."""
        self.queries += 1
        result = self._query.run(int(source), int(target))
        return np.inf if result.distance is None else result.distance / MS_PER_S

    def nearest(self, sources: np.ndarray, offsets_s: np.ndarray, target: int) -> tuple[float, int]:
        """(time, position in ``sources``) of the source that reaches ``target`` first when each starts
        ``offsets_s`` late: one query from all sources at once. ``(inf, -1)`` when none reaches it."""
        self.queries += 1
        pairs = list(zip(np.asarray(sources).tolist(),
                         np.rint(np.asarray(offsets_s) * MS_PER_S).astype(np.int64).tolist(), strict=True))  # fmt: skip
        result = self._query.run_multi(pairs, [(int(target), 0)])
        if result.distance is None:
            return np.inf, -1
        first = result.node_path[0]
        at = [k for k, (node, _) in enumerate(pairs) if node == first]
        best = min(at, key=lambda k: pairs[k][1])  # (a node shared by several: the earliest start)
        return result.distance / MS_PER_S, best

    def times_to(self, sources: np.ndarray, target: int) -> np.ndarray:
        """Fastest times (s) from each of ``sources`` to ``target`` (inf when unreachable)."""
        out = np.full(len(sources), np.inf)
        if len(sources) == 0:
            return out
        unique, inverse = np.unique(np.asarray(sources, dtype=np.int64), return_inverse=True)
        if unique.size == 1:
            out[:] = self.time(int(unique[0]), target)
            return out
        self.queries += 1
        many = rk.CCHManyToOne(self.metric, unique.tolist())
        dist = many.distances_to(int(target))
        del many
        times = np.array([np.inf if d is None else d / MS_PER_S for d in dist])
        return times[inverse]

    def path(self, source: int, target: int) -> list[int]:
        """Node indices of a fastest path from ``source`` to ``target`` (empty when unreachable)."""
        result = self._query.run(int(source), int(target))
        return [] if result.distance is None else list(result.node_path)


def node_order(coo: coo_matrix, *, lon: np.ndarray, lat: np.ndarray, cache: Path | None) -> list[int]:
    """The nested-dissection node order of the graph ``coo`` (its arcs; inertial flow, weight
    independent), read from ``cache`` when it holds the order of this very graph (keyed by a hash of its
    arcs and coordinates; graphs of CACHE_ORDER_NODES nodes or more), else computed and stored there."""
    n_nodes = coo.shape[0]
    tail, head = coo.row.astype(np.int64), coo.col.astype(np.int64)
    path = None
    if cache is not None and n_nodes >= CACHE_ORDER_NODES:
        digest = hashlib.sha256()
        for part in (tail, head, np.asarray(lon, float), np.asarray(lat, float)):
            digest.update(np.ascontiguousarray(part).tobytes())
        path = cache / f"cch-order-{digest.hexdigest()[:32]}.npy"
        if path.is_file():
            try:
                order = np.load(path, allow_pickle=False)
                if order.shape == (n_nodes,):
                    return order.tolist()
            except (OSError, ValueError):
                pass
    order = rk.compute_order_inertial(
        n_nodes,
        tail.tolist(),
        head.tolist(),
        np.asarray(lat, float).tolist(),
        np.asarray(lon, float).tolist(),
    )
    if path is not None:
        write_cache_atomic(path, lambda fh: np.save(fh, np.asarray(order, np.int64), allow_pickle=False))
    return order
