"""Topological simplification of a road network (as ``osmnx.simplify_graph``), in numpy/scipy.

Raw OpenStreetMap ways carry many interstitial nodes: points that only bend a street. A node is
*interstitial* when it has exactly two distinct neighbours ``a`` and ``b`` and either

- one edge in from ``a`` and one edge out to ``b`` (a one-way street passing through), or
- one edge in from each of ``a`` and ``b`` and one edge out to each (a two-way street passing through);

every other node is an *endpoint* (junctions, dead ends, nodes with parallel edges...). Chains of
interstitial nodes are contracted into one edge between two endpoints:

- ``length_m`` is the sum of the pieces' lengths;
- the travel time at base speeds (no scenario overrides, speed factor 1) is exactly preserved: the merged
  edge's ``maxspeed_kph`` is ``length / sum(piece times)`` (when all pieces share one class and one
  maxspeed, that common maxspeed, possibly NaN, is kept instead: the same speed, and no made-up tag);
- ``highway`` is the class of the longest piece. Scenario speed overrides by class therefore apply to a
  merged edge by its dominant class: an approximation where a chain mixes classes.

So shortest travel times between the remaining nodes are unchanged (at base speeds, and with any speed
factor), while routing runs on a graph of about half the size. Different chains between the same
endpoints stay as parallel edges (the :class:`~policetwin.maps.router.Router` keeps the fastest). A
chain that returns to its own start (a loop) is split at its middle node, so no self-loop is made; an
isolated cycle of interstitial nodes keeps its lowest-index node as an endpoint and is then split the
same way. Strong connectivity is preserved. Node ids and coordinates of the remaining nodes are kept.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from policetwin.maps.network import RoadNetwork


def simplify_network(network: RoadNetwork) -> RoadNetwork:
    """``network`` with its interstitial nodes contracted away (see the module docstring)."""
    n = network.n_nodes
    u = network.edge_u.astype(np.int64)
    v = network.edge_v.astype(np.int64)
    if u.size == 0:
        return network
    endpoint = ~_interstitial(n, u, v)
    out_order = np.argsort(u, kind="stable")
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=out_ptr[1:])

    # Contract, adding endpoints until no chain is an isolated cycle or a loop back to its start
    # (at most three rounds: cycles get an anchor, then loops get a middle node).
    for _ in range(4):
        nxt = _next_edge(u, v, endpoint, out_order, out_ptr)
        n_chains, label = _chains(nxt)
        starts = endpoint[u]
        has_start = np.bincount(label, weights=starts, minlength=n_chains) > 0
        if not has_start.all():  # isolated cycles: their lowest-index node becomes an endpoint
            anchor = np.full(n_chains, n, dtype=np.int64)
            np.minimum.at(anchor, label, u)
            endpoint[anchor[~has_start]] = True
            continue
        first = np.flatnonzero(starts)  # the first edge of each chain...
        last = np.flatnonzero(endpoint[v])  # ...and the last
        tail = np.empty(n_chains, dtype=np.int64)
        head = np.empty(n_chains, dtype=np.int64)
        tail[label[first]] = u[first]
        head[label[last]] = v[last]
        loops = np.flatnonzero(tail == head)
        if loops.size == 0:
            break
        loop_first = first[np.isin(label[first], loops)]
        middles = np.array(
            [_middle_node(int(e), nxt, v, network.length_m) for e in loop_first], dtype=np.int64
        )
        if (middles < 0).all():  # only single-edge loops (self-loops in the input): nothing to split
            break
        endpoint[middles[middles >= 0]] = True
    else:  # pragma: no cover - three rounds always suffice
        raise RuntimeError("simplify_network did not converge")

    keep_edge = tail != head  # self-loops of the input, if any (build_network drops them)
    length = np.bincount(label, weights=network.length_m, minlength=n_chains)
    base_time = np.bincount(label, weights=network.travel_times_s(), minlength=n_chains)

    # dominant class: the longest piece (the first such edge on ties)
    by_length = np.lexsort((-network.length_m, label))
    longest = np.empty(n_chains, dtype=np.int64)
    is_first = np.ones(by_length.size, dtype=bool)
    is_first[1:] = label[by_length[1:]] != label[by_length[:-1]]
    longest[label[by_length[is_first]]] = by_length[is_first]
    highway = network.highway[longest]

    # maxspeed: the pieces' own where they agree (class and maxspeed), else the speed that keeps the time
    class_code = np.unique(network.highway.astype(str), return_inverse=True)[1].ravel()
    ms = network.maxspeed_kph
    ms_key = np.where(np.isfinite(ms), ms, -1.0)
    uniform = _constant_per_chain(class_code, label, n_chains) & _constant_per_chain(ms_key, label, n_chains)
    with np.errstate(divide="ignore", invalid="ignore"):
        equivalent = np.where(base_time > 0, 3.6 * length / base_time, np.nan)
    maxspeed = np.where(uniform, ms[longest], equivalent)

    keep_node = endpoint
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    stats = dict(network.stats)
    stats["nodes_removed_by_simplification"] = int(n - keep_node.sum())
    return replace(
        network,
        node_id=network.node_id[keep_node],
        lon=network.lon[keep_node],
        lat=network.lat[keep_node],
        x=network.x[keep_node],
        y=network.y[keep_node],
        edge_u=new_index[tail[keep_edge]].astype(np.int32),
        edge_v=new_index[head[keep_edge]].astype(np.int32),
        length_m=length[keep_edge],
        highway=highway[keep_edge],
        maxspeed_kph=maxspeed[keep_edge],
        stats=stats,
    )


def is_strongly_connected(network: RoadNetwork) -> bool:
    """Whether every node of ``network`` can reach every other."""
    n = network.n_nodes
    adj = coo_matrix((np.ones(network.n_edges), (network.edge_u, network.edge_v)), shape=(n, n)).tocsr()
    return connected_components(adj, directed=True, connection="strong")[0] == 1


def _interstitial(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of interstitial nodes (two distinct neighbours, a street passing through)."""
    indeg = np.bincount(v, minlength=n)
    outdeg = np.bincount(u, minlength=n)
    # distinct neighbours, either direction
    node = np.concatenate([u, v])
    other = np.concatenate([v, u])
    pairs = np.unique(node * n + other)
    n_neighbours = np.bincount(pairs // n, minlength=n)
    self_loop = np.zeros(n, dtype=bool)
    self_loop[u[u == v]] = True
    one_way = (indeg == 1) & (outdeg == 1)
    # two-way: two in-edges from different nodes and two out-edges to different nodes
    two_way = (indeg == 2) & (outdeg == 2)
    cand = np.flatnonzero(two_way)
    if cand.size:
        in_order = np.argsort(v, kind="stable")
        in_ptr = np.concatenate([[0], np.cumsum(indeg)])
        out_order = np.argsort(u, kind="stable")
        out_ptr = np.concatenate([[0], np.cumsum(outdeg)])
        preds_differ = u[in_order[in_ptr[cand]]] != u[in_order[in_ptr[cand] + 1]]
        succs_differ = v[out_order[out_ptr[cand]]] != v[out_order[out_ptr[cand] + 1]]
        two_way[cand] = preds_differ & succs_differ
    return (n_neighbours == 2) & (one_way | two_way) & ~self_loop


def _next_edge(
    u: np.ndarray, v: np.ndarray, endpoint: np.ndarray, out_order: np.ndarray, out_ptr: np.ndarray
) -> np.ndarray:
    """For each edge into an interstitial node, the edge that continues the street (-1 elsewhere)."""
    nxt = np.full(u.size, -1, dtype=np.int64)
    through = np.flatnonzero(~endpoint[v])
    h = v[through]
    o1 = out_order[out_ptr[h]]
    # the second out-edge exists for two-way nodes; one-way nodes never need it (their successor
    # differs from their predecessor)
    o2 = out_order[np.minimum(out_ptr[h] + 1, out_ptr[h + 1] - 1)]
    nxt[through] = np.where(v[o1] != u[through], o1, o2)
    return nxt


def _chains(nxt: np.ndarray) -> tuple[int, np.ndarray]:
    """Label each edge with its chain (a weakly connected component of the edge -> next edge links)."""
    m = nxt.size
    src = np.flatnonzero(nxt >= 0)
    links = coo_matrix((np.ones(src.size, dtype=np.int8), (src, nxt[src])), shape=(m, m)).tocsr()
    n_chains, label = connected_components(links, directed=True, connection="weak")
    return int(n_chains), label


def _middle_node(first_edge: int, nxt: np.ndarray, v: np.ndarray, length_m: np.ndarray) -> int:
    """The interior node of a chain nearest its half length (-1 for a single edge); walks the chain."""
    edges = [first_edge]
    while nxt[edges[-1]] >= 0:
        edges.append(int(nxt[edges[-1]]))
    if len(edges) < 2:
        return -1
    chain = np.asarray(edges[:-1], dtype=np.int64)  # the edges ending at an interior node
    along = np.cumsum(length_m[chain])
    total = along[-1] + length_m[edges[-1]]
    return int(v[chain[np.argmin(np.abs(along - total / 2))]])


def _constant_per_chain(values: np.ndarray, label: np.ndarray, n_chains: int) -> np.ndarray:
    """Whether ``values`` is the same on every edge of each chain."""
    lo = np.full(n_chains, np.inf)
    hi = np.full(n_chains, -np.inf)
    np.minimum.at(lo, label, values)
    np.maximum.at(hi, label, values)
    return lo == hi
