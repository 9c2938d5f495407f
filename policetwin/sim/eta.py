"""Travel-time estimates for dispatch decisions: how long each candidate unit needs to reach a call.

Idle units wait at their station (exact forward rows from the stations). A moving unit's ETA is the
time to the next node of its current route plus that node's time to the call; the reverse row of the
call node answers that for all moving units at once (one Dijkstra on the transposed graph, exact on
one-way streets), cached, or bounded by the best idle unit when only the k nearest matter.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel


class TripOrigins:
    """Where each unit's current trip began (node, departure, pace relative to the road's, destination),
    as arrays: on big maps dispatch bounds all moving units at once from them, before walking any
    route (written by :meth:`policetwin.agents.PatrolUnit.start_trip`)."""

    def __init__(self, n_units: int) -> None:
        self.node = np.zeros(n_units, dtype=np.int64)
        self.time = np.zeros(n_units)
        self.rate = np.ones(n_units)
        self.dest = np.full(n_units, -1, dtype=np.int64)

    def set(self, unit: int, node: int, depart_s: float, rate: float, dest: int) -> None:
        """Unit ``unit`` left (or leaves) ``node`` at ``depart_s`` for ``dest`` at ``rate``."""
        self.node[unit], self.time[unit], self.rate[unit], self.dest[unit] = node, depart_s, rate, dest


class Etas:
    """ETAs of candidate units to a node, from where each unit is now (see the module docstring)."""

    def __init__(self, model: PoliceModel) -> None:
        self.model = model
        self.router = model.router
        self.pruned_searches = 0  # reverse searches skipped because bounds showed no moving unit wins
        self.max_edge_s = 0.0
        self.congestion = model.congestion  # time-of-day factors (None: off)
        self.override = None  # ETAs of some units to some calls another way (set by sim.event_glue)
        self._derived: dict[int, tuple] = {}  # per router (id): the rows and figures below
        self._searches: dict[int, object] = {}  # per router (id): big maps' nearest-unit search
        if self.router is None:
            return
        self.use_router(self.router)

    def use_router(self, router) -> None:
        """Time trips departing from now on by ``router`` (timed road closures switch between routers);
        what is derived from a router is kept per router, so switching back costs nothing."""
        self.router = router
        derived = self._derived.get(id(router))
        if derived is None:
            derived = self._derived[id(router)] = (router, *self._derive(router))
        (_, self.station_rows, self.unit_home, self.home_rows, self.home_to_rows, self.max_edge_s,
         self.top_speed_mps, self.homes) = derived  # fmt: skip

    def _derive(self, router) -> tuple:
        model, network = self.model, self.model.network
        rows = [router.times_from(int(n)) for n in model.station_nodes]
        station_rows = np.vstack(rows).astype(float)  # float64: ETAs are summed with offsets
        # where idle units wait (their station, or a post): forward and reverse rows of each such place
        if all(u.home_node == model.station_nodes[u.station] for u in model.units):
            unit_home, home_rows = model.unit_station, station_rows
            homes = model.station_nodes
        else:
            homes, unit_home = np.unique([u.home_node for u in model.units], return_inverse=True)
            home_rows = np.vstack([router.times_from(int(n)) for n in homes]).astype(float)
        for n in homes.tolist():  # units drive home along these trees; their searches give the rows too
            router.successors_to(int(n))
        home_to_rows = np.vstack([router.times_to(int(n)) for n in homes])
        edge_s = router.forward.data
        used = router.forward.tocoo()
        length = np.hypot(
            network.x[used.row] - network.x[used.col], network.y[used.row] - network.y[used.col]
        )
        max_edge_s = float(edge_s.max()) if edge_s.size else 0.0  # the slowest single edge
        top_speed_mps = max(float(np.max(length / edge_s)), 1.0) * 1.001
        return station_rows, unit_home, home_rows, home_to_rows, max_edge_s, top_speed_mps, np.asarray(homes)

    def row_to(self, node: int) -> np.ndarray:
        """Seconds from every node to ``node`` (zeros with instant travel)."""
        if self.router is None:
            return np.zeros(self.model.network.n_nodes)
        if self.congestion is not None:
            return self._scaled(self.router.times_to(node), self.congestion.factor_at(self.model.env.now))
        return self.router.times_to(node)

    @staticmethod
    def _scaled(row: np.ndarray, factor: float) -> np.ndarray:
        """``row`` times a congestion factor (the same array at factor 1: identical arithmetic)."""
        return row if factor == 1.0 else row * np.float32(factor)

    def _congested(self, node: int, candidates: np.ndarray) -> np.ndarray:
        """ETAs with time-of-day congestion: all exact, with the factor of the hour now (trips depart now).

        One factor scales every road, so the exact row of ``node`` times the factor is the congested row;
        a moving unit still drives to its next node at its own trip's pace (``position``), then at now's.
        No lower-bound pruning: the bounds assume one pace per trip and row (kept simple and exact).
        With a contraction hierarchy the moving units are timed by one many-to-one query instead.
        """
        model = self.model
        now = model.env.now
        factor = self.congestion.factor_at(now)
        eta = self.home_rows[:, node][self.unit_home[candidates]] * factor
        moving_idx = model.unit_returning[candidates].nonzero()[0]
        if not moving_idx.size:
            return eta
        hierarchy = self.router.hierarchy
        if hierarchy is not None:  # big maps: one many-to-one query, no full row (seconds and 1.2 MB at 300k)
            units = model.units
            positions = [units[candidates[j]].position(now) for j in moving_idx.tolist()]
            nodes = np.array([p[0] for p in positions], dtype=np.int64)
            offsets = np.array([p[1] for p in positions])
            eta[moving_idx] = offsets + hierarchy.times_to(nodes, node) * factor
            return eta
        row = self._scaled(self.router.times_to(node), factor)
        checkpoints = model.checkpoints
        if checkpoints is not None:  # patrolling units: exact from their tours (times at the tour's factor)
            on_tour = checkpoints.touring(candidates[moving_idx], now)
            if on_tour.any():
                eta[moving_idx[on_tour]] = checkpoints.etas(row, candidates[moving_idx[on_tour]], now)
            moving_idx = moving_idx[~on_tour]
        units = model.units
        for j in moving_idx.tolist():
            nxt, offset = units[candidates[j]].position(now)
            eta[j] = float(row[nxt]) + offset  # (a float32 row: the sum in float64)
        return eta

    def _origin_bounds(
        self, eta: np.ndarray, node: int, candidates: np.ndarray, moving_idx: np.ndarray, limit: float,
        now: float,
    ) -> list[int]:  # fmt: skip
        """The positions in ``candidates`` (of ``moving_idx``) of moving units that may beat ``limit``
        (the others keep ``inf``), by lower bounds from their trips' origins, without walking their
        routes: a unit that left o at depart, e road seconds ago (at pace r), is at most e + (its
        offset)·r of road time from o, so its ETA is at least T - e (less the slowest edge when r > 1),
        T any lower bound of the time from o to the call: straight line at the top speed, the triangle
        through its home from its home's row, or (driving home) through its home to the call."""
        origins = self.model.trip_origins
        units = candidates[moving_idx]
        o = origins.node[units]
        rate = origins.rate[units]
        driven = np.maximum(now - origins.time[units], 0.0) * rate + np.where(
            rate > 1.0, self.max_edge_s, 0.0
        )
        x, y = self.model.network.x, self.model.network.y
        home = self.unit_home[units]
        lower = np.hypot(x[o] - x[node], y[o] - y[node]) / self.top_speed_mps
        lower = np.maximum(lower, self.home_rows[home, node] - self.home_rows[home, o])
        to_home = self.home_to_rows[home, o].astype(float) - self.home_to_rows[home, node]
        homeward = origins.dest[units] == self.homes[home]  # (the node home_to_rows[home] leads to)
        lower = np.maximum(lower, np.where(homeward, to_home, -np.inf)) - driven
        return moving_idx[lower < limit].tolist()  # (the others keep inf)

    def _hierarchy_etas(
        self, eta: np.ndarray, node: int, hopeful: list, rank: int | None, limit: float
    ) -> None:
        """Exact ETAs (into ``eta``) of the ``hopeful`` moving units ((position, next node, seconds to it))
        on a big map: for the nearest one only (``rank=1``: one search backwards from ``node`` that
        stops at the first of them to arrive, or at ``limit``; the others stay ``inf``, as they cannot
        beat it; :class:`policetwin.maps.nearest.NearestSearch`), else contraction-hierarchy queries for
        each (the hierarchy is built on first use: runs whose calls each need one unit never build it)."""
        if not hopeful:
            return
        where, nodes, offsets = (np.array(col) for col in zip(*hopeful, strict=True))
        if rank == 1:
            best, k = self._nearest_search().nearest(nodes, offsets, node, limit_s=limit)
            if k >= 0:
                eta[where[k]] = best
            return
        eta[where] = self.router.hierarchy.times_to(nodes, node) + offsets

    def _nearest_search(self):
        """The early-stopping search for the router now (goal-directed by straight-line bounds at the
        network's top speed; :class:`policetwin.maps.nearest.NearestSearch`), built on first use."""
        search = self._searches.get(id(self.router))
        if search is None:
            from policetwin.maps.nearest import NearestSearch

            network = self.model.network
            search = self._searches[id(self.router)] = NearestSearch(
                self.router.reverse, x=network.x, y=network.y, top_speed_mps=self.top_speed_mps
            )
        return search

    def travel_s(self, from_node: int, to_node: int) -> float:
        """Fastest travel time between two nodes (0 with instant travel)."""
        return 0.0 if self.router is None else self.router.travel_time(from_node, to_node)

    def __call__(
        self, node: int, candidates: np.ndarray, *, rank: int | None = None, slack_s: float = 0.0
    ) -> np.ndarray:
        """Seconds for each candidate unit (indices) to reach ``node`` from where it is now: on the roads
        (:meth:`road_etas`), unless ``override`` applies (officers on foot at an event's crowd call,
        :class:`policetwin.event.foot.FootEtas`): then all exact on the roads, and the override's times."""
        override = self.override
        if override is not None and override.applies(node, candidates):
            return override(node, candidates, self.road_etas(node, candidates))
        return self.road_etas(node, candidates, rank=rank, slack_s=slack_s)

    @staticmethod
    def _limit(eta: np.ndarray, rank: int | None, timed: int, slack_s: float) -> float:
        """The bound a unit must beat to matter: the ``rank``-th best of ``eta`` (``timed`` units timed so
        far) plus ``slack_s`` and a second; ``inf`` when all are wanted or too few are timed."""
        if rank is None or timed < rank:
            return np.inf
        return float(eta.min() if rank == 1 else np.partition(eta, rank - 1)[rank - 1]) + slack_s + 1.0

    def _time_hopeful(self, eta, row, candidates, bounds, rank, limit, now, slack_s) -> None:
        """Exact ETAs (into ``eta``) by ``row`` of the units on plain trips whose lower bound ((bound,
        position in ``candidates``), ascending) can beat the ``rank``-th best: ETA >= T(trip origin ->
        node) - distance driven since leaving it (triangle inequality along the route) prunes units from
        far-away scenes before any route walk; units are timed in order of their bound until the k-th
        best exact ETA beats the next bound. The others keep ``inf``."""
        units = self.model.units
        found: list[float] = []  # exact ETAs so far (only the best `rank` matter)
        if rank is not None and rank > 1 and limit < np.inf:
            found = [-v for v in np.partition(eta, rank - 1)[:rank].tolist()]
            heapq.heapify(found)
        for bound, j in bounds:
            if bound >= limit:
                break  # this unit and all after it cannot be among the nearest
            nxt, offset = units[candidates[j]].position(now)
            eta[j] = value = float(row[nxt]) + offset  # (float32 row: sum in float64)
            if rank == 1:
                limit = min(limit, value + slack_s + 1.0)
            elif rank is not None:
                heapq.heappush(found, -value)
                if len(found) > rank:
                    heapq.heappop(found)
                if len(found) == rank:
                    limit = min(limit, -found[0] + slack_s + 1.0)

    def _checkpoint_etas(
        self, node: int, candidates: np.ndarray, rank: int | None, slack_s: float, now: float
    ) -> np.ndarray:
        """:meth:`road_etas` with patrolling groups and the row of ``node`` at hand: waiting units, units on
        their tours and units driving back to them exact in one compiled pass over the candidates (only
        the groups that can hold the nearest when only the nearest matters); units on plain trips (driving
        home, or back to a tour whose tree is not at hand) by their bounds (:meth:`_time_hopeful`)."""
        model = self.model
        row = self.router.times_to(node)
        eta, plain, bound = model.checkpoints.road_etas(
            row, self.home_rows, self.unit_home, model.unit_returning, candidates, node, now,
            prune_s=slack_s + 1.0 if rank == 1 else None,
        )  # fmt: skip
        if plain.size:
            limit = self._limit(eta, rank, candidates.size - plain.size, slack_s)
            order = bound.argsort(kind="stable")
            bounds = zip(bound[order].tolist(), plain[order].tolist(), strict=True)
            self._time_hopeful(eta, row, candidates, bounds, rank, limit, now, slack_s)
        return eta

    def road_etas(
        self, node: int, candidates: np.ndarray, *, rank: int | None = None, slack_s: float = 0.0
    ) -> np.ndarray:
        """Seconds for each candidate unit (indices) to reach ``node`` on the road network.

        Idle units are timed from the forward shortest-path row of where they wait (station or post;
        exact). A moving unit at next node p needs T(p -> node): patrolling units all at once from their
        tours' checkpoints (exact). With ``rank=k`` only the k nearest matter: a unit on a plain trip
        whose lower bound (triangle inequality through its trip origin or its station, or straight-line
        distance at the network's top speed) cannot beat the k-th best unit timed so far (plus
        ``slack_s``: for policies that may choose a unit that much farther, as beat_first) gets ``inf``;
        the others get exact times, from the cached row of ``node`` or from one reverse search bounded by
        that time. ``rank=None``: all exact.
        """
        if self.router is None:
            return np.zeros(candidates.size)
        if self.congestion is not None:
            return self._congested(node, candidates)
        model = self.model
        now = model.env.now
        checkpoints = model.checkpoints
        if checkpoints is not None and self.router.has_full_row(node):  # patrol: one compiled pass
            return self._checkpoint_etas(node, candidates, rank, slack_s, now)
        eta = self.home_rows[:, node][self.unit_home[candidates]]
        moving_idx = model.unit_returning[candidates].nonzero()[0]
        if not moving_idx.size:
            return eta
        eta[moving_idx] = np.inf  # set below, once their position is known
        if checkpoints is not None:  # patrolling units: timed exactly from their tours (row below)
            on_tour = checkpoints.touring(candidates[moving_idx], now)
            touring_idx, moving_idx = moving_idx[on_tour], moving_idx[~on_tour]
        else:
            touring_idx = moving_idx[:0]
        has_row = self.router.has_full_row(node)
        row = self.router.times_to(node) if has_row else None
        if not moving_idx.size and has_row:
            return eta
        moving = moving_idx.tolist()
        limit = self._limit(eta, rank, candidates.size - len(moving), slack_s)
        units = model.units
        hopeful: list[tuple[int, int, float]] = []
        if has_row:
            bounds = sorted((row[units[candidates[j]].node] - (now - units[candidates[j]].trip_start), j)
                            for j in moving)  # fmt: skip
            self._time_hopeful(eta, row, candidates, bounds, rank, limit, now, slack_s)
            return eta
        if limit == np.inf:
            for j in moving:
                nxt, offset = units[candidates[j]].position(now)
                hopeful.append((j, nxt, offset))
        else:
            x, y, top = model.network.x, model.network.y, self.top_speed_mps
            if self.router.backend == "cch":  # big maps: bound them all from their trips' origins first
                moving = self._origin_bounds(eta, node, candidates, moving_idx, limit, now)
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
        if not hopeful and not touring_idx.size:
            self.pruned_searches += 1
            return eta
        if self.router.backend == "cch" and not touring_idx.size:  # big maps: the hopeful units only
            self._hierarchy_etas(eta, node, hopeful, rank if slack_s == 0 else None, limit)
            return eta
        row = self.router.times_to(node, limit_s=limit)
        for j, nxt, offset in hopeful:
            eta[j] = float(row[nxt]) + offset  # (a float32 row: the sum in float64)
        if touring_idx.size:  # beyond the bound the row is inf: those units cannot be among the nearest
            eta[touring_idx] = checkpoints.etas(row, candidates[touring_idx], now)
        return eta
