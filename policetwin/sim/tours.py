"""Patrol tours: the routes between a group's waypoints and tours drawn from them (see
:mod:`policetwin.sim.patrol` for how units drive them; where a unit is on its tour at a time:
:meth:`policetwin.sim.checkpoints.Checkpoints.position`).

A tour is built by one compiled loop over its legs (:mod:`policetwin.sim.patrol_kernels`), written
straight into the unit's checkpoint slots: a patrol run builds a tour about every third call, and the
array version (a dozen NumPy calls and their temporaries, then a copy) cost ~90 µs a tour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from policetwin.sim import patrol_kernels as kernels

if TYPE_CHECKING:
    from collections.abc import Callable

    from policetwin.sim.checkpoints import Checkpoints


class Tour:
    """One patrol tour: its legs (``origin``, ``dest`` node, ``slot`` of its first checkpoint, ``route``
    number in :class:`Routes`: arrays; ``depart``, ``arrive`` time: lists, searched leg by leg, and
    ``depart_s``: the same as an array, for patrol coverage). Its
    whole route, as checkpoints (every node and when the unit passes it; a leg's last node is the next
    one's first), lives in the unit's slots of the model's
    :class:`policetwin.sim.checkpoints.Checkpoints`, up to slot ``end``. Times are on the tour's clock:
    add ``t0`` for the run's. ``resume``: the next leg to drive; ``joined``: the leg where the unit last
    joined the tour; ``logged``: legs noted for the trip log (and driven, for coverage); ``join_at``:
    when the unit is (back) on the tour (before: driving back to it); ``back``: what arriving back
    changes is not noted yet (:meth:`policetwin.sim.patrol.Patrol.settle`). For coverage:
    ``join_k``/``join_t0``: the leg and clock of each join; ``cut``: 1 for legs cut short. ``due``: the
    pending event at the tour's end (``due_at``), one at a time (:meth:`policetwin.sim.patrol.Patrol._end_at`)."""

    __slots__ = (
        "arrive",
        "back",
        "cut",
        "depart",
        "depart_s",
        "dest",
        "due",
        "due_at",
        "end",
        "join_at",
        "join_k",
        "join_t0",
        "joined",
        "logged",
        "origin",
        "rate",
        "resume",
        "route",
        "slot",
        "t0",
    )  # fmt: skip

    def __init__(self, origin, dest, depart, arrive, slot, end: int, *, route=None, depart_s=None) -> None:
        self.origin, self.dest, self.depart, self.arrive = origin, dest, depart, arrive
        self.slot, self.end = slot, end
        self.route, self.depart_s = route, depart_s
        self.t0 = 0.0
        self.rate = 1.0  # speed relative to the road's: the group's, over the congestion factor
        self.resume = self.joined = self.logged = 0
        self.join_at = float("inf")
        self.back = False
        self.join_k: list[int] = []
        self.join_t0: list[float] = []
        self.cut = bytearray(len(origin))
        self.due, self.due_at = None, float("inf")  # the pending event at the tour's end, and when

    def on_at(self, now: float) -> bool:
        """Whether the unit is on this tour at ``now`` (not driving back to it)."""
        return now >= self.join_at

    def legs(self) -> list[tuple[int, int, float, float]]:
        """The legs as ``(origin, dest, depart, arrive)`` tuples on the run's clock (for inspection)."""
        t0 = self.t0
        return [(o, d, a + t0, b + t0) for o, d, a, b in zip(self.origin.tolist(), self.dest.tolist(), self.depart,
                                                              self.arrive, strict=True)]  # fmt: skip


class Routes:
    """The routes between a group's waypoints, flattened: route ``i * m + j`` (waypoint i to j) is
    ``nodes[offset : offset + length]``, passed ``reached`` road seconds after leaving i."""

    def __init__(self, waypoints: np.ndarray, path) -> None:
        self.waypoints = waypoints
        self.index = {n: i for i, n in enumerate(waypoints.tolist())}
        nodes, reached, length = [], [], []
        for origin in waypoints.tolist():
            for dest in waypoints.tolist():
                route, times = path(origin, dest)
                nodes.extend(route)
                reached.extend(times)
                length.append(len(route))
        self.nodes = np.array(nodes, dtype=np.int64)
        self.reached = np.array(reached, dtype=float)
        self.length = np.array(length, dtype=np.int64)
        self.offset = np.cumsum(self.length) - self.length
        self.road_s = self.reached[self.offset + self.length - 1]


def draw_tour(
    routes: Routes, first: int, hops: np.ndarray, *, rate: float, checkpoints: Checkpoints, unit: int,
    dwell: Callable[[int], np.ndarray] | None = None,
) -> Tour:  # fmt: skip
    """A tour of ``unit`` from waypoint number ``first`` to the waypoints ``hops[0]``, ``hops[0] +
    hops[1]``, ... further on (mod their number), as many legs as fit in the unit's slots of
    ``checkpoints`` (at least one; written there), on its own clock from 0, driven at ``rate`` times the
    road speed; ``dwell(k)`` gives the stays at the first ``k`` waypoints reached (hotspot patrol)."""
    room = checkpoints.width - 1
    stays = _NO_DWELL
    if dwell is not None:  # (the number of legs first: as many stays are drawn)
        m = routes.waypoints.size
        stays = dwell(
            kernels.fit_legs(first, hops, m, routes.length, room, np.empty(hops.size, np.int64)) - 1
        )
    slot0, end0 = checkpoints.region(unit)
    ints, legs_t, end = kernels.build_tour(
        first, hops, room, routes.waypoints, routes.length, routes.offset, routes.nodes, routes.reached,
        routes.road_s, rate, stays, checkpoints.node, checkpoints.time, slot0, end0, checkpoints.pad,
    )  # fmt: skip
    depart, arrive = legs_t.tolist()  # (lists: searched leg by leg; the rest is read a few times a tour)
    tour = Tour(ints[0], ints[1], depart, arrive, ints[2], end, route=ints[3], depart_s=legs_t[0])
    tour.rate = rate
    return tour


_NO_DWELL = np.zeros(0)
