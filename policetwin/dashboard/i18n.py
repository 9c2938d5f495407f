"""Translation lookup and the language-aware formatting of clock times, durations and shares."""

from __future__ import annotations

import math
import re
from datetime import datetime

from policetwin.dashboard.catalogue import CATALOGUE

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ZH_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def normalise_lang(lang: object) -> str:
    """``en`` or ``zh`` (anything else falls back to English)."""
    return lang if isinstance(lang, str) and lang in LANGS else DEFAULT_LANG


def t(key: str, lang: str, /, **params: object) -> str:
    """The catalogue text of ``key`` in ``lang`` with ``{name}`` placeholders filled; KeyError if missing."""
    text = CATALOGUE[key][normalise_lang(lang)]
    return text.format(**params) if params else text


def start_offset_s(start: object) -> tuple[float, bool]:
    """Seconds from Monday 00:00 of the scenario's ``start`` and whether a weekday is known.

    ``Mon 00:00``, ``周五 18:00`` and ISO date-times are understood; anything else is Monday 00:00."""
    text = str(start or "").strip()
    m = re.fullmatch(r"(\S+)\s+(\d{1,2}):(\d{2})", text)
    if m:
        day = m[1].lower()[:3]
        idx = _WEEKDAYS.index(day) if day in _WEEKDAYS else None
        if idx is None and m[1] in _ZH_WEEKDAYS:
            idx = _ZH_WEEKDAYS.index(m[1])
        if idx is not None:
            return idx * 86400.0 + int(m[2]) * 3600.0 + int(m[3]) * 60.0, True
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return 0.0, False
    return when.weekday() * 86400.0 + when.hour * 3600.0 + when.minute * 60.0 + when.second, True


def clock_label(t_s: float, start: object, lang: str) -> str:
    """``Mon 14:05`` / ``周一 14:05`` for ``t_s`` seconds after the scenario's start."""
    if t_s is None or not math.isfinite(t_s):
        return "-"
    offset, _ = start_offset_s(start)
    total = offset + float(t_s)
    day = int(total // 86400) % 7
    seconds = round(total % 86400)
    if seconds == 86400:
        day, seconds = (day + 1) % 7, 0
    return f"{t(f'day.{day}', lang)} {seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def fmt_duration(seconds: float | None, lang: str) -> str:
    """A short duration: ``45s``, ``5.2min``, ``3.1h`` (``45秒``, ``5.2分钟``, ``3.1小时``), ``-`` if missing."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if abs(seconds) < 120:
        return t("unit.s", lang, v=f"{seconds:.0f}")
    if abs(seconds) < 7200:
        return t("unit.min", lang, v=f"{seconds / 60:.1f}")
    return t("unit.h", lang, v=f"{seconds / 3600:.1f}")


def fmt_share(share: float | None) -> str:
    """``91.1%`` (``-`` if missing)."""
    if share is None or not math.isfinite(share):
        return "-"
    return f"{100 * share:.1f}%"


def fmt_count(value: float | None) -> str:
    """``1,234`` (``-`` if missing)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
