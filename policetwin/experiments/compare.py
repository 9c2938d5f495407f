"""Compare run directories: KPIs with deltas against the first run, and the dotted key paths whose
resolved scenario values differ (``units.count: 7 -> 9``). Only ``summary.json`` and ``scenario.yaml``
(safe YAML) are read, never unpickled or evaluated, so runs from elsewhere are safe to compare; summaries
of other versions are accepted, a KPI a run lacks is ``None`` (shown as ``-``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policetwin.durations import format_duration
from policetwin.errors import PoliceTwinError, ScenarioError
from policetwin.scenarios.yamlfile import parse_yaml

if TYPE_CHECKING:
    import pandas as pd

#: KPIs reported per priority and overall: (key in the summary, label, unit).
_CALL_KPIS = (
    ("count", "calls", "count"),
    ("within_target", "within target", "share"),
    ("response_mean_s", "response mean", "s"),
    ("response_p90_s", "response p90", "s"),
    ("time_to_help_mean_s", "time to help mean", "s"),
)
#: Run-wide KPIs: (dotted path in summary.json, label, unit). Rows no run has are dropped.
_RUN_KPIS = (
    ("units.count", "units", "count"),
    ("units.utilisation", "units utilisation", "share"),
    ("units.saturation_index", "units saturation index", "share"),
    ("queue.p_wait_for_unit", "P(wait for unit)", "share"),
    ("queue.mean_wait_for_unit_s", "mean wait for unit", "s"),
    ("queue.mean_wait_for_taker_s", "mean wait for call-taker", "s"),
    ("queue.max_waiting", "max calls waiting", "count"),
    ("dispatch.preemptions", "pre-emptions", "count"),
    ("dispatch.out_of_district_share", "out-of-district share", "share"),
    ("dispatch.mutual_aid_share", "mutual-aid share", "share"),
)
_ABSENT = object()  # a key one scenario lacks (older version), shown as "-"
_UNKNOWN = object()  # a run without scenario.yaml, shown as "?"
_COMPACT_CHARS = 60


class CompareError(PoliceTwinError):
    """Run directories cannot be compared (too few, missing, not run directories, unreadable)."""


@dataclass(frozen=True)
class KpiRow:
    """One KPI across runs. ``delta_abs`` and ``delta_pct`` hold run i minus the first run for runs
    2..n (``None`` where a value is missing; ``delta_pct`` also where the first value is not > 0)."""

    key: str  # dotted path in summary.json, e.g. "priorities.1.response_p90_s"
    label: str  # e.g. "P1 response p90"
    unit: str  # "s", "share" (0..1) or "count"
    values: tuple[float | None, ...]
    delta_abs: tuple[float | None, ...]
    delta_pct: tuple[float | None, ...]


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: KPI rows, the scenario differences and notes (version mix, missing files)."""

    run_dirs: tuple[Path, ...]
    labels: tuple[str, ...]  # one column label per run (directory name, disambiguated)
    rows: tuple[KpiRow, ...]
    scenario_diff: tuple[str, ...]  # "units.count: 7 -> 9", values in run order
    notes: tuple[str, ...]

    def row(self, key: str) -> KpiRow:
        """The row of a KPI by its dotted summary path; KeyError if no run has it."""
        return {r.key: r for r in self.rows}[key]


def compare_runs(run_dirs: list[Path]) -> Comparison:
    """Read the runs' summary.json and scenario.yaml and build the comparison (first run = baseline)."""
    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise CompareError(f"compare needs at least 2 run directories, got {len(dirs)}")
    summaries = [_read_summary(d) for d in dirs]
    scenarios = [_read_scenario(d) for d in dirs]
    labels = _labels(dirs)
    missing = [label for label, sc in zip(labels, scenarios, strict=True) if sc is _UNKNOWN]
    notes = [f"{label}: no scenario.yaml (its values show as ?)" for label in missing]
    versions = sorted({str(s.get("version", "?")) for s in summaries})
    if len(versions) > 1:
        notes.append(f"summaries from versions {', '.join(versions)}: KPIs a run lacks show as -")
    rows, diff = tuple(_kpi_rows(summaries)), tuple(_diff(scenarios, ""))
    return Comparison(run_dirs=tuple(dirs), labels=labels, rows=rows, scenario_diff=diff, notes=tuple(notes))


