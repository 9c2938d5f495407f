"""Where a person of the crowd is: the states of :class:`policetwin.event.crowd.Crowd` (``int8`` codes)."""

from __future__ import annotations

ORIGIN, EDGE, QUEUE, INSIDE, GONE = 0, 1, 2, 3, 4
STATE_NAMES = ("origin", "edge", "queue", "inside", "gone")
