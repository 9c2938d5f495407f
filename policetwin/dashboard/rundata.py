"""Reading run and sweep directories (``summary.json``, ``scenario.yaml``, Parquet) — nothing else.

A *run directory* holds ``summary.json``; a *sweep* (set of replications) is a directory whose
sub-directories are run directories. Problems become :class:`RunDirError` with a catalogue key, so the
page shows a translated message, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import yaml

MAX_SUMMARY_BYTES = 16 * 1024 * 1024
MAX_SCENARIO_BYTES = 1024 * 1024
#: Columns each file must have to be used (extra columns are fine).
REQUIRED_COLUMNS = {
    "incidents.parquet": ("incident_id", "priority", "t_call", "t_arrive", "t_clear", "lon", "lat"),
    "units.parquet": ("unit_id", "state", "t_start", "t_end"),
    "assignments.parquet": ("incident_id", "unit_id", "t_assigned", "t_arrive", "t_released"),
    "nodes.parquet": ("node", "lon", "lat"),
    "roads.parquet": ("u", "v"),
    "trips.parquet": ("unit_id", "t_start", "t_end", "route", "route_t"),
    # large events (issue 10)
    "crowd.parquet": ("t_start_s", "t_end_s", "edge", "people", "density_p_m2", "los"),
    "gates.parquet": ("gate", "t_start_s", "t_end_s", "queue", "wait_p95_s", "throughput", "lanes_open"),
    "walk_links.parquet": ("edge", "lon_u", "lat_u", "lon_v", "lat_v"),
}


class RunDirError(Exception):
    """A run directory problem: ``key`` is a catalogue key, ``params`` fill its placeholders."""

    def __init__(self, key: str, /, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(f"{key}: {params}")

    def message(self, lang: str) -> str:
        """The problem in ``lang``."""
        from policetwin.dashboard.i18n import t

        return t(self.key, lang, **self.params)


@dataclass(frozen=True)
class RunRef:
    """One run directory: a stable key (for URLs), its path, a label and the set (sweep) it belongs to."""

    key: str
    path: Path
    label: str
    set_label: str = ""
    summary: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Discovery:
    """The runs found under the given directories, the sets of replications and the problems."""

    runs: tuple[RunRef, ...]
    sets: dict[str, tuple[RunRef, ...]]
    problems: tuple[RunDirError, ...]

    def by_key(self, key: str | None) -> RunRef | None:
        """The run with ``key`` (None if unknown)."""
        return next((r for r in self.runs if r.key == key), None)


def run_key(path: Path) -> str:
    """A short stable key for a run directory (from its absolute path)."""
    return hashlib.sha1(str(path.absolute()).encode()).hexdigest()[:10]


def is_run_dir(path: Path) -> bool:
    """True if ``path`` is a directory holding ``summary.json``."""
    try:
        return path.is_dir() and (path / "summary.json").is_file()
    except OSError:
        return False


def read_summary(path: Path) -> dict:
    """``summary.json`` of a run directory as a dict (RunDirError if missing, too large or malformed)."""
    file = path / "summary.json"
    try:
        if file.stat().st_size > MAX_SUMMARY_BYTES:
            raise RunDirError("err.bad_summary", path=str(path), detail="larger than 16 MB")
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError("err.not_run_dir", path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise RunDirError("err.bad_summary", path=str(path), detail=_short(exc)) from None
    if not isinstance(data, dict):
        raise RunDirError("err.bad_summary", path=str(path), detail="not a JSON object")
    return data


def discover(paths: list[Path]) -> Discovery:
    """Run directories in ``paths``: each path is a run directory, or a directory whose sub-directories
    (one level) are run directories — a set of replications named after the directory. A sweep directory
    (or a folder of sweeps) gives its kept runs (``runs/RUN_ID``; a set per arm); demand fit/forecast
    files and folders are left to the Demand page (not problems)."""
    from policetwin.dashboard.demanddata import is_demand_path
    from policetwin.dashboard.sweepdata import kept_run_dirs, sweep_dirs

    runs: list[RunRef] = []
    sets: dict[str, list[RunRef]] = {}
    problems: list[RunDirError] = []
    seen: set[Path] = set()

    def add(path: Path, set_label: str) -> RunRef | None:
        resolved = path.resolve()
        if resolved in seen:
            return None
        seen.add(resolved)
        try:
            summary = read_summary(path)
        except RunDirError as exc:
            problems.append(exc)
            return None
        ref = RunRef(run_key(resolved), resolved, path.name or str(path), set_label, summary)
        runs.append(ref)
        return ref

    for raw in paths:
        path = Path(raw)
        try:
            if not path.exists():
                problems.append(RunDirError("err.missing", path=str(path)))
                continue
            if not path.is_dir():
                if not is_demand_path(path):  # a demand fit or forecast file is for the Demand page
                    problems.append(RunDirError("err.not_dir", path=str(path)))
                continue
            if is_run_dir(path):
                add(path, "")
                continue
            if sweeps := sweep_dirs(path):  # a sweep (or a folder of sweeps): its kept runs, sets per arm
                for sweep in sweeps:
                    kept = [ref for d in kept_run_dirs(sweep) if (ref := add(d, sweep.name)) is not None]
                    for arm in sorted({r.label.split("-")[0] for r in kept}):
                        members = [r for r in kept if r.label.split("-")[0] == arm]
                        if len(members) >= 2:
                            sets[f"{sweep.name}/{arm}"] = members
                continue
            children = sorted(p for p in path.iterdir() if not p.name.startswith(".") and is_run_dir(p))
        except OSError as exc:
            problems.append(RunDirError("err.bad_summary", path=str(path), detail=_short(exc)))
            continue
        if not children:
            if not is_demand_path(path):
                problems.append(RunDirError("err.not_run_dir", path=str(path)))
            continue
        members = [ref for child in children if (ref := add(child, path.name)) is not None]
        if len(members) >= 2:
            sets[path.name] = members
    runs.sort(key=lambda r: (-_mtime(r.path), r.label))
    return Discovery(tuple(runs), {k: tuple(v) for k, v in sets.items()}, tuple(problems))


def _mtime(path: Path) -> float:
    try:
        return (path / "summary.json").stat().st_mtime
    except OSError:
        return 0.0


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class RunData:
    """Lazy, cached access to one run directory's files (thread-safe; one instance per directory)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _cached(self, name: str, load):
        with self._lock:
            if name not in self._cache:
                self._cache[name] = load()
            return self._cache[name]

    @property
    def summary(self) -> dict:
        """``summary.json``."""
        return self._cached("summary", lambda: read_summary(self.path))

    @property
    def scenario(self) -> dict:
        """The resolved ``scenario.yaml`` (safe YAML; ``{}`` if absent)."""

        def load() -> dict:
            file = self.path / "scenario.yaml"
            if not file.is_file():
                return {}
            try:
                if file.stat().st_size > MAX_SCENARIO_BYTES:
                    raise RunDirError("err.bad_scenario", path=str(self.path), detail="larger than 1 MB")
                data = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise RunDirError("err.bad_scenario", path=str(self.path), detail=_short(exc)) from None
            return data if isinstance(data, dict) else {}

        return self._cached("scenario", load)

    @property
    def duration_s(self) -> float:
        """The simulated horizon: the run's duration, or its drained end if later."""
        s = self.summary
        duration = float(s.get("duration_s") or self.scenario.get("duration") or 0.0)
        end = (s.get("engine") or {}).get("end_s")
        return max(duration, float(end)) if isinstance(end, int | float) else duration

    @property
    def start(self) -> str:
        """The scenario's ``start`` (``Mon 00:00`` by default)."""
        return str(self.summary.get("start") or self.scenario.get("start") or "Mon 00:00")

    def has(self, name: str) -> bool:
        """True if the run directory holds ``name``."""
        return (self.path / name).is_file()

    def parquet_rows(self, name: str) -> int:
        """Row count of a Parquet file from its footer (no data read)."""

        def load() -> int:
            try:
                return int(pq.ParquetFile(self.path / name).metadata.num_rows)
            except Exception as exc:  # pyarrow raises several types for corrupt files
                raise RunDirError(
                    "err.bad_parquet", path=str(self.path), file=name, detail=_short(exc)
                ) from None

        return self._cached(f"rows:{name}", load)

    def table(self, name: str, columns: list[str] | None = None, *, cache: bool = True) -> pd.DataFrame:
        """A Parquet file as a DataFrame (only ``columns`` when given); RunDirError if unreadable."""

        def load() -> pd.DataFrame:
            file = self.path / name
            try:
                schema_names = pq.read_schema(file).names
                required = REQUIRED_COLUMNS.get(name, ())
                missing = [c for c in required if c not in schema_names and (columns is None or c in columns)]
                if missing:
                    raise RunDirError(
                        "err.bad_columns", path=str(self.path), file=name, columns=", ".join(missing)
                    )
                wanted = None if columns is None else [c for c in columns if c in schema_names]
                return pq.read_table(file, columns=wanted).to_pandas()
            except RunDirError:
                raise
            except Exception as exc:  # ArrowInvalid, OSError, ... for corrupt or missing files
                raise RunDirError(
                    "err.bad_parquet", path=str(self.path), file=name, detail=_short(exc)
                ) from None

        key = f"{name}:{','.join(columns) if columns else '*'}"
        return self._cached(key, load) if cache else load()

    def filtered(self, name: str, column: str, value: object) -> pd.DataFrame:
        """Rows of a Parquet file where ``column == value`` (row-group statistics skip most of a large file)."""
        try:
            return pq.read_table(self.path / name, filters=[(column, "=", value)]).to_pandas()
        except Exception as exc:
            raise RunDirError("err.bad_parquet", path=str(self.path), file=name, detail=_short(exc)) from None

    def memo(self, name: str, load):
        """Cache any derived object (replay tracks, map geometry, KPI frames) with this run."""
        return self._cached(f"memo:{name}", load)


_RUNS: dict[Path, tuple[float, RunData]] = {}
_RUNS_LOCK = threading.Lock()


def open_run(path: Path) -> RunData:
    """The cached :class:`RunData` of a directory (re-read when its summary.json changes)."""
    resolved = Path(path).resolve()
    stamp = _mtime(resolved)
    with _RUNS_LOCK:
        hit = _RUNS.get(resolved)
        if hit is None or hit[0] != stamp:
            hit = (stamp, RunData(resolved))
            _RUNS[resolved] = hit
            if len(_RUNS) > 32:  # keep memory bounded: drop the oldest opened
                _RUNS.pop(next(iter(_RUNS)))
        return hit[1]
