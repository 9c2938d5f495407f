"""Where each moving unit is, for dispatch: the checkpoints of patrol tours and plain trips.

Only runs with patrolling groups keep them (``model.checkpoints``). Dispatch asks for every free unit
at each call, so the ETA arithmetic is one compiled loop over the candidates
(:mod:`policetwin.sim.patrol_kernels`), not a dozen array operations: a patrol run spent most of its
dispatch time in NumPy call overhead on ~300-element arrays.
"""

from __future__ import annotations

import numpy as np

from policetwin.sim import patrol_kernels as kernels
from policetwin.sim.eta import TripOrigins


class Checkpoints:
    """Where each moving unit is, for the ETA code, which asks for many units at once.

    A unit on a plain trip has one checkpoint: the node it left and when (``trips``, the model's
    :class:`policetwin.sim.eta.TripOrigins`; :meth:`set_trip`), which gives a lower bound of its ETA. A unit on a patrol tour has the tour's whole route (:meth:`set_tour`):
    every node and when the unit passes it (on the tour's own clock, started at ``t0`` on the run's), in
    the unit's ``width`` slots of one shared table (unused slots hold ``pad``), so its ETA is exact
    (:meth:`etas`): the next node and when the unit gets there. Which checkpoint a touring unit passed
    last is kept (``cursor``): time only moves on, so the next question starts from there. A unit that
    drives back to its tour first (``lead``, until ``lead_end``) is on a plain trip to the tour's next
    waypoint until then, timed exactly too when the waypoint's shortest-path tree is at hand
    (:meth:`use_trees`), by walking it as :meth:`policetwin.agents.PatrolUnit.position` does.
    """

    def __init__(
        self, n_units: int, *, width: int, horizon_s: float, trips: TripOrigins | None = None
    ) -> None:
        self.width = width
        self.horizon_s = horizon_s
        self.pad = float(2.0 ** np.ceil(np.log2(max(horizon_s, 86400.0) * 4.0)))
        self.node = np.zeros(n_units * width, dtype=np.int64)
        self.time = np.full(n_units * width, self.pad)
        self.rate = np.ones(n_units)  # on its tour: the unit's speed relative to the road's
        self.lead_end = np.full(n_units, -np.inf)  # on its tour from then (before: driving back to it)
        self.t0 = np.zeros(n_units)  # when the unit's tour clock started (on the run's)
        self.exact = np.zeros(n_units, dtype=bool)  # on a patrol tour (else on a plain trip)
        self.trips = TripOrigins(n_units) if trips is None else trips
        # plain trip (or driving back to its tour): the node left, when, and the pace (the trips' arrays)
        self.trip_node, self.trip_time, self.trip_rate = self.trips.node, self.trips.time, self.trips.rate
        self.cursor = np.zeros(n_units, dtype=np.int64)  # touring: the slot passed last, when last asked
        self.end = np.arange(n_units, dtype=np.int64) * width  # per unit: the slot after its tour's last
        self.tree = np.full(n_units, -1, dtype=np.int64)  # driving along this tree (-1: not)
        self.walk = np.zeros(n_units, dtype=np.int64)  # on a tree: the node reached, when last asked
        self.use_trees({}, np.zeros((1, 1), dtype=np.int32), np.zeros((1, 1), dtype=np.float32))
        self.group_of = np.full(n_units, -1, dtype=np.int64)  # row of the unit's group in group_min
        self.group_min = np.zeros((1, 1))  # per patrolling group: least time from its routes to each node

    def use_bounds(self, group_of: np.ndarray, group_min: np.ndarray) -> None:
        """Lower bounds of the ETAs of touring units: ``group_min[group_of[u], v]`` is the least time from
        any node of unit u's group's routes to node v."""
        self.group_of = group_of
        self.group_min = np.ascontiguousarray(group_min.T)  # a node's bounds side by side

    def use_trees(self, rows: dict[int, int], succ: np.ndarray, left: np.ndarray) -> None:
        """The shortest-path trees of waypoints (``rows``: waypoint node -> row): the next node towards
        the waypoint from each node (``succ``) and the time left from each node (``left``, float32)."""
        self.tree_rows, self.tree_succ, self.tree_left = rows, succ, left
        self.tree_dest = np.zeros(max(len(rows), 1), dtype=np.int64)
        for node, w in rows.items():
            self.tree_dest[w] = node

    def set_trip(self, unit: int) -> None:
        """A plain trip, just noted in ``trips`` (its origin and departure)."""
        self.exact[unit] = False

    def region(self, unit: int) -> tuple[int, int]:
        """Where ``unit``'s checkpoints are: its first slot, and the slot after its tour's last (where
        the pad starts); a new tour is written there (:func:`policetwin.sim.tours.draw_tour`)."""
        return unit * self.width, int(self.end[unit])

    def set_tour(
        self, unit: int, *, end: int, rate: float, t0: float, at: int = 0, lead: int = -1,
        lead_until: float = -np.inf,
    ) -> None:  # fmt: skip
        """A patrol tour, written in ``unit``'s slots up to ``end`` (the slot after its last checkpoint):
        the unit passes the nodes at ``t0`` plus their times, slot ``at`` when it joins. ``lead >= 0``:
        it drives to that waypoint first, on the plain trip just set (:meth:`set_trip`), and is on the
        tour from ``lead_until``. Rejoining the same tour later only moves ``t0``."""
        self.cursor[unit] = unit * self.width + at
        self.end[unit] = end
        self.rate[unit] = rate
        self.t0[unit] = t0
        self.exact[unit] = True
        self.lead_end[unit] = lead_until if lead >= 0 else -np.inf
        if lead >= 0:
            self.tree[unit] = self.tree_rows.get(lead, -1)
            self.walk[unit] = self.trip_node[unit]

    def touring(self, units: np.ndarray, now: float) -> np.ndarray:
        """Which of ``units`` are on their patrol tour at ``now`` (timed by :meth:`etas`)."""
        return self.exact[units] & (self.lead_end[units] <= now)

    def position(self, unit: int, now: float) -> tuple[int, float]:
        """(next node, seconds to it) of ``unit`` on its patrol tour at ``now`` (not before it was last
        asked): the next node of its route and when it gets there; at a node (waiting there, or passing
        it just now) it leaves from that node."""
        return kernels.tour_position(unit, now, self.t0, self.time, self.node, self.cursor, self.width)

    def etas(self, row: np.ndarray, units: np.ndarray, now: float) -> np.ndarray:
        """Exact ETAs by ``row`` (times to the call) of ``units`` on patrol tours (:meth:`touring`): from the next
        node of each one's route and when it gets there; a unit that is at a node (waiting there, or
        passing it just now) leaves from it: ``row`` at :meth:`position`.
        ``units`` are distinct."""
        out = np.empty(units.size)
        kernels.tour_etas(row, units, now, self.t0, self.time, self.node, self.cursor, self.width, out)
        return out

    def road_etas(
        self, row: np.ndarray, home_rows: np.ndarray, unit_home: np.ndarray, returning: np.ndarray,
        candidates: np.ndarray, node: int, now: float, *, prune_s: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """ETAs by ``row`` (times to ``node``) of all ``candidates`` in one pass: exact for units waiting
        (``home_rows`` of where they wait), units on patrol tours and units driving back to them; ``inf``
        for units on plain trips, whose positions in ``candidates`` and lower bounds (time from the
        trip's origin less the distance driven since) come back too, for the caller to time the hopeful
        ones: ``(eta, plain, bound)``. ``prune_s``: only the nearest unit matters, give or take that: a
        touring unit whose bound (:meth:`use_bounds`) is that far beyond the best ETA gets ``inf``."""
        eta = np.empty(candidates.size)
        plain = np.empty(candidates.size, dtype=np.int64)
        bound = np.empty(candidates.size)
        n = kernels.road_etas(row, home_rows, unit_home, returning, candidates, node, now, self.exact, self.t0,
                       self.time, self.node, self.cursor, self.width, self.trip_node, self.trip_time,
                       self.trip_rate, self.lead_end, self.tree, self.walk, self.tree_succ, self.tree_left,
                       self.tree_dest, self.group_of, self.group_min, -1.0 if prune_s is None else prune_s,
                       eta, plain, bound)  # fmt: skip
        return eta, plain[:n], bound[:n]
