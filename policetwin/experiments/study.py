"""Study files (``experiments/*.yaml``) for ``policetwin sweep``: read safely, validated like scenarios.

Every problem is reported at once as ``file:line: field: message`` (exit 2 in the CLI), before any run:
unknown keys, unknown factor paths (with the nearest valid path), factor values that make a scenario
invalid (at the factor's line, each bad value once), an empty grid, replications < 1. The keys are
described in ``docs/experiments.md``; :class:`Study` is the validated result with every arm's scenario.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policetwin.durations import parse_duration
from policetwin.errors import ScenarioError
from policetwin.experiments.design import (
    RESERVED_COLUMNS,
    Design,
    kpi_column,
    scenario_paths,
    unknown_path,
    yaml_value,
)
from policetwin.experiments.study_factors import (
    IDENT,
    Problems,
    is_int,
    is_number,
    parse_baseline,
    parse_design,
)
from policetwin.scenarios import Scenario, load_scenario, resolve_scenario_path, scenario_sha256
from policetwin.scenarios.loader import bundled_scenarios
from policetwin.scenarios.yamlfile import MAX_SCENARIO_BYTES, parse_yaml

STUDY_KEYS = (
    "name",
    "description",
    "base",
    "set",
    "factors",
    "sample",
    "replications",
    "seeds",
    "seed",
    "warmup",
    "kpis",
    "baseline",
)
#: Most runs a study may plan (arms x replications, or x the maximum with a CI target): a guard against typos.
MAX_RUNS = 200_000
_PROBLEM = re.compile(r"^(?P<file>.*?):(?P<line>\d+): (?P<field>\S+): (?P<msg>.*)$")


@dataclass(frozen=True)
class Replications:
    """A fixed number of replications per arm, or a target 95% CI half-width of one KPI (by column):
    start with ``min`` and add replications to an arm until its half-width is reached or ``max``."""

    count: int | None = None
    kpi: str | None = None
    half_width: float | None = None
    min: int = 3
    max: int = 3

    @property
    def most(self) -> int:
        return self.count if self.count is not None else self.max


@dataclass
class Study:
    """A validated study: its design, one resolved scenario per arm, seeds, warm-up, KPIs, baseline."""

    name: str
    file: Path
    base: Path
    base_scenario: Scenario
    set: dict[str, Any]
    design: Design
    scenarios: list[Scenario]
    replications: Replications
    common: bool
    seed: int
    warmup_s: float
    kpis: dict[str, str]  # column -> dotted summary path
    baseline_arm: int | None
    lines: dict[tuple, int]
    kpi_locs: dict[str, tuple]  # column -> its key path in the study file (for problems)

    def resolved(self) -> dict:
        """The study with everything resolved (written as the sweep's ``study.yaml``)."""
        factors = []
        for f in self.design.factors:
            spec = (
                {"values": list(f.values or ())}
                if f.values is not None
                else {"min": f.low, "max": f.high, "integer": f.integer}
            )
            factors.append({"path": f.path, "column": f.column, **spec})
        reps = self.replications
        return {
            "name": self.name,
            "study_file": str(self.file.absolute()),
            "base": str(self.base.absolute()),
            "base_file_sha256": hashlib.sha256(self.base.read_bytes()).hexdigest(),
            "base_scenario_sha256": scenario_sha256(self.base_scenario),
            "set": self.set,
            "factors": factors,
            "sample": None
            if self.design.method == "grid"
            else {"method": self.design.method, **self.design.options},
            "replications": {"count": reps.count}
            if reps.count is not None
            else {"kpi": reps.kpi, "half_width": reps.half_width, "min": reps.min, "max": reps.max},
            "seeds": "common" if self.common else "independent",
            "seed": self.seed,
            "warmup_s": self.warmup_s,
            "kpis": dict(self.kpis),
            "baseline_arm": self.baseline_arm,
            "arms": [
                {"arm": i, **{f.column: arm[f.path] for f in self.design.factors}}
                for i, arm in enumerate(self.design.arms)
            ],
            "sample_x": None if self.design.sample_x is None else self.design.sample_x.tolist(),
        }

    def sha256(self) -> str:
        """Hash of the resolved study's content (its design, the base scenario's text and resolved form;
        not where the files are), to tell whether ``--resume`` continues the same study."""
        content = {k: v for k, v in self.resolved().items() if k not in ("study_file", "base")}
        return hashlib.sha256(yaml.safe_dump(content, sort_keys=True).encode()).hexdigest()

    def columns(self) -> dict[str, str]:
        """Factor column -> path."""
        return {f.column: f.path for f in self.design.factors}

    def problems(self) -> Problems:
        """An empty problem list that places problems at this study file's lines."""
        return Problems(str(self.file), self.lines)

    def arm_problems(self, arm: int, problems: list[str], p: Problems) -> None:
        """Add problems found in one arm's scenario (``file:line: field: msg``) at the study's lines:
        at the factor whose value caused them, else at ``factors`` naming the arm."""
        _attribute(p, arm, self.design.arms[arm], problems)


def _read(path: Path) -> str:
    """The study file's text, or ScenarioError (missing, a directory, too large, not UTF-8)."""
    name = str(path)
    try:
        if path.is_dir():
            raise ScenarioError([f"{name}:1: (file): is a directory, not a study file"])
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError([f"{name}:1: (file): larger than {MAX_SCENARIO_BYTES // 1024} kB"])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([f"{name}:0: (file): no such study file"]) from None
    except OSError as exc:
        raise ScenarioError([f"{name}:0: (file): cannot read: {exc.strerror or exc}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError([f"{name}:{line}: (file): not UTF-8 text; save the file as UTF-8"]) from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study file and every arm's scenario; ScenarioError lists all problems."""
    path = Path(path)
    filename = str(path)
    data, lines = parse_yaml(_read(path), filename)
    p = Problems(filename, lines)
    for key in data:
        if key not in STUDY_KEYS:
            p.add((key,), f"unknown key (allowed: {', '.join(STUDY_KEYS)})")
    base = _base_path(data, path, p)
    set_values = data.get("set") or {}
    if not isinstance(set_values, dict):
        p.add(("set",), "a mapping of dotted scenario paths to values, e.g. {duration: 12h}")
        set_values = {}
    if p or base is None:
        raise ScenarioError(p)
    base_scenario = _load_base(base, set_values, p)
    if base_scenario is None:
        raise ScenarioError(p)
    paths = scenario_paths(base_scenario.model_dump(mode="json"))
    for key in set_values:
        if (why := unknown_path(str(key), paths)) is not None:
            p.add(("set", key), why)
    seed = data.get("seed", base_scenario.seed)
    if not is_int(seed) or seed < 0:
        p.add(("seed",), f"a whole number >= 0 (got {seed!r})")
        seed = 0
    design = parse_design(data, paths, p, seed)
    kpi_specs = _kpis(data, base_scenario, [f.column for f in design.factors] if design else [], p)
    kpis = {column: path for column, (path, _) in kpi_specs.items()}
    reps = _replications(data, kpis, p)
    common = data.get("seeds", "common")
    if common not in ("common", "independent"):
        p.add(("seeds",), f"common or independent (got {common!r})")
    warmup_s = 0.0
    try:
        warmup_s = parse_duration(data.get("warmup", 0))
        if warmup_s < 0:
            p.add(("warmup",), f"must be >= 0 (got {data['warmup']!r})")
    except ValueError as exc:
        p.add(("warmup",), str(exc))
    if design is not None and reps is not None and len(design.arms) * reps.most > MAX_RUNS:
        p.add(
            ("replications",), f"{len(design.arms)} arms x {reps.most} replications is over {MAX_RUNS:,} runs"
        )
    if p or design is None or reps is None:
        raise ScenarioError(p)
    scenarios = _arm_scenarios(base, set_values, design, p, warmup_s)
    baseline = parse_baseline(data, design, p)
    if p:
        raise ScenarioError(p)
    return Study(
        name=str(data.get("name") or path.stem),
        file=path,
        base=base,
        base_scenario=base_scenario,
        set=dict(set_values),
        design=design,
        scenarios=scenarios,
        replications=reps,
        common=common == "common",
        seed=int(seed),
        warmup_s=warmup_s,
        kpis=kpis,
        baseline_arm=baseline,
        lines=lines,
        kpi_locs={column: loc for column, (_, loc) in kpi_specs.items()},
    )


def _base_path(data: dict, path: Path, p: Problems) -> Path | None:
    """The base scenario: a file relative to the study file (or the working directory), or a bundled name."""
    base = data.get("base")
    if not isinstance(base, str) or not base.strip():
        p.add(("base",), "required: a scenario file or bundled name (" + ", ".join(bundled_scenarios()) + ")")
        return None
    beside = path.parent / base
    if beside.is_file():
        return beside
    found = resolve_scenario_path(base)
    if not found.is_file():
        p.add(("base",), f"no such scenario file {base!r} (bundled: {', '.join(bundled_scenarios())})")
        return None
    return found


def _overrides(values: dict[str, Any]) -> list[str]:
    return [f"{key}={yaml_value(value)}" for key, value in values.items()]


def _load_base(base: Path, set_values: dict, p: Problems) -> Scenario | None:
    """The base scenario with ``set`` applied; its own problems are reported at the base file's lines."""
    try:
        load_scenario(base)
    except ScenarioError as exc:
        p.extend(exc.problems)
        return None
    try:
        return load_scenario(base, _overrides(set_values))
    except ScenarioError as exc:
        for problem in exc.problems:
            m = _PROBLEM.match(problem)
            key = next((k for k in set_values if m and _related(m["field"], str(k))), None)
            p.add(("set", key) if key else ("set",), m["msg"].removesuffix(" [from --set]") if m else problem)
    return None


def _related(field: str, path: str) -> bool:
    return field == path or field.startswith(path + ".") or path.startswith(field + ".")


def _kpis(data: dict, base: Scenario, factor_columns: list[str], p: Problems) -> dict[str, tuple[str, tuple]]:
    """KPI column -> summary path (paths are checked against a probe run before the sweep starts)."""
    raw = data.get("kpis")
    if raw is None:
        top = min(k.priority for k in base.demand.kinds)
        raw = [
            f"priorities.{top}.within_target",
            f"priorities.{top}.response_mean_s",
            "overall.response_mean_s",
            "units.utilisation",
            "queue.mean_wait_for_unit_s",
        ]
    if isinstance(raw, list):
        items = [(kpi_column(v) if isinstance(v, str) else None, v, ("kpis", i)) for i, v in enumerate(raw)]
    elif isinstance(raw, dict):
        items = [(k, v, ("kpis", k)) for k, v in raw.items()]
    else:
        p.add(("kpis",), "a list of summary paths, or a mapping column: path")
        return {}
    kpis: dict[str, tuple[str, tuple]] = {}
    for column, path, loc in items:
        if not isinstance(path, str) or not re.fullmatch(r"[\w-]+(\.[\w-]+)*", path):
            p.add(loc, f"a dotted summary path like priorities.1.within_target (got {path!r})")
        elif not isinstance(column, str) or not IDENT.match(column):
            p.add(loc, f"a column name: letters, digits and _ (got {column!r})")
        elif column in kpis or column in factor_columns or column in RESERVED_COLUMNS:
            p.add(loc, f"column name {column!r} is taken; use the mapping form {{name: path}}")
        else:
            kpis[column] = (path, loc)
    if not kpis and not p:
        p.add(("kpis",), "name at least one KPI")
    return kpis


def _replications(data: dict, kpis: dict[str, str], p: Problems) -> Replications | None:
    raw = data.get("replications", 1)
    if is_int(raw):
        if raw < 1:
            p.add(("replications",), f"must be at least 1 (got {raw})")
            return None
        return Replications(count=raw, min=raw, max=raw)
    if not isinstance(raw, dict):
        p.add(
            ("replications",), f"a whole number >= 1, or {{kpi: NAME, half_width: W, max: N}} (got {raw!r})"
        )
        return None
    for k in raw:
        if k not in ("kpi", "half_width", "min", "max"):
            p.add(("replications", k), "unknown key (allowed: kpi, half_width, min, max)")
    kpi, hw, low, high = raw.get("kpi"), raw.get("half_width"), raw.get("min", 3), raw.get("max")
    by_path = {path: col for col, path in kpis.items()}
    column = kpi if kpi in kpis else by_path.get(kpi)
    if column is None:
        p.add(("replications", "kpi"), f"one of the study's kpis ({', '.join(kpis)}) (got {kpi!r})")
    if not is_number(hw) or not hw > 0:
        p.add(("replications", "half_width"), f"the target 95% CI half-width, a number > 0 (got {hw!r})")
    if not is_int(low) or low < 2:
        p.add(("replications", "min"), f"at least 2 (a CI needs two values) (got {low!r})")
    if not is_int(high) or (is_int(low) and high < low):
        p.add(("replications", "max"), f"a whole number >= min (got {high!r})")
    if p:
        return None
    return Replications(kpi=column, half_width=float(hw), min=low, max=high)


def _attribute(p: Problems, i: int, arm: dict, problems: list[str]) -> None:
    for problem in problems:
        m = _PROBLEM.match(problem)
        key = next((k for k in arm if m and _related(m["field"], k)), None)
        msg = m["msg"].removesuffix(" [from --set]") if m else problem
        if key is not None:
            p.add(("factors", key), f"value {arm[key]!r}: {msg}")
        else:
            desc = ", ".join(f"{k}={v!r}" for k, v in arm.items()) or "the base scenario"
            p.add(
                ("factors",) if arm else ("base",),
                f"arm {i} ({desc}): {m['field'] + ': ' + msg if m else msg}",
            )


def _arm_scenarios(
    base: Path, set_values: dict, design: Design, p: Problems, warmup_s: float
) -> list[Scenario]:
    """Every arm's scenario; each bad factor value is reported once, at the factor's line."""
    scenarios = []
    for i, arm in enumerate(design.arms):
        try:
            sc = load_scenario(base, _overrides(set_values) + _overrides(arm))
        except ScenarioError as exc:
            _attribute(p, i, arm, exc.problems)
            continue
        scenarios.append(sc)
    short = [i for i, sc in enumerate(scenarios) if warmup_s >= sc.duration]
    if short and len(scenarios) == len(design.arms):
        shortest = min(scenarios[i].duration for i in short)
        arms = ", ".join(map(str, short[:10])) + (" ..." if len(short) > 10 else "")
        p.add(("warmup",), f"must be shorter than the run's duration ({shortest:g} s; arms {arms})")
    return scenarios
