"""The ``verify`` table (rich, for the terminal) and ``verify.html``: one self-contained page, no scripts
and no external URL, so it opens offline."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from policetwin.verify.record import CheckResult, Figure

HEADER = ("check", "figure", "theory", "simulated", "95% CI", "tolerance", "pass")
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}h1{font-size:1.4rem}
table{border-collapse:collapse;font-size:.9rem}th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right}
th{background:#f4f4f4}td.l{text-align:left}tr.fail td{background:#fde8e8}.pass{color:#17702c;font-weight:600}
.fail-mark{color:#b00020;font-weight:600}p.note{color:#555;font-size:.85rem;margin:.2rem 0}
"""


def fmt_value(value: float, unit: str = "") -> str:
    """A figure to 4 significant digits with its unit."""
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def figure_cells(fig: Figure) -> list[str]:
    """figure, theory, simulated, 95% CI, tolerance, pass (plain text)."""
    low, high = fig.ci_95
    ci = f"[{low:.4g}, {high:.4g}]" if fig.se > 0 else "-"
    tol = f"±{fig.tolerance:.3g}" + (f" ({fig.rule})" if fig.rule else "")
    return [fig.name, fmt_value(fig.theory, fig.unit), fmt_value(fig.simulated, fig.unit), ci, tol,
            "pass" if fig.passed else "FAIL"]  # fmt: skip


def result_rows(result: CheckResult) -> list[list[str]]:
    """Rows of one check (a crashed check: one row with its error)."""
    if result.error:
        return [[result.title, f"error: {result.error}", "-", "-", "-", "-", "FAIL"]]
    return [[result.title if i == 0 else "", *figure_cells(f)] for i, f in enumerate(result.figures)]


def console_table(results: list[CheckResult], *, mode: str) -> Table:
    """The table printed by ``verify``."""
    table = Table(title=f"PoliceTwin verify ({mode}): simulation against theory")
    for col in HEADER:
        table.add_column(col, justify="left" if col in ("check", "figure") else "right")
    for result in results:
        for row in result_rows(result):
            table.add_row(*row, style=None if row[-1] == "pass" else "bold red")
        table.add_section()
    passed = sum(r.passed for r in results)
    wall = sum(r.wall_s for r in results)
    table.caption = f"{passed}/{len(results)} checks passed · wall {wall:.1f} s · CI = simulated ± 1.96 SE"
    return table


def verify_html(results: list[CheckResult], *, mode: str, load_avg: tuple[float, ...] | None = None) -> str:
    """The self-contained verify page."""
    passed = sum(r.passed for r in results)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = f" · load average {load_avg[0]:.2f}" if load_avg else ""
    wall = sum(r.wall_s for r in results)
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    body = []
    for result in results:
        for row in result_rows(result):
            cls = "" if row[-1] == "pass" else ' class="fail"'
            mark = "pass" if row[-1] == "pass" else "fail-mark"
            cells = [f'<td class="l">{html.escape(c)}</td>' for c in row[:2]]
            cells += [f"<td>{html.escape(c)}</td>" for c in row[2:-1]]
            cells.append(f'<td class="{mark}">{html.escape(row[-1])}</td>')
            body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    notes = "".join(
        f'<p class="note"><b>{html.escape(r.title)}</b> ({r.wall_s:.1f} s): {html.escape(r.note or r.error)}</p>'
        for r in results
    )
    title = f"PoliceTwin verify ({mode})"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}: {passed}/{len(results)} checks passed</h1>"
        f'<p class="note">{stamp} · wall {wall:.1f} s{load} · CI = simulated ± 1.96 SE; '
        "a figure passes when |simulated − theory| ≤ tolerance.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<h2>Set-ups</h2>{notes}</body></html>\n"
    )


def write_verify_html(
    path: Path, results: list[CheckResult], *, mode: str, load_avg: tuple[float, ...] | None = None
) -> Path:
    """Write ``verify.html`` atomically."""
    from policetwin.experiments.sweep_store import write_atomic

    path = Path(path)
    write_atomic(path, verify_html(results, mode=mode, load_avg=load_avg).encode("utf-8"))
    return path
