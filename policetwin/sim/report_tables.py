"""Pure table computations for the HTML run report: incident/unit tables in, pandas frames out.

Every function tolerates empty frames, missing columns and all-NaN timestamps. The figures built from
these tables are in :mod:`policetwin.sim.report_figures`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from policetwin.sim import metrics
from policetwin.sim.recorder import INCIDENT_TIMES

TIME_COLUMNS = INCIDENT_TIMES
# (label, start column, end column), defined once in metrics
STAGES = tuple((name, start, end) for name, (start, end) in metrics.STAGES.items())
UNAVAILABLE_STATES = metrics.UNAVAILABLE_STATES
BUSY_STATES = (*metrics.AWAY_STATES, *UNAVAILABLE_STATES)


#: Stage times added with sensing, the dispatcher desk and turn-out: without them each equals this one.
_ADDED_LATER = {"t_occur": "t_call", "t_desk": "t_ready", "t_decided": "t_ready", "t_enroute": "t_dispatch"}


def normalise_incidents(incidents: pd.DataFrame | None) -> pd.DataFrame:
    """A copy with every column the report reads present (NaN when absent) and float timestamps."""
    df = pd.DataFrame() if incidents is None else incidents.copy()
    for col, same_as in _ADDED_LATER.items():  # logs written before these columns existed
        if col not in df and same_as in df:
            df[col] = df[same_as]
    for col in (*TIME_COLUMNS, "lon", "lat", "target_s"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df else np.nan
    if "priority" in df:
        df["priority"] = pd.to_numeric(df["priority"], errors="coerce").fillna(0).astype(np.int64)
    else:
        df["priority"] = np.zeros(len(df), dtype=np.int64)
    for col in ("incident_id", "n_units"):
        if col not in df:
            df[col] = np.arange(len(df)) if col == "incident_id" else 0
    for col in ("kind", "first_unit", "source"):
        df[col] = df[col].astype(str) if col in df else ""
    df["response_s"] = df["t_arrive"] - df["t_call"]
    return df.reset_index(drop=True)


def priority_targets(incidents: pd.DataFrame, summary_priorities: Mapping | None = None) -> dict[int, float]:
    """Target response time (s) per priority: the summary's ``target_s``, else the median of ``target_s``."""
    out: dict[int, float] = {}
    for key, rec in (summary_priorities or {}).items():
        try:
            value = float((rec or {}).get("target_s"))
            if math.isfinite(value):
                out[int(key)] = value
        except (TypeError, ValueError):
            continue
    df = normalise_incidents(incidents)
    for prio, grp in df.groupby("priority", sort=True):
        if int(prio) not in out and grp["target_s"].notna().any():
            out[int(prio)] = float(grp["target_s"].median())
    return out


