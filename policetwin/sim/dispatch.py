"""Dispatch: which unit goes to which call. Policies are pluggable; the queue is shared.

A policy answers two questions:
- ``select(incident, candidates, eta_s, model)``: which of the available units to send now.
  ``candidates`` holds unit indices (``model.units[i]``) in ascending order and ``eta_s`` their travel
  times to the call from where they are now; return positions into ``candidates``, best first (fewer
  than needed, or none, is allowed: the call then waits in the queue for the rest);
- ``next_call(unit, waiting, model)``: which waiting call a unit that just became free takes.

Register new policies in :data:`POLICIES` (the roadmap adds beat_first, priority_preempt, ...).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from policetwin.agents import Incident, PatrolUnit
    from policetwin.sim.model import PoliceModel


class DispatchPolicy(Protocol):
    """The interface every dispatch policy implements."""

    name: str

    def select(self, incident: Incident, candidates: np.ndarray, eta_s: np.ndarray,
               model: PoliceModel) -> list[int]: ...  # fmt: skip

    def next_call(self, unit: PatrolUnit, waiting: DispatchQueue, model: PoliceModel) -> Incident | None: ...


class NearestPolicy:
    """Send the available units that reach the call first (returning units count from where they are).

    A unit that becomes free takes the most urgent waiting call, first come first served within a
    priority.
    """

    name = "nearest"

    def select(self, incident: Incident, candidates: np.ndarray, eta_s: np.ndarray,
               model: PoliceModel) -> list[int]:  # fmt: skip
        need = incident.units_needed - incident.assigned
        if need == 1:
            return [int(eta_s.argmin())]  # array methods: the np.* wrappers cost microseconds here
        return eta_s.argsort(kind="stable")[:need].tolist()

    def next_call(self, unit: PatrolUnit, waiting: DispatchQueue, model: PoliceModel) -> Incident | None:
        return waiting.pop()


POLICIES: dict[str, type] = {"nearest": NearestPolicy}


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
