"""Run a scenario and write its run directory atomically (temp dir, then rename).

Run directory: ``incidents.parquet``, ``units.parquet``, ``summary.json``, ``scenario.yaml``,
``report.html``. A killed run leaves no half-written directory behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from policetwin import __version__
from policetwin.errors import MapError, ScenarioError
from policetwin.maps import RoadNetwork, load_map
from policetwin.outputs import check_target, foreign_files, output_lock, run_files
from policetwin.scenarios import Scenario, scenario_sha256, scenario_to_yaml
from policetwin.sim.checks import MapCheck
from policetwin.sim.event_cost import city_cost
from policetwin.sim.load import queue_growth_warnings
from policetwin.sim.metrics import dispatch_figures, group_figures, summarise
from policetwin.sim.model import PoliceModel
from policetwin.sim.replay import nodes_frame, roads_frame, trips_table
from policetwin.sim.shifts import window_spans


@dataclass
class RunResult:
    """What a run produced (also written to its directory, if one was given)."""

    summary: dict
    incidents: pd.DataFrame
    units: pd.DataFrame
    assignments: pd.DataFrame
    model: PoliceModel
    out_dir: Path | None
    coverage: dict | None = None  # travel times from the nearest station or post (:func:`coverage_input`)


def load_scenario_map(
    scenario: Scenario, *, filename: str = "scenario", base_dir: Path | None = None
) -> RoadNetwork:
    """Load the scenario's map, turning map problems into scenario problems (``file:line: map: ...``)."""
    try:
        return load_map(scenario.map, base_dir=base_dir)  # checks the spec first
    except MapError as exc:
        raise ScenarioError([f"{filename}:0: map: {exc}"]) from None


def _peak_rss_mb() -> int | None:
    """The process's peak resident memory so far (MB; the whole process: with several runs in one process,
    e.g. a sweep's worker, the largest of them). None where the platform does not tell."""
    try:
        import resource
    except ImportError:  # (not on Windows)
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024))


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    network: RoadNetwork | None = None,
    filename: str = "scenario",
    base_dir: Path | None = None,
    progress: Callable[[float, int], None] | None = None,
    checked: MapCheck | None = None,
) -> RunResult:
    """Run the scenario in memory and compute its KPIs (no files written).

    ``checked``: the scenario's map check when the caller has already done it (e.g. to show its
    warnings before a long run); its warnings go into the summary.
    """
    started = time.perf_counter()
    if seed is not None and seed != scenario.seed:
        scenario = scenario.model_copy(update={"seed": int(seed)})  # the resolved scenario repeats this run
    network = network or load_scenario_map(scenario, filename=filename, base_dir=base_dir)
    setup_start = time.perf_counter()
    model = PoliceModel(scenario, seed=seed, network=network, filename=filename, checked=checked)
    setup_s = time.perf_counter() - setup_start
    sim_start = time.perf_counter()
    model.run(progress=progress)
    sim_s = time.perf_counter() - sim_start
    stations = [s.name for s in scenario.stations]
    incidents = model.recorder.incidents_frame(
        kinds=model.kinds, node_ids=network.node_id, lon=network.lon, lat=network.lat,
        unit_names=model.unit_names, node_district=model.node_district, district_names=stations,
    )  # fmt: skip
    units = model.recorder.units_frame(model.unit_names)
    assignments = model.recorder.assignments_frame(model.unit_names)
    coverage = coverage_input(model)
    summary = {
        "version": __version__,
        "scenario_name": scenario.name,
        "seed": model.seed_value,
        "scenario_sha256": scenario_sha256(scenario),
        "start": scenario.start,
        "duration_s": scenario.duration,
        "map": network.info(),
        "dispatch_policy": scenario.dispatch.policy,
        "travel_mode": scenario.travel.mode,
        **summarise(incidents, units, n_units=len(model.units), horizon_s=scenario.duration),
        "engine": {
            "setup_s": round(setup_s, 3),
            "simulate_s": round(sim_s, 3),
            "incidents_per_s": round(len(incidents) / sim_s, 1) if sim_s > 0 else None,
            "dispatch_decisions": model.dispatcher.decisions,
            "dispatch_mean_us": round(1e6 * model.dispatcher.seconds / max(model.dispatcher.decisions, 1), 2),
            "reverse_searches_pruned": model.etas.pruned_searches,
            "routing": model.routing,
            "peak_rss_mb": _peak_rss_mb(),
            "end_s": model.env.now,
        },
        "dispatch": dispatch_figures(
            incidents,
            assignments,
            units,
            scenario=model.scenario,  # with event police: the run's unit groups
            horizon_s=scenario.duration,
            unit_district={u.name: stations[u.station] for u in model.units},
        ),
        "groups": group_figures(
            units,
            scenario=model.scenario,
            unit_group={u.name: u.group for u in model.units},
            overtime_s=dict(zip(model.unit_names, model.shifts.overtime_s.tolist(), strict=True)),
            horizon_s=scenario.duration,
            shift_spans={
                g: window_spans(group.shift, start=scenario.start, horizon_s=scenario.duration)
                for g, group in enumerate(model.scenario.units.groups or [])
                if group.shift is not None
            },
            patrol=model.patrol_coverage.figures() if model.patrol_coverage is not None else None,
        ),
        "prevented_by_presence": len(model.recorder.extra_tables.get("prevented", [])),
        "coverage": coverage_figures(coverage, model.kinds[: len(scenario.demand.kinds)]),
        "load": model.load,
        "warnings": [
            *model.warnings,
            *queue_growth_warnings(incidents, duration_s=scenario.duration, filename=filename),
        ],
    }
    if model.event is not None:
        summary["event"] = model.event.summary()
        if scenario.event.counterfactual:  # the same scenario and seed without the event (same routine calls)
            base = simulate(scenario.model_copy(update={"event": None}), seed=seed, network=network,
                            filename=filename, base_dir=base_dir)  # fmt: skip
            summary["event"]["city_cost"] = city_cost(model.event, incidents, base.incidents)
    summary["wall_s"] = round(time.perf_counter() - started, 3)
    return RunResult(summary=summary, incidents=incidents, units=units, assignments=assignments, model=model,
                     out_dir=None, coverage=coverage)  # fmt: skip


