"""The fleet: police units, their availability, and their trips (event-driven: one timeout per trip).

A unit sent to a call drives there, works on scene until the call's work ends (``on_scene_s`` from
the first unit's arrival), is released, and either takes the next waiting call (``on_free``) or drives
home, dispatchable from wherever it is on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from policetwin.agents import Incident, PatrolUnit, UnitState

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


class Fleet:
    """Moves units between calls and home and logs what they do (via ``PatrolUnit.set_state``)."""

    def __init__(self, model: PoliceModel, *, travel_s: Callable[[int, int], float]) -> None:
        self.model = model
        self.env = model.env
        self.recorder = model.recorder
        self.units = model.units
        self.travel_s = travel_s
        self.on_free: Callable[[PatrolUnit], None] = lambda unit: None  # set by the dispatcher

    def _after(self, delay_s: float, action: Callable) -> None:
        """Call ``action(event)`` after ``delay_s`` simulated seconds (a timeout with a callback)."""
        self.env.timeout(delay_s if delay_s > 0 else 0.0).callbacks.append(action)

    def send(self, unit: PatrolUnit, incident: Incident, eta_s: float) -> None:
        """Send ``unit`` to ``incident``, arriving in ``eta_s`` seconds."""
        now = self.env.now
        rec = self.recorder
        if incident.assigned == 0:
            rec.times["t_dispatch"][incident.row] = now
            rec.first_unit[incident.row] = unit.index
        incident.assigned += 1
        incident.pending += 1
        rec.n_units[incident.row] = incident.assigned
        origin, _ = unit.position(now)
        unit.set_state(UnitState.enroute, now, incident.row)
        unit.start_trip(origin, now)
        token = unit.trip_token
        self._after(eta_s, lambda _event: self._arrive(unit, incident, token))

    def _arrive(self, unit: PatrolUnit, incident: Incident, token: int) -> None:
        if token != unit.trip_token:
            return
        unit.node = incident.node
        if incident.closed:  # the work ended while this unit was on its way: released on arrival
            self._release(unit, incident)
            return
        now = self.env.now
        unit.set_state(UnitState.onscene, now, incident.row)
        incident.on_scene_units.append(unit)
        if not incident.arrived:
            incident.arrived = True
            self.recorder.times["t_arrive"][incident.row] = now
            self._after(incident.on_scene_s, lambda _event: self._close(incident))

    def _close(self, incident: Incident) -> None:
        """The on-scene work is done: release every unit there."""
        incident.closed = True
        for unit in incident.on_scene_units:
            self._release(unit, incident)
        incident.on_scene_units.clear()

    def _release(self, unit: PatrolUnit, incident: Incident) -> None:
        now = self.env.now
        incident.pending -= 1
        if incident.pending == 0:
            self.recorder.times["t_clear"][incident.row] = now
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
