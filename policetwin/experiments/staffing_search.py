"""Staffing, step 2: confirm and adjust the queueing plan (:mod:`.staffing`) by simulation.

Every plan tried is simulated with the same ``replications`` seeds (common random numbers: every plan
sees the same calls and on-scene times), so plans are compared on the same demand. A period meets the
target when the pooled share of its priority-P calls (by call time, served calls) reached within the
target time, over all replications, is at least the target share. The search: add units to every period
that misses (one, or about a tenth more when it misses by over 10 points) until all meet; then, period by
period, take one unit away while every period still meets (periods interact: busy units finish their
calls after their shift, queues carry over). Runs go to the sweep's worker pool (each worker keeps its
map) or, with one worker, run in this process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from policetwin.experiments.design import run_seed
from policetwin.experiments.staffing import (
    Period,
    PeriodLoad,
    StaffingError,
    Target,
    approx_plan,
    min_stable,
    period_loads,
    periods_of,
    plan_scenario,
    unit_hours_per_day,
)
from policetwin.experiments.sweep_stats import mean_ci
from policetwin.scenarios import Scenario


def staffing_task(task: dict) -> dict:
    """One simulation of a plan: per period, priority-P calls served and those within the target time
    (bucketed by call time). Runs in a sweep worker (map loaded once per worker) or in this process."""
    from policetwin.errors import ScenarioError
    from policetwin.experiments.sweep import _map_check, _network, release_model
    from policetwin.sim.run import simulate

    scenario = Scenario.model_validate(task["scenario"])
    network = _network(scenario, task["filename"])
    check = _map_check(scenario, task["scenario"], network, task["filename"])
    if check.problems:
        raise ScenarioError(check.problems)
    result = simulate(scenario, seed=task["seed"], network=network, filename=task["filename"], checked=check)
    release_model(result.model)
    inc = result.incidents
    inc = inc[inc["priority"] == task["priority"]]
    t_call = inc["t_call"].to_numpy(dtype=float)
    response = (inc["t_arrive"] - inc["t_call"]).to_numpy(dtype=float)
    served = np.isfinite(response)
    within = served & (response <= task["within_s"])
    rows = []
    for spans in task["spans"]:
        mask = np.zeros(t_call.size, dtype=bool)
        for a, b in spans:
            mask |= (t_call >= a) & (t_call < b)
        rows.append((int((mask & served).sum()), int((mask & within).sum())))
    return {"periods": rows, "served": int(served.sum()), "within": int(within.sum())}


@dataclass
class Evaluation:
    """A plan's simulated figures: per period and overall, per replication (served, within)."""

    counts: tuple[int, ...]
    per_rep: list[dict]

    def period_share(self, p: int) -> float:
        served = sum(r["periods"][p][0] for r in self.per_rep)
        return sum(r["periods"][p][1] for r in self.per_rep) / served if served else 1.0

    def period_ci(self, p: int) -> tuple[float | None, float | None]:
        return mean_ci([r["periods"][p][1] / r["periods"][p][0] for r in self.per_rep if r["periods"][p][0]])

    def overall_ci(self) -> tuple[float | None, float | None]:
        return mean_ci([r["within"] / r["served"] for r in self.per_rep if r["served"]])

    def meets(self, target: Target) -> list[bool]:
        return [self.period_share(p) >= target.share for p in range(len(self.counts))]


@dataclass
class StaffingResult:
    """The plan found, its figures and how it was found."""

    target: Target
    per: str
    periods: list[Period]
    loads: list[PeriodLoad]
    approx: list[int | None]
    counts: list[int]
    evaluation: Evaluation
    scenario: dict  # the plan's scenario (resolved, as a dict)
    unit_hours: float  # per day, fixed groups included
    unit_hours_before: float
    simulations: int
    replications: int
    failure: str | None  # why the target was not met (None: met)

    @property
    def met(self) -> bool:
        return self.failure is None