def _read_summary(run_dir: Path) -> dict:
    if not run_dir.exists():
        raise CompareError(f"{run_dir}: does not exist")
    if not run_dir.is_dir():
        raise CompareError(f"{run_dir}: is not a directory")
    path = run_dir / "summary.json"
    if not path.is_file():
        raise CompareError(f"{run_dir}: is not a run directory (no summary.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CompareError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CompareError(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CompareError(f"{path}: malformed summary: a JSON object expected, not {type(data).__name__}")
    return data


def _read_scenario(run_dir: Path) -> Any:
    path = run_dir / "scenario.yaml"
    if not path.is_file():
        return _UNKNOWN
    try:
        return parse_yaml(path.read_text(encoding="utf-8"), str(path))[0]
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot read: {exc}") from None
    except ScenarioError as exc:
        raise CompareError(exc.problems[0]) from None


def _labels(dirs: list[Path]) -> tuple[str, ...]:
    """Directory names; where two are equal, parent/name; still equal (same directory twice): name#i."""
    names = [d.absolute().name or str(d) for d in dirs]
    longer = [f"{d.absolute().parent.name}/{d.absolute().name}" for d in dirs]
    labels = [longer[i] if names.count(n) > 1 else n for i, n in enumerate(names)]
    return tuple(f"{b}#{labels[:i].count(b) + 1}" if b in labels[:i] else b for i, b in enumerate(labels))


def _number(summary: dict, path: tuple[str, ...]) -> float | None:
    """The finite number at ``path`` in a summary, else None (missing, null, text, NaN, bool)."""
    value: Any = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _kpi_rows(summaries: list[dict]) -> list[KpiRow]:
    sections = [s.get("priorities") for s in summaries]
    priorities = dict.fromkeys(str(p) for ps in sections if isinstance(ps, dict) for p in ps)
    order = sorted(priorities, key=lambda p: (0, int(p), p) if p.isdigit() else (1, 0, p))
    specs = [(("priorities", p, k), f"P{p} {label}", unit) for p in order for k, label, unit in _CALL_KPIS]
    specs += [(("overall", k), f"all {label}", unit) for k, label, unit in _CALL_KPIS]
    specs += [(tuple(key.split(".")), label, unit) for key, label, unit in _RUN_KPIS]
    rows = []
    for path, label, unit in specs:
        values = tuple(_number(s, path) for s in summaries)
        if all(v is None for v in values):
            continue
        first = values[0]
        delta = tuple(None if v is None or first is None else v - first for v in values[1:])
        pct = tuple(None if d is None or first is None or first <= 0 else 100 * d / first for d in delta)
        rows.append(KpiRow(".".join(path), label, unit, values, delta, pct))
    return rows


def _same(a: Any, b: Any) -> bool:
    """Equal scenario values: ``true`` is not ``1`` (unlike Python), NaN equals NaN."""
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return isinstance(a, bool) == isinstance(b, bool) and (a == b or nan)


def _diff(values: list[Any], path: str) -> list[str]:
    """``path: a -> b`` lines for the leaves that differ between the known scenarios; mappings (or absent
    keys) and equally long lists are followed key by key / index by index, the rest is shown whole."""
    known = [v for v in values if v is not _UNKNOWN]
    present = [v for v in known if v is not _ABSENT]
    keys = dict.fromkeys(k for v in present if isinstance(v, dict) for k in v)
    if present and all(isinstance(v, dict) for v in present) and (keys or len(present) == len(known)):
        lines = []
        for key in keys:
            sub = [v.get(key, _ABSENT) if isinstance(v, dict) else v for v in values]
            lines += _diff(sub, f"{path}.{key}" if path else str(key))
        return lines
    lists = len(present) == len(known) and all(isinstance(v, list) for v in known)
    if lists and len({len(v) for v in known}) == 1:
        sub = [[v[i] if isinstance(v, list) else v for v in values] for i in range(len(known[0]))]
        return [line for i, vs in enumerate(sub) for line in _diff(vs, f"{path}.{i}")]
    if len(known) < 2 or (len(present) == len(known) and all(_same(known[0], v) for v in known[1:])):
        return []
    return [f"{path or '(scenario)'}: " + " -> ".join(_compact(v) for v in values)]


def _compact(value: Any) -> str:
    """A short one-line YAML-like rendering (``-`` for a key the run lacks), cut at 60 characters."""
    if value is _ABSENT or value is _UNKNOWN:
        return "-" if value is _ABSENT else "?"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, list):
        text = "[" + ", ".join(_compact(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value) if not isinstance(value, str) or value.strip() else json.dumps(value)
    return text if len(text) <= _COMPACT_CHARS else text[: _COMPACT_CHARS - 1] + "…"


def format_value(value: float | None, unit: str) -> str:
    """A KPI value for display: durations in s/min/h, shares in %, counts as numbers, ``-`` if missing."""
    if value is None:
        return "-"
    if unit == "s":
        return format_duration(value)
    if unit == "share":
        return f"{100 * value:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def format_delta(delta: float | None, pct: float | None, unit: str) -> str:
    """A delta for display: ``+1.2min (+30.0%)``, shares in percentage points, ``±0`` if unchanged."""
    if delta is None:
        return "-"
    if delta == 0:
        return "±0"
    sign = "+" if delta > 0 else "-"
    if unit == "s":
        text = sign + format_duration(abs(delta))
    elif unit == "share":
        text = f"{100 * delta:+.1f} pp"
    else:
        text = f"{delta:+,.0f}" if float(delta).is_integer() else f"{delta:+,.2f}"
    return text if pct is None else f"{text} ({pct:+.1f}%)"


def comparison_table(cmp: Comparison) -> Table:
    """The KPI table: one column per run, then one delta column per later run against the first
    (relative % for durations and counts; shares change in percentage points)."""
    table = Table(title=Text(f"{len(cmp.labels)} runs compared (deltas against {cmp.labels[0]})"))
    table.add_column("KPI")
    for label in cmp.labels:
        table.add_column(Text(label), justify="right")
    for label in cmp.labels[1:]:
        table.add_column(Text(f"Δ {label}"), justify="right")
    for r in cmp.rows:
        cells = [format_value(v, r.unit) for v in r.values]
        pcts = r.delta_pct if r.unit != "share" else (None,) * len(r.delta_pct)  # pp say it for shares
        cells += [format_delta(d, p, r.unit) for d, p in zip(r.delta_abs, pcts, strict=True)]
        style = "bold" if r.key.startswith("overall.") else None
        table.add_row(Text(r.label), *map(Text, cells), style=style)
    return table


def render_comparison(cmp: Comparison, console: Console, *, max_diff_lines: int = 30) -> None:
    """Print the KPI table, the scenario differences (at most ``max_diff_lines``) and any notes."""
    console.print(comparison_table(cmp))
    if not cmp.scenario_diff:
        console.print(Text("scenarios: no differences"))
    else:
        console.print(Text(f"scenario differences ({' -> '.join(cmp.labels)}):"))
        for line in cmp.scenario_diff[:max_diff_lines]:
            console.print(Text(f"  {line}"))
        if len(cmp.scenario_diff) > max_diff_lines:
            console.print(Text(f"  … and {len(cmp.scenario_diff) - max_diff_lines} more"))
    for note in cmp.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def comparison_frame(cmp: Comparison) -> pd.DataFrame:
    """The KPI rows as a DataFrame indexed by dotted summary path: ``label, unit``, one column per run,
    then ``Δ <run>`` and ``Δ% <run>`` per later run (NaN where missing); ``attrs`` holds the diff."""
    import pandas as pd

    columns = [*cmp.labels, *(f"{p}{label}" for label in cmp.labels[1:] for p in ("Δ ", "Δ% "))]
    numbers = [
        [*r.values, *(x for dp in zip(r.delta_abs, r.delta_pct, strict=True) for x in dp)] for r in cmp.rows
    ]
    frame = pd.DataFrame(numbers, index=[r.key for r in cmp.rows], columns=columns, dtype=float)
    frame.insert(0, "unit", [r.unit for r in cmp.rows], allow_duplicates=True)
    frame.insert(0, "label", [r.label for r in cmp.rows], allow_duplicates=True)
    frame.attrs["scenario_diff"] = list(cmp.scenario_diff)
    frame.attrs["notes"] = list(cmp.notes)
    return frame
