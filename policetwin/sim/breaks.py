"""Unavailability on duty: meal breaks and officer-initiated activity (``units.groups[].meal_break`` and
``.self_initiated``), logged as the unit states ``meal_break`` and ``self_initiated``.

A meal break is due ``after`` the start of each duty period (a window under way when the run starts
counts from the start). A unit free then stops where it is; a busy one takes the break when it is next
free, unless its shift has ended by then. Officer-initiated activity starts at the times of a Poisson
process per unit (``rate_per_hour``), but only when the unit is free and on duty (busy or off-duty units
let the moment pass). Either way the unit stays where it was, is not dispatched until it is done, then
is free again: next waiting call, else back to its station, post or patrol. A shift that ends during a
meal break sends the unit off duty at once; officer-initiated work is finished first (overtime).

Events stay lazy: one timeout per break and per activity, each scheduling the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policetwin.agents import PatrolUnit, UnitState
from policetwin.sim.demand import Draws

if TYPE_CHECKING:
    from policetwin.sim.fleet import Fleet
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.shifts import Shifts

_FREE = frozenset((UnitState.idle, UnitState.patrol, UnitState.returning))


class Unavailability:
    """Meal breaks and officer-initiated activity of the units whose groups have them."""

    def __init__(self, model: PoliceModel, fleet: Fleet, shifts: Shifts) -> None:
        self.model = model
        self.fleet = fleet
        self.env = model.env
        groups = model.scenario.units.groups or []
        meal_rng, self_rng = model.stream("breaks"), model.stream("initiated")
        self._meal = [Draws(g.meal_break.duration, meal_rng) if g.meal_break else None for g in groups]
        self._self = [
            Draws(g.self_initiated.duration, self_rng) if g.self_initiated else None for g in groups
        ]
        self._self_rng = self_rng
        self.break_due: set[int] = set()  # units that owe a meal break (busy when it fell due)
        self.n_breaks = [0] * len(model.units)
        self.n_self_initiated = [0] * len(model.units)
        for unit in model.units:
            if not groups:
                break
            group = groups[unit.group]
            if group.meal_break is not None:
                due = [(on + group.meal_break.after, off) for on, off in shifts.windows[unit.index]]
                self._next_break(unit, iter(due))
            if group.self_initiated is not None:
                self._next_activity(unit, group.self_initiated.rate_per_hour)

    def _running(self) -> bool:
        return self.env.now < self.model.scenario.duration or self.model.calls_pending()

    # ------------------------------------------------------------------ meal breaks
    def _next_break(self, unit: PatrolUnit, due) -> None:
        for at, off in due:
            if at >= off:
                continue  # a duty period too short for the break (cut by the run's start)
            if at >= self.model.scenario.duration and not self.model.calls_pending():
                return
            self.env.timeout(max(at - self.env.now, 0.0)).callbacks.append(
                lambda _e: self._break_falls_due(unit, due)
            )
            return

    def _break_falls_due(self, unit: PatrolUnit, due) -> None:
        if self._running():
            if unit.state in _FREE:
                self._start(unit, UnitState.meal_break, self._meal[unit.group].next())
            elif unit.state != UnitState.off_shift:
                self.break_due.add(unit.index)  # taken when the unit is next free
        self._next_break(unit, due)

    def take_due(self, unit: PatrolUnit) -> bool:
        """A unit just became free: start the meal break it owes (True), else False."""
        if unit.index not in self.break_due:
            return False
        self.break_due.discard(unit.index)
        self._start(unit, UnitState.meal_break, self._meal[unit.group].next())
        return True

    def off_duty(self, unit: PatrolUnit) -> None:
        """The unit's shift ended: a break it still owes lapses."""
        self.break_due.discard(unit.index)

    # ------------------------------------------------------- officer-initiated activity
    def _next_activity(self, unit: PatrolUnit, rate_per_hour: float) -> None:
        gap = self._self_rng.exponential(3600.0 / rate_per_hour)
        if self.env.now + gap >= self.model.scenario.duration and not self.model.calls_pending():
            return
        self.env.timeout(gap).callbacks.append(lambda _e: self._initiate(unit, rate_per_hour))

    def _initiate(self, unit: PatrolUnit, rate_per_hour: float) -> None:
        if not self._running():
            return
        duration = self._self[unit.group].next()  # drawn every time, so the stream does not depend on state
        if unit.state in _FREE and unit.index not in self.break_due:
            self._start(unit, UnitState.self_initiated, duration)
        self._next_activity(unit, rate_per_hour)

    # ----------------------------------------------------------------------- common
    def _start(self, unit: PatrolUnit, state: UnitState, duration_s: float) -> None:
        """``unit`` stops where it is and is unavailable in ``state`` for ``duration_s``."""
        now = self.env.now
        position, _ = unit.position(now)
        unit.set_state(state, now)
        unit.start_trip(position, now)  # any trip home or patrol tour is over
        if state == UnitState.meal_break:
            self.n_breaks[unit.index] += 1
        else:
            self.n_self_initiated[unit.index] += 1
        token = unit.trip_token
        self.env.timeout(duration_s).callbacks.append(lambda _e: self._done(unit, token))

    def _done(self, unit: PatrolUnit, token: int) -> None:
        if token != unit.trip_token:  # the shift ended during the break: already off duty
            return
        self.fleet.free(unit, unit.node)
