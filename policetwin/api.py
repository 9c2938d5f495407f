"""The public Python API (re-exported lazily by :mod:`policetwin`; documented in docs/api.md).

Small and exact, for notebooks: load a scenario, run it, read a run back, compare runs, run a sweep,
start a new city and export a run for GIS. Everything else is internal and may change. Options are
keyword-only; errors are :class:`~policetwin.errors.PoliceTwinError` subclasses (``ScenarioError`` with
``file:line: field: message`` problems for bad scenarios).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from policetwin.errors import PoliceTwinError

if TYPE_CHECKING:
    import pandas as pd

    from policetwin.cityinit.plan import CityPlan
    from policetwin.experiments.compare import Comparison
    from policetwin.experiments.sweep import SweepOutcome
    from policetwin.scenarios import Scenario
    from policetwin.sim.run import RunResult


class RunDirError(PoliceTwinError, ValueError):
    """A path is not a readable run directory."""


def load_scenario(
    source: str | Path | None = None, *, overrides: list[str] | tuple[str, ...] = ()
) -> Scenario:
    """A validated scenario from a file or bundled name (default: coquimbo), with ``overrides`` like the
    CLI's ``--set`` (``["units.count=12"]``); ScenarioError lists every problem."""
    from policetwin.scenarios import load_scenario as _load

    return _load(source, list(overrides))


def run(
    scenario: Scenario | str | Path | None = None,
    *,
    seed: int | None = None,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    overrides: list[str] | tuple[str, ...] = (),
) -> RunResult:
    """Simulate a scenario (a :class:`Scenario`, a file or a bundled name) and return its
    :class:`~policetwin.sim.run.RunResult` (``summary``, ``incidents``, ``units``, ...); with ``out_dir``
    also write the run directory, as ``policetwin run --out`` does."""
    from policetwin.scenarios import Scenario, resolve_scenario_path
    from policetwin.sim.run import run as _run

    if isinstance(scenario, Scenario):
        if overrides:
            raise PoliceTwinError(
                "overrides apply to a scenario file or name; change a Scenario with model_copy"
            )
        return _run(
            scenario, seed=seed, out_dir=None if out_dir is None else Path(out_dir), overwrite=overwrite
        )
    path = resolve_scenario_path(None if scenario is None else str(scenario))
    sc = load_scenario(path, overrides=overrides)
    return _run(sc, seed=seed, out_dir=None if out_dir is None else Path(out_dir), overwrite=overwrite,
                filename=str(path), base_dir=path.parent)  # fmt: skip


@dataclass
class Run:
    """A run directory read back: ``summary`` (summary.json), ``scenario`` (the resolved scenario.yaml as
    data) and its Parquet tables, read on first use (``incidents``, ``units``, ``assignments``, ``trips``)."""

    path: Path
    summary: dict
    scenario: dict
    _tables: dict = field(default_factory=dict, repr=False)

    def table(self, name: str) -> pd.DataFrame:
        """A Parquet file of the run by name (``incidents`` or ``incidents.parquet``)."""
        import pandas as pd

        file = self.path / (name if name.endswith(".parquet") else f"{name}.parquet")
        if file.name not in self._tables:
            if not file.is_file():
                raise RunDirError(f"{self.path}: no {file.name} in this run directory")
            self._tables[file.name] = pd.read_parquet(file)
        return self._tables[file.name]

    @property
    def incidents(self) -> pd.DataFrame:
        return self.table("incidents")

    @property
    def units(self) -> pd.DataFrame:
        return self.table("units")

    @property
    def assignments(self) -> pd.DataFrame:
        return self.table("assignments")

    @property
    def trips(self) -> pd.DataFrame:
        return self.table("trips")


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory written by ``policetwin run`` (or :func:`run` with ``out_dir``)."""
    import yaml

    path = Path(run_dir)
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: not a run directory (summary.json: {exc})") from None
    scenario_file = path / "scenario.yaml"
    scenario = yaml.safe_load(scenario_file.read_text(encoding="utf-8")) if scenario_file.is_file() else {}
    return Run(path=path, summary=summary, scenario=scenario if isinstance(scenario, dict) else {})


def compare(*run_dirs: str | Path) -> Comparison:
    """Runs side by side (the first is the baseline): KPI rows, scenario differences and notes."""
    from policetwin.experiments.compare import compare_runs

    return compare_runs([Path(d) for d in run_dirs])


def sweep(
    study: str | Path,
    *,
    out_dir: str | Path,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
) -> SweepOutcome:
    """Run a study file (arms x replications) into ``out_dir``, as ``policetwin sweep`` does; read the
    results with ``pandas.read_parquet(out_dir / "runs.parquet")``."""
    from policetwin.experiments.study import load_study
    from policetwin.experiments.study_check import check_study
    from policetwin.experiments.sweep import run_sweep

    spec = load_study(study)
    networks = check_study(spec)
    return run_sweep(
        spec, Path(out_dir), networks=networks, workers=workers, scheduler=scheduler, resume=resume
    )


def init_city(
    source: str,
    *,
    out_file: str | Path,
    units: int | None = None,
    stations: str | Path | None = None,
    incidents: str | Path | None = None,
    overwrite: bool = False,
) -> CityPlan:
    """Write a runnable scenario for a city (as ``policetwin init``) and return the plan behind it
    (``summary``, ``reasoning``, ``stations``, ...)."""
    from policetwin.cityinit.plan import plan_city
    from policetwin.cityinit.writer import write_scenario

    plan = plan_city(source, units=units, stations_file=None if stations is None else Path(stations),
                     incidents_file=None if incidents is None else Path(incidents))  # fmt: skip
    write_scenario(plan, Path(out_file), overwrite=overwrite)
    return plan


def export_run(
    run_dir: str | Path, *, fmt: str = "gpkg", out: str | Path | None = None, overwrite: bool = False
) -> list[Path]:
    """Write a run's GIS layers (as ``policetwin export``); returns the files written."""
    from policetwin.gis.export import build_export, default_out, write_export

    target = Path(out) if out is not None else default_out(Path(run_dir), fmt)
    return write_export(build_export(Path(run_dir)), target, fmt=fmt, overwrite=overwrite)
