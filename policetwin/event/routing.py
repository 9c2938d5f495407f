"""Pedestrian routing: for a set of target nodes, the next edge on a shortest open path from every node.

One multi-source Dijkstra (scipy, on the reversed graph of open edges) per target set gives every
node's successor towards the nearest target; a person only stores its target set and follows the
table, so rerouting after a closure is recomputing a few tables (milliseconds), not every person's
route. Nodes with no open path get ``-1``: people there wait (they are never moved elsewhere).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

#: Lengths below this are stored as this (CSR drops explicit zeros).
MIN_LENGTH_M = 1e-3


def next_edges(
    *,
    n_nodes: int,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    length_m: np.ndarray,
    open_edges: np.ndarray,
    targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(next edge index per node, or -1; walking distance in m to the nearest target, inf if none).

    Targets get next edge -1 and distance 0. Among parallel open edges the shortest is taken.
    """
    targets = np.unique(np.asarray(targets, dtype=np.int64))
    nxt = np.full(n_nodes, -1, dtype=np.int32)
    dist = np.full(n_nodes, np.inf)
    if targets.size == 0:
        return nxt, dist
    idx = np.flatnonzero(open_edges)
    u, v = edge_u[idx].astype(np.int64), edge_v[idx].astype(np.int64)
    w = np.maximum(length_m[idx], MIN_LENGTH_M)
    order = np.lexsort((w, v, u))  # shortest of parallel edges first
    u, v, w, idx = u[order], v[order], w[order], idx[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w, idx = u[first], v[first], w[first], idx[first]
    reverse = csr_matrix((w, (v, u)), shape=(n_nodes, n_nodes))
    dist, pred, _ = dijkstra(reverse, directed=True, indices=targets, min_only=True, return_predecessors=True)
    has = pred >= 0  # predecessor in the reversed graph = next node forward
    key = u * n_nodes + v  # sorted (lexsort by u, v)
    pos = np.searchsorted(key, np.flatnonzero(has) * n_nodes + pred[has])
    nxt[has] = idx[pos]
    return nxt, np.asarray(dist, dtype=float)