def coverage_figures(cov: dict | None, kinds: list) -> dict | None:
    """Share of road nodes and of demand within each kind's target from the nearest station or post."""
    if cov is None:
        return None
    from policetwin.sim.coverage import coverage_share

    targets = sorted({float(k.target) for k in kinds})
    return {str(int(t)): {"nodes": coverage_share(cov["times_s"], standard_s=t),
                          "demand": coverage_share(cov["times_s"], standard_s=t, weights=cov["weights"])}
            for t in targets}  # fmt: skip


def waiting_places(model: PoliceModel) -> tuple[np.ndarray, list[dict]]:
    """Where units wait: the stations and the groups' posts (node indices, and name/lon/lat each)."""
    net = model.network
    nodes = [int(n) for n in model.station_nodes]
    names = [s.name for s in model.scenario.stations]
    for g, posts in model.post_nodes.items():
        group = model.scenario.units.groups[g].name
        nodes += [int(n) for n in posts]
        names += [f"{group} post {j + 1}" for j in range(len(posts))]
    return np.array(nodes), [{"name": n, "lon": float(net.lon[i]), "lat": float(net.lat[i])}
                             for n, i in zip(names, nodes, strict=True)]  # fmt: skip


def coverage_input(model: PoliceModel) -> dict | None:
    """The report's coverage map: times from the nearest station or post, within the most urgent target."""
    if model.router is None:
        return None
    from policetwin.sim.coverage import coverage_times

    nodes, sources = waiting_places(model)
    standard = min(k.target for k in model.kinds[: len(model.scenario.demand.kinds)])
    return {
        "times_s": coverage_times(model.network, sources=nodes, router=model.router),
        "standard_s": standard,
        "sources": sources,
        "weights": model.demand_weights,
    }


