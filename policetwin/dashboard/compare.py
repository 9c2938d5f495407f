"""Compare runs or sets of replications with the function behind ``policetwin compare``
(:func:`policetwin.experiments.compare_runs`): KPI values side by side, deltas against the first, and the
scenario differences; a set of replications shows mean ± 95% confidence interval over its runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policetwin.dashboard.catalogue import CATALOGUE
from policetwin.dashboard.i18n import fmt_count, fmt_duration, fmt_share, t
from policetwin.experiments import compare_runs
from policetwin.experiments.compare import format_delta
from policetwin.experiments.sweep_stats import mean_ci


@dataclass(frozen=True)
class Side:
    """One column of the comparison: a run (n = 1) or a set of replications."""

    label: str
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Row:
    """One KPI: its summary key, unit, per side (mean, CI half-width or None, n) and deltas vs the first."""

    key: str
    unit: str
    english: str
    cells: tuple[tuple[float | None, float | None, int], ...]
    deltas: tuple[tuple[float | None, float | None], ...]


@dataclass(frozen=True)
class View:
    """What the Compare page shows."""

    labels: tuple[str, ...]
    rows: tuple[Row, ...]
    scenario_diff: tuple[str, ...]
    notes: tuple[str, ...]
    replicated: bool


def compare_sides(sides: list[Side]) -> View:
    """KPIs of every run of every side via ``compare_runs`` (one call), then the mean (and CI) per side;
    the scenario differences and notes come from ``compare_runs`` on each side's first run."""
    flat = [p for s in sides for p in s.paths]
    full = compare_runs(flat)
    firsts = compare_runs([s.paths[0] for s in sides]) if len(sides) >= 2 else full
    bounds, start = [], 0
    for s in sides:
        bounds.append((start, start + len(s.paths)))
        start += len(s.paths)
    rows = []
    for r in full.rows:
        cells = []
        for a, b in bounds:
            mean, half = mean_ci(list(r.values[a:b]))
            cells.append((mean, half, b - a))
        base = cells[0][0]
        deltas = tuple(
            (None, None)
            if c[0] is None or base is None
            else (c[0] - base, 100 * (c[0] - base) / base if base > 0 else None)
            for c in cells[1:]
        )
        rows.append(Row(r.key, r.unit, r.label, tuple(cells), deltas))
    return View(
        labels=tuple(s.label for s in sides),
        rows=tuple(rows),
        scenario_diff=firsts.scenario_diff,
        notes=firsts.notes,
        replicated=any(len(s.paths) > 1 for s in sides),
    )


def kpi_label(row: Row, lang: str) -> str:
    """The KPI's name in ``lang`` (``P1 平均响应时间``); the English label for KPIs the catalogue lacks."""
    parts = row.key.split(".")
    if parts[0] == "priorities" and len(parts) == 3 and f"ck.{parts[2]}" in CATALOGUE:
        return f"P{parts[1]} {t(f'ck.{parts[2]}', lang)}"
    if parts[0] == "overall" and len(parts) == 2 and f"ck.{parts[1]}" in CATALOGUE:
        return f"{t('ck.all', lang)} {t(f'ck.{parts[1]}', lang)}"
    if f"ck.{row.key}" in CATALOGUE:
        return t(f"ck.{row.key}", lang)
    return row.english


def format_cell(value: float | None, half: float | None, unit: str, lang: str) -> str:
    """A value (± CI half-width) for display."""
    fmt = {"s": lambda v: fmt_duration(v, lang), "share": fmt_share}.get(unit, fmt_count)
    if value is None:
        return "-"
    if half is None:
        return fmt(value)
    if unit == "share":
        return f"{fmt(value)} ± {t('unit.pp', lang, v=f'{100 * half:.1f}')}"
    return f"{fmt(value)} ± {fmt(half)}"


def format_change(delta: float | None, pct: float | None, unit: str, lang: str) -> str:
    """A delta for display (durations in the language's units; shares in percentage points)."""
    if delta is None:
        return "-"
    if unit == "share":
        return "±0" if delta == 0 else t("unit.pp", lang, v=f"{100 * delta:+.1f}")
    if unit != "s":
        return format_delta(delta, pct, unit)
    if delta == 0:
        return "±0"
    text = ("+" if delta > 0 else "-") + fmt_duration(abs(delta), lang)
    return text if pct is None else f"{text} ({pct:+.1f}%)"
