"""The engine: a mesa Model that owns the seeded RNG and the agents, with one simpy clock.

Flow of a call: arrival -> call-taker (simpy Resource) -> handling/triage -> dispatch queue ->
unit(s) chosen by the policy -> event-driven travel -> on scene -> unit free (next call or home).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import mesa
import numpy as np
import simpy

from policetwin.agents import Incident
from policetwin.errors import ScenarioError
from policetwin.maps import RoadNetwork, Router, Snapper
from policetwin.scenarios.schema import Scenario
from policetwin.sim.breaks import Unavailability
from policetwin.sim.callers import callers
from policetwin.sim.calls import CallCentre
from policetwin.sim.checks import MapCheck, check_on_map
from policetwin.sim.congestion import ClassCongestion, Congestion
from policetwin.sim.demand import CallBatch, make_demand
from policetwin.sim.deterrence import Deterrence
from policetwin.sim.dispatch import Dispatcher
from policetwin.sim.districts import polygon_districts, voronoi_districts
from policetwin.sim.eta import Etas, TripOrigins
from policetwin.sim.fleet import Fleet, make_units
from policetwin.sim.patrol import CHECKPOINTS, Patrol
from policetwin.sim.patrol_coverage import PatrolCoverage
from policetwin.sim.policies import make_policy
from policetwin.sim.recorder import Recorder
from policetwin.sim.sensing import covered_nodes, report
from policetwin.sim.shifts import Shifts

#: Named random streams: each draws from its own SeedSequence child so they never shift each other.
STREAMS = {
    "demand": 1,
    "service": 2,
    "policy": 3,
    "sense": 4,
    "desk": 5,
    "turnout": 6,
    "callers": 7,
    "backup": 8,
    "patrol": 9,
    "patrol-dwell": 10,
    "deterrence": 11,
    "breaks": 12,
    "initiated": 13,
    "event": 14,
    "event-incidents": 15,
}
#: Precompute travel-time rows for all call nodes when there are at least this many calls per node.
WARM_CALLS_PER_NODE = 10


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent, reproducible random stream for one purpose (common random numbers)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[name],)))


class PoliceModel(mesa.Model):
    """One run of a scenario with one seed: wires the parts together and runs the clock.

    The call centre (:mod:`.calls`) answers and triages calls, the dispatcher (:mod:`.dispatch`) picks
    units with the policy (:mod:`.policies`) and their ETAs (:mod:`.eta`), the fleet (:mod:`.fleet`)
    moves them; the recorder logs everything.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        network: RoadNetwork,
        router: Router | None = None,
        filename: str = "scenario",
        checked: MapCheck | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.scenario_input = scenario  # as given (written to scenario.yaml); the run's adds event units
        glue = None
        if scenario.event is not None:  # imported here: policetwin.event imports policetwin.sim
            from policetwin.event.police import with_event_units
            from policetwin.sim import event_glue as glue

            scenario, checked = with_event_units(scenario), None
        self.seed_value = scenario.seed if seed is None else int(seed)
        super().__init__(rng=np.random.default_rng(np.random.SeedSequence(self.seed_value)))
        self.scenario = scenario
        self.env = simpy.Environment()
        self.network = network
        self.snapper = Snapper(network)
        if glue is not None:
            glue.check_venue_on_map(scenario, self.snapper, filename=filename)
        times = network.travel_times_s(
            overrides_kph=scenario.travel.speeds_kph, speed_factor=scenario.travel.speed_factor
        )
        road_times = glue.closed_road_times(scenario, network, times) if glue else times  # for the whole run
        self.closed_edges = road_times > times if road_times is not times else None
        if self.closed_edges is not None:
            router = None  # a shared router has the open roads' times
        routing = scenario.travel.routing  # (a router given here is used as it is)
        backend = (
            {} if routing in ("auto", "dense-rows") else {"dense_max_bytes": 0, "hierarchy": routing == "cch"}
        )
        self.router = None if scenario.travel.mode == "instant" else router or Router(
            network.n_nodes, network.edge_u, network.edge_v, road_times, lon=network.lon, lat=network.lat,
            **backend,
        )  # fmt: skip
        # (the load check's stations' rows are the engine's too: one search per station, not two)
        open_roads = self.router if self.closed_edges is None else None
        check = checked or check_on_map(scenario, network, self.snapper, filename=filename, router=open_roads)
        if check.problems:
            raise ScenarioError(check.problems)
        self.warnings = list(check.warnings)
        self.load = check.load  # offered load per stage (assess), for the summary
        self.station_nodes = check.station_nodes
        #: how exact travel times are found (the run's own router; congestion per road class and timed
        #: closures switch to routers of other times, which query a hierarchy or keep this backend)
        self.routing = "none" if self.router is None else self.router.backend
        self.kinds = list(scenario.demand.kinds) + (glue.crowd_kinds(scenario) if glue else [])
        n_units = scenario.units.count
        self.unit_available = np.ones(n_units, dtype=bool)
        self.unit_returning = np.zeros(n_units, dtype=bool)
        # with patrolling groups: where each unit was on its current trip, for the ETA bounds (written by
        # PatrolUnit.start_trip and Patrol.start; None without patrol: nothing written)
        patrols = any(g.idle in ("random_beat", "hotspot") for g in scenario.units.groups or [])
        # patrol and big maps: every unit's trip origin, for lower bounds of many moving units at once
        self.trip_origins = TripOrigins(n_units) if patrols or self.routing == "cch" else None
        self.checkpoints = None
        if patrols:  # (compiled code: imported only when needed)
            from policetwin.sim.checkpoints import Checkpoints

            self.checkpoints = Checkpoints(
                n_units,
                width=CHECKPOINTS,
                horizon_s=scenario.duration + 30 * 86400.0,
                trips=self.trip_origins,
            )
        self.post_nodes = check.post_nodes  # group index -> snapped post nodes (idle: post)
        self.units = make_units(self)
        self.unit_station = np.array([u.station for u in self.units], dtype=np.int64)
        self.unit_names = [u.name for u in self.units]
        incidents = make_demand(scenario, check.weights, network=network).generate(
            duration_s=scenario.duration,
            demand_rng=stream(self.seed_value, "demand"),
            service_rng=stream(self.seed_value, "service"),
        )
        sense_rng = self.stream("sense")
        reported = report(incidents, scenario, covered_nodes(scenario, self.snapper, sense_rng), sense_rng)
        self.calls: CallBatch = callers(reported, scenario, self.stream("callers"))
        self.open_calls = 0  # calls submitted and not yet cleared (or resolved, or abandoned)
        self.recorder = Recorder(capacity=len(self.calls) + 16, log_units=scenario.outputs.units_log,
                                 log_trips=scenario.outputs.trips)  # fmt: skip
        self.congestion = Congestion.of(scenario.travel, start=scenario.start)  # time of day (None: off)
        self.etas = Etas(self)
        self.unit_district = self.unit_station  # a unit's district is its station's
        self.node_district = self._districts(filename)
        self.fleet = Fleet(self, travel_s=self.etas.travel_s)
        policy = make_policy(scenario.dispatch, base_dir=base_dir, filename=filename)
        self.dispatcher = Dispatcher(self, policy=policy, etas=self.etas, fleet=self.fleet)
        self.centre = CallCentre(self, on_ready=self.dispatcher.dispatch)
        self.event = None  # the crowd, crowd calls and event police (sim.event_glue.EventGlue)
        if glue is not None:
            self.event = glue.EventGlue(self, filename=filename, base_dir=base_dir)
            self.event.wire_dispatch(self.dispatcher)
        self.demand_weights = check.weights
        self.shifts = Shifts(self, self.fleet)
        self.fleet.go_off = self.shifts.go_off
        self.patrol_coverage: PatrolCoverage | None = None
        self.patrol = Patrol(self, self.fleet)
        if self.patrol.waypoints:  # (tours already started are noted when they end or are cut)
            self.patrol_coverage = PatrolCoverage(self, self.patrol)
        self.fleet.patrol = self.patrol
        self.deterrence = Deterrence(self) if scenario.deterrence is not None else None
        groups = scenario.units.groups or []
        unavailable = any(g.meal_break or g.self_initiated for g in groups)
        self.unavailability = Unavailability(self, self.fleet, self.shifts) if unavailable else None
        self.fleet.unavailability = self.unavailability
        self._warm_router()
        self.class_congestion = None  # factors per road class: routers switched by the hour
        if self.congestion is not None and self.congestion.by_class is not None and self.router is not None:
            self.class_congestion = ClassCongestion(self, self.congestion, base_times_s=road_times,
                                                    highway=network.highway)  # fmt: skip
            if self.event is not None and self.event.timed_roads is not None:
                raise ScenarioError([f"{filename}:0: travel.congestion: factors per road class cannot be "
                                     "combined with timed road closures (event.interventions) yet"])  # fmt: skip
        self._started = False

    def _districts(self, filename: str) -> np.ndarray:
        """The district (station index) of every node: the network Voronoi of the stations by travel
        time, or the scenario's GeoJSON polygons (uncovered nodes fall back to the Voronoi)."""
        n = self.network.n_nodes
        if self.router is None:  # instant travel: nearest station by straight line
            d2 = [(self.network.x - self.network.x[s]) ** 2 + (self.network.y - self.network.y[s]) ** 2
                  for s in self.station_nodes]  # fmt: skip
            voronoi = np.argmin(np.vstack(d2), axis=0).astype(np.int32) if n else np.zeros(0, np.int32)
        else:
            voronoi = voronoi_districts(self.etas.station_rows)
        spec = self.scenario.dispatch.districts
        if spec == "voronoi":
            return voronoi
        return polygon_districts(Path(spec), network=self.network, station_names=[s.name for s in self.scenario.stations],
                                 station_nodes=self.station_nodes, fallback=voronoi, filename=filename)  # fmt: skip

    def calls_pending(self) -> bool:
        """Whether calls are still to arrive or not yet cleared (the run is not over)."""
        return self.open_calls > 0 or not self.centre.all_arrived

    def stream(self, name: str) -> np.random.Generator:
        """This run's independent random stream for one purpose (see :data:`STREAMS`)."""
        return stream(self.seed_value, name)

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

    def submit_call(
        self, *, kind: int, node: int, handling_s: float, on_scene_s: float, source: str
    ) -> Incident:
        """A call arrives now (for modules that add calls during the run: crowds, replay)."""
        return self.centre.submit(
            kind=kind, node=node, handling_s=handling_s, on_scene_s=on_scene_s, source=source
        )

    def run(self, *, progress: Callable[[float, int], None] | None = None, chunks: int = 100) -> None:
        """Run until every call arriving before the scenario's end has been cleared."""
        duration = self.scenario.duration
        if not self._started:
            self._started = True
            self.centre.start(self.calls)
            if self.class_congestion is not None:
                self.env.process(self.class_congestion.process(self.env))
            if self.event is not None:
                self.event.start(self.env)
        for k in range(1, chunks + 1):
            self.env.run(until=duration * k / chunks)
            if progress is not None:
                progress(self.env.now, self.recorder.n)
        self.env.run()  # drain: follow the last calls to completion
        self.fleet.finish()
        if progress is not None:
            progress(self.env.now, self.recorder.n)
