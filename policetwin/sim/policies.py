"""Dispatch policies: which unit goes to which call. Pluggable; looked up by name in :data:`POLICIES`.

A policy answers two questions:
- ``select(incident, candidates, eta_s, model)``: which of the available units to send now.
  ``candidates`` holds unit indices (``model.units[i]``) in ascending order and ``eta_s`` their travel
  times to the call from where they are now; return positions into ``candidates``, best first (fewer
  than needed, or none, is allowed: the call then waits in the queue for the rest);
- ``next_call(unit, waiting, model)``: which waiting call a unit that just became free takes.

A policy may also say which ETAs it needs (``eta_slack_s``): it only ever chooses among the k nearest
units (k = units the call still needs) and units at most ``eta_slack_s`` seconds farther than the k-th.
Dispatch then skips timing units whose lower bound rules them out (their ``eta_s`` is ``inf``). Without
it (user policies, unless they set it), every ``eta_s`` is exact.

The names a scenario may use are :data:`policetwin.scenarios.schema.BUILTIN_POLICIES` (the schema
does not import the engine); every one of them has its class here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from policetwin.scenarios.command import Dispatch

if TYPE_CHECKING:
    from policetwin.agents import Incident, PatrolUnit
    from policetwin.sim.dispatch import DispatchQueue
    from policetwin.sim.model import PoliceModel


class DispatchPolicy(Protocol):
    """The interface every dispatch policy implements."""

    name: str
    #: optional: how much farther than the k-th nearest unit a chosen unit may be (None/absent: any)
    eta_slack_s: float | None

    def select(self, incident: Incident, candidates: np.ndarray, eta_s: np.ndarray,
               model: PoliceModel) -> list[int]: ...  # fmt: skip

    def next_call(self, unit: PatrolUnit, waiting: DispatchQueue, model: PoliceModel) -> Incident | None: ...


class NearestPolicy:
    """Send the available units that reach the call first (returning units count from where they are).

    A unit that becomes free takes the most urgent waiting call, first come first served within a
    priority.
    """

    name = "nearest"
    eta_slack_s = 0.0  # only the nearest units are ever chosen

    def select(self, incident: Incident, candidates: np.ndarray, eta_s: np.ndarray,
               model: PoliceModel) -> list[int]:  # fmt: skip
        need = incident.units_needed - incident.assigned
        if need == 1:
            return [int(eta_s.argmin())]  # array methods: the np.* wrappers cost microseconds here
        return eta_s.argsort(kind="stable")[:need].tolist()

    def next_call(self, unit: PatrolUnit, waiting: DispatchQueue, model: PoliceModel) -> Incident | None:
        return waiting.pop()


class BeatFirstPolicy(NearestPolicy):
    """Send the call's own-district unit if it arrives within ``dispatch.slack`` of the nearest unit;
    else the nearest. ``slack: 0`` is ``nearest``; a very large slack sends an own-district unit
    whenever one is free. Free units take the most urgent waiting call, as with ``nearest``."""

    name = "beat_first"

    def __init__(self, *, slack_s: float) -> None:
        self.slack_s = slack_s
        self.eta_slack_s = slack_s  # an own unit up to slack farther than the nearest may be chosen

    def select(self, incident: Incident, candidates: np.ndarray, eta_s: np.ndarray,
               model: PoliceModel) -> list[int]:  # fmt: skip
        own = model.unit_district[candidates] == model.node_district[incident.node]
        score = eta_s - self.slack_s * own  # an own unit wins against any unit less than slack nearer
        need = incident.units_needed - incident.assigned
        if need == 1:
            return [int(score.argmin())]
        return score.argsort(kind="stable")[:need].tolist()


class PriorityPreemptPolicy(NearestPolicy):
    """``nearest``, and calls of priority <= ``preempt.max_priority`` may take units from calls at least
    ``preempt.min_gap`` levels lower (en route, or on scene if allowed) when no free unit is left or
    the nearest free one would miss the call's target (the dispatcher does the taking: see
    :meth:`policetwin.sim.dispatch.Dispatcher.preempt`)."""

    name = "priority_preempt"

    def __init__(self, *, max_priority: int, min_gap: int, on_scene: bool) -> None:
        self.max_priority = max_priority
        self.min_gap = min_gap
        self.on_scene = on_scene


POLICIES: dict[str, type] = {"nearest": NearestPolicy, "beat_first": BeatFirstPolicy,
                             "priority_preempt": PriorityPreemptPolicy}  # fmt: skip


def make_policy(
    dispatch: Dispatch, *, base_dir: Path | None = None, filename: str = "scenario"
) -> DispatchPolicy:
    """The policy a scenario's ``dispatch`` block names, with its parameters (user policies loaded)."""
    if dispatch.policy == "beat_first":
        return BeatFirstPolicy(slack_s=float(dispatch.slack or 0.0))
    if dispatch.policy == "priority_preempt":
        p = dispatch.preempt
        return PriorityPreemptPolicy(max_priority=p.max_priority, min_gap=p.min_gap, on_scene=p.on_scene)
    if dispatch.policy in POLICIES:
        return POLICIES[dispatch.policy]()
    from policetwin.sim.user_policy import load_user_policy

    return load_user_policy(dispatch.policy, base_dir=base_dir, filename=filename)
