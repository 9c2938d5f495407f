"""Patrol: what units of ``idle: random_beat`` and ``idle: hotspot`` groups do between calls.

A patrolling unit drives a tour of legs between waypoints of its beat (the district of the group's
``beat`` station, default its own): ``random_beat`` picks waypoints at random among a fixed sample of
the beat's road nodes, ``hotspot`` visits the beat's top nodes by demand in turn and stays ``dwell`` at
each. It drives at ``speed_factor`` times the road speed. Movement stays event-driven: one event per
tour of several legs; where the unit is at time t is derived only when dispatch asks (walking the
shortest-path tree of the leg's waypoint), so it is dispatched from where it is, exactly, on one-way
streets too. After a call, a patrolling unit resumes patrol from where it is.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import numpy as np

from policetwin.agents import PatrolUnit, UnitState
from policetwin.sim.demand import Draws
from policetwin.sim.recorder import TRIP_PURPOSES

if TYPE_CHECKING:
    from policetwin.sim.fleet import Fleet
    from policetwin.sim.model import PoliceModel

#: Waypoints sampled per beat for random_beat patrol (their shortest-path trees are kept).
RANDOM_WAYPOINTS = 24
_PATROL_TRIP = TRIP_PURPOSES.index("patrol")
#: Legs per tour: one event per tour.
TOUR_LEGS = 8
#: Checkpoints kept per tour for the ETA bounds (a node every CHECKPOINT_STRIDE along each leg, thinned
#: evenly if a tour has more): the bound of a patrolling unit is then tight to a few edges.
CHECKPOINTS = 128
CHECKPOINT_STRIDE = 3


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
        self.dwell: dict[int, Draws] = {}
        for g, group in enumerate(groups):
            if group.idle not in ("random_beat", "hotspot") or model.router is None:
                continue
            beat = names.index(group.beat or group.station)
            nodes = np.flatnonzero(model.node_district == beat)
            if group.idle == "random_beat":
                picks = self.rng.choice(nodes, size=min(RANDOM_WAYPOINTS, nodes.size), replace=False)
            else:
                weights = model.demand_weights[nodes]
                picks = nodes[np.argsort(-weights, kind="stable")[: group.hotspots]]
                self.dwell[g] = Draws(group.dwell, model.stream("patrol-dwell"))
            self.waypoints[g] = np.asarray(picks, dtype=np.int64)
            for node in self.waypoints[g].tolist():
                if node not in self.trees:
                    self.trees[node] = (model.router.successors_to(node).tolist(),
                                        model.router.times_to(node).astype(float).tolist())  # fmt: skip
        self._paths: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
        self._waypoint_set = {int(n) for w in self.waypoints.values() for n in w.tolist()}
        self.patrolling = {u.index for u in model.units if u.group in self.waypoints}
        for index in sorted(self.patrolling):
            unit = model.units[index]
            if unit.state == UnitState.idle:
                self.start(unit)

    def path(self, origin: int, dest: int) -> tuple[list[int], list[float], np.ndarray, np.ndarray]:
        """The fastest route from ``origin`` to the waypoint ``dest`` (along its shortest-path tree): its
        nodes, the road seconds from ``origin`` to each, and every CHECKPOINT_STRIDE-th of both as arrays
        (checkpoints). Routes between waypoints repeat and are kept; a route from elsewhere (patrol
        resumed after a call) is built for the tour only."""
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
        path = (nodes, reached, np.array(nodes[::CHECKPOINT_STRIDE], dtype=np.int64),
                np.array(reached[::CHECKPOINT_STRIDE]))  # fmt: skip
        if origin in self._waypoint_set:
            self._paths[key] = path
        return path

    def start(self, unit: PatrolUnit) -> None:
        """Begin (or resume) patrol from where the unit is now."""
        now = self.env.now
        group = self.model.scenario.units.groups[unit.group]
        waypoints = self.waypoints[unit.group]
        rate = group.speed_factor
        here = unit.node if unit.state != UnitState.patrol else unit.tour[-1][1]
        legs, t = [], now
        hotspot = unit.group in self.dwell
        if hotspot:
            dests = [int(waypoints[(unit.tour_step + k) % waypoints.size]) for k in range(TOUR_LEGS)]
        else:
            dests = waypoints[self.rng.integers(waypoints.size, size=TOUR_LEGS)].tolist()
        cp_nodes, cp_times = [], []
        waypoint_set, trees, paths = self._waypoint_set, self.trees, self._paths
        for k, dest in enumerate(dests):
            depart = t + (self.dwell[unit.group].next() if hotspot and k > 0 else 0.0)
            if here in waypoint_set:  # a route between waypoints: kept, with its checkpoints
                _, reached, nodes_cp, reached_cp = paths.get((here, dest)) or self.path(here, dest)
                drive = reached[-1] / rate
                cp_nodes.append(nodes_cp)
                cp_times.append(depart + reached_cp / rate)
            else:  # from where a call left the unit: its route is walked only if someone asks (its origin
                drive = trees[dest][1][here] / rate  # is this leg's checkpoint)
                cp_nodes.append(np.array([here], dtype=np.int64))
                cp_times.append(np.array([depart]))
            legs.append((here, dest, depart, depart + drive))
            here, t = dest, depart + drive
        unit.tour_step += TOUR_LEGS
        if unit.state != UnitState.patrol:
            unit.set_state(UnitState.patrol, now)
        unit.start_trip(legs[0][0], now, dest=legs[-1][1], rate=rate)
        unit.tour = legs
        unit.tour_logged = 0
        unit.tour_arrive = [leg[3] for leg in legs]
        self.model.checkpoints.set_tour(unit.index, np.concatenate(cp_nodes), np.concatenate(cp_times), rate)
        unit.tour_paths = self.path
        token = unit.trip_token
        self.env.timeout(t - now).callbacks.append(lambda _e: self._tour_done(unit, token))

    def driven(self, unit: PatrolUnit, until: float) -> None:
        """Note the legs of ``unit``'s tour driven by ``until`` that are not noted yet (whole legs, and the
        one under way, cut at the next node): for patrol coverage and the trip log (replay)."""
        coverage, rec = self.model.patrol_coverage, self.model.recorder
        legs = unit.tour
        seen, seen_until = None, -1.0  # the coverage set of the shift instance under way, and its end
        while unit.tour_logged < len(legs):
            origin, dest, depart, arrive = legs[unit.tour_logged]
            if depart >= until:
                return
            if arrive <= until:
                nxt, unfinished, end = dest, False, arrive
            else:
                nxt, offset = tour_position(unit, until)
                unfinished, end = offset > 0, until
            if coverage is not None:
                if depart >= seen_until:
                    seen, seen_until = coverage.legs_at(unit.group, depart)
                if seen is not None:
                    seen.add((origin, dest, nxt, unfinished))
            if rec.log_trips:
                row = rec.new_trip(unit.index, _PATROL_TRIP, -1, origin, dest, depart, depart, arrive)
                rec.tr_end[row] = end
            unit.tour_logged += 1
            if end < arrive:
                return  # cut short: the rest of the tour is not driven

    def _tour_done(self, unit: PatrolUnit, token: int) -> None:
        if token != unit.trip_token or unit.state != UnitState.patrol:
            return
        unit.node = unit.tour[-1][1]
        self.driven(unit, self.env.now)
        if self.env.now >= self.model.scenario.duration and not self.model.calls_pending():
            return  # the run is over: patrol no longer keeps the clock going
        self.start(unit)


def tour_position(unit: PatrolUnit, now: float) -> tuple[int, float]:
    """(next node, seconds to it) of a patrolling unit at ``now``: on the leg under way, along its route
    (between waypoints: :meth:`Patrol.path`, found by bisection; from elsewhere: walked along the
    waypoint's shortest-path tree); at a waypoint while it dwells there."""
    legs = unit.tour
    k = bisect.bisect_right(unit.tour_arrive, now)
    if k >= len(legs):
        return legs[-1][1], 0.0
    origin, dest, depart, _ = legs[k]
    if now <= depart:
        return origin, 0.0
    if unit._walk_leg != k:
        unit._walk_leg = k
        patrol = unit.tour_paths.__self__
        if origin in patrol._waypoint_set:  # a route between waypoints: kept whole, found by bisection
            unit._path = patrol.path(origin, dest)
        else:  # from where a call left the unit: walked along the waypoint's tree only as far as asked
            unit._path, unit._walk = None, origin
    rate = unit.trip_rate
    elapsed = (now - depart) * rate
    if unit._path is None:
        succ, to_dest = unit.tour_paths.__self__.trees[dest]
        start_left = to_dest[origin]
        node = unit._walk
        while True:  # time only moves on: the next question resumes here
            reached = start_left - to_dest[node]
            if reached >= elapsed or node == dest:
                unit._walk = node
                return node, max(reached - elapsed, 0.0) / rate
            node = succ[node]
    nodes, reached_s = unit._path[0], unit._path[1]
    i = bisect.bisect_left(reached_s, elapsed)  # the first node not yet passed
    if i >= len(nodes):
        return dest, 0.0
    return nodes[i], (reached_s[i] - elapsed) / rate
