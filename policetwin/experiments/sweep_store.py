"""The results store of a sweep directory: ``runs.parquet`` (one row per run, rewritten atomically as
runs finish), the resolved ``study.yaml`` and ``manifest.json``; and the checks of ``--out``/``--resume``.

A sweep killed at any moment leaves a complete ``runs.parquet`` (written to ``.runs.parquet.tmp-PID``
and renamed over the old one); the temp files of dead processes are removed by the next sweep.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from policetwin import __version__
from policetwin.experiments.design import run_id, run_seed
from policetwin.outputs import OutputError, pid_alive

if TYPE_CHECKING:
    from policetwin.experiments.study import Study
    from policetwin.maps import RoadNetwork

SWEEP_KIND = "policetwin-sweep"
SWEEP_FILES = ("runs.parquet", "study.yaml", "manifest.json", "report.html", "runs")
_TMP = re.compile(r"^\..+\.tmp-(?P<pid>\d+)$")
_PACKAGES = ("numpy", "scipy", "pandas", "simpy", "mesa", "pyarrow", "SALib", "dask", "distributed")


def is_sweep_dir(path: Path) -> bool:
    """Whether ``path`` holds a sweep (its ``manifest.json`` says so)."""
    return read_manifest(path) is not None


def read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == SWEEP_KIND else None


def check_sweep_target(out_dir: Path, *, resume: bool, study_sha256: str) -> Path:
    """The absolute sweep directory, or OutputError: a new sweep needs a new or empty directory, a resumed
    one a sweep directory of the same study."""
    out_dir = Path(out_dir).expanduser().absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir}: exists and is not a directory")
    manifest = read_manifest(out_dir)
    if resume:
        if manifest is None:
            raise OutputError(
                f"--out {out_dir}: not a sweep directory (no manifest.json of a sweep); nothing "
                "to resume. Leave out --resume to start a sweep there"
            )
        if manifest.get("study_sha256") != study_sha256:
            raise OutputError(
                f"--out {out_dir}: holds a sweep of another study (or the study or its base "
                "scenario changed since); resume with the same files, or choose another directory"
            )
    elif manifest is not None:
        raise OutputError(
            f"--out {out_dir}: holds a sweep already; add --resume to continue it, or choose "
            "another directory"
        )
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        shown = ", ".join(sorted(p.name for p in out_dir.iterdir())[:5])
        raise OutputError(
            f"--out {out_dir}: holds other files ({shown}); a sweep needs a new or empty directory"
        )
    return out_dir


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file via a temp file beside it and a rename (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(out_dir: Path) -> None:
    """Remove ``.NAME.tmp-PID`` files that processes no longer alive left behind."""
    for entry in out_dir.iterdir():
        m = _TMP.match(entry.name)
        if m and entry.is_file() and not pid_alive(int(m["pid"])):
            entry.unlink(missing_ok=True)


def manifest(study: Study, networks: dict[str, RoadNetwork]) -> dict:
    """What a sweep needs to be reproduced: versions, hashes of the study, base scenario and maps."""
    from policetwin.experiments.study_check import map_sha256

    resolved = study.resolved()
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "kind": SWEEP_KIND,
        "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "study_sha256": study.sha256(),
        "study_file": resolved["study_file"],
        "base": {
            "file": resolved["base"],
            "file_sha256": resolved["base_file_sha256"],
            "scenario_sha256": resolved["base_scenario_sha256"],
        },
        "maps": [
            {
                "spec": spec,
                "name": net.name,
                "sha256": map_sha256(net),
                "nodes": net.n_nodes,
                "edges": net.n_edges,
            }
            for spec, net in networks.items()
        ],
        "arms": len(study.design.arms),
        "seeds": "common" if study.common else "independent",
        "python": platform.python_version(),
        "packages": versions,
    }


def write_study_files(out_dir: Path, study: Study, networks: dict[str, RoadNetwork]) -> None:
    """``study.yaml`` (resolved) and ``manifest.json`` (the manifest last: it marks a sweep directory)."""
    text = "# the resolved study of this sweep (written by policetwin sweep)\n" + yaml.safe_dump(
        study.resolved(), sort_keys=False, allow_unicode=True
    )
    write_atomic(out_dir / "study.yaml", text.encode("utf-8"))
    write_atomic(out_dir / "manifest.json", json.dumps(manifest(study, networks), indent=2).encode("utf-8"))


def _arrow_type(values: list[Any]) -> pa.DataType:
    if all(isinstance(v, bool) for v in values):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pa.float64()
    return pa.string()


def _cell(value: Any, kind: pa.DataType) -> Any:
    if kind == pa.string() and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    return value


class RunStore:
    """The rows of ``runs.parquet`` by run id; :meth:`flush` rewrites the file atomically (throttled so
    that writing takes at most ~10% of the time: every finished run is written while that is cheap)."""

    def __init__(self, out_dir: Path, study: Study) -> None:
        self.path = Path(out_dir) / "runs.parquet"
        self.study = study
        factors = study.design.factors
        self.factor_types = {
            f.column: _arrow_type([arm[f.path] for arm in study.design.arms]) for f in factors
        }
        self.schema = pa.schema(
            [
                ("run_id", pa.string()),
                ("arm", pa.int64()),
                ("replication", pa.int64()),
                ("seed", pa.int64()),
                *self.factor_types.items(),
                *((k, pa.float64()) for k in study.kpis),
                ("status", pa.string()),
                ("error", pa.string()),
                ("wall_s", pa.float64()),
                ("sim_s", pa.float64()),
            ]
        )
        self.rows: dict[str, dict] = {}
        self._dirty = False
        self._next_write = 0.0

    def load(self) -> None:
        """Read the rows a previous (killed or interrupted) sweep wrote; failed runs are run again."""
        if not self.path.exists():
            return
        for row in pq.read_table(self.path).to_pylist():
            if row.get("status") == "ok" and row.get("run_id") == run_id(row["arm"], row["replication"]):
                self.rows[row["run_id"]] = row

    def add(self, arm: int, replication: int, result: dict) -> dict:
        """Store one finished run (its KPIs, status and timings from the worker) with its factor values."""
        values = self.study.design.arms[arm]
        row = {
            "run_id": run_id(arm, replication),
            "arm": arm,
            "replication": replication,
            "seed": run_seed(self.study.seed, arm=arm, replication=replication, common=self.study.common),
            **{
                f.column: _cell(values[f.path], self.factor_types[f.column])
                for f in self.study.design.factors
            },
            **{k: result.get(k) for k in self.study.kpis},
            "status": result.get("status", "failed"),
            "error": result.get("error"),
            "wall_s": result.get("wall_s"),
            "sim_s": result.get("sim_s"),
        }
        self.rows[row["run_id"]] = row
        self._dirty = True
        return row

    def flush(self, *, force: bool = False) -> None:
        if not (self._dirty or force or not self.path.exists()) or (
            not force and time.monotonic() < self._next_write
        ):
            return
        started = time.monotonic()
        rows = sorted(self.rows.values(), key=lambda r: (r["arm"], r["replication"]))
        table = pa.Table.from_pylist(rows, schema=self.schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        write_atomic(self.path, sink.getvalue().to_pybytes())
        self._dirty = False
        self._next_write = time.monotonic() + 9 * (time.monotonic() - started)
