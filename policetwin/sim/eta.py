"""Travel-time estimates for dispatch decisions: how long each candidate unit needs to reach a call.

Idle units wait at their station (exact forward rows from the stations). A moving unit's ETA is the
time to the next node of its current route plus that node's time to the call; the reverse row of the
call node answers that for all moving units at once (one Dijkstra on the transposed graph, exact on
one-way streets), cached, or bounded by the best idle unit when only the k nearest matter.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from policetwin.agents import UnitState

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel

_PATROL = UnitState.patrol
#: From this many moving candidates on, their bounds are computed with array operations.
VECTOR_BOUNDS = 24


class Checkpoints:
    """Where each unit was on its current trip, as (node, time) pairs: its origin for a plain trip, nodes
    every few along a patrol tour. The ETA bounds ask, for many units at once, which checkpoint each one
    passed last: one binary search over all units' checkpoints, kept in one sorted array of keys
    ``unit * span + time`` (times clipped below ``span / 2``, which only loosens a bound; unused slots
    hold ``span / 2``)."""

    def __init__(self, n_units: int, *, width: int, horizon_s: float) -> None:
        self.width = width
        self.span = float(2.0 ** math.ceil(math.log2(max(horizon_s, 86400.0) * 4.0)))
        self.pad = self.span / 2.0
        self.base = np.arange(n_units, dtype=float) * self.span
        self.node = np.zeros(n_units * width, dtype=np.int64)
        self.time = np.full(n_units * width, self.pad)
        self.key = np.repeat(self.base, width) + self.pad
        self.rate = np.ones(n_units)  # the unit's speed relative to the road's

    def set_trip(self, unit: int, node: int, t: float, rate: float) -> None:
        """A plain trip: the unit is at ``node`` until ``t``."""
        at = unit * self.width
        t = min(t, self.pad - 1.0)
        self.node[at] = node
        self.time[at] = t
        self.key[at] = self.base[unit] + t
        self.key[at + 1 : at + self.width] = self.base[unit] + self.pad
        self.rate[unit] = rate

    def set_tour(self, unit: int, nodes: np.ndarray, times: np.ndarray, rate: float) -> None:
        """A patrol tour: the unit passes ``nodes`` at ``times`` (ascending; thinned evenly to the width)."""
        if nodes.size > self.width:
            keep = np.linspace(0, nodes.size - 1, self.width).round().astype(np.int64)
            nodes, times = nodes[keep], times[keep]
        at, n = unit * self.width, nodes.size
        times = np.minimum(times, self.pad - 1.0)
        self.node[at : at + n] = nodes
        self.time[at : at + n] = times
        self.key[at : at + n] = self.base[unit] + times
        self.key[at + n : at + self.width] = self.base[unit] + self.pad
        self.rate[unit] = rate

    def bounds(self, row: np.ndarray, units: np.ndarray, now: float) -> np.ndarray:
        """Lower bounds of the ETAs of ``units`` by ``row`` (times to the call): from the last checkpoint
        passed, the time from it less the distance driven since (triangle inequality along the route)."""
        first = units * self.width
        at = np.maximum(self.key.searchsorted(self.base[units] + now, side="right") - 1, first)
        driven = (now - self.time[at]).clip(0.0) * self.rate[units]
        return row[self.node[at]] - driven


class Etas:
    """ETAs of candidate units to a node, from where each unit is now (see the module docstring)."""

    def __init__(self, model: PoliceModel) -> None:
        self.model = model
        self.router = model.router
        self.pruned_searches = 0  # reverse searches skipped because bounds showed no moving unit wins
        self.max_edge_s = 0.0
        if self.router is None:
            return
        network = model.network
        rows = [self.router.times_from(int(n)) for n in model.station_nodes]
        self.station_rows = np.vstack(rows).astype(float)  # float64: ETAs are summed with offsets
        # where idle units wait (their station, or a post): forward and reverse rows of each such place
        if all(u.home_node == model.station_nodes[u.station] for u in model.units):
            self.unit_home, home_rows = model.unit_station, self.station_rows
            homes = model.station_nodes
        else:
            homes, self.unit_home = np.unique([u.home_node for u in model.units], return_inverse=True)
            home_rows = np.vstack([self.router.times_from(int(n)) for n in homes]).astype(float)
        self.home_rows = home_rows
        self.home_to_rows = np.vstack([self.router.times_to(int(n)) for n in homes])
        edge_s = self.router.forward.data
        used = self.router.forward.tocoo()
        length = np.hypot(
            network.x[used.row] - network.x[used.col], network.y[used.row] - network.y[used.col]
        )
        self.max_edge_s = float(edge_s.max()) if edge_s.size else 0.0  # the slowest single edge
        self.top_speed_mps = max(float(np.max(length / edge_s)), 1.0) * 1.001

    def _leg_bounds(
        self, row: np.ndarray, candidates: np.ndarray, moving_idx: np.ndarray, now: float, limit: float
    ) -> Iterator[tuple[float, int]]:
        """(lower bound, position in ``candidates``) of the moving units whose bound is below ``limit``,
        in ascending order, from the model's checkpoints in a few array operations (many units on patrol);
        made Python numbers a block at a time, as the caller usually stops after a few."""
        bound = self.model.checkpoints.bounds(row, candidates[moving_idx], now)
        keep = (bound < limit).nonzero()[0]
        keep = keep[bound[keep].argsort(kind="stable")]
        for at in range(0, keep.size, 16):
            block = keep[at : at + 16]
            yield from zip(bound[block].tolist(), moving_idx[block].tolist(), strict=True)

    def row_to(self, node: int) -> np.ndarray:
        """Seconds from every node to ``node`` (zeros with instant travel)."""
        if self.router is None:
            return np.zeros(self.model.network.n_nodes)
        return self.router.times_to(node)

    def travel_s(self, from_node: int, to_node: int) -> float:
        """Fastest travel time between two nodes (0 with instant travel)."""
        return 0.0 if self.router is None else float(self.router.times_to(to_node)[from_node])

    def __call__(self, node: int, candidates: np.ndarray, *, rank: int | None = None) -> np.ndarray:
        """Seconds for each candidate unit (indices) to reach ``node`` from where it is now.

        Idle units are timed from the forward shortest-path row of where they wait (station or post; exact). A moving unit at
        next node p needs T(p -> node). With ``rank=k`` only the k nearest matter: a unit whose lower
        bound (triangle inequality through its trip origin or its station, or straight-line distance
        at the network's top speed) cannot beat the k-th best idle unit gets ``inf``; the others get
        exact times, from the cached row of ``node`` or from one reverse search bounded by that k-th
        best time. ``rank=None``: all exact.
        """
        if self.router is None:
            return np.zeros(candidates.size)
        model = self.model
        eta = self.home_rows[:, node][self.unit_home[candidates]]
        moving_idx = model.unit_returning[candidates].nonzero()[0]
        if not moving_idx.size:
            return eta
        eta[moving_idx] = np.inf  # set below, once their position is known
        moving = moving_idx.tolist()
        limit = np.inf
        if rank is not None and candidates.size - len(moving) >= rank:
            limit = float(eta.min() if rank == 1 else np.partition(eta, rank - 1)[rank - 1]) + 1.0
        now = model.env.now
        units = model.units
        hopeful: list[tuple[int, int, float]] = []
        if self.router.has_full_row(node):
            # exact row at hand: ETA >= T(trip origin -> node) - distance driven since leaving it (triangle
            # inequality along the route) prunes units from far-away scenes before any route walk (a
            # patrolling unit is bounded from the origin of the leg it is on: much tighter). Units are
            # timed exactly in order of their bound until the k-th best exact ETA beats the next bound.
            row = self.router.times_to(node)
            if model.checkpoints is not None and len(moving) >= VECTOR_BOUNDS:
                bounds = self._leg_bounds(row, candidates, moving_idx, now, limit)
            else:
                bounds = []
                for j in moving:
                    unit = units[candidates[j]]
                    if unit.tour and unit.state is _PATROL:
                        k = bisect.bisect_right(unit.tour_arrive, now)
                        leg = unit.tour[min(k, len(unit.tour) - 1)]
                        bounds.append((row[leg[0]] - max(now - leg[2], 0.0) * unit.trip_rate, j))
                    else:
                        bounds.append((row[unit.node] - (now - unit.trip_start), j))
                bounds.sort()
            found: list[float] = []  # exact ETAs so far (only the best `rank` matter)
            for bound, j in bounds:
                if bound >= limit:
                    break  # this unit and all after it cannot be among the nearest
                nxt, offset = units[candidates[j]].position(now)
                eta[j] = value = row[nxt] + offset
                if rank == 1:
                    limit = min(limit, value + 1.0)
                elif rank is not None:
                    heapq.heappush(found, -value)
                    if len(found) > rank:
                        heapq.heappop(found)
                    if len(found) == rank:
                        limit = min(limit, -found[0] + 1.0)
            return eta
        if limit == np.inf:
            for j in moving:
                nxt, offset = units[candidates[j]].position(now)
                hopeful.append((j, nxt, offset))
        else:
            x, y, top = model.network.x, model.network.y, self.top_speed_mps
            for j in moving:
                unit = units[candidates[j]]
                nxt, offset = unit.position(now)
                from_home = self.home_rows[self.unit_home[unit.index]]
                to_home = self.home_to_rows[self.unit_home[unit.index]]
                lower = max(
                    float(from_home[node]) - float(from_home[nxt]),
                    float(to_home[nxt]) - float(to_home[node]),
                    math.hypot(x[nxt] - x[node], y[nxt] - y[node]) / top,
                )
                if offset + lower >= limit:
                    eta[j] = np.inf
                    continue
                hopeful.append((j, nxt, offset))
        if not hopeful:
            self.pruned_searches += 1
            return eta
        row = self.router.times_to(node, limit_s=limit)
        for j, nxt, offset in hopeful:
            eta[j] = row[nxt] + offset
        return eta
