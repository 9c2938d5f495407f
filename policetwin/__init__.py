"""PoliceTwin: a discrete-event digital twin of citywide policing on real road networks.

The public Python API (docs/api.md) is imported on first use (PEP 562), so ``import policetwin`` stays
fast and the CLI does not load the engine before it needs it::

    import policetwin as pt
    result = pt.run("coquimbo", overrides=["duration=2h"], out_dir="runs/quick")
    pt.load_run("runs/quick").incidents
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "load_scenario": "policetwin.api",
    "run": "policetwin.api",
    "load_run": "policetwin.api",
    "Run": "policetwin.api",
    "compare": "policetwin.api",
    "sweep": "policetwin.api",
    "init_city": "policetwin.api",
    "export_run": "policetwin.api",
    "Scenario": "policetwin.scenarios",
    "PoliceTwinError": "policetwin.errors",
    "ScenarioError": "policetwin.errors",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'policetwin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
