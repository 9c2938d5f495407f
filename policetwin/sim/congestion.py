"""Time-of-day travel (``travel.congestion``): travel times multiplied by a factor of the clock hour.

A factor is a travel-time multiplier (1.5: trips take 50% longer) for every road at once, given for
the 24 hours of a day or the 168 hours of a week (hour 0 = Monday 00:00, as the demand profile), or as
a named profile (:data:`PROFILES`). The hour is the scenario's clock: ``start`` plus the run's time.

Simplification (stated in the README): a trip takes the factor of the hour it departs in, for its
whole length, even when it runs into the next hour. A trip to a call departs when the unit is sent
(the dispatch decision, which ranks units by those same times), a drive home when the unit is freed,
a patrol tour keeps the factor of the hour it was drawn in (its drives back to the tour: their own
departure hour). One factor for all roads scales every shortest time by the same number, so the exact
rows of the router stay valid and are scaled, never recomputed. Factors per road class would change
which route is fastest (a graph per distinct weighting): not supported yet.
"""

from __future__ import annotations

import math

import numpy as np

from policetwin.clock import week_offset_s

HOURS_PER_WEEK = 168

#: Named profiles: ASSUMPTIONS, not measured. ``weekday-peaks`` — Monday to Friday: 06 h 1.2, 07-08 h 1.5
#: (morning peak), 09 h 1.2, 10-15 h 1.1, 16 h 1.25, 17-18 h 1.6 (evening peak), 19 h 1.25, else 1.0;
#: Saturday and Sunday: 11-18 h 1.1, else 1.0 (the shape of typical urban peak-hour delay indices).
WEEKDAY_HOURS = {6: 1.2, 7: 1.5, 8: 1.5, 9: 1.2, 10: 1.1, 11: 1.1, 12: 1.1, 13: 1.1, 14: 1.1, 15: 1.1,
                 16: 1.25, 17: 1.6, 18: 1.6, 19: 1.25}  # fmt: skip
WEEKEND_HOURS = dict.fromkeys(range(11, 19), 1.1)


def _weekday_peaks() -> list[float]:
    days = [WEEKDAY_HOURS] * 5 + [WEEKEND_HOURS] * 2
    return [day.get(h, 1.0) for day in days for h in range(24)]


PROFILES: dict[str, list[float]] = {"weekday-peaks": _weekday_peaks()}


def check_factors(value: object) -> str | list[float]:
    """The ``travel.congestion`` value as given (a profile name or 24/168 floats), or ValueError.

    Kept free of engine imports: the scenario schema calls it. Raises ``ValueError`` whose message
    the loader prefixes with the file, line and field.
    """
    if isinstance(value, str):
        if value in PROFILES:
            return value
        raise ValueError(f"unknown congestion profile {value!r}; named profiles: {', '.join(PROFILES)}")
    if isinstance(value, dict):
        raise ValueError("factors per road class are not supported yet: give one list of 24 or 168 factors "
                         "for all roads, or a named profile")  # fmt: skip
    if not isinstance(value, list):
        raise ValueError(f"congestion is a profile name or a list of 24 or 168 factors, got {value!r}")
    bad = [i for i, v in enumerate(value) if isinstance(v, bool) or not isinstance(v, (int, float))
           or not 0.1 <= v <= 10 or not math.isfinite(v)]  # fmt: skip
    if bad:
        i = bad[0]
        raise ValueError(f"congestion factors are numbers in [0.1, 10] (travel-time multipliers); "
                         f"item {i} is {value[i]!r}")  # fmt: skip
    if len(value) not in (24, HOURS_PER_WEEK):
        raise ValueError(f"congestion needs 24 (daily) or 168 (hour-of-week) factors, got {len(value)}")
    return [float(v) for v in value]


class Congestion:
    """The travel-time factor at any moment of a run (see the module docstring)."""

    def __init__(self, factors: str | list[float], *, start: str) -> None:
        values = PROFILES[factors] if isinstance(factors, str) else factors
        week = np.asarray(values, dtype=float)
        if week.size == 24:
            week = np.tile(week, 7)
        self.week = week  # the factor of each hour of the week, hour 0 = Monday 00:00
        self.offset_s = week_offset_s(start)  # where run time 0 lies in the week
        self.lowest = float(week.min())

    @classmethod
    def of(cls, travel, *, start: str) -> Congestion | None:
        """The congestion of a scenario's ``travel`` block, or None when off (the default)."""
        if travel.congestion is None or travel.mode == "instant":
            return None
        return cls(travel.congestion, start=start)

    def factor_at(self, t_s: float) -> float:
        """Travel-time multiplier of the clock hour that run time ``t_s`` falls in."""
        return float(self.week[int((self.offset_s + t_s) // 3600.0) % HOURS_PER_WEEK])
