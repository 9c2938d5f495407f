"""Dispatch: the waiting queue and the dispatcher that sends units to ready calls.

The dispatcher asks the policy (:mod:`policetwin.sim.policies`) which of the available units to
send, using their ETAs (:mod:`policetwin.sim.eta`); the fleet (:mod:`policetwin.sim.fleet`) moves
them. A call that still needs units waits in the queue; a unit that becomes free asks the policy
for its next call, else drives home.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from policetwin.agents import Incident, PatrolUnit
    from policetwin.sim.eta import Etas
    from policetwin.sim.fleet import Fleet
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.policies import DispatchPolicy


class DispatchQueue:
    """Calls waiting for a unit, most urgent first, then by time ready (stable, deterministic)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, Incident]] = []

    def push(self, incident: Incident) -> None:
        heapq.heappush(self._heap, (incident.priority, incident.t_ready, incident.row, incident))

    def _drop_stale(self) -> None:
        while self._heap and not self._heap[0][3].still_needs_units:
            heapq.heappop(self._heap)

    def peek(self) -> Incident | None:
        """The most urgent waiting call, or None."""
        self._drop_stale()
        return self._heap[0][3] if self._heap else None

    def pop(self) -> Incident | None:
        """Remove and return the most urgent waiting call (None if nobody waits)."""
        self._drop_stale()
        return heapq.heappop(self._heap)[3] if self._heap else None

    def __len__(self) -> int:
        """Entries in the queue (may include calls that no longer need units until they are popped)."""
        return len(self._heap)

    def __iter__(self) -> Iterator[Incident]:
        """Waiting calls in dispatch order (for policies that look beyond the head of the queue)."""
        return (item[3] for item in sorted(self._heap) if item[3].still_needs_units)


class Dispatcher:
    """Sends units to ready calls by the scenario's policy; gives free units their next call."""

    def __init__(self, model: PoliceModel, *, policy: DispatchPolicy, etas: Etas, fleet: Fleet) -> None:
        self.model = model
        self.policy = policy
        self.etas = etas
        self.fleet = fleet
        self.queue = DispatchQueue()
        self.available = model.unit_available
        self.units = model.units
        self.seconds = 0.0  # wall time spent deciding (for the engine figures)
        self.decisions = 0
        fleet.on_free = self.unit_free

    def dispatch(self, incident: Incident) -> None:
        """Send units to a ready call now, or queue it (partly served multi-unit calls queue too)."""
        start = time.perf_counter()
        candidates = self.available.nonzero()[0]  # (np.flatnonzero is ~5x slower on this path)
        chosen: list[int] = []
        eta = np.zeros(0)
        if candidates.size:
            eta = self.etas(incident.node, candidates, rank=incident.units_needed - incident.assigned)
            chosen = self.policy.select(incident, candidates, eta, self.model)
        self.seconds += time.perf_counter() - start
        self.decisions += 1
        for i in chosen:
            self.fleet.send(self.units[candidates[i]], incident, float(eta[i]))
        if incident.still_needs_units:
            self.queue.push(incident)

    def unit_free(self, unit: PatrolUnit) -> None:
        """A unit just became free at its current node: next waiting call, else drive home."""
        queue = self.queue
        waiting = self.policy.next_call(unit, queue, self.model) if len(queue) else None
        if waiting is None:
            self.fleet.go_home(unit)
            return
        eta = self.etas(waiting.node, np.array([unit.index]))[0]
        self.fleet.send(unit, waiting, float(eta))
        if waiting.still_needs_units:
            queue.push(waiting)
