"""Reading demand outputs for the Demand page — files only: a ``demand fit`` output (``NAME.yaml`` with its
``NAME.yaml.report.txt``), a ``demand predict`` forecast (Parquet with ``policetwin`` metadata, read with
:func:`policetwin.demandfit.cli.read_forecast`) and a ``demand score`` CSV.

A *demand folder* is a directory holding any of these (one level); a file given to ``policetwin dashboard``
stands for its folder. A folder's newest fit, newest forecast and its score CSV (the one named after the
forecast, else the newest) are shown.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from policetwin.dashboard.rundata import RunDirError, run_key

MAX_FIT_BYTES = 4 * 1024 * 1024
SCORE_COLUMNS = ("origin", "method", "coverage", "hit_rate", "pai", "pei")
_PROFILE_LINE = re.compile(
    r"^\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d\d)\s+([\d.]+)\s+([\d.]+)\s+\[([\d.]+), ([\d.]+)\]\s*$"
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class DemandRef:
    """A demand folder: key (for URLs), path, label and the files shown (None when absent)."""

    key: str
    path: Path
    label: str
    fit: Path | None
    forecast: Path | None
    scores: Path | None


@dataclass
class FitData:
    """What the page shows of a fit: rate, model, profile (168 rows) and hotspot blocks."""

    rate_per_hour: float
    model: str
    background_weight: float
    profile: pd.DataFrame  # hour, fitted, observed, lower, upper (observed/CI NaN without the report)
    spots: pd.DataFrame  # lon, lat, radius_m, weight
    has_report: bool


def is_fit_file(path: Path) -> bool:
    """A ``demand fit`` YAML: ``NAME.yaml`` with ``NAME.yaml.report.txt`` beside it."""
    return path.suffix in (".yaml", ".yml") and path.with_name(path.name + ".report.txt").is_file()


def is_forecast_file(path: Path) -> bool:
    """A Parquet file whose schema metadata says it is a ``demand predict`` forecast."""
    if path.suffix != ".parquet":
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
        return "grid" in json.loads(meta.get(b"policetwin", b"{}"))
    except Exception:  # not Parquet, unreadable, not JSON
        return False


def is_score_file(path: Path) -> bool:
    """A ``demand score --out`` CSV (its header starts with the score columns)."""
    if path.suffix != ".csv":
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return tuple(head[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS


def _files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return []


def _newest(paths: list[Path]) -> Path | None:
    return max(paths, key=lambda p: (p.stat().st_mtime, p.name)) if paths else None


def demand_ref(folder: Path) -> DemandRef | None:
    """The demand outputs of a folder (None when it holds none)."""
    files = _files(folder)
    fits = [p for p in files if is_fit_file(p)]
    forecasts = [p for p in files if is_forecast_file(p)]
    scores = [p for p in files if is_score_file(p)]
    if not (fits or forecasts or scores):
        return None
    forecast = _newest(forecasts)
    named = [p for p in scores if forecast is not None and forecast.stem in p.stem]
    resolved = folder.resolve()
    return DemandRef(run_key(resolved), resolved, folder.name or str(folder), _newest(fits), forecast,
                     _newest(named or scores))  # fmt: skip


def is_demand_path(path: Path) -> bool:
    """A demand file, or a folder holding one or with sub-folders that do (for the Demand page)."""
    path = Path(path)
    if path.is_file():
        return is_fit_file(path) or is_forecast_file(path) or is_score_file(path)
    return path.is_dir() and bool(find_demand([path]))


def find_demand(paths: list[Path]) -> list[DemandRef]:
    """The demand folders among ``paths`` (a file stands for its folder; a folder's sub-folders count,
    except run directories)."""
    found: dict[Path, DemandRef] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            candidates = [path.parent] if is_demand_path(path) else []
        elif path.is_dir():
            subs = (p for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith("."))
            candidates = [path, *(p for p in subs if not (p / "summary.json").is_file())]  # not run dirs
        else:
            continue
        for folder in candidates:
            ref = None if folder.resolve() in found else demand_ref(folder)
            if ref is not None:
                found[ref.path] = ref
    return list(found.values())


def parse_report(text: str) -> pd.DataFrame:
    """The fitted and observed hour-of-week profile (with the observed 95% CI) of a fit report."""
    rows = []
    for line in text.splitlines():
        m = _PROFILE_LINE.match(line)
        if m:
            hour = _DAYS.index(m[1]) * 24 + int(m[2])
            rows.append((hour, float(m[3]), float(m[4]), float(m[5]), float(m[6])))
    return pd.DataFrame(rows, columns=["hour", "fitted", "observed", "lower", "upper"])


_CACHE: dict[tuple[str, Path], tuple[float, object]] = {}
_LOCK = threading.Lock()


def _cached(kind: str, path: Path, load):
    stamp = path.stat().st_mtime if path.exists() else 0.0
    with _LOCK:
        hit = _CACHE.get((kind, path))
        if hit is not None and hit[0] == stamp:
            return hit[1]
    value = load()
    with _LOCK:
        _CACHE[(kind, path)] = (stamp, value)
    return value


def read_fit(path: Path) -> FitData:
    """A fit's demand YAML and report (RunDirError naming the file when unreadable)."""

    def load() -> FitData:
        try:
            if path.stat().st_size > MAX_FIT_BYTES:
                raise ValueError("larger than 4 MB")
            block = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(block, dict) and isinstance(block.get("demand"), dict):
                block = block["demand"]
            if not isinstance(block, dict) or not isinstance(block.get("profile"), list):
                raise ValueError("no profile: not a demand block")
            fitted = np.asarray(block["profile"], dtype=float)
            report = path.with_name(path.name + ".report.txt")
            parsed = parse_report(report.read_text(encoding="utf-8")) if report.is_file() else pd.DataFrame()
            spots = pd.DataFrame(block.get("hotspots") or [], columns=["lon", "lat", "radius_m", "weight"])
        except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
            raise RunDirError("err.bad_demand", path=str(path), detail=_short(exc)) from None
        profile = pd.DataFrame({"hour": np.arange(fitted.size), "fitted": fitted})
        if len(parsed):
            profile = profile.merge(parsed.drop(columns="fitted"), on="hour", how="left")
        else:
            profile = profile.assign(observed=np.nan, lower=np.nan, upper=np.nan)
        return FitData(float(block.get("rate_per_hour") or 0.0), str(block.get("model") or "poisson"),
                       float(block.get("background_weight") or 0.0), profile, spots.astype(float), bool(len(parsed)))  # fmt: skip

    return _cached("fit", path, load)


