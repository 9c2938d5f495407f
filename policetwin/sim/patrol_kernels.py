"""The patrol's compiled loops (numba): the few places where a patrol run does small array work per
call, which NumPy spends on call overhead and temporaries rather than arithmetic.

- :func:`road_etas`, :func:`tour_etas`: the ETAs of all free units at a call, touring units from their
  tours' checkpoints (:class:`policetwin.sim.checkpoints.Checkpoints`);
- :func:`fit_legs`, :func:`build_tour`: a patrol tour from the routes between waypoints
  (:func:`policetwin.sim.tours.draw_tour`);
- :func:`mark_tour`, :func:`cut_steps`, :func:`mark_routes`, :func:`mark_walks`: the beat segments
  that patrol legs passed
  (:class:`policetwin.sim.patrol_coverage.PatrolCoverage`).

The loops do the same float64 arithmetic in the same order as the array code they replaced (running
sums, no fast-math), so results are bit-identical. numba caches the compiled code beside this module (or
in the user's cache); only runs with patrolling groups import it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Steps a touring unit's cursor moves by itself before a binary search finds its checkpoint instead.
CURSOR_STEPS = 4


@njit(cache=True, nogil=True)
def tour_position(u, now, t0, time, node, cursor, width):  # pragma: no cover - compiled
    """(next node, seconds to it) of touring unit ``u`` at ``now`` (see :meth:`Checkpoints.position`):
    from the slot it passed last (its cursor, moved on: a step at a time, or a binary search when far
    on), the next node and when it gets there; at a node (waiting, or passing it just now): that node."""
    rel = now - t0[u]
    at = cursor[u]
    steps = 0
    while time[at + 1] <= rel:
        if steps == CURSOR_STEPS:  # far on: a binary search over the rest of the unit's slots
            lo, hi = at + 1, (u + 1) * width  # time[lo] <= rel; the last such slot is wanted
            while hi - lo > 1:
                mid = (lo + hi) >> 1
                if time[mid] <= rel:
                    lo = mid
                else:
                    hi = mid
            at = lo
            break
        at += 1
        steps += 1
    cursor[u] = at
    here, nxt = node[at], node[at + 1]
    if time[at] >= rel or nxt == here:
        return here, 0.0
    return nxt, time[at + 1] - rel


@njit(cache=True, nogil=True)
def tour_eta(row, u, now, t0, time, node, cursor, width):  # pragma: no cover - compiled
    """One touring unit's ETA by ``row`` (see :meth:`Checkpoints.etas`); moves its cursor."""
    nxt, offset = tour_position(u, now, t0, time, node, cursor, width)
    return row[nxt] + offset


@njit(cache=True, nogil=True)
def tour_etas(row, units, now, t0, time, node, cursor, width, out):  # pragma: no cover - compiled
    for i in range(units.size):
        out[i] = tour_eta(row, units[i], now, t0, time, node, cursor, width)


@njit(cache=True, nogil=True)
def tree_eta(row, u, now, trip_node, trip_time, trip_rate, tree, walk, tree_succ, tree_left, tree_dest):  # pragma: no cover  # fmt: skip
    """ETA of a unit driving back to its tour along the waypoint's tree (see :meth:`Checkpoints.set_tour`):
    the next node on the route and the time to it, as :meth:`policetwin.agents.PatrolUnit.position`
    finds them (the same arithmetic); moves the unit's walk on."""
    origin, depart = trip_node[u], trip_time[u]
    if now <= depart:
        return row[origin] + (depart - now)
    r = trip_rate[u]
    elapsed = (now - depart) * r
    w = tree[u]
    dest = tree_dest[w]
    start_left = np.float64(tree_left[w, origin])
    node = walk[u]
    while True:  # walk the route until the node reached at or after now
        reached = start_left - np.float64(tree_left[w, node])
        if reached >= elapsed or node == dest:
            walk[u] = node
            return row[node] + max(reached - elapsed, 0.0) / r
        node = tree_succ[w, node]


