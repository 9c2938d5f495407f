"""Read incident tables (CSV, CSV.gz, Parquet): detect columns, parse times, count unusable rows by reason.

Rows are never dropped silently: each reason is counted with an example row number, and ``strict`` makes any
bad row an error. Times are naive local date-times held as seconds since 1970-01-01 (``t_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policetwin.errors import PoliceTwinError

#: Names tried for each role, best first (exact match on the lower-cased name, then "contains").
CANDIDATES: dict[str, tuple[str, ...]] = {
    "time": ("datetime", "timestamp", "time", "date_time", "occurred", "occurrence_time", "call_time",
             "received", "created"),
    "date": ("date", "occurrence_date", "occ_date", "incident_date", "day"),
    "hour": ("hour", "occ_hour", "occurrence_hour", "hr"),
    "lon": ("lon", "lng", "long", "longitude", "x"),
    "lat": ("lat", "latitude", "y"),
    "category": ("category", "kind", "type", "offence", "offense", "crime_type", "call_type", "mci_category",
                 "nature"),
}  # fmt: skip


class DataError(PoliceTwinError):
    """An incident table cannot be used (not a table, no usable columns, bad rows under --strict)."""


@dataclass
class Incidents:
    """Usable rows of an incident table, with how they were read and what was left out and why."""

    t_s: np.ndarray  # seconds since 1970-01-01 (naive local time)
    lon: np.ndarray
    lat: np.ndarray
    category: np.ndarray  # object array of category names ("all" without a category column)
    columns: dict[str, str]  # role -> column used
    n_rows: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    examples: dict[str, int] = field(default_factory=dict)  # reason -> first (1-based data) row number
    hour_resolution: bool = False  # times known to the hour only (date + hour columns)

    def __len__(self) -> int:
        return int(self.t_s.size)

    def subset(self, keep: np.ndarray) -> Incidents:
        """The rows where ``keep`` is true (same columns and reasons)."""
        return Incidents(self.t_s[keep], self.lon[keep], self.lat[keep], self.category[keep], self.columns,
                         self.n_rows, dict(self.dropped), dict(self.examples), self.hour_resolution)  # fmt: skip

    def report_lines(self) -> list[str]:
        """What was read: columns used and unusable rows by reason."""
        used = ", ".join(f"{role}={col}" for role, col in self.columns.items())
        lines = [f"read {self.n_rows:,} rows; columns used: {used}; usable rows: {len(self):,}"]
        lines += [f"  not used: {n:,} rows: {reason}" + (f" (e.g. line {self.examples[reason]})" if self.examples.get(reason, -1) > 0 else "")
                  for reason, n in self.dropped.items() if n]  # fmt: skip
        return lines


def read_table(path: Path) -> pd.DataFrame:
    """The raw table (all columns as text for CSV); DataError for files that are not a table or are empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (no header, no rows)")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], compression="infer",
                                encoding_errors="strict", on_bad_lines="error")  # fmt: skip
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a table (CSV, CSV.gz or Parquet): {first}") from None
    if frame.shape[1] < 2:
        cols = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"{path}: not a table: found {frame.shape[1]} column(s) ({cols}); need a time and "
                        "lon/lat columns, comma-separated with a header row")  # fmt: skip
    if len(frame) == 0:
        raise DataError(f"{path}: empty file: a header ({', '.join(map(str, frame.columns))}) but no rows")
    return frame


def detect(columns: list[str], role: str) -> str | None:
    """The column that most likely holds ``role`` (exact name first, then a name containing it)."""
    lower = {str(c).strip().lower(): str(c) for c in columns}
    for cand in CANDIDATES[role]:
        if cand in lower:
            return lower[cand]
    for cand in CANDIDATES[role]:
        if len(cand) > 2:
            for low, col in lower.items():
                if cand in low and not (role == "time" and "date" in low and low != "date_time"):
                    return col
    return None


def _choose(frame: pd.DataFrame, path: Path, given: dict[str, str | None]) -> dict[str, str]:
    """Columns per role: the ones given (checked to exist) or detected; DataError naming what exists."""
    cols = [str(c) for c in frame.columns]
    have = ", ".join(cols)
    for role, col in given.items():
        if col is not None and col not in cols:
            raise DataError(f"{path}: --{role} {col!r}: no such column; columns: {have}")
    chosen = {r: c for r, c in given.items() if c is not None}
    if "time" not in chosen and "date" not in chosen:
        time_col = detect(cols, "time")
        date_col = detect(cols, "date")
        hour_col = detect(cols, "hour")
        if date_col and hour_col and date_col != hour_col:
            chosen.update(date=date_col, hour=hour_col)
        elif time_col or date_col:
            chosen["time"] = time_col or date_col  # type: ignore[assignment]
    elif "date" in chosen and "hour" not in chosen and (hour_col := detect(cols, "hour")):
        chosen["hour"] = hour_col
    for role in ("lon", "lat", "category"):
        if role not in chosen and (col := detect(cols, role)):
            chosen[role] = col
    missing = [
        r for r in ("time", "lon", "lat") if r not in chosen and not (r == "time" and "date" in chosen)
    ]
    if missing:
        need = {"time": "a time (--time COL, or --date COL --hour COL)", "lon": "a longitude (--lon COL)",
                "lat": "a latitude (--lat COL)"}  # fmt: skip
        what = "; ".join(need[m] for m in missing)
        raise DataError(f"{path}: no usable column for {what}; columns in the file: {have}")
    return chosen


