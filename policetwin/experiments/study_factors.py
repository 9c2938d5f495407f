"""Parsing the factors of a study file (a grid of values, or ranges sampled with SALib) and its baseline
arm, with every problem placed at its YAML line (see :mod:`policetwin.experiments.study`)."""

from __future__ import annotations

import re
from typing import Any

from policetwin.experiments.design import (
    RESERVED_COLUMNS,
    SAMPLE_METHODS,
    Design,
    Factor,
    factor_column,
    grid_arms,
    sample_design,
    unknown_path,
)

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Problems(list):
    """Problem lines of one study file, each at the YAML line of its key path."""

    def __init__(self, filename: str, lines: dict[tuple, int]) -> None:
        super().__init__()
        self.filename, self.lines = filename, lines

    def line(self, loc: tuple) -> int:
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)

    def add(self, loc: tuple, msg: str) -> None:
        line = f"{self.filename}:{self.line(loc)}: {'.'.join(map(str, loc)) or '(study)'}: {msg}"
        if line not in self:
            self.append(line)


def is_int(value: Any) -> bool:
    """A whole number (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _factor(key: str, spec: Any, sampled: bool, p: Problems) -> Factor | None:
    """One factor from its spec: a list of values, ``{values: [...], name: ...}`` or a range."""
    loc = ("factors", key)
    name = None
    if isinstance(spec, dict):
        allowed = ("min", "max", "integer", "name") if sampled else ("values", "name")
        for k in spec:
            if k not in ("values", "min", "max", "integer", "name"):
                p.add((*loc, k), f"unknown key (allowed: {', '.join(allowed)})")
        name = spec.get("name")
        if name is not None and (not isinstance(name, str) or not IDENT.match(name)):
            p.add((*loc, "name"), f"a column name: letters, digits and _ (got {name!r})")
            name = None
        if "values" in spec:
            spec = spec["values"]
        elif "min" in spec or "max" in spec:
            low, high, integer = spec.get("min"), spec.get("max"), spec.get("integer", False)
            if not sampled:
                p.add(
                    loc, "a range needs `sample:` (lhs, random, saltelli or morris); for a grid give a list"
                )
            elif not (is_number(low) and is_number(high)) or not low < high:
                p.add(loc, f"a range needs numbers min < max (got min {low!r}, max {high!r})")
            elif not isinstance(integer, bool):
                p.add((*loc, "integer"), f"true or false (got {integer!r})")
            else:
                return Factor(path=key, column=name or "", low=float(low), high=float(high), integer=integer)
            return None
    if not isinstance(spec, list):
        p.add(loc, "give a list of values ([a, b, c]) or, with `sample:`, a range ({min: a, max: b})")
        return None
    if not spec:
        p.add(loc, "empty grid: the factor has no values, so there is no arm to run")
        return None
    if sampled:
        p.add(loc, "with `sample:` every factor is a range {min: a, max: b}")
        return None
    repeats = [v for i, v in enumerate(spec) if v in spec[:i]]
    if repeats:
        p.add(loc, f"value {repeats[0]!r} is listed twice")
    return Factor(path=key, column=name or "", values=tuple(spec))


def parse_design(data: dict, paths: dict, p: Problems, seed: int) -> Design | None:
    """The arms: the grid of the factors' values, or the points sampled over their ranges."""
    raw = data.get("factors")
    sample = data.get("sample")
    if raw is None:
        if sample is not None:
            p.add(("sample",), "there are no factors to sample")
        return Design(factors=[], arms=[{}])
    if not isinstance(raw, dict) or not raw:
        p.add(
            ("factors",),
            "empty grid: give factors as {dotted.scenario.path: [values]} "
            "(or leave `factors` out to replicate the base scenario)",
        )
        return None
    factors = []
    for key, spec in raw.items():
        if (why := unknown_path(str(key), paths)) is not None:
            p.add(("factors", key), why)
        elif (f := _factor(str(key), spec, sample is not None, p)) is not None:
            factors.append(f)
    named = [
        Factor(**{**f.__dict__, "column": f.column or factor_column(f.path, [g.path for g in factors])})
        for f in factors
    ]
    for i, f in enumerate(named):
        if f.column in RESERVED_COLUMNS or f.column in [g.column for g in named[:i]]:
            p.add(("factors", f.path), f"column name {f.column!r} is taken; give the factor a `name:`")
    if p:
        return None
    if sample is None:
        return Design(factors=named, arms=grid_arms(named))
    return _sampled(sample, named, p, seed)


def _sampled(sample: Any, factors: list[Factor], p: Problems, seed: int) -> Design | None:
    if not isinstance(sample, dict):
        p.add(("sample",), f"a mapping {{method: {'|'.join(SAMPLE_METHODS)}, n: N}} (got {sample!r})")
        return None
    for k in sample:
        if k not in ("method", "n", "levels"):
            p.add(("sample", k), "unknown key (allowed: method, n, levels)")
    method, n, levels = sample.get("method"), sample.get("n"), sample.get("levels", 4)
    if method not in SAMPLE_METHODS:
        p.add(("sample", "method"), f"one of {', '.join(SAMPLE_METHODS)} (got {method!r})")
    if not is_int(n) or n < 1:
        p.add(("sample", "n"), f"a whole number >= 1 (got {n!r})")
    elif method == "saltelli" and (n < 2 or n & (n - 1)):
        p.add(("sample", "n"), f"Saltelli's base sample size must be a power of 2, e.g. 16, 32, 64 (got {n})")
    if not is_int(levels) or levels < 2 or levels % 2:
        p.add(("sample", "levels"), f"Morris levels: an even whole number >= 2 (got {levels!r})")
    if p:
        return None
    return sample_design(factors, method=method, n=n, levels=levels, seed=seed)


def parse_baseline(data: dict, design: Design, p: Problems) -> int | None:
    """The reference arm: an arm index or {factor path or column: value}; default the first arm of a grid."""
    raw = data.get("baseline")
    if raw is None:
        return 0 if design.method == "grid" else None
    if is_int(raw):
        if not 0 <= raw < len(design.arms):
            p.add(("baseline",), f"arm index 0..{len(design.arms) - 1} (got {raw})")
        return raw
    if not isinstance(raw, dict):
        p.add(("baseline",), "an arm index, or {factor: value, ...} naming one arm")
        return None
    columns = {f.column: f.path for f in design.factors}
    want = {}
    for key, value in raw.items():
        path = columns.get(key, key)
        if path not in {f.path for f in design.factors}:
            p.add(("baseline", key), f"not a factor of this study (factors: {', '.join(columns.values())})")
        want[path] = value
    matches = [i for i, arm in enumerate(design.arms) if all(arm.get(k) == v for k, v in want.items())]
    if not p and len(matches) != 1:
        p.add(("baseline",), f"names {len(matches)} arms; it must name exactly one")
    return matches[0] if len(matches) == 1 else None
