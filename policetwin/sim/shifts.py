"""Shifts: when each unit group is on duty. Off-duty units are ``off_shift`` (never dispatched); a unit
busy when its shift ends finishes its call, and the time past the shift's end is logged as overtime.

Windows are clock times in the scenario's clock (the run starts at ``start``): a window ``23:00-07:00``
on Friday runs from Friday 23:00 to Saturday 07:00. Each window starts with ``handover`` time during
which the incoming unit is not yet available. Windows are laid out for the run and two weeks beyond it,
so a run that drains past its end still has its shifts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from policetwin.agents import PatrolUnit, UnitState
from policetwin.clock import DAY_NAMES, week_offset_s
from policetwin.scenarios.units import Shift, window_s

if TYPE_CHECKING:
    from policetwin.sim.fleet import Fleet
    from policetwin.sim.model import PoliceModel

DRAIN_MARGIN_S = 14 * 86400.0
#: States a unit leaves at once when its shift ends (free, patrolling, or on a meal break).
_OFF_AT_ONCE = frozenset((UnitState.idle, UnitState.patrol, UnitState.returning, UnitState.meal_break))


def duty_windows(shift: Shift, *, start: str, horizon_s: float) -> list[tuple[float, float]]:
    """On-duty intervals [on, off) in seconds from the scenario's start, merged where they touch, for
    the run and beyond (``horizon_s``); ``on`` includes the handover (the unit is available from then)."""
    offset = week_offset_s(start)
    days = None if shift.days is None else {DAY_NAMES[d.lower()] for d in shift.days}
    spans = []
    first_day, last_day = int(offset // 86400) - 1, int((offset + horizon_s) // 86400) + 1
    for day in range(first_day, last_day + 1):
        if days is not None and day % 7 not in days:
            continue
        for window in shift.windows:
            a, b = window_s(window)
            begin, end = day * 86400.0 + a - offset, day * 86400.0 + b - offset
            if end > 0 and begin < horizon_s:
                spans.append((max(begin, 0.0), end))
    spans.sort()
    merged: list[list[float]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    handover = shift.handover
    return [
        (begin + (handover if begin > 0 else 0.0), end) for begin, end in merged if begin + handover < end
    ]


def window_spans(shift: Shift, *, start: str, horizon_s: float) -> dict[str, list[tuple[float, float]]]:
    """Each window of ``shift`` -> the spans it covers within [0, horizon_s] (handover included), for
    figures per shift (e.g. the saturation index of the night shift)."""
    out = {}
    for window in shift.windows:
        one = shift.model_copy(update={"windows": [window], "handover": 0.0})
        out[window] = [(a, min(b, horizon_s)) for a, b in duty_windows(one, start=start, horizon_s=horizon_s)]
    return out


class Shifts:
    """Puts units on and off duty at their windows' ends (one timeout per change)."""

    def __init__(self, model: PoliceModel, fleet: Fleet) -> None:
        self.model = model
        self.fleet = fleet
        self.env = model.env
        self.overtime_s = np.zeros(len(model.units))
        self.windows: dict[int, list[tuple[float, float]]] = {}
        groups = model.scenario.units.groups or []
        horizon = model.scenario.duration + DRAIN_MARGIN_S
        plans = [None if g.shift is None else duty_windows(g.shift, start=model.scenario.start, horizon_s=horizon)
                 for g in groups]  # fmt: skip
        for unit in model.units:
            plan = plans[unit.group] if groups else None
            if plan is None:
                continue
            self.windows[unit.index] = plan
            if not plan or plan[0][0] > 0:  # not on duty at the start
                unit.set_state(UnitState.off_shift, 0.0)
            changes = [(on, True) for on, _ in plan if on > 0] + [(off, False) for _, off in plan]
            self._next(unit, iter(sorted(changes)))

    def _next(self, unit: PatrolUnit, changes) -> None:
        """Schedule the unit's next change of duty; after the scenario's end only while calls are open
        (so that shifts beyond the run do not keep the clock going)."""
        for at, on in changes:
            if at < self.model.scenario.duration or self.model.calls_pending():
                self.env.timeout(at - self.env.now).callbacks.append(
                    lambda _e, on=on, at=at: self._change(unit, on, at, changes)
                )
            return

    def _change(self, unit: PatrolUnit, on: bool, at: float, changes) -> None:
        if self.env.now >= self.model.scenario.duration and not self.model.calls_pending():
            return  # the run is over: nothing left to do on or off duty
        if on:
            self._on(unit)
        else:
            self._off(unit, at)
        self._next(unit, changes)

    def _on(self, unit: PatrolUnit) -> None:
        if unit.state != UnitState.off_shift:  # still finishing a call from the shift before
            unit.off_due = None
            return
        unit.set_state(UnitState.idle, self.env.now)
        unit.node = unit.home_node
        unit.start_trip(unit.home_node, self.env.now)
        self.fleet.on_free(unit)  # waiting calls first

    def _off(self, unit: PatrolUnit, end: float) -> None:
        if unit.state in _OFF_AT_ONCE:
            self.go_off(unit)
        elif unit.state != UnitState.off_shift:
            unit.off_due = end  # finishes its call (or officer-initiated work) first: overtime

    def go_off(self, unit: PatrolUnit) -> None:
        """Off duty now (where it is); overtime if its shift ended earlier."""
        now = self.env.now
        if self.model.unavailability is not None:
            self.model.unavailability.off_duty(unit)
        if unit.off_due is not None:
            self.overtime_s[unit.index] += now - unit.off_due
            unit.off_due = None
        position, _ = unit.position(now)
        unit.set_state(UnitState.off_shift, now)
        unit.start_trip(position, now)  # any trip home is over
        unit.node = position
