"""Holding attendees in waiting areas: the ``hold`` / ``release`` interventions.

A hold is the walk nodes within ``radius_m`` of a point. From the hold's ``at`` until its ``until``
or a ``release``, people on their way in (targets of mode ``in``: to the venue) who reach the end of
an edge at one of those nodes stop there, and people due to set out from such a node do not. Held
people stay on their edge (state ``EDGE``, counted once in the census, like people queued for a gate
stand on their approach edge): they take its space, nobody enters a link beyond its holding cap, so a
full waiting area spills back link by link, and links with held people are rated on Fruin's queuing
scale. Released, they go on at the next step (within the links' capacity and supply). People leaving
(after the end, in an evacuation) are never held.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from policetwin.event.states import EDGE
from policetwin.event.walknet import WalkNetwork


def hold_area_nodes(net: WalkNetwork, step, path: tuple) -> tuple[np.ndarray, list[tuple[tuple, str]]]:
    """The walk nodes of a hold's area, and a problem when none is within its radius (off the map)."""
    x, y = net.to_xy(np.array([step.lon]), np.array([step.lat]))
    dist = np.hypot(net.x - float(x[0]), net.y - float(y[0]))
    nodes = np.flatnonzero(dist <= step.radius_m)
    if nodes.size:
        return nodes, []
    return nodes, [(path, f"no walk node within {step.radius_m:g} m of the waiting area (the nearest is "
                    f"{float(dist.min()):,.0f} m away: outside the map, or give a larger radius_m)")]  # fmt: skip


class CrowdHold:
    """Waiting areas of :class:`~policetwin.event.crowd.Crowd` (a mixin; see the module docstring)."""

    def set_hold(self, nodes: np.ndarray, *, on: bool) -> None:
        """Start (``on``) or end holding people on their way in at ``nodes`` (holds may overlap)."""
        np.add.at(self.hold_count, np.asarray(nodes, dtype=np.int64), 1 if on else -1)
        self.holding = bool(self.hold_count.any())

    def _held(self, node: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Whether people at ``node`` heading for ``target`` are held there."""
        if not self.holding:
            return np.zeros(node.shape, dtype=bool)
        arriving = np.array([t["mode"] == "in" for t in self.targets], dtype=bool)
        return (self.hold_count[node] > 0) & arriving[target]

    def held_people(self) -> np.ndarray:
        """Ids of the people held now: on an edge, at its end, at a held node (and held origins)."""
        a = self.active
        at_end = a[self.pos_m[a] >= self.edge_len[self.edge[a]]]
        on_edge = at_end[self._held(self.edge_v[self.edge[at_end]], self.target[at_end])]
        r = self.ready
        return np.concatenate([on_edge, r[self._held(self.node[r], self.target[r])]])

    def held_links(self) -> np.ndarray:
        """People held per link (zero without a hold)."""
        if not self.holding:
            return np.zeros(self.net.n_links, dtype=np.int64)
        p = self.held_people()
        p = p[self.state[p] == EDGE]  # held origins stand at their node
        return np.bincount(self.edge[p] >> 1, minlength=self.net.n_links)


def hold_name_problems(steps: list) -> list[tuple[tuple, str]]:
    """Hold names are unique; a release names an existing hold."""
    from policetwin.scenarios.base import nearest_name

    holds = [s.name for s in steps if s.action == "hold" and s.name is not None]
    problems = [(("interventions", i, "name"), f"hold name {s.name!r} is used twice") for i, s in enumerate(steps)
                if s.action == "hold" and s.name is not None and holds.count(s.name) > 1]  # fmt: skip
    for i, step in enumerate(steps):
        if step.action == "release" and step.name is not None and step.name not in holds:
            problems.append((("interventions", i, "name"), f"no hold is named {step.name!r}"
                             f"{nearest_name(step.name, holds)}"))  # fmt: skip
    return problems


def hold_time_problems(
    steps: list, at_s: list[float], to_s: Callable[[object], float]
) -> list[tuple[tuple, str]]:
    """A hold's ``until`` is after its ``at``; a release comes after the hold(s) it ends."""
    problems = []
    for i, step in enumerate(steps):
        if step.action == "hold" and step.until is not None and to_s(step.until) <= at_s[i]:
            problems.append((("interventions", i, "until"), f"until ({to_s(step.until) / 3600:.2f} h) must be "
                             f"after the hold starts ({at_s[i] / 3600:.2f} h)"))  # fmt: skip
        if step.action != "release":
            continue
        holds = [j for j, s in enumerate(steps) if s.action == "hold" and step.name in (None, s.name)]
        if not holds:
            problems.append((("interventions", i, "action"), "release without any hold to end"))
        elif not any(at_s[j] < at_s[i] for j in holds):
            what = f"hold {step.name!r}" if step.name else "any hold"
            problems.append((("interventions", i, "at"), f"release at {at_s[i] / 3600:.2f} h comes before {what} "
                             f"starts ({min(at_s[j] for j in holds) / 3600:.2f} h)"))  # fmt: skip
    return problems
