"""The fleet: police units, their availability, and their trips (event-driven: one timeout per trip).

A unit sent to a call turns out (``travel.turnout``, only when it waits at its station), drives there
(faster on emergency calls: ``travel.priority_speed_factor``), works on scene until the call's work
ends (``on_scene_s`` from the first unit's arrival), is released, and either takes the next waiting
call (``on_free``) or drives home, dispatchable from wherever it is on the way. Every unit sent is
one row of the assignments table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from policetwin.agents import Incident, PatrolUnit, UnitState
from policetwin.sim.demand import Draws
from policetwin.sim.recorder import ASSIGNMENT_RESULTS

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel


def make_units(model: PoliceModel) -> list[PatrolUnit]:
    """Units spread round-robin over the stations (or as ``units.per_station`` says), named
    ``<station>-<n>``, numbered by station."""
    scenario = model.scenario
    stations = scenario.stations
    per_station = scenario.units.per_station
    if per_station is None:
        order = [i % len(stations) for i in range(scenario.units.count)]
    else:
        order = [i for i, s in enumerate(stations) for _ in range(per_station.get(s.name, 0))]
    width = len(str(len(order)))
    counters: dict[int, int] = {}
    units = []
    for index, station in enumerate(sorted(order)):
        counters[station] = counters.get(station, 0) + 1
        name = f"{stations[station].name}-{counters[station]:0{width}d}"
        units.append(PatrolUnit(model, name=name, index=index, station=station,
                                home_node=int(model.station_nodes[station])))  # fmt: skip
    return units


_COMPLETED = ASSIGNMENT_RESULTS.index("completed")
_RELEASED_ON_ARRIVAL = ASSIGNMENT_RESULTS.index("released_on_arrival")


class Fleet:
    """Moves units between calls and home and logs what they do (via ``PatrolUnit.set_state``)."""

    def __init__(self, model: PoliceModel, *, travel_s: Callable[[int, int], float]) -> None:
        self.model = model
        self.env = model.env
        self.recorder = model.recorder
        self.units = model.units
        self.travel_s = travel_s
        self.on_free: Callable[[PatrolUnit], None] = lambda unit: None  # set by the dispatcher
        travel = model.scenario.travel
        self._turnout = Draws(travel.turnout, model.stream("turnout")) if travel.turnout else None
        factors = travel.priority_speed_factor
        self._speed = [1.0 / factors.get(p, 1.0) for p in range(10)]  # travel-time multiplier by priority
        self._times = self.recorder.times

    def _after(self, delay_s: float, action: Callable) -> None:
        """Call ``action(event)`` after ``delay_s`` simulated seconds (a timeout with a callback)."""
        self.env.timeout(delay_s if delay_s > 0 else 0.0).callbacks.append(action)

    def send(self, unit: PatrolUnit, incident: Incident, eta_s: float) -> None:
        """Send ``unit`` to ``incident``: it rolls after its turn-out and arrives ``eta_s`` (scaled by the
        call's emergency speed factor) later."""
        now = self.env.now
        rec = self.recorder
        times, row = self._times, incident.row
        turnout = self._turnout.next() if self._turnout is not None and unit.state == UnitState.idle else 0.0
        rolling = now + turnout
        if incident.assigned == 0:
            times["t_dispatch"][row] = now
            rec.first_unit[row] = unit.index
        if not rolling >= times["t_enroute"][row]:  # first unit rolling (NaN until one is)
            times["t_enroute"][row] = rolling
        incident.assigned += 1
        incident.pending += 1
        rec.n_units[row] = incident.assigned
        origin, _ = unit.position(now)
        unit.set_state(UnitState.enroute, now, row)
        unit.start_trip(origin, now)
        unit.assignment = rec.new_assignment(incident=row, unit=unit.index, t_assigned=now, t_enroute=rolling)
        token = unit.trip_token
        self._after(turnout + eta_s * self._speed[incident.priority],
                    lambda _event: self._arrive(unit, incident, token))  # fmt: skip

    def _arrive(self, unit: PatrolUnit, incident: Incident, token: int) -> None:
        if token != unit.trip_token:
            return
        unit.node = incident.node
        now = self.env.now
        self.recorder.a_arrive[unit.assignment] = now
        if incident.closed:  # the work ended while this unit was on its way: released on arrival
            self._release(unit, incident, result=_RELEASED_ON_ARRIVAL)
            return
        unit.set_state(UnitState.onscene, now, incident.row)
        incident.on_scene_units.append(unit)
        if not incident.arrived:
            incident.arrived = True
            self._times["t_arrive"][incident.row] = now
            self._after(incident.on_scene_s, lambda _event: self._close(incident))

    def _close(self, incident: Incident) -> None:
        """The on-scene work is done: release every unit there."""
        incident.closed = True
        for unit in incident.on_scene_units:
            self._release(unit, incident, result=_COMPLETED)
        incident.on_scene_units.clear()

    def _release(self, unit: PatrolUnit, incident: Incident, *, result: int) -> None:
        now = self.env.now
        rec = self.recorder
        rec.a_released[unit.assignment] = now
        rec.a_result[unit.assignment] = result
        incident.pending -= 1
        if incident.pending == 0:
            self._times["t_clear"][incident.row] = now
            incident.remove()
        unit.set_state(UnitState.returning, now)
        unit.start_trip(incident.node, now)
        self.on_free(unit)

    def go_home(self, unit: PatrolUnit) -> None:
        """A free unit with nothing to do drives home (dispatchable from wherever it is)."""
        token = unit.trip_token
        self._after(self.travel_s(unit.node, unit.home_node), lambda _event: self._home(unit, token))

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
