"""The fleet: police units, their availability, and their trips (event-driven: one timeout per trip).

A unit sent to a call turns out (``travel.turnout``, only when it waits at its station), drives there
(faster on emergency calls: ``travel.priority_speed_factor``), works on scene until the call's work
ends (``on_scene_s`` from the first unit's arrival), is released, and either takes the next waiting
call (``on_free``) or drives home, dispatchable from wherever it is on the way. Every unit sent is
one row of the assignments table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from policetwin.agents import Incident, PatrolUnit, UnitState
from policetwin.scenarios.schema import Scenario
from policetwin.sim.demand import Draws
from policetwin.sim.recorder import ASSIGNMENT_RESULTS, TRIP_PURPOSES

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel


@dataclass(frozen=True)
class UnitPlan:
    """One unit of a scenario before the run: its name, station (index), where it waits, group, abilities."""

    name: str
    station: int
    home_node: int
    group: int = 0
    capabilities: frozenset[str] = frozenset()


def unit_plans(
    scenario: Scenario, station_nodes: np.ndarray, post_nodes: dict[int, np.ndarray]
) -> list[UnitPlan]:
    """The scenario's units: with ``groups``, ``<group>-<n>`` at the group's station, waiting at its posts
    in turn (``idle: post``), with its capabilities; else spread round-robin over the stations (or as
    ``units.per_station`` says), named ``<station>-<n>`` and numbered by station."""
    stations = scenario.stations
    groups = scenario.units.groups
    if groups:
        names = [s.name for s in stations]
        plans = []
        for g, group in enumerate(groups):
            width = len(str(group.count))
            station = names.index(group.station)
            posts = post_nodes.get(g)
            for k in range(group.count):
                home = int(posts[k % len(posts)]) if posts is not None else int(station_nodes[station])
                plans.append(UnitPlan(f"{group.name}-{k + 1:0{width}d}", station, home, g,
                                      frozenset(group.capabilities)))  # fmt: skip
        return plans
    per_station = scenario.units.per_station
    if per_station is None:
        order = [i % len(stations) for i in range(scenario.units.count)]
    else:
        order = [i for i, s in enumerate(stations) for _ in range(per_station.get(s.name, 0))]
    width = len(str(len(order)))
    counters: dict[int, int] = {}
    plans = []
    for station in sorted(order):
        counters[station] = counters.get(station, 0) + 1
        plans.append(UnitPlan(f"{stations[station].name}-{counters[station]:0{width}d}", station,
                              int(station_nodes[station])))  # fmt: skip
    return plans


def make_units(model: PoliceModel) -> list[PatrolUnit]:
    """The scenario's units (:func:`unit_plans`) as agents of the model."""
    units = []
    for index, plan in enumerate(unit_plans(model.scenario, model.station_nodes, model.post_nodes)):
        unit = PatrolUnit(model, name=plan.name, index=index, station=plan.station, home_node=plan.home_node)
        unit.group, unit.capabilities = plan.group, plan.capabilities
        units.append(unit)
    return units


_TO_CALL, _RETURN = TRIP_PURPOSES.index("to_call"), TRIP_PURPOSES.index("return")
_COMPLETED = ASSIGNMENT_RESULTS.index("completed")
_RELEASED_ON_ARRIVAL = ASSIGNMENT_RESULTS.index("released_on_arrival")
_PREEMPTED = ASSIGNMENT_RESULTS.index("preempted")
_CANCELLED = ASSIGNMENT_RESULTS.index("cancelled")


