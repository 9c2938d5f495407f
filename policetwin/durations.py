"""Parse human durations such as ``90s``, ``15min``, ``2h`` or ``30d`` into seconds."""

from __future__ import annotations

import math
import re

_UNITS_S = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
    "weeks": 604800.0,
}
_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]+)\s*")


def parse_duration(value: object) -> float:
    """Return seconds for ``value``: a number (seconds) or a string like ``1h30min``.

    Raises ``ValueError`` naming the bad value and the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 90s, 15min, 2h or 30d, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"a duration must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text and re.fullmatch(r"[0-9]+(?:\.[0-9]*)?", text):
            return float(text)
        pos, total = 0, 0.0
        while pos < len(text):
            m = _PART.match(text, pos)
            if not m or m.group(2) not in _UNITS_S:
                break
            total += float(m.group(1)) * _UNITS_S[m.group(2)]
            pos = m.end()
        else:
            if text:
                return total
    msg = f"cannot parse duration {value!r}: use a number of seconds or e.g. 90s, 15min, 2h, 30d"
    raise ValueError(msg)


def format_duration(seconds: float) -> str:
    """Short human form of a duration in seconds (for tables and reports)."""
    if seconds != seconds:  # NaN
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"
