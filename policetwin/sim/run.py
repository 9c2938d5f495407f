"""Run a scenario and write its run directory atomically (temp dir, then rename).

Run directory: ``incidents.parquet``, ``units.parquet``, ``summary.json``, ``scenario.yaml``,
``report.html``. A killed run leaves no half-written directory behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from policetwin import __version__
from policetwin.errors import MapError, PoliceTwinError, ScenarioError
from policetwin.maps import RoadNetwork, load_map
from policetwin.scenarios import Scenario, scenario_sha256, scenario_to_yaml
from policetwin.sim.metrics import summarise
from policetwin.sim.model import PoliceModel


@dataclass
class RunResult:
    """What a run produced (also written to its directory, if one was given)."""

    summary: dict
    incidents: pd.DataFrame
    units: pd.DataFrame
    model: PoliceModel
    out_dir: Path | None


def load_scenario_map(
    scenario: Scenario, *, filename: str = "scenario", base_dir: Path | None = None
) -> RoadNetwork:
    """Load the scenario's map, turning map problems into scenario problems (``file:line: map: ...``)."""
    try:
        return load_map(scenario.map, base_dir=base_dir)  # checks the spec first
    except MapError as exc:
        raise ScenarioError([f"{filename}:0: map: {exc}"]) from None


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    network: RoadNetwork | None = None,
    filename: str = "scenario",
    base_dir: Path | None = None,
    progress: Callable[[float, int], None] | None = None,
) -> RunResult:
    """Run the scenario in memory and compute its KPIs (no files written)."""
    started = time.perf_counter()
    if seed is not None and seed != scenario.seed:
        scenario = scenario.model_copy(update={"seed": int(seed)})  # the resolved scenario repeats this run
    network = network or load_scenario_map(scenario, filename=filename, base_dir=base_dir)
    setup_start = time.perf_counter()
    model = PoliceModel(scenario, seed=seed, network=network, filename=filename)
    setup_s = time.perf_counter() - setup_start
    sim_start = time.perf_counter()
    model.run(progress=progress)
    sim_s = time.perf_counter() - sim_start
    incidents = model.recorder.incidents_frame(
        kinds=model.kinds, node_ids=network.node_id, lon=network.lon, lat=network.lat,
        unit_names=model.unit_names,
    )  # fmt: skip
    units = model.recorder.units_frame(model.unit_names)
    summary = {
        "version": __version__,
        "scenario_name": scenario.name,
        "seed": model.seed_value,
        "scenario_sha256": scenario_sha256(scenario),
        "duration_s": scenario.duration,
        "map": network.info(),
        "dispatch_policy": scenario.dispatch.policy,
        "travel_mode": scenario.travel.mode,
        **summarise(incidents, units, n_units=len(model.units), horizon_s=scenario.duration),
        "engine": {
            "setup_s": round(setup_s, 3),
            "simulate_s": round(sim_s, 3),
            "incidents_per_s": round(len(incidents) / sim_s, 1) if sim_s > 0 else None,
            "dispatch_decisions": model.dispatch_decisions,
            "dispatch_mean_us": round(1e6 * model.dispatch_s / max(model.dispatch_decisions, 1), 2),
            "reverse_searches_pruned": model.pruned_searches,
            "end_s": model.env.now,
        },
    }
    summary["wall_s"] = round(time.perf_counter() - started, 3)
    return RunResult(summary=summary, incidents=incidents, units=units, model=model, out_dir=None)


def check_out_dir(out_dir: Path) -> Path:
    """Refuse output paths that would destroy something that is not an earlier run directory."""
    out_dir = Path(out_dir).expanduser().absolute()
    if not out_dir.name or out_dir.name in (".", ".."):
        raise PoliceTwinError(f"--out {out_dir}: give a directory name for the run, e.g. runs/baseline")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise PoliceTwinError(f"--out {out_dir}: exists and is not a directory")
        if any(out_dir.iterdir()) and not (out_dir / "summary.json").is_file():
            raise PoliceTwinError(
                f"--out {out_dir}: exists and is not an earlier run directory (no summary.json); "
                "refusing to replace it"
            )
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PoliceTwinError(f"--out {out_dir}: {parent} is a file, not a directory")
            break
    return out_dir


def write_run_dir(result: RunResult, out_dir: Path) -> Path:
    """Write the run directory atomically; an earlier run directory at ``out_dir`` is replaced."""
    out_dir = check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run directory is an ordinary one
    try:
        model = result.model
        result.incidents.to_parquet(tmp / "incidents.parquet", index=False)
        result.units.to_parquet(tmp / "units.parquet", index=False)
        for name, rows in model.recorder.extra_tables.items():  # e.g. crowd.parquet from event modules
            pd.DataFrame(rows).to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "scenario.yaml").write_text(scenario_to_yaml(model.scenario), encoding="utf-8")
        (tmp / "summary.json").write_text(
            json.dumps(result.summary, indent=2, allow_nan=False), encoding="utf-8"
        )
        if model.scenario.outputs.report:
            from policetwin.sim.report import write_report

            stations = [
                {"name": s.name, "lon": s.lon, "lat": s.lat, "node": int(model.network.node_id[n])}
                for s, n in zip(model.scenario.stations, model.station_nodes, strict=True)
            ]
            write_report(tmp / "report.html", incidents=result.incidents, units=result.units,
                         summary=result.summary, network=model.network, stations=stations)  # fmt: skip
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out_dir = out_dir
    return out_dir


def run(scenario: Scenario, *, seed: int | None = None, out_dir: Path | None = None, **kwargs) -> RunResult:
    """Simulate a scenario and, if ``out_dir`` is given, write its run directory."""
    result = simulate(scenario, seed=seed, **kwargs)
    if out_dir is not None:
        write_run_dir(result, out_dir)
    return result