class Fleet:
    """Moves units between calls and home and logs what they do (via ``PatrolUnit.set_state``)."""

    def __init__(self, model: PoliceModel, *, travel_s: Callable[[int, int], float]) -> None:
        self.model = model
        self.env = model.env
        self.recorder = model.recorder
        self.units = model.units
        self.travel_s = travel_s
        self.on_free: Callable[[PatrolUnit], None] = lambda unit: None  # set by the dispatcher
        self.go_off: Callable[[PatrolUnit], None] = lambda unit: None  # set by the shifts
        self.patrol = None  # set by the model: where patrolling units go when free
        self.unavailability = None  # set by the model: meal breaks owed (sim.breaks)
        self.serving: dict[int, Incident] = {}  # unit index -> the call it is assigned to
        self.on_backup: Callable[[Incident], None] = lambda incident: None  # set by the dispatcher
        kinds = model.kinds
        self._backup = [k.backup for k in kinds]
        self._backup_rng = model.stream("backup") if any(self._backup) else None
        self._backup_delay = [Draws(b.delay, self._backup_rng) if b else None for b in self._backup]
        travel = model.scenario.travel
        self._turnout = Draws(travel.turnout, model.stream("turnout")) if travel.turnout else None
        factors = travel.priority_speed_factor
        self._speed = [1.0 / factors.get(p, 1.0) for p in range(10)]  # travel-time multiplier by priority
        self._rate = [factors.get(p, 1.0) for p in range(10)]  # and its inverse, the speed relative to normal
        self._times = self.recorder.times
        self._congestion = model.congestion  # time-of-day factors (None: off), at each trip's departure
        self.on_foot: np.ndarray | None = None  # per unit: walks, eta_s as given (set by sim.event_glue)
        self._unit_district: list[int] = model.unit_district.tolist()  # lists: fast scalar lookups
        self._node_district: list[int] = model.node_district.tolist()

    def _after(self, delay_s: float, action: Callable) -> None:
        """Call ``action(event)`` after ``delay_s`` simulated seconds (a timeout with a callback)."""
        self.env.timeout(delay_s if delay_s > 0 else 0.0).callbacks.append(action)

    def send(self, unit: PatrolUnit, incident: Incident, eta_s: float) -> None:
        """Send ``unit`` to ``incident``: it rolls after its turn-out and arrives ``eta_s`` (scaled by the
        call's emergency speed factor) later."""
        now = self.env.now
        rec = self.recorder
        times, row, index = self._times, incident.row, unit.index
        turnout = self._turnout.next() if self._turnout is not None and unit.state == UnitState.idle else 0.0
        rolling = now + turnout
        if not incident.sent:  # the first unit sent (kept when a pre-emption takes it away)
            times["t_dispatch"][row] = now
            rec.first_unit[row] = index
        if rolling < incident.t_enroute:  # the first unit rolling
            incident.t_enroute = times["t_enroute"][row] = rolling
        incident.sent += 1
        incident.assigned += 1
        incident.pending += 1
        rec.n_units[row] = incident.sent  # units sent, pre-empted ones included
        origin, offset = unit.position(now)
        if unit.trip_row >= 0:  # a trip home is cut short: it ends at the next node
            rec.tr_end[unit.trip_row] = now + offset
            unit.trip_row = -1
        unit.set_state(UnitState.enroute, now, row)
        multiplier = self._speed[incident.priority]
        rate = self._rate[incident.priority]  # speed relative to the road's (eta_s holds the congestion)
        if self._congestion is not None:
            rate /= self._congestion.factor_at(now)
        if self.on_foot is not None and self.on_foot[index]:  # walking: eta_s is the walk, drawn on the roads
            road_s = self.travel_s(origin, incident.node)
            multiplier, rate = 1.0, road_s / max(eta_s - offset, 1e-3) if road_s > 0 else 1.0
        unit.start_trip(origin, now, dest=incident.node, depart=rolling + offset, rate=rate)
        if rec.log_trips:
            unit.trip_row = rec.new_trip(index, _TO_CALL, row, origin, incident.node, now + offset, rolling + offset,
                                         now + turnout + eta_s * multiplier)  # fmt: skip
        out = self._unit_district[index] != self._node_district[incident.node]
        unit.assignment = rec.new_assignment(row, index, now, rolling, out)
        self.serving[index] = incident
        token = unit.trip_token
        self._after(turnout + eta_s * multiplier, lambda _event: self._arrive(unit, incident, token))

    def _arrive(self, unit: PatrolUnit, incident: Incident, token: int) -> None:
        if token != unit.trip_token:
            return
        unit.node = incident.node
        now = self.env.now
        self.recorder.a_arrive[unit.assignment] = now
        if unit.trip_row >= 0:
            self.recorder.tr_end[unit.trip_row] = now
            unit.trip_row = -1
        if incident.closed:  # the work ended while this unit was on its way: released on arrival
            self._release(unit, incident, result=_RELEASED_ON_ARRIVAL)
            return
        unit.set_state(UnitState.onscene, now, incident.row)
        incident.on_scene_units.append(unit)
        if not incident.arrived:  # the work starts (or, after a pre-emption, goes on) with this unit
            incident.arrived = True
            if not incident.work_token:  # the first arrival (a pre-emption bumps the token)
                self._times["t_arrive"][incident.row] = now
            incident.work_until = now + incident.on_scene_s
            work = incident.work_token
            self._after(incident.on_scene_s, lambda _event: self._close(incident, work))
            backup = self._backup[incident.kind]
            if backup is not None and not incident.backup_asked:
                incident.backup_asked = True
                if self._backup_rng.random() < backup.probability:
                    delay = self._backup_delay[incident.kind].next()
                    self._after(delay, lambda _event: self._ask_backup(incident, backup.units))

    def _close(self, incident: Incident, work: int) -> None:
        """The on-scene work is done: release every unit there."""
        if work != incident.work_token:  # interrupted by a pre-emption
            return
        incident.closed = True
        for unit in incident.on_scene_units:
            self._release(unit, incident, result=_COMPLETED)
        incident.on_scene_units.clear()
        if self._turnout is not None:  # units still turning out at their station are stood down
            now = self.env.now
            for index, serving in list(self.serving.items()):
                unit = self.units[index]
                if serving is incident and unit.state == UnitState.enroute and unit.trip_depart > now:
                    unit.node = unit.home_node
                    self._release(unit, incident, result=_CANCELLED)

    def _release(self, unit: PatrolUnit, incident: Incident, *, result: int) -> None:
        now = self.env.now
        rec = self.recorder
        rec.a_released[unit.assignment] = now
        rec.a_result[unit.assignment] = result
        del self.serving[unit.index]
        incident.pending -= 1
        if incident.pending == 0:
            self._times["t_clear"][incident.row] = now
            self.model.open_calls -= 1
        self.free(unit, unit.node if result == _CANCELLED else incident.node)

    def free(self, unit: PatrolUnit, node: int) -> None:
        """``unit`` is free at ``node`` (after a call, a break or an activity): off duty if its shift
        has ended (overtime logged), else a meal break it owes, else its next call or home."""
        now = self.env.now
        unit.set_state(UnitState.returning, now)
        if self._congestion is None:
            unit.start_trip(node, now)
        else:  # the drive home (if any) departs now: at this hour's pace
            unit.start_trip(node, now, rate=1.0 / self._congestion.factor_at(now))
        if unit.off_due is not None:
            self.go_off(unit)
            return
        if self.unavailability is not None and self.unavailability.take_due(unit):
            return
        self.on_free(unit)

    def _ask_backup(self, incident: Incident, units: int) -> None:
        """Units on scene ask for ``units`` more (unless the work has ended)."""
        if incident.closed:
            return
        incident.units_needed += units
        self.recorder.n_backup[incident.row] += units
        self.on_backup(incident)

    def withdraw(self, unit: PatrolUnit, incident: Incident) -> None:
        """Take ``unit`` off ``incident`` (pre-emption): logged as ``preempted``; the call keeps its
        history and needs a unit again. Work interrupted on scene goes on when the next unit arrives."""
        now = self.env.now
        rec = self.recorder
        rec.a_released[unit.assignment] = now
        rec.a_result[unit.assignment] = _PREEMPTED
        rec.n_preempted[incident.row] += 1
        del self.serving[unit.index]
        incident.assigned -= 1
        incident.pending -= 1
        if unit in incident.on_scene_units:
            incident.on_scene_units.remove(unit)
            if not incident.on_scene_units:  # nobody left working: pause the work
                incident.on_scene_s = max(incident.work_until - now, 0.0)
                incident.work_token += 1
                incident.arrived = False

    def go_home(self, unit: PatrolUnit) -> None:
        """A free unit with nothing to do drives home, or patrols (dispatchable from wherever it is)."""
        if self.patrol is not None and unit.index in self.patrol.patrolling:
            self.patrol.start(unit)
            return
        token = unit.trip_token
        travel_s = self.travel_s(unit.node, unit.home_node)
        if self._congestion is not None:  # freed just now (free), so the trip's pace is this hour's
            travel_s /= unit.trip_rate
        if self.recorder.log_trips and unit.node != unit.home_node:
            now = self.env.now
            unit.trip_row = self.recorder.new_trip(unit.index, _RETURN, -1, unit.node, unit.home_node, now, now,
                                                   now + travel_s)  # fmt: skip
        self._after(travel_s, lambda _event: self._home(unit, token))

    def _home(self, unit: PatrolUnit, token: int) -> None:
        if token != unit.trip_token:
            return
        unit.set_state(UnitState.idle, self.env.now)
        unit.node = unit.home_node
        unit.start_trip(unit.home_node, self.env.now)

    def finish(self) -> None:
        """Log every unit's last interval (up to now) at the end of the run."""
        end = self.env.now
        for unit in self.units:
            unit.set_state(unit.state, end, unit.incident_id)
