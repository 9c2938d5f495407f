"""Patrol coverage: the share of a beat's street length that a group's patrols drove along in a shift.

A street segment (both directions of a street between two nodes, counted once) belongs to the beat when
both its nodes lie in the beat's district. Every patrol leg a unit drove, whole or cut short (the unit
was sent to a call, went on a break or off duty, or the run ended), counts the segments it finished.
Shifts: each instance of each of the group's shift windows (a group without a shift: each day of the
scenario's clock). Coverage of a group in an instance = length of the distinct beat segments its units
passed / the beat's street length; the summary gives the mean over instances, per window and overall.

Cost stays small on long runs: during the run only the distinct legs per (group, instance) are kept
(waypoint pairs repeat), and after the run each distinct leg's route is walked once.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from itertools import pairwise
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
        self.legs: dict[tuple[int, int], set[tuple[int, int, int, bool]]] = defaultdict(set)

    def legs_at(self, group: int, t: float) -> tuple[set | None, float]:
        """Where to note the legs of ``group`` that start at ``t``: the set of its shift instance under way
        (legs as ``(origin, dest, stop, unfinished)``: driven from ``origin`` towards ``dest`` up to the
        node ``stop``, without the edge into it when unfinished) and until when that holds (None: no
        instance, e.g. after the run's end, until the next one starts)."""
        starts = self._starts.get(group)
        if starts is None:
            return None, float("inf")
        k = bisect.bisect_right(starts, t) - 1
        if k < 0:
            return None, starts[0] if starts else float("inf")
        end = self.spans[group][k][1]
        following = starts[k + 1] if k + 1 < len(starts) else float("inf")
        if t >= end:
            return None, following
        return self.legs[(group, k)], min(end, following)

    def figures(self) -> dict[str, dict]:
        """Per patrolling group: its beat, the beat's street km, and coverage (mean over shift instances,
        overall and per window)."""
        model, network = self.model, self.model.network
        groups = model.scenario.units.groups or []
        names = [s.name for s in model.scenario.stations]
        u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
        out = {}
        for g, spans in self.spans.items():
            beat = names.index(groups[g].beat or groups[g].station)
            inside = (model.node_district[u] == beat) & (model.node_district[v] == beat)
            lo, hi = np.minimum(u[inside], v[inside]), np.maximum(u[inside], v[inside])
            keys, first = np.unique(lo * network.n_nodes + hi, return_index=True)
            seg_len = network.length_m[inside][first]
            segment = {int(k): i for i, k in enumerate(keys.tolist())}
            total_m = float(seg_len.sum())
            paths: dict[tuple, np.ndarray] = {}
            shares = []
            for k, (_, _, window) in enumerate(spans):
                legs = self.legs.get((g, k), ())
                for leg in legs:
                    if leg not in paths:
                        paths[leg] = np.array(self._segments(leg, segment, network.n_nodes), dtype=np.int64)
                passed = np.zeros(len(segment), dtype=bool)
                if legs:
                    passed[np.concatenate([paths[leg] for leg in legs])] = True
                share = float(seg_len[passed].sum() / total_m) if total_m > 0 else None
                shares.append((window, share))
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

    def _segments(self, leg: tuple[int, int, int, bool], segment: dict[int, int], n_nodes: int) -> list[int]:
        """Beat segments finished on a leg: along its route (:meth:`Patrol.path`) from its origin up to
        ``stop`` (without the edge into ``stop`` when that edge was not finished)."""
        origin, dest, stop, unfinished = leg
        nodes = self.patrol.path(origin, dest)[0]
        last = nodes.index(stop) if stop in nodes else len(nodes) - 1
        out = []
        for node, nxt in pairwise(nodes[: last + 1 - unfinished]):
            key = min(node, nxt) * n_nodes + max(node, nxt)
            if key in segment:
                out.append(segment[key])
        return out
