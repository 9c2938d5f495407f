"""HTML building blocks of the run report: value formatting (missing values show as "-"), tables and
sections. Cell strings given to :func:`table` must already be escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

DASH = "-"

#: The style of the HTML reports (run, sweep): one look everywhere.
REPORT_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0;
       color: #1a1a1a; background: #f6f7f9; }
header { background: #0b2545; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 6px 0; font-size: 24px; }
header .meta span { margin-right: 22px; font-size: 14px; opacity: 0.9; }
main { padding: 12px 28px 40px 28px; max-width: 1400px; }
section { background: #fff; border-radius: 6px; padding: 14px 18px; margin: 16px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,0.08); }
h2 { font-size: 18px; margin: 4px 0 10px 0; color: #0b2545; }
table.kpi { border-collapse: collapse; font-size: 14px; margin: 6px 0 10px 0; }
table.kpi th, table.kpi td { border-bottom: 1px solid #e3e6ea; padding: 5px 12px; text-align: right; }
table.kpi th:first-child, table.kpi td:first-child { text-align: left; }
table.kpi thead th { background: #eef1f5; }
table.kpi tr.overall td { font-weight: 600; border-top: 2px solid #0b2545; }
.tables { display: flex; flex-wrap: wrap; gap: 28px; }
.note { color: #555; font-size: 13px; }
section.warnings { border-left: 5px solid #e6a700; background: #fff8e1; }
section.warnings li { font-size: 14px; margin: 3px 0; }
"""


def num(value) -> float | None:
    """A finite float, or None for missing / None / NaN / non-numeric values."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def fmt_int(value) -> str:
    x = num(value)
    return DASH if x is None else f"{round(x):,}"


def fmt_minutes(seconds) -> str:
    x = num(seconds)
    return DASH if x is None else f"{x / 60.0:.1f} min"


def fmt_seconds(seconds) -> str:
    x = num(seconds)
    return DASH if x is None else f"{x:.1f} s"


def fmt_share(value) -> str:
    x = num(value)
    return DASH if x is None else f"{100.0 * x:.1f}%"


def fmt_duration(seconds) -> str:
    x = num(seconds)
    if x is None:
        return DASH
    return f"{x / 3600.0:.1f} h" if x >= 3600 else f"{x / 60.0:.0f} min"


def esc(value) -> str:
    return DASH if value is None or value == "" else html.escape(str(value))


def get(mapping, *keys):
    """Nested ``dict.get`` that returns None as soon as a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def table(header: list[str], rows: list[list[str]], *, overall_last: bool = False) -> str:
    """A plain HTML table; cell strings must already be escaped."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="overall"' if overall_last and i == len(rows) - 1 else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f'<table class="kpi"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<section><h2>{html.escape(title)}</h2>{note_html}{body}</section>"