@njit(cache=True, nogil=True)
def road_etas(row, home_rows, unit_home, returning, candidates, target, now, exact, t0, time, node, cursor,
              width, trip_node, trip_time, trip_rate, lead_end, tree, walk, tree_succ, tree_left, tree_dest,
              group_of, group_min, prune, eta, plain, bound):  # pragma: no cover  # fmt: skip
    """ETAs of all candidates (see :meth:`Checkpoints.road_etas`); returns how many are on plain trips.

    With ``prune >= 0`` only the nearest unit matters (give or take ``prune`` seconds): units on their
    tours are timed group by group, nearest group first by ``group_min`` (the least time from any node
    of the group's routes to each node: a lower bound for every unit on its tour), and a group whose
    bound is ``prune`` or more beyond the best ETA so far is left untimed (``inf``)."""
    n = 0
    best = np.inf
    waiting = 0  # touring units left for the group-by-group pass
    for i in range(candidates.size):
        u = candidates[i]
        if not returning[u]:
            eta[i] = home_rows[unit_home[u], target]
            best = min(best, eta[i])
            continue
        if exact[u]:
            if now >= lead_end[u]:  # on its tour
                if prune >= 0 and group_of[u] >= 0:
                    eta[i] = np.nan
                    waiting += 1
                    continue
                eta[i] = tour_eta(row, u, now, t0, time, node, cursor, width)
                best = min(best, eta[i])
                continue
            if tree[u] >= 0:  # driving back to it, the tree at hand
                eta[i] = tree_eta(row, u, now, trip_node, trip_time, trip_rate, tree, walk, tree_succ, tree_left,
                                  tree_dest)  # fmt: skip
                best = min(best, eta[i])
                continue
        eta[i] = np.inf  # a plain trip: its bound only
        plain[n] = i
        bound[n] = row[trip_node[u]] - max(now - trip_time[u], 0.0) * trip_rate[u]
        n += 1
    if waiting:  # the waiting ones by group (in candidate order within each), nearest group first
        bounds = group_min[target]
        start = np.zeros(bounds.size + 1, dtype=np.int64)
        for i in range(candidates.size):
            if eta[i] != eta[i]:
                start[group_of[candidates[i]] + 1] += 1
        for g in range(bounds.size):
            start[g + 1] += start[g]
        order = np.empty(waiting, dtype=np.int64)
        fill = start[:-1].copy()
        for i in range(candidates.size):
            if eta[i] != eta[i]:
                g = group_of[candidates[i]]
                order[fill[g]] = i
                fill[g] += 1
        for g in np.argsort(bounds):
            lower = bounds[g]
            for j in range(start[g], start[g + 1]):
                i = order[j]
                if lower >= best + prune:
                    eta[i] = np.inf
                else:
                    eta[i] = tour_eta(row, candidates[i], now, t0, time, node, cursor, width)
                    best = min(best, eta[i])
    return n


@njit(cache=True, nogil=True)
def fit_legs(first, hops, m, length, room, pairs):  # pragma: no cover - compiled
    """Route numbers of the legs (``pairs``: from waypoint ``first``, each ``hops[k]`` waypoints on, mod
    ``m``) and how many fit in ``room`` checkpoints (at least one)."""
    total, n, at = 0, 0, first
    ahead = first
    for k in range(hops.size):
        ahead += hops[k]
        dest = ahead % m
        pairs[k] = at * m + dest
        at = dest
        total += length[pairs[k]]
        if total <= room:
            n = k + 1
    return max(n, 1)


@njit(cache=True, nogil=True)
def build_tour(first, hops, room, waypoints, length, offset, route_nodes, reached, road_s, rate, stays,
               node, time, slot0, end0, pad):  # pragma: no cover - compiled  # fmt: skip
    """A tour (see :func:`policetwin.sim.tours.draw_tour`): its legs as rows origin, dest, slot, route
    (ints; route: its number among the routes between waypoints) and depart, arrive (times); its checkpoints written into ``node``/``time`` from ``slot0`` on
    (times below ``pad``; the slot after the last, up to ``end0`` (where the previous tour ended), at
    ``pad``). Returns the legs and the slot after the last checkpoint."""
    m = waypoints.size
    pairs = np.empty(hops.size, dtype=np.int64)
    n = fit_legs(first, hops, m, length, room, pairs)
    ints = np.empty((4, n), dtype=np.int64)  # origin, dest, slot, route
    legs_t = np.empty((2, n))  # depart, arrive
    clock = 0.0
    at = 0
    for k in range(n):
        p = pairs[k]
        if k > 0 and stays.size:  # (hotspot patrol: the stay at the waypoint before this leg)
            clock = clock + stays[k - 1]
        depart = clock
        legs_t[0, k] = depart
        clock = clock + road_s[p] / rate
        legs_t[1, k] = clock
        origin = waypoints[first] if k == 0 else ints[1, k - 1]
        dest = waypoints[p % m]
        ints[0, k], ints[1, k], ints[2, k], ints[3, k] = origin, dest, at, p
        start = offset[p]
        for i in range(length[p]):
            node[slot0 + at] = route_nodes[start + i]
            time[slot0 + at] = min(depart + reached[start + i] / rate, pad - 1.0)
            at += 1
    end = slot0 + at
    node[end] = node[end - 1]  # past the end: still at the last node, for ever
    for i in range(end, max(end0, end) + 1):
        time[i] = pad
    return ints, legs_t, end