def _parse_times(frame: pd.DataFrame, chosen: dict[str, str], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(seconds since 1970, ok mask); DataError with an example row if no value parses at all."""
    col = chosen.get("time") or chosen["date"]
    raw = frame[col].astype("string").str.strip()
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if parsed.notna().sum() < 0.5 * raw.notna().sum():
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed", dayfirst=False)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    if raw.notna().any() and parsed.notna().sum() == 0:
        row = int(np.flatnonzero(raw.notna().to_numpy())[0])
        example = ", ".join(f"{c}={frame.iloc[row][c]!s}" for c in frame.columns[:8])
        raise DataError(f"{path}: column {col!r}: cannot read any value as a date or date-time; e.g. row "
                        f"{row + 1}: {example} (use ISO 8601 such as 2023-05-01T18:30, or --time/--date)")  # fmt: skip
    t_s = parsed.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    ok = parsed.notna().to_numpy().copy()
    if "hour" in chosen:
        hour = pd.to_numeric(frame[chosen["hour"]], errors="coerce").to_numpy(dtype=float)
        good_hour = np.isfinite(hour) & (hour >= 0) & (hour < 24) & (hour == np.floor(hour))
        t_s = t_s + np.where(good_hour, hour, 0.0) * 3600.0
        ok &= good_hour
    t_s[~ok] = np.nan
    return t_s, ok


def read_incidents(
    path: Path | str,
    *,
    time: str | None = None,
    date: str | None = None,
    hour: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    category: str | None = None,
    strict: bool = False,
) -> Incidents:
    """Usable incidents of a table; unusable rows counted by reason (DataError listing them if ``strict``)."""
    path = Path(path)
    frame = read_table(path)
    chosen = _choose(frame, path, {"time": time, "date": date, "hour": hour, "lon": lon, "lat": lat,
                                   "category": category})  # fmt: skip
    n = len(frame)
    t_s, t_ok = _parse_times(frame, chosen, path)
    x = pd.to_numeric(frame[chosen["lon"]], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(frame[chosen["lat"]], errors="coerce").to_numpy(dtype=float)
    have_xy = np.isfinite(x) & np.isfinite(y)
    in_range = have_xy & (np.abs(x) <= 180) & (np.abs(y) <= 90) & ~((x == 0) & (y == 0))
    if "category" in chosen:
        cat = frame[chosen["category"]].astype("string").str.strip()
        has_cat = (cat.notna() & (cat != "")).to_numpy()
        cats = cat.fillna("").to_numpy(dtype=object)
    else:
        has_cat, cats = np.ones(n, dtype=bool), np.full(n, "all", dtype=object)
    reasons = {
        "no or unreadable time": ~t_ok,
        "no coordinates": t_ok & ~have_xy,
        "coordinates out of range (or 0,0)": t_ok & have_xy & ~in_range,
        "no category": t_ok & in_range & ~has_cat,
    }
    keep = t_ok & in_range & has_cat
    dropped = {r: int(m.sum()) for r, m in reasons.items() if m.any()}
    examples = {r: int(np.flatnonzero(m)[0]) + 2 for r, m in reasons.items() if m.any()}  # +header, 1-based
    if strict and dropped:
        lines = [f"{n_bad:,} rows: {r} (first: line {examples[r]})" for r, n_bad in dropped.items()]
        raise DataError(f"{path}: --strict: unusable rows: " + "; ".join(lines))
    if not keep.any():
        raise DataError(
            f"{path}: no usable row of {n:,}: " + "; ".join(f"{r}: {c:,}" for r, c in dropped.items())
        )
    return Incidents(t_s[keep], x[keep], y[keep], cats[keep], chosen, n, dropped, examples,
                     hour_resolution="hour" in chosen)  # fmt: skip


def main_period(inc: Incidents, *, since_s: float | None = None, until_s: float | None = None) -> Incidents:
    """Rows inside the data's main period: given bounds, else from the first to the last month holding
    >= 10% of the 90th-percentile monthly count (stray old records would otherwise stretch the period). Rows outside are counted."""
    months = inc.t_s.astype("datetime64[s]").astype("datetime64[M]")
    if since_s is None or until_s is None:
        uniq, counts = np.unique(months, return_counts=True)
        dense = uniq[counts >= 0.1 * np.quantile(counts, 0.9)]
        lo = dense[0].astype("datetime64[s]").astype(float)
        hi = (dense[-1] + 1).astype("datetime64[s]").astype(float)
        since_s = lo if since_s is None else since_s
        until_s = hi if until_s is None else until_s
    keep = (inc.t_s >= since_s) & (inc.t_s < until_s)
    out = inc.subset(keep)
    if (~keep).any():
        reason = "outside the data's main period (set --since/--until)"
        out.dropped[reason] = int((~keep).sum())
        out.examples[reason] = -1
    return out
