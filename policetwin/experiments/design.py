"""The design of a study: its arms (a grid of factor values, or points sampled with SALib), the seed of
every run (common random numbers), the column names of ``runs.parquet`` and the valid scenario paths.

Kept free of I/O so that the same design is computed in the CLI, on resume and in the report.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

#: Sampling methods for ranges: Latin hypercube and uniform random points (any analysis), Saltelli
#: points for Sobol indices, Morris trajectories for elementary effects (all but random via SALib).
SAMPLE_METHODS = ("lhs", "random", "saltelli", "morris")
#: Columns every row of ``runs.parquet`` has; factor and KPI columns may not use these names.
RESERVED_COLUMNS = ("run_id", "arm", "replication", "seed", "status", "error", "wall_s", "sim_s")


@dataclass(frozen=True)
class Factor:
    """One factor: a dotted scenario path, its column in ``runs``, and a list of values or a range."""

    path: str
    column: str
    values: tuple | None = None  # a grid factor
    low: float | None = None  # a range factor (sampled)
    high: float | None = None
    integer: bool = False


@dataclass
class Design:
    """The arms of a study: ``arms[i]`` maps each factor path to its value in arm ``i``."""

    factors: list[Factor]
    arms: list[dict[str, Any]]
    method: str = "grid"
    sample_x: np.ndarray | None = None  # the SALib sample (before rounding), one row per arm
    options: dict = field(default_factory=dict)

    def problem(self) -> dict:
        """The SALib problem of a sampled design (names are the factor columns)."""
        return {
            "num_vars": len(self.factors),
            "names": [f.column for f in self.factors],
            "bounds": [[f.low, f.high] for f in self.factors],
        }


def kpi_column(path: str) -> str:
    """The ``runs`` column of a KPI path: ``priorities.1.within_target`` -> ``p1_within_target``,
    ``overall.response_mean_s`` -> ``all_response_mean_s``, other dots -> ``_``
    (``queue.mean_wait_for_unit_s`` -> ``queue_mean_wait_for_unit_s``)."""
    name = re.sub(r"^priorities\.(\d+)\.", r"p\1_", path)
    name = re.sub(r"^overall\.", "all_", name)
    return re.sub(r"\W+", "_", name).strip("_") or "kpi"


def factor_column(path: str, others: list[str]) -> str:
    """A factor's column: the last non-index part of its path (``dispatch.policy`` -> ``policy``), or the
    whole path with ``_`` when another factor ends in the same name or it is a reserved column."""
    parts = [p for p in path.split(".") if not p.isdigit()]
    short = re.sub(r"\W+", "_", parts[-1] if parts else path)
    clash = sum(1 for o in others if [p for p in o.split(".") if not p.isdigit()][-1:] == parts[-1:]) > 1
    if clash or short in RESERVED_COLUMNS:
        return re.sub(r"\W+", "_", path)
    return short


def scenario_paths(data: Any, prefix: str = "") -> dict[str, Any]:
    """Every dotted path of a resolved scenario dump (mappings and list items, with their values)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out[path] = value
            out.update(scenario_paths(value, path))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            path = f"{prefix}.{i}"
            out[path] = value
            out.update(scenario_paths(value, path))
    return out


def unknown_path(path: str, paths: dict[str, Any]) -> str | None:
    """Why ``path`` names no scenario value (with the nearest valid path), or None if it does.

    A path below a value that is empty or unset (``units.groups.0.count`` while ``groups`` is unset,
    a key of ``travel.speeds_kph``) is accepted: the scenario's validation judges it.
    """
    if path in paths:
        return None
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if head in paths:
            value = paths[head]
            if (
                value is None
                or value == {}
                or value == []
                or (isinstance(value, list) and parts[i].isdigit())
            ):
                return None
            break
    near = difflib.get_close_matches(path, list(paths), n=1, cutoff=0.5)
    return f"unknown scenario path {path!r}" + (f" (nearest valid path: {near[0]})" if near else "")


def yaml_value(value: Any) -> str:
    """A value as one line of YAML, for a ``path=value`` override (strings stay strings)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9).strip()
    return text.removesuffix("...").strip()


def grid_arms(factors: list[Factor]) -> list[dict[str, Any]]:
    """Every combination of the factors' values, the first factor varying slowest."""
    paths = [f.path for f in factors]
    return [
        dict(zip(paths, combo, strict=True))
        for combo in itertools.product(*(f.values or () for f in factors))
    ]


def sample_design(factors: list[Factor], *, method: str, n: int, levels: int, seed: int) -> Design:
    """Sampled arms over the factors' ranges (integer factors rounded); deterministic for ``seed``.

    ``n``: points (lhs, random), the base sample size N of Saltelli's scheme (N * (k + 2) points, first
    order and total Sobol indices), or Morris trajectories (n * (k + 1) points on ``levels`` levels).
    """
    design = Design(factors=factors, arms=[], method=method, options={"n": n, "levels": levels})
    problem = design.problem()
    if method == "lhs":
        from SALib.sample import latin

        x = latin.sample(problem, n, seed=seed)
    elif method == "random":
        rng = np.random.default_rng(seed)
        low, high = np.array(problem["bounds"], dtype=float).T
        x = low + rng.random((n, len(factors))) * (high - low)
    elif method == "saltelli":
        from SALib.sample import sobol

        x = sobol.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)
    elif method == "morris":
        from SALib.sample import morris

        x = morris.sample(problem, n, num_levels=levels, seed=seed)
    else:  # pragma: no cover - the study validation allows only SAMPLE_METHODS
        raise ValueError(f"unknown sample method {method!r}")
    design.sample_x = np.asarray(x, dtype=float)
    for row in design.sample_x:
        design.arms.append(
            {f.path: int(np.rint(v)) if f.integer else float(v) for f, v in zip(factors, row, strict=True)}
        )
    return design


def run_seed(study_seed: int, *, arm: int, replication: int, common: bool) -> int:
    """The seed of one run. Common random numbers: replication r has the same seed in every arm, so every
    arm sees the same calls and service times; independent: a different seed for every (arm, r)."""
    key = (replication,) if common else (replication, arm)
    state = np.random.SeedSequence(study_seed, spawn_key=key).generate_state(1, dtype=np.uint32)
    return int(state[0])


def run_id(arm: int, replication: int) -> str:
    """The id of one run (and the name of its kept run directory): ``a0003-r0012``."""
    return f"a{arm:04d}-r{replication:04d}"
