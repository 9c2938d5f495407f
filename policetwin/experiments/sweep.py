"""Run a study: every (arm, replication) is one task of :func:`run_task`, on a local process pool or
on a Dask cluster (the same function, so identical seeds give identical results).

Each worker process loads a map once and keeps it for all its runs; inside a sweep a run computes its
travel-time rows on its own core (the sweep already uses them all). Finished runs go to the store at
once (:class:`RunStore`); a failing run is recorded as failed and the sweep goes on.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policetwin.errors import ScenarioError
from policetwin.experiments.design import run_id, run_seed
from policetwin.experiments.study import Study
from policetwin.experiments.sweep_pools import DaskPool, LocalPool, result_of
from policetwin.experiments.sweep_stats import mean_ci
from policetwin.experiments.sweep_store import RunStore, remove_stale_temps, write_study_files
from policetwin.outputs import clean_leftovers, output_lock

_NETWORKS: dict[str, Any] = {}  # this worker's maps by spec (loaded once, reused by every run)
_NETWORKS_LOCK = threading.Lock()
_SNAPPERS: dict[str, Any] = {}
_CHECKS: dict[str, Any] = {}  # an arm's map check by its scenario (without the seed), most recent last
_WARM_KEYS = (
    "incidents",
    "priorities",
    "overall",
    "stages_mean_s",
    "units",
    "queue",
    "detected_by",
    "outcomes",
)


# --------------------------------------------------------------------------- worker side


def _network(scenario: Any, filename: str) -> Any:
    from policetwin.sim.run import load_scenario_map

    with _NETWORKS_LOCK:
        if scenario.map not in _NETWORKS:
            _NETWORKS[scenario.map] = load_scenario_map(
                scenario, filename=filename, base_dir=Path(filename).parent
            )
        return _NETWORKS[scenario.map]


def _map_check(scenario: Any, scenario_dict: dict, network: Any, filename: str) -> Any:
    """The arm's map check (snapped stations, demand weights, offered load), done once per arm and
    worker: it does not depend on the seed, and runs of the same arm follow one another."""
    from policetwin.maps import Snapper
    from policetwin.sim.checks import check_on_map

    key = json.dumps({k: v for k, v in scenario_dict.items() if k != "seed"}, sort_keys=True)
    with _NETWORKS_LOCK:
        if key in _CHECKS:
            return _CHECKS[key]
        if scenario.map not in _SNAPPERS:
            _SNAPPERS[scenario.map] = Snapper(network)
        snapper = _SNAPPERS[scenario.map]
    check = check_on_map(scenario, network, snapper, filename=filename)
    with _NETWORKS_LOCK:
        _CHECKS[key] = check
        while len(_CHECKS) > 64:
            _CHECKS.pop(next(iter(_CHECKS)))
    return check


def warm_summary(result: Any, warmup_s: float) -> dict:
    """The log-derived KPIs without the warm-up: calls made before ``warmup_s`` are left out, unit
    time is counted from ``warmup_s`` to the end of the run."""
    from policetwin.sim.metrics import summarise

    incidents, units = result.incidents, result.units
    when = incidents["t_call"].fillna(incidents["t_occur"])
    shifted = units.assign(
        t_start=units["t_start"].clip(lower=warmup_s) - warmup_s,
        t_end=units["t_end"].clip(lower=warmup_s) - warmup_s,
    )
    return summarise(
        incidents[when >= warmup_s],
        shifted,
        n_units=result.summary["units"]["count"],
        horizon_s=result.summary["duration_s"] - warmup_s,
    )


def kpi_value(summary: dict, path: str) -> float:
    """A KPI from a summary by dotted path (NaN when the run has no such figure, e.g. no P1 calls)."""
    value: Any = summary
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return math.nan
        value = value[key]
    return float(value) if isinstance(value, (int, float)) else math.nan


def release_model(model: Any) -> None:
    """Let a finished model be freed: mesa <= 3.3 keeps every model as a key of the class attribute
    ``Agent._ids`` (mesa issue #3179, fixed by PR #3180), so a worker running many simulations would keep
    them all (about 0.45 GB per 24 h coquimbo-shifts run, measured); the model's reference cycles are then
    collected at once rather than whenever the collector's thresholds say."""
    import gc

    from mesa.agent import Agent

    ids = getattr(Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
    gc.collect()


def run_task(task: dict) -> dict:
    """Simulate one run of a sweep and return its KPIs, status and timings. Never raises: a failure
    becomes ``status: failed`` with the error, so the sweep goes on. ``task``: the arm's resolved
    scenario (a dict), seed, warm-up, KPI columns -> paths, base filename, and where to keep the run."""
    from policetwin.scenarios import Scenario
    from policetwin.sim.run import simulate, write_run_dir

    started = time.perf_counter()
    row: dict[str, Any] = {"status": "ok", "error": None, "sim_s": math.nan}
    try:
        scenario = Scenario.model_validate(task["scenario"])
        network = _network(scenario, task["filename"])
        check = _map_check(scenario, task["scenario"], network, task["filename"])
        if check.problems:
            raise ScenarioError(check.problems)
        result = simulate(
            scenario, seed=task["seed"], network=network, filename=task["filename"], checked=check
        )
        summary = result.summary
        if task["warmup_s"] > 0:
            summary["sweep_warmup"] = {"warmup_s": task["warmup_s"], **warm_summary(result, task["warmup_s"])}
            summary = {**summary, **{k: v for k, v in summary["sweep_warmup"].items() if k in _WARM_KEYS}}
        row.update({column: kpi_value(summary, path) for column, path in task["kpis"].items()})
        row["sim_s"] = float(result.summary["engine"]["simulate_s"])
        if task.get("keep_dir"):
            write_run_dir(result, Path(task["keep_dir"]))
        release_model(result.model)
    except Exception as exc:  # recorded in the row: the sweep goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
    row["wall_s"] = time.perf_counter() - started
    return row


# --------------------------------------------------------------------------- planning and the loop


def arm_target(study: Study, arm: int, rows: dict[str, dict]) -> int:
    """Replications the arm needs: the fixed count, or with a CI target, ``min`` and then more (in steps
    estimated from the half-width so far, at most doubling) until the target or ``max`` is reached.
    Decided only from finished runs, so the same seeds always give the same set of runs."""
    reps = study.replications
    if reps.count is not None:
        return reps.count
    target = reps.min
    while target < reps.max:
        done = [rows.get(run_id(arm, r)) for r in range(target)]
        if any(row is None for row in done):
            return target
        values = [row[reps.kpi] for row in done if row["status"] == "ok"]
        _, half = mean_ci(values)
        if half is not None and half <= reps.half_width:
            return target
        grow = target + 1 if half is None else math.ceil(len(values) * (half / reps.half_width) ** 2)
        target = min(reps.max, 2 * target, max(target + 1, grow))
    return target


@dataclass
class SweepOutcome:
    """What a sweep did: runs done now and before, failures, wall time, mean simulation and overhead."""

    ran: int
    reused: int
    failed: int
    wall_s: float
    workers: int
    sim_s: float | None
    overhead_s: float | None


def _tasks(study: Study, store: RunStore, busy: set[str], out_dir: Path, keep_runs: bool) -> list[dict]:
    todo = []
    targets = [arm_target(study, a, store.rows) for a in range(len(study.design.arms))]
    for rep in range(max(targets, default=0)):
        for arm, target in enumerate(targets):
            rid = run_id(arm, rep)
            if rep < target and rid not in store.rows and rid not in busy:
                seed = run_seed(study.seed, arm=arm, replication=rep, common=study.common)
                todo.append(
                    {
                        "run_id": rid,
                        "arm": arm,
                        "replication": rep,
                        "seed": seed,
                        "scenario": study.scenarios[arm].model_dump(mode="json"),
                        "filename": str(study.base.absolute()),
                        "warmup_s": study.warmup_s,
                        "kpis": dict(study.kpis),
                        "keep_dir": str(out_dir / "runs" / rid) if keep_runs else None,
                    }
                )
    return todo


def run_sweep(
    study: Study,
    out_dir: Path,
    *,
    networks: dict,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    keep_runs: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) a sweep into ``out_dir`` (checked by :func:`check_sweep_target`), holding its
    lock. ``progress(done, total, failed)`` is called as runs finish. Ctrl-C/SIGTERM stop the workers;
    finished runs are kept for ``--resume``."""
    started = time.perf_counter()
    pool = DaskPool(scheduler) if scheduler else LocalPool(workers or os.cpu_count() or 1)
    try:
        outcome = _sweep(
            study,
            out_dir,
            pool,
            started=started,
            networks=networks,
            resume=resume,
            keep_runs=keep_runs,
            progress=progress,
        )
    except BaseException:
        pool.close(cancel=True)  # stop the runs in flight: finished ones are stored
        raise
    pool.close()
    return outcome


def _sweep(
    study: Study,
    out_dir: Path,
    pool: LocalPool | DaskPool,
    *,
    started: float,
    networks: dict,
    resume: bool,
    keep_runs: bool,
    progress: Callable[[int, int, int], None] | None,
) -> SweepOutcome:
    with output_lock(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out_dir)
        if keep_runs:
            (out_dir / "runs").mkdir(exist_ok=True)
            clean_leftovers(out_dir / "runs")
        if not resume:
            write_study_files(out_dir, study, networks)
        store = RunStore(out_dir, study)
        if resume:
            store.load()
        reused = len(store.rows)
        store.flush(force=True)
        busy: dict[Any, dict] = {}
        ran = failed = 0
        try:
            while True:
                todo = _tasks(study, store, {t["run_id"] for t in busy.values()}, out_dir, keep_runs)
                if not todo and not busy:
                    break
                room = max(pool.capacity - len(busy), 0)
                for task in todo[:room]:
                    busy[pool.submit(task)] = task
                if progress is not None:
                    progress(len(store.rows), len(store.rows) + len(busy) + len(todo[room:]), failed)
                for future in pool.wait(list(busy), timeout=1.0):
                    task = busy.pop(future)
                    row = store.add(task["arm"], task["replication"], result_of(future))
                    ran += 1
                    failed += row["status"] != "ok"
                store.flush()
            store.flush(force=True)
            if progress is not None:
                progress(len(store.rows), len(store.rows), failed)
        except BaseException:
            store.flush(force=True)
            raise
    done = [r for r in store.rows.values() if r["status"] == "ok"]
    sim = [r["sim_s"] for r in done] or [math.nan]
    wall = time.perf_counter() - started
    sim_mean = float(sum(sim) / len(sim))
    overhead = [r["wall_s"] - r["sim_s"] for r in done]
    return SweepOutcome(
        ran=ran,
        reused=reused,
        failed=failed,
        wall_s=wall,
        workers=pool.workers,
        sim_s=sim_mean if done else None,
        overhead_s=float(sum(overhead) / len(overhead)) if overhead else None,
    )
