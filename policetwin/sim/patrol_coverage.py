"""Patrol coverage: the share of a beat's street length that a group's patrols drove along in a shift.

A street segment (both directions of a street between two nodes, counted once) belongs to the beat when
both its nodes lie in the beat's district. Every patrol leg a unit drove, whole or cut short (the unit
was sent to a call, went on a break or off duty, or the run ended), counts the segments it finished.
Shifts: each instance of each of the group's shift windows (a group without a shift: each day of the
scenario's clock). Coverage of a group in an instance = length of the distinct beat segments its units
passed / the beat's street length; the summary gives the mean over instances, per window and overall.

Cost stays small on long runs: during the run a unit only marks which legs of its tour it cut short
(and appends a row of numbers for each cut leg and each drive back to its tour); a tour's whole legs are
marked, per shift instance, once the tour is done (:meth:`PatrolCoverage.note_tour`, one compiled pass),
by route between waypoints. After the run the segments of each route are found once and marked per
instance, cut legs up to where the unit was, and drives back walked along their waypoint's
shortest-path tree, in compiled loops (:mod:`policetwin.sim.patrol_kernels`).
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from policetwin.sim.shifts import window_spans

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.patrol import Patrol
    from policetwin.sim.tours import Tour

ALL_DAY = "00:00-24:00"


class PatrolCoverage:
    """Collects the legs patrols drove (per group and shift instance) and turns them into coverage."""

    def __init__(self, model: PoliceModel, patrol: Patrol) -> None:
        self.model = model
        self.patrol = patrol
        scenario = model.scenario
        groups = scenario.units.groups or []
        horizon = scenario.duration
        self.spans: dict[int, list[tuple[float, float, str]]] = {}
        for g in patrol.waypoints:
            shift = groups[g].shift
            if shift is None:
                days = int(np.ceil(horizon / 86400.0)) if horizon > 0 else 0
                spans = [(d * 86400.0, min((d + 1) * 86400.0, horizon), ALL_DAY) for d in range(days)]
            else:
                spans = sorted((a, b, w) for w, ws in window_spans(shift, start=scenario.start,
                                                                   horizon_s=horizon).items() for a, b in ws)  # fmt: skip
            self.spans[g] = [s for s in spans if s[1] > s[0]]
        self._starts = {g: np.array([s[0] for s in spans], dtype=float) for g, spans in self.spans.items()}
        self._ends = {g: np.array([s[1] for s in spans], dtype=float) for g, spans in self.spans.items()}
        # per group: (shift instance, route between waypoints) driven whole
        self.whole = {g: np.zeros((len(self.spans[g]), patrol.routes[g].length.size), dtype=bool)
                       for g in self.spans}  # fmt: skip
        # per group: legs cut short, as rows (left at, route, left at on the tour's clock, cut at on it, rate)
        self.cuts: dict[int, array] = {g: array("d") for g in self.spans}
        # per group: drives back to a tour, as rows (left at, origin, waypoint, stop, unfinished)
        self.walks: dict[int, array] = {g: array("d") for g in self.spans}

    def note_tour(self, group: int, tour: Tour) -> None:
        """Mark the whole legs of ``tour`` driven so far (a tour is noted when it is done and at the end of
        the run; noting it again changes nothing)."""
        if not tour.join_k:
            return
        from policetwin.sim import patrol_kernels as kernels

        kernels.mark_tour(tour.route, tour.depart_s, np.array(tour.join_k), np.array(tour.join_t0), tour.logged,
                          np.frombuffer(tour.cut, dtype=np.uint8), self._starts[group], self._ends[group],
                          self.whole[group])  # fmt: skip

    def cut(self, group: int, t: float, route: int, depart: float, rel: float, rate: float) -> None:
        """Note a leg of ``group`` left at ``t`` along route number ``route`` (at ``depart`` on its tour's
        clock, at ``rate`` times the road speed), cut short at ``rel`` on that clock."""
        self.cuts[group].extend((t, route, depart, rel, rate))

    def walked(self, group: int, t: float, origin: int, dest: int, stop: int, unfinished: bool) -> None:
        """Note a drive of ``group`` started at ``t`` from ``origin`` towards the waypoint ``dest`` (along
        its tree) up to the node ``stop`` (without the edge into it when ``unfinished``)."""
        self.walks[group].extend((t, origin, dest, stop, unfinished))

    def _instances(self, group: int, t: np.ndarray) -> np.ndarray:
        """The shift instance under way at each time ``t`` (-1: none): the last one started by then, if
        it has not ended."""
        starts, ends = self._starts[group], self._ends[group]
        k = np.searchsorted(starts, t, side="right") - 1
        ok = k >= 0
        ok[ok] = t[ok] < ends[k[ok]]
        return np.where(ok, k, -1)

    def figures(self) -> dict[str, dict]:
        """Per patrolling group: its beat, the beat's street km, and coverage (mean over shift instances,
        overall and per window)."""
        model, network = self.model, self.model.network
        groups = model.scenario.units.groups or []
        names = [s.name for s in model.scenario.stations]
        n_nodes = network.n_nodes
        u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
        out = {}
        for g, spans in self.spans.items():
            beat = names.index(groups[g].beat or groups[g].station)
            inside = (model.node_district[u] == beat) & (model.node_district[v] == beat)
            lo, hi = np.minimum(u[inside], v[inside]), np.maximum(u[inside], v[inside])
            keys, first = np.unique(lo * n_nodes + hi, return_index=True)
            seg_len = network.length_m[inside][first]
            total_m = float(seg_len.sum())
            passed = self._passed(g, len(spans), keys)
            shares = [(window, float(seg_len[passed[k]].sum() / total_m) if total_m > 0 else None)
                      for k, (_, _, window) in enumerate(spans)]  # fmt: skip
            per_window: dict[str, list[float]] = defaultdict(list)
            for window, share in shares:
                if share is not None:
                    per_window[window].append(share)
            every = [s for _, s in shares if s is not None]
            out[groups[g].name] = {
                "beat": names[beat],
                "beat_km": round(total_m / 1000.0, 3),
                "coverage_mean": float(np.mean(every)) if every else None,
                "shifts": {
                    w: {"coverage_mean": float(np.mean(s)), "instances": len(s)}
                    for w, s in per_window.items()
                },
            }
        return out

    def _passed(self, group: int, n_instances: int, keys: np.ndarray) -> np.ndarray:
        """Which beat segments (``keys``: sorted ``min * n_nodes + max``) the group's legs finished in each
        shift instance: whole legs by their routes' segments (found once per route), cut legs by their
        route's steps up to where the unit was, drives back walked from their origin along their
        waypoint's shortest-path tree to where they stopped."""
        from policetwin.sim import patrol_kernels as kernels

        for unit in self.model.units:  # the tours under way at the end
            if unit.group == group and unit.tour is not None:
                self.note_tour(group, unit.tour)
        n_nodes = self.model.network.n_nodes
        passed = np.zeros((n_instances, keys.size), dtype=bool)
        routes = self.patrol.routes[group]
        a, b = routes.nodes[:-1], routes.nodes[1:]
        key = np.minimum(a, b) * n_nodes + np.maximum(a, b)
        at = keys.searchsorted(key).clip(max=max(keys.size - 1, 0))
        inside = keys[at] == key if keys.size else np.zeros(key.size, dtype=bool)
        segment = np.where(inside, at, -1)  # of the step from each route node to the next
        instance, route = np.nonzero(self.whole[group])
        kernels.mark_routes(instance, route, routes.length[route] - 1, routes.offset, segment, passed)
        cuts = np.frombuffer(self.cuts[group], dtype=float).reshape(-1, 5)
        instance = self._instances(group, cuts[:, 0])
        cuts = cuts[instance >= 0]
        route = cuts[:, 1].astype(np.int64)
        steps = np.empty(route.size, dtype=np.int64)
        kernels.cut_steps(route, cuts[:, 2], cuts[:, 3], cuts[:, 4], routes.offset, routes.length, routes.reached,
                          self.model.checkpoints.pad, steps)  # fmt: skip
        kernels.mark_routes(instance[instance >= 0], route, steps, routes.offset, segment, passed)
        walks = np.frombuffer(self.walks[group], dtype=float).reshape(-1, 5)
        instance = self._instances(group, walks[:, 0])
        walks = walks[instance >= 0, 1:].astype(np.int64)
        instance = instance[instance >= 0]
        for dest in np.unique(walks[:, 1]).tolist():
            these = walks[:, 1] == dest
            succ = np.asarray(self.patrol.trees[dest][0], dtype=np.int64)
            kernels.mark_walks(instance[these], walks[these, 0], walks[these, 2], walks[these, 3], dest, succ,
                               keys, n_nodes, passed)  # fmt: skip
        return passed
