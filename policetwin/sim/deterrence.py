"""Deterrence by presence (optional, off by default; an assumption, not a validated effect).

Hot-spot policing studies find that police presence deters crime nearby for a while after the officers
leave (Sherman & Weisburd 1995; Koper 1995: residual deterrence after 10-15 minutes of presence). The
twin models it as: a call at a node is prevented with probability ``probability`` if a patrolling unit,
or a unit waiting at its post, was within ``radius_m`` of that node during the last ``window`` — as
the twin sees it: a posted unit waiting there now, or a patrolling unit that passed a road node within
the radius on its current patrol tour since the window began.
Prevented calls are never silently dropped: they are counted (``summary.json``:
``prevented_by_presence``) and written to ``prevented.parquet`` (time, node, kind, the unit seen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from policetwin.agents import PatrolUnit, UnitState

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel


class Deterrence:
    """Decides whether presence prevents a call (see the module docstring)."""

    def __init__(self, model: PoliceModel) -> None:
        spec = model.scenario.deterrence
        self.model = model
        self.probability, self.radius_m, self.window_s = spec.probability, spec.radius_m, spec.window
        self.rng = model.stream("deterrence")
        self.rows = model.recorder.table("prevented")
        groups = model.scenario.units.groups or []
        self.watchers = [
            u for u in model.units if groups and groups[u.group].idle in ("post", "random_beat", "hotspot")
        ]

    def prevents(self, *, node: int, kind: int, now: float) -> bool:
        """Whether the call about to be made at ``node`` is prevented; logged if so."""
        seen = self._seen_by(node, now)
        if seen is None or self.rng.random() >= self.probability:
            return False
        self.rows.append({"t_s": now, "node": int(self.model.network.node_id[node]),
                          "kind": self.model.kinds[kind].name, "seen_unit": seen.name})  # fmt: skip
        return True

    def _seen_by(self, node: int, now: float) -> PatrolUnit | None:
        x, y = self.model.network.x, self.model.network.y
        cx, cy, r2 = x[node], y[node], self.radius_m**2
        since = now - self.window_s
        for unit in self.watchers:
            if unit.state == UnitState.idle and unit.since <= now:  # waiting at its post
                if (x[unit.home_node] - cx) ** 2 + (y[unit.home_node] - cy) ** 2 <= r2:
                    return unit
            elif unit.state == UnitState.patrol:
                route = _route_nodes(unit, max(since, unit.since), now)
                if bool(np.any((x[route] - cx) ** 2 + (y[route] - cy) ** 2 <= r2)):
                    return unit
        return None


def _route_nodes(unit: PatrolUnit, t0: float, t1: float) -> np.ndarray:
    """Nodes the patrolling unit passed between ``t0`` and ``t1`` since it last joined its tour (or on
    its drive back to it), from the last one passed before ``t0`` up to the first one not yet reached."""
    tour = unit.tour
    if tour.on_at(t1):
        checkpoints = unit.model.checkpoints  # the tour's route is in the unit's slots there
        first = unit.index * checkpoints.width
        nodes, times = checkpoints.node[first : tour.end], checkpoints.time[first : tour.end] + tour.t0
        joined = int(tour.slot[tour.joined])
    else:
        route, reached = unit.model.patrol.path(unit.node, unit.trip_dest)
        nodes, times = np.asarray(route), unit.trip_depart + np.asarray(reached) / unit.trip_rate
        joined = 0
    first = max(int(times.searchsorted(t0, side="right")) - 1, joined)
    return nodes[first : int(times.searchsorted(t1, side="right")) + 1]
