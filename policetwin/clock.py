"""When a run starts: a weekday and clock time (``Fri 18:00``) or a calendar date-time (ISO 8601).

The start places the run in the hour-of-week demand profile (hour 0 = Monday 00:00) and gives the
report's time axes clock times. Times inside the engine stay seconds from the scenario's start.
"""

from __future__ import annotations

import datetime as dt
import re

#: The start of a scenario that names none: Monday 00:00 (the start of the hour-of-week profile).
DEFAULT_START = "Mon 00:00"
#: Weekday forms accepted (Monday = 0): English names and 3-letter abbreviations, Chinese 周一/星期一.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Weekday names accepted (lower case) and their index (Monday = 0).
DAY_NAMES: dict[str, int] = {}
for _i, _full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")):
    DAY_NAMES[_full] = DAY_NAMES[_full[:3]] = _i
for _i, _cn in enumerate("一二三四五六日"):
    DAY_NAMES[f"周{_cn}"] = DAY_NAMES[f"星期{_cn}"] = _i
DAY_NAMES["星期天"] = DAY_NAMES["周天"] = 6
_WEEKDAY_TIME = re.compile(r"^\s*(?P<day>[^\s\d:]+)\s*(?:(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?)?\s*$")
#: A Monday used to draw weekday-only starts on a date axis (tick labels show the weekday, not the date).
REFERENCE_MONDAY = dt.datetime(2024, 1, 1)
_FORMS = "a weekday and time such as 'Fri 18:00' or an ISO date-time such as 2026-12-31T20:00"


def parse_start(value: object) -> str:
    """The canonical form of a scenario ``start``: ``Fri 18:00`` or ``2026-12-31T20:00:00``.

    Accepts a weekday (English or Chinese, any case) with an optional ``HH:MM[:SS]`` time, an ISO
    date or date-time string, or the date/datetime YAML makes of an unquoted ISO timestamp.
    Raises ``ValueError`` naming the value and the accepted forms.
    """
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).isoformat()
    if isinstance(value, str):
        m = _WEEKDAY_TIME.match(value)
        if m and m["day"].lower() in DAY_NAMES:
            h, minute, s = (int(m[k]) if m[k] else 0 for k in ("h", "m", "s"))
            if h < 24 and minute < 60 and s < 60:
                clock = f"{h:02d}:{minute:02d}" + (f":{s:02d}" if s else "")
                return f"{_DAYS[DAY_NAMES[m['day'].lower()]]} {clock}"
        else:
            try:
                return dt.datetime.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
    msg = f"cannot read start {value!r}: use {_FORMS}"
    raise ValueError(msg)


def start_datetime(start: str) -> dt.datetime | None:
    """The calendar date-time of a canonical start, or None for a weekday-only start."""
    return None if start[:3] in _DAYS and not start[:4].isdigit() else dt.datetime.fromisoformat(start)


def week_offset_s(start: str) -> float:
    """Seconds from Monday 00:00 to the (canonical) start: where the run begins in the week."""
    when = start_datetime(start)
    if when is None:
        day, clock = start.split(" ")
        parts = [int(p) for p in clock.split(":")] + [0]
        return _DAYS.index(day) * 86400.0 + parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    return when.weekday() * 86400.0 + when.hour * 3600.0 + when.minute * 60.0 + when.second


def axis_origin(start: str) -> tuple[dt.datetime, str]:
    """The date-time that scenario time 0 is drawn at, and a plotly tick format for it.

    A calendar start is drawn at its own date; a weekday start at that weekday of a reference week,
    with ticks that show the weekday and clock time but no (meaningless) date.
    """
    when = start_datetime(start)
    if when is not None:
        return when.replace(tzinfo=None), "%a %d %b %H:%M"
    return REFERENCE_MONDAY + dt.timedelta(seconds=week_offset_s(start)), "%a %H:%M"
