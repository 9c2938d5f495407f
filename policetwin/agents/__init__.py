"""Agents of the twin: police units and incidents (mesa Agents registered with the model)."""

from policetwin.agents.incident import Incident
from policetwin.agents.unit import PatrolUnit, UnitState

__all__ = ["Incident", "PatrolUnit", "UnitState"]
