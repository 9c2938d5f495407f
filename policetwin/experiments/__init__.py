"""Experiments over finished runs: comparing run directories side by side."""

from __future__ import annotations

from policetwin.experiments.compare import (
    CompareError,
    Comparison,
    KpiRow,
    compare_runs,
    comparison_frame,
    comparison_table,
    render_comparison,
)

__all__ = [
    "CompareError",
    "Comparison",
    "KpiRow",
    "compare_runs",
    "comparison_frame",
    "comparison_table",
    "render_comparison",
]
