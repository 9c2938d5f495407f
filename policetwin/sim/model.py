"""The engine: a mesa Model that owns the seeded RNG and the agents, with one simpy clock.

Flow of a call: arrival -> call-taker (simpy Resource) -> handling/triage -> dispatch queue ->
unit(s) chosen by the policy -> event-driven travel -> on scene -> unit free (next call or home).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator

import mesa
import numpy as np
import simpy

from policetwin.agents import Incident, PatrolUnit, UnitState
from policetwin.errors import ScenarioError
from policetwin.maps import RoadNetwork, Router, Snapper
from policetwin.scenarios.schema import Scenario
from policetwin.sim.checks import MapCheck, check_on_map
from policetwin.sim.demand import CallBatch, make_demand
from policetwin.sim.dispatch import POLICIES, DispatchQueue
from policetwin.sim.recorder import Recorder

#: Named random streams: each draws from its own SeedSequence child so they never shift each other.
STREAMS = {"demand": 1, "service": 2, "policy": 3}
#: Precompute travel-time rows for all call nodes when there are at least this many calls per node.
WARM_CALLS_PER_NODE = 10


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent, reproducible random stream for one purpose (common random numbers)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[name],)))


class PoliceModel(mesa.Model):
    """One run of a scenario with one seed."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        network: RoadNetwork,
        router: Router | None = None,
        filename: str = "scenario",
        checked: MapCheck | None = None,
    ) -> None:
        self.seed_value = scenario.seed if seed is None else int(seed)
        super().__init__(rng=np.random.default_rng(np.random.SeedSequence(self.seed_value)))
        self.scenario = scenario
        self.env = simpy.Environment()
        self.network = network
        self.snapper = Snapper(network)
        check = checked or check_on_map(scenario, network, self.snapper, filename=filename)
        if check.problems:
            raise ScenarioError(check.problems)
        self.warnings = check.warnings
        self.station_nodes = check.station_nodes
        if scenario.travel.mode == "instant":
            self.router = None
        else:
            self.router = router or Router(
                network.n_nodes,
                network.edge_u,
                network.edge_v,
                network.travel_times_s(
                    overrides_kph=scenario.travel.speeds_kph, speed_factor=scenario.travel.speed_factor
                ),
            )
        self.kinds = list(scenario.demand.kinds)
        n_units = scenario.units.count
        self.unit_available = np.ones(n_units, dtype=bool)
        self.unit_returning = np.zeros(n_units, dtype=bool)
        self.units = self._make_units()
        self.unit_station = np.array([u.station for u in self.units], dtype=np.int64)
        self.pruned_searches = 0
        if self.router is not None:
            rows = [self.router.times_from(int(n)) for n in self.station_nodes]
            self.station_rows = np.vstack(rows).astype(float)  # float64: ETAs are summed with offsets
            self.station_to_rows = np.vstack([self.router.times_to(int(n)) for n in self.station_nodes])
            edge_s = self.router.forward.data
            used = self.router.forward.tocoo()
            length = np.hypot(
                network.x[used.row] - network.x[used.col], network.y[used.row] - network.y[used.col]
            )
            self.top_speed_mps = max(float(np.max(length / edge_s)), 1.0) * 1.001
        self.unit_names = [u.name for u in self.units]
        self.policy = POLICIES[scenario.dispatch.policy]()
        self.queue = DispatchQueue()
        self.takers = simpy.Resource(self.env, capacity=scenario.call_handling.takers)
        self.calls: CallBatch = make_demand(scenario, check.weights).generate(
            duration_s=scenario.duration,
            demand_rng=stream(self.seed_value, "demand"),
            service_rng=stream(self.seed_value, "service"),
        )
        self.recorder = Recorder(capacity=len(self.calls) + 16, log_units=scenario.outputs.units_log)
        self._warm_router()
        self.dispatch_s = 0.0
        self.dispatch_decisions = 0
        self._upcoming: Iterator[tuple] | None = None  # the calls, read when the run starts

    # ----------------------------------------------------------------- setup
    def _make_units(self) -> list[PatrolUnit]:
        stations = self.scenario.stations
        per_station = self.scenario.units.per_station
        if per_station is None:
            order = [i % len(stations) for i in range(self.scenario.units.count)]
        else:
            order = [i for i, s in enumerate(stations) for _ in range(per_station.get(s.name, 0))]
        width = len(str(len(order)))
        counters: dict[int, int] = {}
        units = []
        for index, station in enumerate(sorted(order)):
            counters[station] = counters.get(station, 0) + 1
            name = f"{stations[station].name}-{counters[station]:0{width}d}"
            units.append(
                PatrolUnit(self, name=name, index=index, station=station,
                           home_node=int(self.station_nodes[station]))
            )  # fmt: skip
        return units

    def _warm_router(self) -> None:
        """Precompute the reverse rows of all call nodes when the run is long enough to repay it.

        A bounded reverse search costs ~0.1-0.5 ms for the ~1 in 6 calls that have a returning unit
        nearby; a full row costs ~1-2 ms once per distinct node (batched, on all cores). Long runs
        revisit nodes many times, so from ~10 calls per node the rows pay for themselves (measured).
        """
        if self.router is None or not self.router.dense:
            return
        targets = np.unique(self.calls.node)
        if len(self.calls) >= WARM_CALLS_PER_NODE * targets.size:
            self.router.precompute(targets, workers=min(os.cpu_count() or 1, 4))

    # ----------------------------------------------------------------- calls
    def _arrivals(self) -> Iterator[tuple]:
        calls = self.calls
        return zip(calls.t_call.tolist(), calls.kind.tolist(), calls.node.tolist(),
                   calls.handling_s.tolist(), calls.on_scene_s.tolist(), strict=True)  # fmt: skip

    def _next_arrival(self, pending: tuple | None = None) -> None:
        """Submit the call that is due (if any), then every call due now, then wait for the next."""
        source = self.calls.source
        if pending is not None:
            self.submit_call(kind=pending[1], node=pending[2], handling_s=pending[3], on_scene_s=pending[4],
                             source=source)  # fmt: skip
        for call in self._upcoming:
            delay = call[0] - self.env.now
            if delay > 0:
                self._after(delay, lambda _event, due=call: self._next_arrival(due))
                return
            self.submit_call(
                kind=call[1], node=call[2], handling_s=call[3], on_scene_s=call[4], source=source
            )

    def submit_call(
        self, *, kind: int, node: int, handling_s: float, on_scene_s: float, source: str
    ) -> Incident:
        """A call arrives now (used by demand generators and, later, crowd modules)."""
        spec = self.kinds[kind]
        row = self.recorder.new_incident(t_call=self.env.now, kind=kind, node=node, source=source)
        incident = Incident(self, row=row, kind=kind, priority=spec.priority, node=node,
                            units_needed=spec.units, on_scene_s=on_scene_s)  # fmt: skip
        request = self.takers.request()
        request.callbacks.append(lambda _event: self._answered(incident, request, handling_s))
        return incident

    def _answered(self, incident: Incident, request: simpy.Event, handling_s: float) -> None:
        """A call-taker picks up: handle and triage for ``handling_s``, then free the taker and dispatch."""
        self.recorder.times["t_answer"][incident.row] = self.env.now
        self._after(handling_s, lambda _event: self._ready(incident, request))

    def _ready(self, incident: Incident, request: simpy.Event) -> None:
        self.takers.release(request)
        incident.t_ready = self.env.now
        self.recorder.times["t_ready"][incident.row] = incident.t_ready
        self.dispatch(incident)

    # -------------------------------------------------------------- dispatch
    def dispatch(self, incident: Incident) -> None:
        """Send units to a ready call now, or queue it (partly served multi-unit calls queue too)."""
        start = time.perf_counter()
        candidates = self.unit_available.nonzero()[0]  # (np.flatnonzero is ~5x slower on this path)
        chosen: list[int] = []
        eta = np.zeros(0)
        if candidates.size:
            eta = self._etas(incident.node, candidates, rank=incident.units_needed - incident.assigned)
            chosen = self.policy.select(incident, candidates, eta, self)
        self.dispatch_s += time.perf_counter() - start
        self.dispatch_decisions += 1
        for i in chosen:
            self._assign(self.units[candidates[i]], incident, float(eta[i]))
        if incident.still_needs_units:
            self.queue.push(incident)

    def _etas(self, node: int, candidates: np.ndarray, *, rank: int | None = None) -> np.ndarray:
        """Seconds for each candidate unit (indices) to reach ``node`` from where it is now.

        Idle units are timed from their station's forward shortest-path row (exact). A returning
        unit at next node p needs T(p -> node). With ``rank=k`` only the k nearest matter: a unit
        whose lower bound (triangle inequality through its trip origin or its station, or
        straight-line distance at the network's top speed) cannot beat the k-th best idle unit gets
        ``inf``; the others get exact times, from the cached row of ``node`` or from one reverse
        search bounded by that k-th best time. ``rank=None``: all exact.
        """
        if self.router is None:
            return np.zeros(candidates.size)
        eta = self.station_rows[:, node][self.unit_station[candidates]]
        moving_idx = self.unit_returning[candidates].nonzero()[0]
        if not moving_idx.size:
            return eta
        eta[moving_idx] = np.inf  # set below, once their position is known
        moving = moving_idx.tolist()
        limit = np.inf
        if rank is not None and candidates.size - len(moving) >= rank:
            limit = float(eta.min() if rank == 1 else np.partition(eta, rank - 1)[rank - 1]) + 1.0
        now = self.env.now
        units = self.units
        hopeful: list[tuple[int, int, float]] = []
        if self.router.has_full_row(node):
            # exact row at hand: ETA >= T(trip origin -> node) - time since leaving it (triangle
            # inequality along the route) prunes units from far-away scenes before any route walk
            row = self.router.times_to(node)
            for j in moving:
                unit = units[candidates[j]]
                if row[unit.node] - (now - unit.trip_start) >= limit:
                    eta[j] = np.inf
                    continue
                nxt, offset = unit.position(now)
                eta[j] = row[nxt] + offset
            return eta
        if limit == np.inf:
            for j in moving:
                nxt, offset = units[candidates[j]].position(now)
                hopeful.append((j, nxt, offset))
        else:
            x, y, top = self.network.x, self.network.y, self.top_speed_mps
            for j in moving:
                unit = units[candidates[j]]
                nxt, offset = unit.position(now)
                from_home = self.station_rows[unit.station]
                to_home = self.station_to_rows[unit.station]
                lower = max(
                    float(from_home[node]) - float(from_home[nxt]),
                    float(to_home[nxt]) - float(to_home[node]),
                    math.hypot(x[nxt] - x[node], y[nxt] - y[node]) / top,
                )
                if offset + lower >= limit:
                    eta[j] = np.inf
                    continue
                hopeful.append((j, nxt, offset))
        if not hopeful:
            self.pruned_searches += 1
            return eta
        row = self.router.times_to(node, limit_s=limit)
        for j, nxt, offset in hopeful:
            eta[j] = row[nxt] + offset
        return eta

    def _travel_s(self, from_node: int, to_node: int) -> float:
        return 0.0 if self.router is None else float(self.router.times_to(to_node)[from_node])

    def _assign(self, unit: PatrolUnit, incident: Incident, eta_s: float) -> None:
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

    def _after(self, delay_s: float, action: Callable[[simpy.Event], None]) -> None:
        """Call ``action(event)`` after ``delay_s`` simulated seconds (a timeout with a callback)."""
        self.env.timeout(delay_s if delay_s > 0 else 0.0).callbacks.append(action)

    def _arrive(self, unit: PatrolUnit, incident: Incident, token: int) -> None:
        if token != unit.trip_token:
            return
        unit.node = incident.node
        if incident.closed:  # the work ended while this unit was on its way: released on arrival
            self._release(unit, incident)
            return
        unit.set_state(UnitState.onscene, self.env.now, incident.row)
        incident.on_scene_units.append(unit)
        if not incident.arrived:
            incident.arrived = True
            self.recorder.times["t_arrive"][incident.row] = self.env.now
            self._after(incident.on_scene_s, lambda _event: self._close(incident))

    def _close(self, incident: Incident) -> None:
        """The on-scene work (``on_scene_s`` from the first arrival) is done: release every unit there."""
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
        self._unit_free(unit)

    def _unit_free(self, unit: PatrolUnit) -> None:
        """A unit just became free at its current node: next waiting call, else drive home."""
        waiting = self.policy.next_call(unit, self.queue, self) if len(self.queue) else None
        if waiting is not None:
            self._assign_from(unit, waiting)
            return
        token = unit.trip_token
        self._after(self._travel_s(unit.node, unit.home_node), lambda _event: self._home(unit, token))

    def _assign_from(self, unit: PatrolUnit, incident: Incident) -> None:
        eta = self._etas(incident.node, np.array([unit.index]))[0]
        self._assign(unit, incident, float(eta))
        if incident.still_needs_units:
            self.queue.push(incident)

    def _home(self, unit: PatrolUnit, token: int) -> None:
        if token != unit.trip_token:
            return
        unit.set_state(UnitState.idle, self.env.now)
        unit.node = unit.home_node
        unit.start_trip(unit.home_node, self.env.now)

    # ------------------------------------------------------------------- run
    def run(self, *, progress: Callable[[float, int], None] | None = None, chunks: int = 100) -> None:
        """Run until every call arriving before the scenario's end has been cleared."""
        duration = self.scenario.duration
        if self._upcoming is None:
            self._upcoming = self._arrivals()
            self._next_arrival()
        for k in range(1, chunks + 1):
            self.env.run(until=duration * k / chunks)
            if progress is not None:
                progress(self.env.now, self.recorder.n)
        self.env.run()  # drain: follow the last calls to completion
        end = self.env.now
        for unit in self.units:
            unit.set_state(unit.state, end, unit.incident_id)
        if progress is not None:
            progress(self.env.now, self.recorder.n)
