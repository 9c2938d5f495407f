"""Patrol coverage: the share of a beat's street length that a group's patrols drove along in a shift.

A street segment (both directions of a street between two nodes, counted once) belongs to the beat when
both its nodes lie in the beat's district. Every patrol leg a unit drove, whole or cut short (the unit
was sent to a call, went on a break or off duty, or the run ended), counts the segments it finished.
Shifts: each instance of each of the group's shift windows (a group without a shift: each day of the
scenario's clock). Coverage of a group in an instance = length of the distinct beat segments its units
passed / the beat's street length; the summary gives the mean over instances, per window and overall.

Cost stays small on long runs: during the run whole legs between waypoints are kept once per (group,
instance) (they repeat), cut ones as rows of a few numbers; after the run the segments of each route
between waypoints are found once and marked per instance, and cut legs are walked along their waypoint's
shortest-path tree, in compiled loops (:mod:`policetwin.sim.patrol_kernels`).
"""

from __future__ import annotations

import bisect
from array import array
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from policetwin.sim.shifts import window_spans

if TYPE_CHECKING:
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.patrol import Patrol

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
        self._starts = {g: [s[0] for s in spans] for g, spans in self.spans.items()}
        # per (group, instance): whole legs between waypoints as ``origin * n_nodes + dest``
        self.legs: dict[tuple[int, int], set[int]] = defaultdict(set)
        # per group: legs cut short or from elsewhere, as rows (instance, origin, dest, stop, unfinished)
        self.cuts: dict[int, array] = {g: array("q") for g in self.spans}
        self._last: dict[int, tuple[float, float, int]] = {}  # group -> (from, until, instance) last found

    def _instance(self, group: int, t: float) -> tuple[int, float]:
        """The shift instance of ``group`` under way at ``t`` (-1: none) and until when that holds."""
        hit = self._last.get(group)
        if hit is not None and hit[0] <= t < hit[1]:  # (asked about the same stretch again and again)
            return hit[2], hit[1]
        k, until = self._find(group, t)
        self._last[group] = (self._since(group, k, t), until, k)
        return k, until

    def _since(self, group: int, k: int, t: float) -> float:
        """From when instance ``k`` (-1: none) of ``group`` holds, as far as :meth:`_find` is concerned."""
        starts = self._starts.get(group)
        if not starts:
            return float("-inf")
        if k >= 0:
            return starts[k]
        k = bisect.bisect_right(starts, t) - 1  # before the first instance, or after instance k's end
        return self.spans[group][k][1] if k >= 0 else float("-inf")

    def _find(self, group: int, t: float) -> tuple[int, float]:
        """:meth:`_instance`, searched for."""
        starts = self._starts.get(group)
        if starts is None:
            return -1, float("inf")
        k = bisect.bisect_right(starts, t) - 1
        if k < 0:
            return -1, starts[0] if starts else float("inf")
        end = self.spans[group][k][1]
        following = starts[k + 1] if k + 1 < len(starts) else float("inf")
        if t >= end:
            return -1, following
        return k, min(end, following)

    def legs_at(self, group: int, t: float) -> tuple[set | None, float]:
        """Where to note the whole legs between waypoints of ``group`` that start at ``t``, as ``origin *
        n_nodes + dest``: the set of its shift instance under way, and until when that holds (None: no
        instance, e.g. after the run's end, until the next one starts)."""
        k, until = self._instance(group, t)
        return (self.legs[(group, k)] if k >= 0 else None), until

    def cut(self, group: int, t: float, origin: int, dest: int, stop: int, unfinished: bool) -> None:
        """Note a leg of ``group`` started at ``t`` from ``origin`` towards the waypoint ``dest`` and driven
        up to the node ``stop`` (without the edge into it when ``unfinished``)."""
        k, _ = self._instance(group, t)
        if k >= 0:
            self.cuts[group].extend((k, origin, dest, stop, int(unfinished)))

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
        shift instance: whole legs by their routes' segments (found once per route), legs cut short
        walked from their origin along their waypoint's shortest-path tree to where they stopped."""
        from policetwin.sim import patrol_kernels as kernels

        n_nodes = self.model.network.n_nodes
        passed = np.zeros((n_instances, keys.size), dtype=bool)
        routes = self.patrol.routes[group]
        a, b = routes.nodes[:-1], routes.nodes[1:]
        key = np.minimum(a, b) * n_nodes + np.maximum(a, b)
        at = keys.searchsorted(key).clip(max=max(keys.size - 1, 0))
        inside = keys[at] == key if keys.size else np.zeros(key.size, dtype=bool)
        segment = np.where(inside, at, -1)  # of the step from each route node to the next
        index = np.full(n_nodes, -1, dtype=np.int64)
        index[routes.waypoints] = np.arange(routes.waypoints.size)
        for k in range(n_instances):
            whole = np.fromiter(self.legs.get((group, k), ()), dtype=np.int64)
            origin, dest = np.divmod(whole, n_nodes)
            route = index[origin] * routes.waypoints.size + index[dest]
            kernels.mark_routes(np.full(whole.size, k), route, routes.offset, routes.length, segment, passed)
        cuts = np.frombuffer(self.cuts[group], dtype=np.int64).reshape(-1, 5)
        for dest in np.unique(cuts[:, 2]).tolist():
            these = cuts[cuts[:, 2] == dest]
            succ = np.asarray(self.patrol.trees[dest][0], dtype=np.int64)
            kernels.mark_walks(
                these[:, 0], these[:, 1], these[:, 3], these[:, 4], dest, succ, keys, n_nodes, passed
            )
        return passed
