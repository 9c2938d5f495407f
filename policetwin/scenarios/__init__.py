"""Scenario schema, loading with line-numbered errors, overrides, and the bundled scenarios."""

from policetwin.scenarios.loader import (
    bundled_scenarios,
    load_scenario,
    locate_problems,
    resolve_scenario_path,
    scenario_from_text,
    scenario_sha256,
    scenario_to_yaml,
)
from policetwin.scenarios.schema import Scenario

__all__ = [
    "Scenario",
    "bundled_scenarios",
    "load_scenario",
    "locate_problems",
    "resolve_scenario_path",
    "scenario_from_text",
    "scenario_sha256",
    "scenario_to_yaml",
]