class Evaluator:
    """Simulates plans (cached by counts) with the same seeds; ``workers`` > 1 uses the sweep's pool."""

    def __init__(self, scenario: Scenario, periods: list[Period], fixed: list[dict], target: Target, *,
                 per: str, replications: int, filename: str, workers: int,
                 progress: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.scenario, self.periods, self.fixed, self.target, self.per = scenario, periods, fixed, target, per
        self.seeds = [run_seed(scenario.seed, arm=0, replication=r, common=True) for r in range(replications)]
        self.filename, self.progress = filename, progress
        self.cache: dict[tuple[int, ...], Evaluation] = {}
        self.simulations = 0
        self.pool: Any = None
        if workers > 1:
            from policetwin.experiments.sweep_pools import LocalPool

            self.pool = LocalPool(workers)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def __call__(self, counts: list[int]) -> Evaluation:
        key = tuple(int(c) for c in counts)
        if key in self.cache:
            return self.cache[key]
        data = plan_scenario(self.scenario, self.periods, list(key), self.fixed, per=self.per)
        base = {"scenario": data, "filename": self.filename, "priority": self.target.priority,
                "within_s": self.target.within_s, "spans": [p.spans for p in self.periods]}  # fmt: skip
        tasks = [{**base, "seed": s} for s in self.seeds]
        if self.pool is None:
            rows = [staffing_task(t) for t in tasks]
        else:
            rows = [f.result() for f in [self.pool.executor.submit(staffing_task, t) for t in tasks]]
        self.simulations += len(tasks)
        self.cache[key] = ev = Evaluation(key, rows)
        if self.progress is not None:
            shares = " ".join(f"{100 * ev.period_share(p):.1f}%" for p in range(len(key)))
            self.progress(f"plan {list(key)}: {shares}")
        return ev


#: A period still missing the target that gained less than this share over its last PLATEAU_STEPS
#: increases stops the search (more units no longer help).
PLATEAU = 0.01
PLATEAU_STEPS = 2


def _step(counts: list[int], ev: Evaluation, target: Target, max_units: int) -> list[int]:
    new = list(counts)
    for p, c in enumerate(counts):
        share = ev.period_share(p)
        if share < target.share:
            new[p] = min(max_units, c + (max(1, math.ceil(0.1 * c)) if share < target.share - 0.1 else 1))
    return new


def search(evaluate: Evaluator, start: list[int], floors: list[int], target: Target, *,
           max_units: int) -> tuple[list[int], Evaluation, str | None]:  # fmt: skip
    """Up until every period meets the target, then down one unit at a time. Gives up (with the reason) at
    ``max_units`` or when a missing period gained under :data:`PLATEAU` over its own last
    :data:`PLATEAU_STEPS` increases (more units no longer help: travel alone misses the target)."""
    counts = list(start)
    ev = evaluate(counts)
    history: list[list[float]] = [[ev.period_share(p)] for p in range(len(counts))]
    while not all(ev.meets(target)):
        new = _step(counts, ev, target, max_units)
        if new == counts:
            return counts, ev, f"not met with --max-units {max_units}"
        grown = [p for p in range(len(counts)) if new[p] > counts[p]]
        counts, ev = new, evaluate(new)
        for p in grown:  # a period's share after each of its own increases
            history[p].append(ev.period_share(p))
        missing = [q for q in range(len(counts)) if ev.period_share(q) < target.share]
        stuck = [q for q in missing if len(history[q]) > PLATEAU_STEPS
                 and history[q][-1] - history[q][-1 - PLATEAU_STEPS] < PLATEAU]  # fmt: skip
        if stuck:
            where = ", ".join(f"{evaluate.periods[q].label} ({100 * history[q][-1]:.1f}% with {counts[q]} units)"
                              for q in stuck)  # fmt: skip
            return (
                counts,
                ev,
                f"more units no longer help in {where}: travel or dispatch alone misses the target",
            )
    changed = True
    while changed:
        changed = False
        for p in sorted(range(len(counts)), key=lambda q: -ev.period_share(q)):
            while counts[p] > floors[p]:
                trial = [c - (q == p) for q, c in enumerate(counts)]
                tried = evaluate(trial)
                if not all(tried.meets(target)):
                    break
                counts, ev, changed = trial, tried, True
    return counts, ev, None


def original_unit_hours(scenario: Scenario) -> float:
    """Unit-hours per day of the scenario's own units (shift groups: their window hours)."""
    from policetwin.scenarios.units import window_s

    groups = scenario.units.groups
    if not groups:
        return 24.0 * scenario.units.count
    total = 0.0
    for g in groups:
        if g.shift is None:
            total += 24.0 * g.count
        else:
            days = 7 if not g.shift.days else len(g.shift.days)
            hours = sum(window_s(w)[1] - window_s(w)[0] for w in g.shift.windows) / 3600.0
            total += g.count * hours * days / 7.0
    return total


def optimize_staffing(
    scenario: Scenario,
    *,
    network: Any,
    target: Target,
    per: str,
    replications: int,
    filename: str,
    workers: int | None = None,
    max_units: int = 500,
    progress: Callable[[str], None] | None = None,
) -> StaffingResult:
    """The fewest units per period meeting ``target``: the queueing start, then simulation (see above)."""
    from policetwin.maps import Snapper
    from policetwin.sim.checks import check_on_map
    from policetwin.sim.load import mean_travel_s

    if replications < 1:
        raise StaffingError(f"--replications must be at least 1, got {replications}")
    periods, fixed = periods_of(scenario, per)
    check = check_on_map(scenario, network, Snapper(network), filename=filename)
    travel_s = mean_travel_s(
        scenario, network=network, station_nodes=check.station_nodes, weights=check.weights
    )
    loads = period_loads(scenario, periods, target, travel_s=travel_s)
    approx = approx_plan(loads, target, max_units=max_units)
    floors = [min_stable(load) for load in loads]
    start = [a if a is not None else f for a, f in zip(approx, floors, strict=True)]
    evaluate = Evaluator(scenario, periods, fixed, target, per=per, replications=replications, filename=filename,
                         workers=workers or os.cpu_count() or 1, progress=progress)  # fmt: skip
    try:
        counts, ev, failure = search(evaluate, start, floors, target, max_units=max_units)
    finally:
        evaluate.close()
    return StaffingResult(
        target=target, per=per, periods=periods, loads=loads, approx=approx, counts=counts, evaluation=ev,
        scenario=plan_scenario(scenario, periods, counts, fixed, per=per),
        unit_hours=unit_hours_per_day(periods, counts, fixed), unit_hours_before=original_unit_hours(scenario),
        simulations=evaluate.simulations, replications=replications, failure=failure,
    )  # fmt: skip
