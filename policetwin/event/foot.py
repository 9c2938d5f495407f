"""Officers on foot in the crowd: their trips to crowd calls timed on the walk network, slowed by the crowd.

An event officer of a foot group (``gate_post``, ``ring_patrol``) sent to a crowd call walks from where
it is (idle: the walk node nearest to its post; else the walk node nearest to the road node it is at or
heading to, plus the seconds to get there) to the call's walk node. Each walk link takes
``length / (1.34 m/s x Weidmann factor of its density now)`` (factor floored at
:data:`~policetwin.event.gate_choice.MIN_SPEED_FACTOR`); links are walked both ways, barriers and walk
closures do not stop police. The time is fixed when the officer is sent (the crowd of that moment, as a
car trip takes the congestion of its departure hour): the same seconds rank candidates in dispatch and
give the arrival. The unit's trip is still drawn on the road network (position, ``trips.parquet``), at
the pace that makes it arrive then. Hooked in by :mod:`policetwin.sim.event_glue` (``Etas.override``,
``Fleet.on_foot``) only when the event has foot police. Idle ring patrols start their walk where
their round has taken them (:mod:`.foot_round`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from policetwin.agents.unit import UnitState
from policetwin.event.gate_choice import MIN_SPEED_FACTOR
from policetwin.event.los import FREE_SPEED_MPS, weidmann_speed_factor
from policetwin.maps.router import Router

if TYPE_CHECKING:
    from policetwin.event.walknet import WalkNetwork
    from policetwin.sim.model import PoliceModel

#: ``event.police`` roles whose officers walk.
FOOT_ROLES = ("gate_post", "ring_patrol")


def link_times_s(length_m: np.ndarray, density_p_m2: np.ndarray) -> np.ndarray:
    """Seconds to walk each link at 1.34 m/s x Weidmann's factor of its density (floored)."""
    factor = np.maximum(weidmann_speed_factor(density_p_m2), MIN_SPEED_FACTOR)
    return np.asarray(length_m, dtype=float) / (FREE_SPEED_MPS * factor)


def walk_times_to_s(net: WalkNetwork, link_s: np.ndarray, target: int) -> np.ndarray:
    """Seconds from every walk node to ``target`` with ``link_s`` per link (both ways; one Dijkstra)."""
    u, v = net.link_u.astype(np.int64), net.link_v.astype(np.int64)
    router = Router(net.n_nodes, np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([link_s, link_s]),
                    dense_max_bytes=0, lru_rows=1)  # fmt: skip
    return np.asarray(router.times_to(int(target)), dtype=float)


class FootEtas:
    """The ETA override for foot officers answering crowd calls (see the module docstring)."""

    def __init__(
        self,
        model: PoliceModel,
        net: WalkNetwork,
        *,
        density_p_m2: Callable[[], np.ndarray],
        foot: np.ndarray,
    ) -> None:
        self.model, self.net, self.density_p_m2 = model, net, density_p_m2
        self.foot = foot  # per unit: an officer on foot
        self.call_walk: dict[int, int] = {}  # road node of a crowd call -> its walk node (latest call there)
        self._tree = cKDTree(np.column_stack([net.x, net.y]))
        road = model.network
        x, y = net.to_xy(road.lon, road.lat)
        self._road_xy = np.column_stack([x, y])
        self._road_walk: dict[int, int] = {}
        self.post_walk = np.full(foot.size, -1, dtype=np.int64)  # walk node of each foot officer's post
        groups = model.scenario.units.groups or []
        first = np.cumsum([0] + [g.count for g in groups])
        for unit in np.flatnonzero(foot).tolist():
            g = int(np.searchsorted(first, unit, side="right") - 1)
            posts = groups[g].posts
            if posts:
                post = posts[(unit - int(first[g])) % len(posts)]
                px, py = net.to_xy(np.array([post.lon]), np.array([post.lat]))
                self.post_walk[unit] = int(self._tree.query([float(px[0]), float(py[0])])[1])
        self.rounds = self._rounds(groups, first)
        self._row: tuple[float, int, np.ndarray] | None = None  # (time, target, row) of the last search

    def _rounds(self, groups: list, first: np.ndarray) -> dict[int, tuple[object, int]]:
        """Per idle-patrolling unit: (its group's :class:`~.foot_round.Round`, its first post's index)."""
        from policetwin.event.foot_round import Round

        out: dict[int, tuple[object, int]] = {}
        for g, group in enumerate(groups):
            units = np.arange(first[g], first[g + 1])
            if "ring_patrol" not in group.capabilities or not group.posts or not self.foot[units].all():
                continue
            r = Round(self.net, self.post_walk[units[: len(group.posts)]])  # unit k starts at post k mod P
            if r.moves:
                out.update({int(u): (r, int(j) % len(group.posts)) for j, u in enumerate(units.tolist())})
        return out

    def walk_node(self, road_node: int) -> int:
        """The walk node nearest to a road node."""
        hit = self._road_walk.get(road_node)
        if hit is None:
            hit = self._road_walk[road_node] = int(self._tree.query(self._road_xy[road_node])[1])
        return hit

    def applies(self, node: int, candidates: np.ndarray) -> bool:
        """A crowd call with foot officers among the candidates."""
        return node in self.call_walk and bool(self.foot[candidates].any())

    def times_to_s(self, target: int) -> np.ndarray:
        """Seconds from every walk node to walk node ``target`` at the crowd's densities now (cached for
        the current time)."""
        now = float(self.model.env.now)
        if self._row is None or self._row[:2] != (now, target):
            link_s = link_times_s(self.net.length_m, self.density_p_m2())
            self._row = (now, target, walk_times_to_s(self.net, link_s, target))
        return self._row[2]

    def __call__(self, node: int, candidates: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """``eta`` (road ETAs of ``candidates`` to road node ``node``) with foot officers' walk times."""
        row = self.times_to_s(self.call_walk[node])
        now = self.model.env.now
        units = self.model.units
        for j in np.flatnonzero(self.foot[candidates]).tolist():
            unit = units[candidates[j]]
            start, offset = unit.position(now)
            post = self.post_walk[unit.index]
            at_post = start == unit.home_node and offset == 0.0 and post >= 0
            round_ = self.rounds.get(unit.index) if at_post and unit.state == UnitState.idle else None
            if round_ is not None:  # a ring patrol on its round (.foot_round)
                eta[j] = round_[0].eta_s(row, round_[1], now - unit.since)
                continue
            walk = post if at_post else self.walk_node(start)
            eta[j] = offset + row[walk]
        return eta
