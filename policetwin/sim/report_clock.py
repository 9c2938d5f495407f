"""Clock time on the report's axes: scenario seconds drawn as the weekday and time (or calendar date)
the run covers, so planners read "Fri 22:00", not "4 h"."""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import numpy as np

from policetwin import clock

HOUR_MS = 3_600_000
BAR_WIDTH_MS = 0.95 * HOUR_MS  # a date axis measures bar width in milliseconds


def start_label(start: str) -> str:
    """A run start as a reader sees it: ``Fri 18:00`` as is, a calendar start as ``Thu 31 Dec 2026 20:00``."""
    canonical = clock.parse_start(start)
    when = clock.start_datetime(canonical)
    if when is None:
        return canonical
    return when.strftime("%a %d %b %Y %H:%M" + (":%S" if when.second else ""))


class ClockAxis(NamedTuple):
    """How scenario seconds are drawn as clock time, so planners read "Fri 22:00", not "4 h".

    ``origin`` is the date-time of scenario time 0, ``tickformat`` the plotly (d3) tick format for the
    axis (also valid for ``strftime``), ``title`` the axis title naming the start."""

    origin: dt.datetime
    tickformat: str
    title: str

    @property
    def hour_offset_s(self) -> float:
        """Seconds from the start of the clock hour the run begins in to time 0 (1800 for 18:30)."""
        o = self.origin
        return o.minute * 60.0 + o.second + o.microsecond / 1e6

    def at(self, seconds) -> np.ndarray:
        """Date-times (``datetime64[ms]``) of scenario times in seconds (finite values only)."""
        ms = np.round(np.asarray(seconds, dtype=float) * 1000.0).astype(np.int64)
        return np.datetime64(self.origin, "ms") + ms.astype("timedelta64[ms]")

    def hour_middles(self, n_hours: int) -> np.ndarray:
        """Middles of the first ``n_hours`` clock hours from the one the run begins in (bar centres)."""
        return self.at((np.arange(n_hours) + 0.5) * 3600.0 - self.hour_offset_s)

    def hour_labels(self, n_hours: int) -> list[str]:
        """``Fri 18:00–19:00`` per clock hour, for bar hover text (a bar sits at the hour's middle)."""
        starts = self.at(np.arange(n_hours) * 3600.0 - self.hour_offset_s).astype(dt.datetime)
        return [f"{t.strftime(self.tickformat)}–{t + dt.timedelta(hours=1):%H:%M}" for t in starts]

    def label(self, seconds: float) -> str:
        """Clock time of one scenario time (``Fri 19:15``); "-" when it is missing."""
        if not math.isfinite(seconds):
            return "-"
        return (self.origin + dt.timedelta(seconds=float(seconds))).strftime(self.tickformat)

    def layout(self) -> dict:
        """Plotly x-axis settings: a date axis with clock-time ticks."""
        return {"type": "date", "tickformat": self.tickformat, "title": self.title}


def clock_axis(start: str = clock.DEFAULT_START) -> ClockAxis:
    """The clock axis of a run that starts at ``start`` (any form :func:`clock.parse_start` reads)."""
    canonical = clock.parse_start(start)
    origin, tickformat = clock.axis_origin(canonical)
    return ClockAxis(origin, tickformat, f"clock time (run starts {start_label(canonical)})")