@njit(cache=True, nogil=True)
def _instance(starts, ends, t):  # pragma: no cover - compiled
    """The shift instance under way at ``t`` (-1: none): the last one started by then, if not ended."""
    lo, hi = 0, starts.size  # the first start after t
    while lo < hi:
        mid = (lo + hi) >> 1
        if starts[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    k = lo - 1
    return k if k >= 0 and t < ends[k] else -1


@njit(cache=True, nogil=True)
def mark_tour(route, depart, join_k, join_t0, logged, cut, starts, ends, passed):  # pragma: no cover - compiled  # fmt: skip
    """``passed[instance, route] = True`` for the whole legs of a tour: legs ``join_k[0]`` up to ``logged``
    (not ``cut`` short), each in the shift instance under way when it left (at ``join_t0[i] +
    depart[k]``, ``i`` the last join at or before leg k)."""
    i = 0
    for k in range(join_k[0], logged):
        while i + 1 < join_k.size and join_k[i + 1] <= k:
            i += 1
        if cut[k]:
            continue
        s = _instance(starts, ends, join_t0[i] + depart[k])
        if s >= 0:
            passed[s, route[k]] = True


@njit(cache=True, nogil=True)
def cut_steps(route, depart, rel, rate, offset, length, reached, pad, steps):  # pragma: no cover - compiled  # fmt: skip
    """For legs cut short (leg r on ``route[r]``, left at ``depart[r]`` on its tour's clock, driven at
    ``rate[r]`` until ``rel[r]``): the steps of the route finished by then (the unit passed node
    ``steps[r]`` last), found as :meth:`policetwin.sim.checkpoints.Checkpoints.position` finds it."""
    for r in range(route.size):
        p = route[r]
        start = offset[p]
        last = 0
        for i in range(1, length[p]):
            if min(depart[r] + reached[start + i] / rate[r], pad - 1.0) <= rel[r]:
                last = i
            else:
                break
        steps[r] = last


@njit(cache=True, nogil=True)
def mark_routes(instance, route, steps, offset, segment, passed):  # pragma: no cover - compiled
    """``passed[instance[r], s] = True`` for the beat segments ``s`` of the first ``steps[r]`` steps of
    route ``route[r]`` (its steps' segments are ``segment[offset[p] : offset[p] + length[p] - 1]``, -1
    outside the beat)."""
    for r in range(instance.size):
        k, p = instance[r], route[r]
        start = offset[p]
        for i in range(steps[r]):
            s = segment[start + i]
            if s >= 0:
                passed[k, s] = True


@njit(cache=True, nogil=True)
def mark_walks(instance, node, stop, unfinished, dest, succ, keys, n_nodes, passed):  # pragma: no cover - compiled  # fmt: skip
    """Walk each leg from ``node`` along ``dest``'s shortest-path tree (``succ``) up to ``stop`` (without
    the edge into it when ``unfinished``; a stop off the route ends at ``dest``) and mark the beat
    segments passed (``keys``: sorted ``min * n_nodes + max`` of the beat's segments)."""
    for r in range(node.size):
        at, end, k = node[r], stop[r], instance[r]
        while at != end and at != dest:
            nxt = succ[at]
            if not (nxt == end and unfinished[r]):
                key = min(at, nxt) * n_nodes + max(at, nxt)
                s = np.searchsorted(keys, key)
                if s < keys.size and keys[s] == key:
                    passed[k, s] = True
            at = nxt
