"""Replayed calls (``demand.replay``): the rows of an incident table at their times and places.

Data time ``replay.start`` (default: the scenario's date-time start, else the file's first row) is run time 0;
rows in [start, start + duration) become calls with ``source: replay``, snapped to the nearest road node.
Categories map to kinds by ``replay.kinds`` or by equal name (case-insensitive; a single kind takes all).
Unusable rows, unmapped categories and rows farther than ``max_snap_m`` from the map are counted and
reported as an error (``outside: skip`` skips rows outside the map, counted in the error-free case too).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from policetwin.clock import start_datetime
from policetwin.demandfit.read import DataError, Incidents, read_incidents
from policetwin.maps.network import RoadNetwork
from policetwin.maps.snap import Snapper
from policetwin.scenarios.schema import Scenario
from policetwin.sim.demand import CallBatch, sample_durations

_EPOCH = dt.datetime(1970, 1, 1)


def kind_index(categories: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Kind index of each category (-1 where none maps)."""
    names = [k.name for k in scenario.demand.kinds]
    mapping = dict(scenario.demand.replay.kinds) if scenario.demand.replay else {}
    lower = {n.lower(): i for i, n in enumerate(names)}
    uniq, inverse = np.unique(categories.astype(str), return_inverse=True)
    index = np.full(uniq.size, -1, dtype=np.int64)
    for i, cat in enumerate(uniq):
        if cat in mapping:
            index[i] = names.index(mapping[cat])
        elif cat.lower() in lower:
            index[i] = lower[cat.lower()]
        elif len(names) == 1:
            index[i] = 0
    return index[inverse]


def replay_window(inc: Incidents, scenario: Scenario) -> tuple[float, float]:
    """Data-time window [start, end) in seconds since 1970 replayed by the run."""
    replay = scenario.demand.replay
    assert replay is not None
    when = dt.datetime.fromisoformat(replay.start) if replay.start else start_datetime(scenario.start)
    start_s = (when.replace(tzinfo=None) - _EPOCH).total_seconds() if when else float(inc.t_s.min())
    return start_s, start_s + scenario.duration


class ReplayDemand:
    """The calls of an incident table (see the module docstring)."""

    def __init__(self, scenario: Scenario, network: RoadNetwork) -> None:
        self.scenario, self.network = scenario, network

    def generate(self, *, duration_s: float, demand_rng: np.random.Generator,
                 service_rng: np.random.Generator) -> CallBatch:  # fmt: skip
        """The file's rows inside the window as calls, sorted by time (``demand_rng`` is not used)."""
        sc = self.scenario
        replay = sc.demand.replay
        assert replay is not None
        where = f"demand.replay {replay.file}"
        inc = read_incidents(replay.file)
        if inc.dropped:
            raise DataError(f"{where}: unusable rows: " + "; ".join(
                f"{n:,} {r} (e.g. line {inc.examples[r]})" for r, n in inc.dropped.items()))  # fmt: skip
        start_s, end_s = replay_window(inc, sc)
        inside = (inc.t_s >= start_s) & (inc.t_s < min(end_s, start_s + duration_s))
        inc = inc.subset(inside)
        kind = kind_index(inc.category, sc)
        if (kind < 0).any():
            cats, counts = np.unique(inc.category[kind < 0].astype(str), return_counts=True)
            listed = ", ".join(f"{str(c)!r} ({n:,} rows)" for c, n in zip(cats, counts, strict=True))
            names = ", ".join(k.name for k in sc.demand.kinds)
            raise DataError(f"{where}: categories with no kind: {listed}; map them with demand.replay.kinds "
                            f"(kinds: {names})")  # fmt: skip
        node, dist = (
            Snapper(self.network).nearest(inc.lon, inc.lat) if len(inc) else (np.zeros(0, int), np.zeros(0))
        )
        far = dist > replay.max_snap_m
        if far.any() and replay.outside == "error":
            raise DataError(f"{where}: {int(far.sum()):,} of {len(inc):,} rows in the window are more than "
                            f"{replay.max_snap_m:g} m from the map's roads; use demand.replay.outside: skip")  # fmt: skip
        keep = ~far
        t = inc.t_s[keep] - start_s
        order = np.argsort(t, kind="stable")
        t, kind, node = t[order], kind[keep][order], node[keep][order]
        handling_s = sample_durations(sc.call_handling.handling, t.size, service_rng)
        on_scene_s = np.empty(t.size)
        for k, spec in enumerate(sc.demand.kinds):
            mask = kind == k
            on_scene_s[mask] = sample_durations(spec.on_scene, int(mask.sum()), service_rng)
        return CallBatch(t_call=t, kind=kind.astype(np.int16), node=node.astype(np.int64),
                         handling_s=handling_s, on_scene_s=on_scene_s, source="replay")  # fmt: skip
