"""Compare sets of replications: mean ± 95% CI per side and the difference to the first side, paired by
seed when both sides have the same seeds (common random numbers), else Welch.

A side is a run directory (one run), a folder whose sub-directories are run directories (a set), or a
sweep arm ``SWEEP_DIR:ARM`` (``ARM``: the arm's index, or factor values ``units=22,policy=nearest``),
whose KPIs are read from ``runs.parquet`` (the study's KPI columns, warm-up excluded as the sweep
measured them). KPIs are dotted ``summary.json`` paths; the statistics are :mod:`.sweep_stats`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policetwin.experiments.compare import (
    CompareError,
    _kpi_rows,
    _number,
    _read_summary,
    compare_runs,
    format_value,
    render_comparison,
)
from policetwin.experiments.sweep_stats import mean_ci, paired_ci, welch_ci


@dataclass
class Side:
    """One side: its label, per KPI path its values by seed, units and labels of the KPIs, notes."""

    label: str
    seeds: list[int]
    values: dict[str, list[float | None]]  # KPI path -> one value per run (in seed order)
    units: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    run_dirs: list[Path] = field(default_factory=list)
    warmup_s: float = 0.0

    @property
    def n(self) -> int:
        return len(self.seeds)


def _sweep_arm(spec: str) -> tuple[Path, str] | None:
    """``DIR:ARM`` when DIR is a sweep directory and the whole text is not an existing path."""
    from policetwin.experiments.sweep_store import is_sweep_dir

    if Path(spec).exists() or ":" not in spec:
        return None
    where, arm = spec.rsplit(":", 1)
    return (Path(where), arm) if is_sweep_dir(Path(where)) else None


def _pick_arm(study: dict, arm: str, spec: str) -> int:
    arms = study["arms"]
    if arm.isdigit():
        if int(arm) >= len(arms):
            raise CompareError(f"{spec}: the sweep has arms 0..{len(arms) - 1}")
        return int(arm)
    want = {}
    for part in arm.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise CompareError(f"{spec}: give the arm as an index or column=value[,column=value]")
        want[key.strip()] = value.strip()
    columns = {f["column"] for f in study["factors"]}
    unknown = sorted(set(want) - columns)
    if unknown:
        raise CompareError(
            f"{spec}: unknown factor column {unknown[0]!r} (columns: {', '.join(sorted(columns))})"
        )
    hits = [a["arm"] for a in arms if all(str(a[k]) == v for k, v in want.items())]
    if len(hits) != 1:
        raise CompareError(f"{spec}: {len(hits)} arms match; name more factor values or give the arm's index")
    return int(hits[0])


def _side_from_sweep(where: Path, arm_text: str, spec: str) -> Side:
    from policetwin.experiments.sweep_report import read_sweep

    runs, study, _ = read_sweep(where)
    arm = _pick_arm(study, arm_text, spec)
    mine = runs[(runs["arm"] == arm) & (runs["status"] == "ok")].sort_values("replication")
    if mine.empty:
        raise CompareError(f"{spec}: the arm has no finished runs")
    kpis = study["kpis"] if isinstance(study["kpis"], dict) else {k: k for k in study["kpis"]}
    values = {path: [_finite(v) for v in mine[col]] for col, path in kpis.items()}
    factors = ",".join(f"{f['column']}={study['arms'][arm][f['column']]}" for f in study["factors"])
    return Side(f"{where.name}:{arm}" + (f" ({factors})" if factors else ""), [int(s) for s in mine["seed"]],
                values, labels={p: c for c, p in kpis.items()}, warmup_s=float(study.get("warmup_s") or 0.0))  # fmt: skip


def _finite(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _side_from_runs(path: Path) -> Side:
    """A run directory, or a folder of them (sub-directories with summary.json, in name order)."""
    if not path.is_dir():
        raise CompareError(f"{path}: does not exist" if not path.exists() else f"{path}: is not a directory")
    dirs = [path] if (path / "summary.json").is_file() else sorted(
        p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "summary.json").is_file())  # fmt: skip
    if not dirs:
        raise CompareError(f"{path}: neither a run directory nor a folder of run directories (no summary.json), "
                           "nor SWEEP_DIR:ARM")  # fmt: skip
    summaries = [_read_summary(d) for d in dirs]
    side = Side(path.name or str(path), [int(s.get("seed", -1)) for s in summaries], {}, run_dirs=dirs)
    for row in _kpi_rows(summaries):
        side.values[row.key] = [_number(s, tuple(row.key.split("."))) for s in summaries]
        side.units[row.key], side.labels[row.key] = row.unit, row.label
    return side


def read_side(spec: str | Path) -> Side:
    """A side from its command-line text (see the module docstring)."""
    arm = _sweep_arm(str(spec))
    return _side_from_sweep(arm[0], arm[1], str(spec)) if arm else _side_from_runs(Path(spec))


@dataclass(frozen=True)
class SetRow:
    """One KPI: per side (mean, CI half-width, n), and per later side the difference to the first with
    its half-width, pairs used (0: unpaired, Welch)."""

    key: str
    label: str
    unit: str
    cells: tuple[tuple[float | None, float | None, int], ...]
    diffs: tuple[tuple[float | None, float | None, int], ...]


def paired_by_seed(a: Side, b: Side) -> bool:
    """Both sides have the same seeds, each once: their runs pair up (common random numbers)."""
    return len(set(a.seeds)) == a.n and len(set(b.seeds)) == b.n and set(a.seeds) == set(b.seeds)


def compare_sets(sides: list[Side]) -> tuple[list[SetRow], list[str]]:
    """The KPI rows of the KPIs every side has, and notes (pairing, warm-up mixes, KPIs left out)."""
    import pandas as pd

    if len(sides) < 2:
        raise CompareError(f"compare needs at least 2 runs or sets, got {len(sides)}")
    first = sides[0]
    keys = [k for k in dict.fromkeys(k for s in sides for k in s.values) if all(k in s.values for s in sides)]
    if not keys:
        raise CompareError("the sides have no KPI in common")
    notes = []
    for s in sides[1:]:
        how = "paired by seed" if paired_by_seed(first, s) else "unpaired (Welch): the seeds differ"
        notes.append(f"{s.label} - {first.label}: {how}")
    if len({s.warmup_s for s in sides}) > 1:
        notes.append("the sides differ in warm-up (sweep KPIs leave it out): differences mix both")
    rows = []
    for key in keys:
        cells = tuple((*mean_ci(s.values[key]), sum(v is not None for v in s.values[key])) for s in sides)
        diffs = []
        for s in sides[1:]:
            if paired_by_seed(first, s):
                d, hw, n = paired_ci(pd.Series(s.values[key], index=s.seeds, dtype=float),
                                     pd.Series(first.values[key], index=first.seeds, dtype=float))  # fmt: skip
            else:
                (d, hw), n = welch_ci(s.values[key], first.values[key]), 0
            diffs.append((d, hw, n))
        unit = next((s.units[key] for s in sides if key in s.units), _guess_unit(key))
        label = next((s.labels[key] for s in sides if key in s.labels), key)
        rows.append(SetRow(key, label, unit, cells, tuple(diffs)))
    return rows, notes


def _guess_unit(key: str) -> str:
    last = key.rsplit(".", 1)[-1]
    return "s" if last.endswith("_s") else "share" if last in ("within_target", "utilisation") else "count"


def _cell(mean: float | None, half: float | None, unit: str) -> str:
    if mean is None:
        return "-"
    if half is None:
        return format_value(mean, unit)
    if unit == "share":
        return f"{100 * mean:.1f}% ± {100 * half:.1f} pp"
    return f"{format_value(mean, unit)} ± {format_value(half, unit)}"


def _diff(d: float | None, hw: float | None, unit: str) -> str:
    if d is None:
        return "-"
    if unit == "share":
        return f"{100 * d:+.1f} pp" + ("" if hw is None else f" ± {100 * hw:.1f}")
    sign = "+" if d >= 0 else "-"
    text = sign + format_value(abs(d), unit)
    return text + ("" if hw is None else f" ± {format_value(hw, unit)}")


def sets_table(sides: list[Side], rows: list[SetRow]) -> Table:
    """KPI | mean ± 95% CI (n) per side | difference to the first ± 95% CI per later side."""
    table = Table(
        title=Text(f"{len(sides)} sets compared: mean ± 95% CI (differences against {sides[0].label})")
    )
    table.add_column("KPI")
    for s in sides:
        table.add_column(Text(f"{s.label} (n={s.n})"), justify="right")
    for s in sides[1:]:
        table.add_column(Text(f"Δ {s.label}"), justify="right")
    for r in rows:
        cells = [_cell(m, h, r.unit) for m, h, _ in r.cells] + [_diff(d, h, r.unit) for d, h, _ in r.diffs]
        table.add_row(
            Text(r.label), *map(Text, cells), style="bold" if r.key.startswith("overall.") else None
        )
    return table


def compare_command_output(specs: list[Path], console: Console) -> None:
    """What ``policetwin compare`` prints: the run table when every side is one run, else the sets."""
    sides = [read_side(s) for s in specs]
    if all(s.n == 1 and s.run_dirs for s in sides):
        render_comparison(compare_runs([s.run_dirs[0] for s in sides]), console)
        return
    rows, notes = compare_sets(sides)
    console.print(sets_table(sides, rows))
    if all(s.run_dirs for s in sides):
        diff = compare_runs([s.run_dirs[0] for s in sides]).scenario_diff
        names = " -> ".join(s.label for s in sides)
        head = f"scenario differences (first run of each, {names}):" if diff else "scenarios: no differences"
        console.print(Text(head))
        for line in diff[:30]:
            console.print(Text(f"  {line}"))
    for note in notes:
        console.print(Text(f"note: {note}", style="yellow"))
