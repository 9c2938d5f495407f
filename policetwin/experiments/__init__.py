"""Experiments: comparing run directories side by side, and sweeps (studies with replications, common
random numbers and confidence intervals; :mod:`.study`, :mod:`.sweep`, :mod:`.sweep_report`, :mod:`.query`).

The exports are imported on first use (PEP 562), so that the CLI, which registers the sweep commands
from :mod:`.sweep_cli`, starts without loading the scenario and map modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CompareError": "compare",
    "Comparison": "compare",
    "KpiRow": "compare",
    "compare_runs": "compare",
    "comparison_frame": "compare",
    "comparison_table": "compare",
    "render_comparison": "compare",
    "Study": "study",
    "load_study": "study",
    "check_study": "study_check",
    "run_sweep": "sweep",
    "run_task": "sweep",
    "write_sweep_report": "sweep_report",
    "run_query": "query",
    "QueryError": "query",
    "optimize_staffing": "staffing_search",
    "compare_sets": "compare_sets",
    "rebuild_run_report": "run_report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
