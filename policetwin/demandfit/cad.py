"""Read CAD (computer-aided dispatch) records for ``policetwin calibrate``: one row per incident with the
times of its call and of its first unit (dispatched, en route, on scene) and when it cleared.

Columns are given by option or detected by name (report printed). Timestamps out of order (e.g. on scene
before en route) are counted per reason and the row is left out of every fit; a missing timestamp only
leaves out the intervals that need it (counted too). ``strict`` makes any such row an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policetwin.demandfit.read import DataError, read_table

#: Timestamps in the order they happen (answer and ready are optional: call answered, call entered/triaged).
TIMES = ("call", "answer", "ready", "dispatch", "enroute", "arrive", "clear")
REQUIRED = ("call", "dispatch", "enroute", "arrive", "clear")
CANDIDATES: dict[str, tuple[str, ...]] = {
    "call": ("call", "t_call", "call_time", "received", "call_received", "time_received", "created", "datetime"),
    "answer": ("answer", "t_answer", "answered", "call_answered", "pickup"),
    "ready": ("ready", "t_ready", "entered", "call_entered", "triaged", "queued"),
    "dispatch": ("dispatch", "t_dispatch", "dispatched", "dispatch_time", "assigned"),
    "enroute": ("enroute", "en_route", "t_enroute", "responding", "rolling"),
    "arrive": ("arrive", "t_arrive", "arrival", "arrived", "on_scene", "onscene", "at_scene"),
    "clear": ("clear", "t_clear", "cleared", "clear_time", "closed", "available"),
    "category": ("kind", "category", "type", "call_type", "nature", "incident_type"),
    "lon": ("lon", "lng", "longitude", "x"),
    "lat": ("lat", "latitude", "y"),
    "unit_lon": ("unit_lon", "from_lon", "origin_lon", "unit_longitude"),
    "unit_lat": ("unit_lat", "from_lat", "origin_lat", "unit_latitude"),
}  # fmt: skip
LABEL = {"call": "call", "answer": "answer", "ready": "ready", "dispatch": "dispatch", "enroute": "en-route",
         "arrive": "arrival", "clear": "clear"}  # fmt: skip


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


@dataclass
class CadRecords:
    """Timestamps (s since 1970, NaN when missing), kinds and places of the usable CAD rows."""

    times: dict[str, np.ndarray]  # role -> seconds (only the columns present)
    category: np.ndarray
    lon: np.ndarray | None
    lat: np.ndarray | None
    unit_lon: np.ndarray | None
    unit_lat: np.ndarray | None
    columns: dict[str, str]
    n_rows: int
    in_order: np.ndarray  # rows whose timestamps are in order (the others are left out of every fit)
    problems: dict[str, int] = field(default_factory=dict)  # reason -> rows
    examples: dict[str, int] = field(default_factory=dict)  # reason -> first line number

    def interval_s(self, start: str, end: str) -> np.ndarray:
        """``end - start`` per row (NaN where either is missing or the row is out of order)."""
        if start not in self.times or end not in self.times:
            return np.full(self.n_rows, np.nan)
        return np.where(self.in_order, self.times[end] - self.times[start], np.nan)

    def handling(self) -> tuple[np.ndarray, str]:
        """Call handling per row and what it was measured between (the closest the columns allow)."""
        have = set(self.times)
        start = "answer" if "answer" in have else "call"
        end = "ready" if "ready" in have else "dispatch"
        return self.interval_s(start, end), f"{LABEL[start]} -> {LABEL[end]}"

    def report_lines(self) -> list[str]:
        """Columns used and the rows (or intervals) not used, by reason."""
        used = ", ".join(f"{r}={c}" for r, c in self.columns.items())
        lines = [f"read {self.n_rows:,} CAD rows; columns used: {used}; timestamps in order: "
                 f"{int(self.in_order.sum()):,}"]  # fmt: skip
        lines += [f"  {n:,} rows: {reason}" + (f" (e.g. line {self.examples[reason]})" if reason in self.examples
                  else "") for reason, n in self.problems.items() if n]  # fmt: skip
        return lines


def _choose(frame: pd.DataFrame, path: Path, given: dict[str, str | None]) -> dict[str, str]:
    cols = [str(c) for c in frame.columns]
    for role, col in given.items():
        if col is not None and col not in cols:
            raise DataError(
                f"{path}: --{role.replace('_', '-')} {col!r}: no such column; columns: {', '.join(cols)}"
            )
    chosen = {r: c for r, c in given.items() if c is not None}
    norm = {_norm(c): c for c in cols}
    for role, names in CANDIDATES.items():
        if role not in chosen:
            hit = next((norm[n] for n in names if n in norm and norm[n] not in chosen.values()), None)
            if hit is not None:
                chosen[role] = hit
    for role in (*REQUIRED, "category"):  # then a column whose name contains a candidate
        if role not in chosen:
            for name in CANDIDATES[role]:
                hit = next(
                    (c for n, c in norm.items() if len(name) > 3 and name in n and c not in chosen.values()),
                    None,
                )
                if hit is not None:
                    chosen[role] = hit
                    break
    missing = [r for r in REQUIRED if r not in chosen]
    if missing:
        need = ", ".join(f"{LABEL[r]} (--{r} COL)" for r in missing)
        raise DataError(f"{path}: no column for the {need} time; columns in the file: {', '.join(cols)}")
    return {r: chosen[r] for r in CANDIDATES if r in chosen}


def _times(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """Seconds since 1970 of a timestamp column (numbers are taken as seconds); DataError if none parses."""
    raw = frame[col].astype("string").str.strip()
    numbers = pd.to_numeric(raw, errors="coerce")
    if raw.notna().any() and numbers.notna().sum() == raw.notna().sum():
        return numbers.to_numpy(dtype=float)
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if parsed.notna().sum() < 0.5 * raw.notna().sum():
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    if raw.notna().any() and parsed.notna().sum() == 0:
        row = int(np.flatnonzero(raw.notna().to_numpy())[0])
        example = ", ".join(f"{c}={frame.iloc[row][c]!s}" for c in frame.columns[:8])
        raise DataError(f"{path}: column {col!r}: cannot read any value as a date-time; e.g. line {row + 2}: "
                        f"{example} (use ISO 8601 such as 2023-05-01T18:30:05)")  # fmt: skip
    out = parsed.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    out[parsed.isna().to_numpy()] = np.nan
    return out


def read_cad(path: Path | str, *, strict: bool = False, **columns: str | None) -> CadRecords:
    """CAD records of a table (CSV, CSV.gz, Parquet); ``columns``: role -> column name (see CANDIDATES)."""
    path = Path(path)
    frame = read_table(path)
    chosen = _choose(frame, path, {r: columns.get(r) for r in CANDIDATES})
    n = len(frame)
    times = {r: _times(frame, chosen[r], path) for r in TIMES if r in chosen}
    problems: dict[str, int] = {}
    examples: dict[str, int] = {}

    def note(reason: str, mask: np.ndarray) -> None:
        if mask.any():
            problems[reason] = int(mask.sum())
            examples[reason] = int(np.flatnonzero(mask)[0]) + 2  # header + 1-based

    for role, t in times.items():
        note(f"no {LABEL[role]} time (intervals that need it not used)", np.isnan(t))
    in_order = np.ones(n, dtype=bool)
    present = [r for r in TIMES if r in times]
    for i, later in enumerate(present[1:], start=1):
        # the latest earlier timestamp present in the row must not be after this one
        prev = np.full(n, np.nan)
        prev_role = np.full(n, "", dtype=object)
        for earlier in present[:i]:
            have = ~np.isnan(times[earlier])
            prev = np.where(have, times[earlier], prev)
            prev_role = np.where(have, earlier, prev_role)
        bad = times[later] < prev
        for earlier in present[:i]:
            note(
                f"timestamps out of order: {LABEL[later]} before {LABEL[earlier]}",
                bad & (prev_role == earlier),
            )
        in_order &= ~bad
    if strict and problems:
        raise DataError(f"{path}: --strict: " + "; ".join(f"{c:,} rows: {r} (first: line {examples[r]})"
                                                          for r, c in problems.items()))  # fmt: skip
    if not in_order.any():
        raise DataError(
            f"{path}: no row has its timestamps in order: "
            + "; ".join(f"{r}: {c:,}" for r, c in problems.items())
        )
    if "category" in chosen:
        cat = frame[chosen["category"]].astype("string").str.strip().fillna("")
        category = cat.to_numpy(dtype=object)
        note("no category (counted as 'unknown')", category == "")
        category[category == ""] = "unknown"
    else:
        category = np.full(n, "all", dtype=object)

    def number(role: str) -> np.ndarray | None:
        return (
            pd.to_numeric(frame[chosen[role]], errors="coerce").to_numpy(dtype=float)
            if role in chosen
            else None
        )

    return CadRecords(times, category, number("lon"), number("lat"), number("unit_lon"), number("unit_lat"),
                      chosen, n, in_order, problems, examples)  # fmt: skip