def stage_breakdown(incidents: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per stage (columns in ``STAGES`` order) per priority plus an ``"all"`` row.

    Each stage mean is over the incidents that reached both of its timestamps."""
    df = normalise_incidents(incidents)
    labels = [name for name, _, _ in STAGES]
    for name, start, end in STAGES:
        df[name] = df[end] - df[start]
    rows: dict[str, list[float]] = {}
    groups = [(f"P{p}", g) for p, g in df.groupby("priority", sort=True)] + [("all", df)]
    for key, grp in groups:
        rows[key] = [float(grp[name].mean()) if grp[name].notna().any() else float("nan") for name in labels]
    return pd.DataFrame.from_dict(rows, orient="index", columns=labels)


def waiting_for_unit(incidents: pd.DataFrame, duration_s: float, *, bins: int = 1440) -> pd.DataFrame:
    """Calls waiting for a unit (t_ready <= t < t_dispatch; never dispatched counts to the end), as the
    maximum within each of ``bins`` equal time bins: columns ``t_s`` (bin start), ``waiting``."""
    df = normalise_incidents(incidents)
    ready = df["t_ready"].to_numpy(float)
    ok = np.isfinite(ready)
    start, end = ready[ok], df["t_dispatch"].to_numpy(float)[ok]
    horizon = float(duration_s) if duration_s and math.isfinite(duration_s) and duration_s > 0 else 0.0
    horizon = max(horizon, float(np.nanmax(start)) + 1.0 if start.size else 0.0, 1.0)
    end = np.where(np.isfinite(end), end, horizon)
    edges = np.linspace(0.0, horizon, bins + 1)
    times = np.concatenate([start, end])
    steps = np.concatenate([np.ones(start.size), -np.ones(end.size)])
    order = np.lexsort((steps, times))  # at equal times leave before arriving
    times, level = times[order], np.cumsum(steps[order])
    # level at each bin start, then the max of any level reached inside the bin
    at_edge = np.searchsorted(times, edges[:-1], side="right") - 1
    waiting = np.where(at_edge >= 0, level[np.clip(at_edge, 0, None)] if level.size else 0.0, 0.0)
    if times.size:
        in_bin = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, bins - 1)
        np.maximum.at(waiting, in_bin, level)
    return pd.DataFrame({"t_s": edges[:-1], "waiting": np.maximum(waiting, 0).astype(np.int64)})


def _cumulative_time(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Total length of the intervals [starts, ends) that lies before each time in ``at``."""

    def before(points: np.ndarray) -> np.ndarray:
        points = np.sort(points)
        csum = np.concatenate([[0.0], np.cumsum(points)])
        k = np.searchsorted(points, at, side="right")
        return k * at - csum[k]

    return before(starts) - before(ends)


def utilisation_by_hour(
    units: pd.DataFrame | None, duration_s: float, *, offset_s: float = 0.0
) -> pd.DataFrame:
    """Per hour, the share of on-shift unit time spent in each busy state (``BUSY_STATES``), and the mean
    number of units on duty (``on_duty``).

    Columns: ``hour``, one column per busy state, ``on_duty``; on-shift means any state but ``off_shift``.
    ``offset_s`` is how far into a clock hour the run starts (1800 for 18:30): hour ``k`` then covers
    scenario seconds ``[k * 3600 - offset_s, (k + 1) * 3600 - offset_s)``, so bins follow clock hours
    and the first one covers only the part of its hour the run was on."""
    cols = ["hour", *BUSY_STATES, "on_duty"]
    if units is None or units.empty or not {"state", "t_start", "t_end"} <= set(units.columns):
        return pd.DataFrame(columns=cols)
    start = pd.to_numeric(units["t_start"], errors="coerce").to_numpy(float)
    end = pd.to_numeric(units["t_end"], errors="coerce").to_numpy(float)
    horizon = float(duration_s) if duration_s and math.isfinite(duration_s) and duration_s > 0 else 0.0
    finite = np.concatenate([start[np.isfinite(start)], end[np.isfinite(end)]])
    horizon = max(horizon, float(finite.max()) if finite.size else 0.0)
    if horizon <= 0:
        return pd.DataFrame(columns=cols)
    end = np.where(np.isfinite(end), end, horizon)
    ok = np.isfinite(start) & (end > start)
    state = units["state"].astype(str).to_numpy()[ok]
    start, end = start[ok], end[ok]
    n_hours = math.ceil((horizon + offset_s) / 3600.0)
    edges = np.arange(n_hours + 1) * 3600.0 - offset_s

    def per_hour(mask: np.ndarray) -> np.ndarray:
        return np.diff(_cumulative_time(start[mask], end[mask], edges))

    on_shift = per_hour(state != "off_shift")
    out = {"hour": np.arange(n_hours)}
    span = np.diff(np.clip(edges, 0.0, horizon))  # the part of each clock hour the run covers
    with np.errstate(divide="ignore", invalid="ignore"):
        out["on_duty"] = np.where(span > 0, on_shift / span, np.nan)  # mean units on duty in the hour
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in BUSY_STATES:
            out[name] = np.where(on_shift > 0, per_hour(state == name) / on_shift, np.nan)
    return pd.DataFrame(out, columns=cols)
