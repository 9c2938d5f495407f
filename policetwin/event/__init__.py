"""Large-event security: walk network, mesoscopic crowd, screening gates, rings, outputs (see docs/event.md)."""

from policetwin.event.crowd import Crowd
from policetwin.event.engine import EventCrowd
from policetwin.event.gates import Gate, LaneSchedule
from policetwin.event.walknet import WalkNetwork, load_walk_network

__all__ = ["Crowd", "EventCrowd", "Gate", "LaneSchedule", "WalkNetwork", "load_walk_network"]