def write_run_dir(result: RunResult, out_dir: Path, *, overwrite: bool = False) -> Path:
    """Write the run directory atomically: into ``.NAME.tmp-PID-*`` beside it, then renamed into place.

    An earlier run directory is replaced. A directory holding files PoliceTwin did not write is refused
    (:class:`OutputError`) unless ``overwrite``; then the run's files are replaced one by one (each
    rename atomic, ``summary.json`` last) and the other files are kept. ``summary.json`` lists the
    files the run wrote. Callers that run concurrently should hold :func:`output_lock` (see :func:`run`).
    """
    out_dir = check_target(out_dir, overwrite=overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-{os.getpid()}-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run directory is an ordinary one
    try:
        model = result.model
        result.incidents.to_parquet(tmp / "incidents.parquet", index=False)
        result.units.to_parquet(tmp / "units.parquet", index=False)
        result.assignments.to_parquet(tmp / "assignments.parquet", index=False)
        names = [s.name for s in model.scenario.stations]
        nodes_frame(model.network, model.node_district, names).to_parquet(tmp / "nodes.parquet", index=False)
        roads_frame(model.network).to_parquet(tmp / "roads.parquet", index=False)
        if model.scenario.outputs.trips:
            trips = trips_table(model)
            pq.write_table(trips, tmp / "trips.parquet")
            result.summary["trips"] = {
                "rows": trips.num_rows,
                "bytes": (tmp / "trips.parquet").stat().st_size,
            }
        if model.event is not None:  # the crowd (per bin and walk link), the gates, the walk links
            model.event.crowd_table().to_parquet(tmp / "crowd.parquet", index=False)
            model.event.gate_table().to_parquet(tmp / "gates.parquet", index=False)
            model.event.links_table().to_parquet(tmp / "walk_links.parquet", index=False)
        for name, rows in model.recorder.extra_tables.items():  # e.g. crowd.parquet from event modules
            pd.DataFrame(rows).to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "scenario.yaml").write_text(scenario_to_yaml(model.scenario_input), encoding="utf-8")
        if model.scenario.outputs.report:
            from policetwin.sim.report import write_report

            stations = [
                {"name": s.name, "lon": s.lon, "lat": s.lat, "node": int(model.network.node_id[n])}
                for s, n in zip(model.scenario.stations, model.station_nodes, strict=True)
            ]
            write_report(tmp / "report.html", incidents=result.incidents, units=result.units,
                         summary=result.summary, network=model.network, stations=stations,
                         coverage=result.coverage,
                         event=model.event.report_data() if model.event is not None else None)  # fmt: skip
        result.summary["files"] = sorted([p.name for p in tmp.iterdir()] + ["summary.json"])
        (tmp / "summary.json").write_text(
            json.dumps(result.summary, indent=2, allow_nan=False), encoding="utf-8"
        )
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out_dir = out_dir
    return out_dir


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
    elif not foreign_files(out_dir):  # an earlier run directory: swap it whole
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:  # --overwrite beside the user's files: replace ours file by file, keep theirs
        new = sorted(p.name for p in tmp.iterdir())
        for stale in run_files(out_dir) - set(new):
            (out_dir / stale).unlink(missing_ok=True)
        (out_dir / "summary.json").unlink(missing_ok=True)  # no summary while the files are mixed
        for name in sorted(new, key=lambda n: n == "summary.json"):
            os.replace(tmp / name, out_dir / name)
        tmp.rmdir()


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    out_dir: Path | None = None,
    overwrite: bool = False,
    **kwargs,
) -> RunResult:
    """Simulate a scenario and, if ``out_dir`` is given, write its run directory (holding its lock, and
    checking the directory can be used before simulating)."""
    if out_dir is None:
        return simulate(scenario, seed=seed, **kwargs)
    target = check_target(out_dir, overwrite=overwrite)
    with output_lock(target):
        result = simulate(scenario, seed=seed, **kwargs)
        write_run_dir(result, target, overwrite=overwrite)
    return result
