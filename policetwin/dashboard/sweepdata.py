"""Reading sweep directories (``policetwin sweep``: ``runs.parquet``, ``study.yaml``, ``manifest.json`` and,
with ``--keep-runs``, ``runs/RUN_ID/``) for the Sweep page — files only. The statistics (means with 95% CIs,
paired differences to the baseline) are those of :mod:`policetwin.experiments.sweep_stats`."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from policetwin.dashboard.rundata import RunDirError, run_key
from policetwin.experiments.sweep_stats import arm_table
from policetwin.experiments.sweep_store import is_sweep_dir, read_manifest

MAX_STUDY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SweepRef:
    """One sweep directory: a stable key (for URLs), its path and a label."""

    key: str
    path: Path
    label: str


@dataclass
class SweepData:
    """A sweep's rows, resolved study, manifest and arm table (``sweep_stats.arm_table``)."""

    path: Path
    runs: pd.DataFrame
    study: dict
    manifest: dict
    table: pd.DataFrame

    @property
    def factors(self) -> list[str]:
        """The factor columns of ``runs.parquet``."""
        return [str(f["column"]) for f in self.study.get("factors") or []]

    @property
    def kpis(self) -> list[str]:
        """The KPI columns of ``runs.parquet``."""
        return [str(k) for k in self.study.get("kpis") or {}]

    @property
    def baseline(self) -> int | None:
        """The baseline arm (None when the study has none)."""
        base = self.study.get("baseline_arm")
        return int(base) if base is not None else None

    @property
    def paired(self) -> bool:
        """True under common random numbers (differences paired by replication)."""
        return self.study.get("seeds") == "common"


def sweep_dirs(path: Path) -> list[Path]:
    """``path`` if it is a sweep directory, else its sweep sub-directories (one level), sorted."""
    path = Path(path)
    try:
        if not path.is_dir():
            return []
        if is_sweep_dir(path):
            return [path]
        return sorted(
            p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and is_sweep_dir(p)
        )
    except OSError:
        return []


def kept_run_dirs(sweep: Path) -> list[Path]:
    """The run directories a sweep kept (``runs/RUN_ID/`` holding ``summary.json``), sorted by run id."""
    root = Path(sweep) / "runs"
    try:
        return sorted(p for p in root.iterdir() if (p / "summary.json").is_file()) if root.is_dir() else []
    except OSError:
        return []


def find_sweeps(paths: list[Path]) -> list[SweepRef]:
    """The sweep directories among (or directly under) ``paths``, each once, newest first."""
    seen: dict[Path, SweepRef] = {}
    for raw in paths:
        for sweep in sweep_dirs(Path(raw)):
            resolved = sweep.resolve()
            seen.setdefault(resolved, SweepRef(run_key(resolved), resolved, sweep.name or str(sweep)))
    return sorted(seen.values(), key=lambda s: (-_mtime(s.path / "runs.parquet"), s.label))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


_CACHE: dict[Path, tuple[float, SweepData]] = {}
_LOCK = threading.Lock()


def read_sweep(path: Path) -> SweepData:
    """A sweep directory's data (cached until ``runs.parquet`` changes); RunDirError naming the file."""
    path = Path(path).resolve()
    stamp = _mtime(path / "runs.parquet")
    with _LOCK:
        hit = _CACHE.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    manifest = read_manifest(path)
    if manifest is None:
        raise RunDirError(
            "err.bad_sweep", path=str(path), file="manifest.json", detail="not a sweep manifest"
        )
    try:
        file = path / "study.yaml"
        if file.stat().st_size > MAX_STUDY_BYTES:
            raise ValueError("larger than 4 MB")
        study = yaml.safe_load(file.read_text(encoding="utf-8"))
        if not isinstance(study, dict) or not isinstance(study.get("arms"), list):
            raise ValueError("no arms")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RunDirError("err.bad_sweep", path=str(path), file="study.yaml", detail=_short(exc)) from None
    try:
        runs = pd.read_parquet(path / "runs.parquet")
        missing = [c for c in ("run_id", "arm", "replication", "status") if c not in runs.columns]
        if missing:
            raise ValueError(f"no columns {', '.join(missing)}")
        table = arm_table(runs, study)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise RunDirError("err.bad_sweep", path=str(path), file="runs.parquet", detail=_short(exc)) from None
    data = SweepData(path, runs, study, manifest, table)
    with _LOCK:
        _CACHE[path] = (stamp, data)
    return data


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def kept_run(data: SweepData, arm: int, kpi: str | None = None) -> Path | None:
    """A kept run directory of ``arm``: the replication whose ``kpi`` is closest to the arm's mean (the
    arm's most typical run), else its first kept replication; None when the sweep kept none."""
    rows = data.runs[(data.runs["arm"] == arm) & (data.runs["status"] == "ok")]
    rows = rows[[(data.path / "runs" / str(r) / "summary.json").is_file() for r in rows["run_id"]]]
    if rows.empty:
        return None
    if kpi in rows.columns:
        values = pd.to_numeric(rows[kpi], errors="coerce")
        if values.notna().any():
            rows = rows.assign(_gap=(values - values.mean()).abs()).sort_values(["_gap", "replication"])
    return data.path / "runs" / str(rows["run_id"].iloc[0])


def fmt_value(value: object, hw: object = None) -> str:
    """``0.931 ± 0.042`` (3 decimals below 10, else 1), ``-`` when missing — as the sweep report."""
    x = _num(value)
    if x is None:
        return "-"
    digits = 3 if abs(x) < 10 else 1
    h = _num(hw)
    return f"{x:.{digits}f}" + ("" if h is None else f" ± {h:.{digits}f}")


def _num(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
