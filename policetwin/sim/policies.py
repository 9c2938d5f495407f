"""Dispatch policies: which unit goes to which call. Pluggable; looked up by name in :data:`POLICIES`.

A policy answers two questions:
- ``select(incident, candidates, eta_s, model)``: which of the available units to send now.
  ``candidates`` holds unit indices (``model.units[i]``) in ascending order and ``eta_s`` their travel
  times to the call from where they are now; return positions into ``candidates``, best first (fewer
  than needed, or none, is allowed: the call then waits in the queue for the rest);
- ``next_call(unit, waiting, model)``: which waiting call a unit that just became free takes.

The names a scenario may use are :data:`policetwin.scenarios.schema.BUILTIN_POLICIES` (the schema
does not import the engine); every one of them has its class here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from policetwin.agents import Incident, PatrolUnit
    from policetwin.sim.dispatch import DispatchQueue
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
