"""Patrol: what units of ``idle: random_beat`` and ``idle: hotspot`` groups do between calls.

A patrolling unit drives a tour of legs between waypoints of its beat (the district of the group's
``beat`` station, default its own): ``random_beat`` picks waypoints at random among a fixed sample of
the beat's road nodes, ``hotspot`` visits the beat's top nodes by demand in turn and stays ``dwell`` at
each. It drives at ``speed_factor`` times the road speed.

A tour (up to TOUR_LEGS legs, several hours) is drawn by one compiled loop from the routes between the
group's waypoints (kept, flattened, from the start): its legs, and its whole route as (node, time)
checkpoints on the tour's own clock, written straight into the unit's slots of the model's
:class:`policetwin.sim.checkpoints.Checkpoints`. Movement stays event-driven: one event per tour. A unit
sent to a call leaves its tour; when free again it drives to the waypoint where it left off (along that
waypoint's shortest-path tree) and is on the tour again from its arrival (the tour's clock shifted):
no event then, what arriving changes is noted when the unit is next asked about (:meth:`Patrol.settle`).
Where the unit is at time t is derived only when someone asks (dispatch: for all units at once, in one
compiled pass, :meth:`policetwin.sim.checkpoints.Checkpoints.road_etas`), so it is dispatched from where
it is, exactly, on one-way streets too, on its tour or driving back to it. A tour driven to its end is
followed by a new one from its last waypoint.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse.csgraph import dijkstra

from policetwin.agents import PatrolUnit, UnitState
from policetwin.sim.demand import Draws
from policetwin.sim.recorder import TRIP_PURPOSES

if TYPE_CHECKING:
    from policetwin.sim.fleet import Fleet
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.tours import Routes, Tour

#: Waypoints sampled per beat for random_beat patrol (their shortest-path trees are kept).
RANDOM_WAYPOINTS = 24
_PATROL_TRIP = TRIP_PURPOSES.index("patrol")
#: Legs per tour at most: one event per tour (fewer when its route would not fit CHECKPOINTS).
TOUR_LEGS = 64
_ONE_HOP = np.ones(TOUR_LEGS, dtype=np.int64)  # hotspot patrol: each leg to the next waypoint in turn
#: random_beat: the hops of this many tours are drawn at once (per group).
HOP_BLOCK = 256
_NO_HOPS = np.zeros(0, dtype=np.int64)
#: Memory for the waypoints' shortest-path trees as arrays (beyond it, units driving back to their tour
#: are timed as other returning units: bounded, then walked in Python).
TREES_BYTES = 256 * 2**20
#: Checkpoints per unit in the shared ETA table: a whole tour's route (at least the longest single leg).
CHECKPOINTS = 2048


class Patrol:
    """Tours for the units of patrolling groups (see the module docstring)."""

    def __init__(self, model: PoliceModel, fleet: Fleet) -> None:
        self.model = model
        self.fleet = fleet
        self.env = model.env
        self.rng = model.stream("patrol")
        self.trees: dict[int, tuple[list[int], list[float]]] = {}
        groups = model.scenario.units.groups or []
        names = [s.name for s in model.scenario.stations]
        self.waypoints: dict[int, np.ndarray] = {}
        self.routes: dict[int, Routes] = {}
        self.dwell: dict[int, Draws] = {}
        self.rate: dict[int, float] = {}
        self._paths: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
        self._hop_blocks: dict[int, tuple[np.ndarray, int]] = {}
        for g, group in enumerate(groups):
            if group.idle not in ("random_beat", "hotspot") or model.router is None:
                continue
            beat = names.index(group.beat or group.station)
            nodes = np.flatnonzero(model.node_district == beat)
            if group.idle == "random_beat":
                picks = self.rng.choice(nodes, size=min(RANDOM_WAYPOINTS, nodes.size), replace=False)
            elif group.forecast is not None:  # the forecast's top cells in the beat
                from policetwin.demandfit.hotspots import forecast_nodes

                f = group.forecast
                picks = forecast_nodes(f.file, method=f.method, origin=f.origin, snapper=model.snapper,
                                       beat_nodes=nodes, count=group.hotspots)  # fmt: skip
                if picks.size == 0:
                    from policetwin.errors import ScenarioError

                    raise ScenarioError(
                        [f"scenario:0: units.groups.{g}.forecast: no forecast cell lies in the beat"]
                    )
                self.dwell[g] = Draws(group.dwell, model.stream("patrol-dwell"))
            else:
                weights = model.demand_weights[nodes]
                picks = nodes[np.argsort(-weights, kind="stable")[: group.hotspots]]
                self.dwell[g] = Draws(group.dwell, model.stream("patrol-dwell"))
            self.waypoints[g] = np.asarray(picks, dtype=np.int64)
            self.rate[g] = group.speed_factor
            for node in self.waypoints[g].tolist():
                if node not in self.trees:
                    self.trees[node] = (model.router.successors_to(node).tolist(),
                                        model.router.times_to(node).astype(float).tolist())  # fmt: skip
            self.routes[g] = _routes(self.waypoints[g], self.path)
        self.patrolling = {u.index for u in model.units if u.group in self.waypoints}
        self.width = max([CHECKPOINTS] + [int(r.length.max()) + 1 for r in self.routes.values()])
        if self.routes and model.checkpoints.width < self.width:  # a beat with very long routes
            model.checkpoints = type(model.checkpoints)(len(model.units), width=self.width,
                                                        horizon_s=model.checkpoints.horizon_s,
                                                        trips=model.checkpoints.trips)  # fmt: skip
        if self.trees and len(self.trees) * model.network.n_nodes * 8 <= TREES_BYTES:
            # the trees as arrays too, so that dispatch times units driving back to their tour exactly
            rows = {node: w for w, node in enumerate(self.trees)}
            router = model.router
            succ = np.vstack([router.successors_to(node) for node in rows]).astype(np.int32)
            left = np.vstack([router.times_to(node) for node in rows]).astype(np.float32)
            model.checkpoints.use_trees(rows, succ, left)
        if self.routes:  # per group, the least time from any node of its routes to each node
            groups_at = {g: k for k, g in enumerate(self.routes)}
            group_min = np.vstack([dijkstra(model.router.forward, indices=np.unique(r.nodes), min_only=True)
                                   for r in self.routes.values()])  # fmt: skip
            group_of = np.array([groups_at.get(u.group, -1) for u in model.units], dtype=np.int64)
            model.checkpoints.use_bounds(group_of, group_min)
        for index in sorted(self.patrolling):
            unit = model.units[index]
            if unit.state == UnitState.idle:
                self.start(unit)

    def path(self, origin: int, dest: int) -> tuple[list[int], list[float]]:
        """The fastest route from ``origin`` to the waypoint ``dest`` (along its shortest-path tree): its
        nodes and the road seconds from ``origin`` to each. Routes between waypoints are kept."""
        key = (origin, dest)
        hit = self._paths.get(key)
        if hit is not None:
            return hit
        succ, to_dest = self.trees[dest]
        start_left = to_dest[origin]
        nodes, reached, node = [origin], [0.0], origin
        while node != dest and len(nodes) <= len(succ):
            node = succ[node]
            nodes.append(node)
            reached.append(start_left - to_dest[node])
        if origin in self.trees:
            self._paths[key] = (nodes, reached)
        return nodes, reached

    def _new_tour(self, g: int, first: int, unit: int) -> Tour:
        """A tour of group ``g`` from its waypoint number ``first``, on its own clock (starting at 0), in
        the slots of ``unit``."""
        from policetwin.sim.tours import draw_tour

        m = self.routes[g].waypoints.size
        dwell = None
        if g in self.dwell:  # hotspot: the next ones in turn, staying a while at each
            hops = _ONE_HOP
            draws = self.dwell[g]

            def dwell(k: int) -> np.ndarray:
                return np.array([draws.next() for _ in range(k)], dtype=float)

        else:  # random, never the waypoint the leg starts from
            hops = self._hops(g, m)
        # the whole tour at the factor of the hour it is drawn in
        return draw_tour(self.routes[g], first, hops, rate=self._rate(g), checkpoints=self.model.checkpoints,
                         unit=unit, dwell=dwell)  # fmt: skip

    def _hops(self, g: int, m: int) -> np.ndarray:
        """TOUR_LEGS random hops (1 to ``m - 1`` waypoints on) for a tour of group ``g``: from a block per
        group drawn HOP_BLOCK tours at a time (one ``Generator.integers`` call a tour cost ~15 µs)."""
        block, at = self._hop_blocks.get(g, (_NO_HOPS, 0))
        if at + TOUR_LEGS > block.size:
            block, at = 1 + self.rng.integers(max(m - 1, 1), size=TOUR_LEGS * HOP_BLOCK), 0
        self._hop_blocks[g] = (block, at + TOUR_LEGS)
        return block[at : at + TOUR_LEGS]

    def _rate(self, g: int) -> float:
        """Group ``g``'s speed relative to the road's now: its ``speed_factor`` over the congestion factor
        of this hour (``travel.congestion``; exactly the speed factor when off)."""
        congestion = self.model.congestion
        rate = self.rate[g]
        return rate if congestion is None else rate / congestion.factor_at(self.env.now)

    def start(self, unit: PatrolUnit) -> None:
        """Begin (or resume) patrol: back to the unit's tour where it left it (a new tour if it was
        driven to its end), driving there first from where the unit is now."""
        now = self.env.now
        g = unit.group
        tour = unit.tour
        if tour is None or tour.resume >= len(tour.dest):
            index = self.routes[g].index
            if tour is not None:
                if self.model.patrol_coverage is not None:
                    self.model.patrol_coverage.note_tour(g, tour)
                first = index[int(tour.dest[-1])]
            elif unit.node in index:
                first = index[unit.node]
            elif g in self.dwell:
                first = 0
            else:
                first = int(self.rng.integers(self.routes[g].waypoints.size))
            tour = unit.tour = self._new_tour(g, first, unit.index)
        if unit.state != UnitState.patrol:
            unit.set_state(UnitState.patrol, now)
        target = int(tour.origin[tour.resume])
        if unit.node == target:
            self._join(unit, now, back=False)
            return
        rate = self._rate(g)  # the drive back to the tour departs now
        travel_s = self.trees[target][1][unit.node] / rate
        unit.start_trip(unit.node, now, dest=target, rate=rate)
        rec = self.model.recorder
        if rec.log_trips:
            unit.trip_row = rec.new_trip(
                unit.index, _PATROL_TRIP, -1, unit.node, target, now, now, now + travel_s
            )
        self._join(unit, now + travel_s, back=True)

    def _join(self, unit: PatrolUnit, at_s: float, *, back: bool) -> None:
        """Put the unit on its tour from ``at_s`` on (at the tour's next waypoint; the tour's clock
        shifted to then). ``back``: it drives there first (from now, along the waypoint's tree); it is
        on the tour from ``at_s`` without an event then: what arriving changes is noted when the unit is
        next asked about (:meth:`settle`)."""
        now = self.env.now
        tour = unit.tour
        k = tour.resume
        tour.t0 = at_s - (tour.arrive[k - 1] if k > 0 else 0.0)
        tour.joined = tour.logged = k
        tour.join_k.append(k)
        tour.join_t0.append(tour.t0)
        tour.join_at, tour.back = at_s, back
        rate = tour.rate
        if not back:
            unit.start_trip(unit.node, now, dest=int(tour.dest[-1]), rate=rate)
        at = int(tour.slot[k]) - (k > 0)  # the slot where the unit arrives
        lead = unit.trip_dest if back else -1
        self.model.checkpoints.set_tour(unit.index, end=tour.end, rate=rate, t0=tour.t0, at=at, lead=lead,
                                        lead_until=at_s)  # fmt: skip
        end = tour.t0 + tour.arrive[-1]
        # (end <= at_s: a beat of one waypoint and no dwell: the unit waits there)
        if end > at_s and (tour.due is None or tour.due_at > end):
            self._end_at(unit, tour, end)

    def _end_at(self, unit: PatrolUnit, tour: Tour, end: float) -> None:
        """An event at ``tour``'s end, ``end``: one per tour at a time. A unit that leaves its tour and
        joins it again later moves the end on; the pending event then finds it moved and is followed by
        one at the new end (one event per tour, not one per call)."""
        event = self.env.timeout(end - self.env.now)
        tour.due, tour.due_at = event, end
        event.callbacks.append(lambda e: self._due(unit, tour, e))

    def _due(self, unit: PatrolUnit, tour: Tour, event) -> None:
        if tour.due is not event:  # followed by an earlier one
            return
        tour.due = None
        if unit.tour is not tour or unit.state != UnitState.patrol:
            return  # (off its tour: joining it again schedules its end)
        end = tour.t0 + tour.arrive[-1]
        if end > self.env.now:  # joined again since: the end moved on
            self._end_at(unit, tour, end)
            return
        self._tour_done(unit)

    def settle(self, unit: PatrolUnit) -> None:
        """The unit has arrived back on its tour (its drive back ended at ``tour.join_at``): the drive
        back counts as a patrol leg, its trip log row ends then, and the unit is at the waypoint."""
        tour = unit.tour
        tour.back = False
        coverage = self.model.patrol_coverage
        if coverage is not None:
            coverage.walked(unit.group, unit.trip_depart, unit.node, unit.trip_dest, unit.trip_dest, False)
        if unit.trip_row >= 0:  # (logged to end at join_at)
            unit.trip_row = -1
        unit.node = unit.trip_dest

    def driven(self, unit: PatrolUnit, until: float) -> None:
        """Note the legs of ``unit``'s tour driven by ``until`` that are not noted yet (whole legs, and the
        one under way, cut at the next node): for patrol coverage and the trip log (replay)."""
        tour = unit.tour
        coverage, rec = self.model.patrol_coverage, self.model.recorder
        if until < tour.join_at:  # driving back to the tour: cut at the next node (its row ends later)
            if coverage is not None:
                nxt, offset = unit.position(until)
                coverage.walked(unit.group, unit.trip_depart, unit.node, unit.trip_dest, nxt, offset > 0)
            return
        if tour.back:
            self.settle(unit)
        first, t0 = tour.logged, tour.t0
        rel = until - t0
        depart = tour.depart
        started = bisect_left(depart, rel)  # legs left before `until`
        if started <= first:
            return
        whole = min(bisect_right(tour.arrive, rel), started)  # legs arrived by then
        tour.logged = tour.resume = started
        if coverage is not None and whole < started:  # the leg under way is cut short (whole legs:
            tour.cut[whole] = 1  # noted from the tour when it is done, :meth:`PatrolCoverage.note_tour`)
            coverage.cut(
                unit.group, t0 + depart[whole], int(tour.route[whole]), depart[whole], rel, tour.rate
            )
        if rec.log_trips:
            arrive, legs = tour.arrive, slice(first, started)
            rec.new_trips(unit.index, _PATROL_TRIP, tour.origin[legs].tolist(), tour.dest[legs].tolist(),
                          [d + t0 for d in depart[legs]], [a + t0 for a in arrive[legs]],
                          [min(a + t0, until) for a in arrive[legs]])  # fmt: skip

    def _tour_done(self, unit: PatrolUnit) -> None:
        self.driven(unit, self.env.now)
        unit.node = int(unit.tour.dest[-1])
        unit.tour.resume = len(unit.tour.dest)  # driven to its end (a last leg of no length included)
        if self.env.now >= self.model.scenario.duration and not self.model.calls_pending():
            return  # the run is over: patrol no longer keeps the clock going
        self.start(unit)


def _routes(waypoints: np.ndarray, path) -> Routes:
    """The routes between ``waypoints`` (:class:`policetwin.sim.tours.Routes`; compiled code: imported
    only by runs that patrol)."""
    from policetwin.sim.tours import Routes

    return Routes(waypoints, path)
