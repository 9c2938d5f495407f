"""HTML building blocks of the run report: value formatting (missing values show as "-"), tables and
sections. Cell strings given to :func:`table` must already be escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

DASH = "-"


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