@dataclass
class Forecast:
    """A forecast's cells of one method and origin (lon/lat centres, score), with what else it holds."""

    cells: pd.DataFrame  # cell, lon, lat, score
    cell_m: float
    methods: list[str]
    origins: list[str]
    method: str
    origin: str


def _forecast_table(path: Path) -> tuple[pd.DataFrame, dict]:
    from policetwin.demandfit.cli import read_forecast
    from policetwin.demandfit.read import DataError

    def load() -> tuple[pd.DataFrame, dict]:
        try:
            frame, meta = read_forecast(path)
            frame = frame.assign(origin=pd.to_datetime(frame["origin"]).dt.strftime("%Y-%m-%d %H:%M"))
            return frame, meta
        except (DataError, KeyError, ValueError) as exc:
            raise RunDirError("err.bad_demand", path=str(path), detail=_short(exc)) from None

    return _cached("forecast", path, load)


def read_forecast_cells(path: Path, method: str | None = None, origin: str | None = None) -> Forecast:
    """The cells of ``method`` (default: hawkes, prospective, kde — the first held) at ``origin`` (default:
    the latest), with lon/lat cell centres from the forecast's grid and projection."""
    from policetwin.demandfit.space import Grid, Projection

    frame, meta = _forecast_table(path)
    methods = list(dict.fromkeys(frame["method"].astype(str)))
    origins = sorted(set(frame["origin"]))
    if not methods:
        raise RunDirError("err.bad_demand", path=str(path), detail="no rows")
    method = (
        method
        if method in methods
        else next((m for m in ("hawkes", "prospective", "kde") if m in methods), methods[0])
    )
    origin = origin if origin in origins else origins[-1]
    rows = frame[(frame["method"] == method) & (frame["origin"] == origin)]
    grid, proj = Grid(*meta["grid"]), Projection(meta["lon0"], meta["lat0"])
    cell = rows["cell"].to_numpy(dtype=np.int64)
    i, j = cell // grid.ny, cell % grid.ny
    lon, lat = proj.to_lonlat(grid.x0 + (i + 0.5) * grid.cell_m, grid.y0 + (j + 0.5) * grid.cell_m)
    cells = pd.DataFrame({"cell": cell, "lon": lon, "lat": lat, "score": rows["score"].to_numpy(dtype=float)})
    return Forecast(cells, float(grid.cell_m), methods, origins, method, origin)


def read_scores(path: Path) -> pd.DataFrame:
    """Scores per method and coverage, mean over origins (columns: method, coverage, hit_rate, pai, pei,
    origins), in the file's method order."""

    def load() -> pd.DataFrame:
        try:
            frame = pd.read_csv(path)
            missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
            if missing:
                raise ValueError(f"no columns {', '.join(missing)}")
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise RunDirError("err.bad_demand", path=str(path), detail=_short(exc)) from None
        grouped = frame.groupby(["method", "coverage"], sort=False)
        out = grouped[["hit_rate", "pai", "pei"]].mean()
        return out.assign(origins=grouped["origin"].nunique()).reset_index()

    return _cached("scores", path, load)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
