"""Time-of-day travel (``travel.congestion``): travel times multiplied by a factor of the clock hour.

A factor is a travel-time multiplier (1.5: trips take 50% longer) for every road at once, given for
the 24 hours of a day or the 168 hours of a week (hour 0 = Monday 00:00, as the demand profile), or as
a named profile (:data:`PROFILES`). The hour is the scenario's clock: ``start`` plus the run's time.

Simplification (stated in the README): a trip takes the factor of the hour it departs in, for its
whole length, even when it runs into the next hour. A trip to a call departs when the unit is sent
(the dispatch decision, which ranks units by those same times), a drive home when the unit is freed,
a patrol tour keeps the factor of the hour it was drawn in (its drives back to the tour: their own
departure hour). One factor for all roads scales every shortest time by the same number, so the exact
rows of the router stay valid and are scaled, never recomputed.

Factors per road class (a mapping: OSM ``highway`` class -> factors or profile; ``other``: every class
not named, default 1.0) change which route is fastest: each distinct weighting of the week's hours
gets its own router (built when first needed; it answers by contraction-hierarchy queries, the
hierarchy built once and re-customized per weighting), and at each hour where the weighting changes
the model switches to it
(:class:`ClassCongestion`), as timed road closures do. Trips are timed on the router of their departure.
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


def check_factors(value: object) -> str | list[float] | dict[str, str | list[float]]:
    """The ``travel.congestion`` value as given (a profile name, 24/168 floats, or a mapping of road
    classes to either), or ValueError.

    Kept free of engine imports: the scenario schema calls it. Raises ``ValueError`` whose message
    the loader prefixes with the file, line and field.
    """
    if isinstance(value, str):
        if value in PROFILES:
            return value
        raise ValueError(f"unknown congestion profile {value!r}; named profiles: {', '.join(PROFILES)}")
    if isinstance(value, dict):
        from policetwin.maps.speeds import FALLBACK_SPEED_KPH

        if not value:
            raise ValueError("congestion per road class needs at least one class")
        out = {}
        for key, factors in value.items():
            if key != "other" and key not in FALLBACK_SPEED_KPH:
                allowed = ", ".join([*FALLBACK_SPEED_KPH, "other"])
                raise ValueError(f"unknown OSM highway class {key!r} in congestion; allowed: {allowed}")
            if isinstance(factors, dict):
                raise ValueError(f"congestion.{key}: a profile name, a number or a list of 24 or 168 factors")
            if isinstance(factors, (int, float)) and not isinstance(factors, bool):
                factors = [factors] * 24  # one factor at every hour
            try:
                out[str(key)] = check_factors(factors)
            except ValueError as exc:
                raise ValueError(f"congestion.{key}: {exc}") from None
        return out
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


def week_factors(factors: str | list[float]) -> np.ndarray:
    """The factor of each hour of the week (hour 0 = Monday 00:00) of a profile name or 24/168 factors."""
    week = np.asarray(PROFILES[factors] if isinstance(factors, str) else factors, dtype=float)
    return np.tile(week, 7) if week.size == 24 else week


class Congestion:
    """The travel-time factor at any moment of a run (see the module docstring); with factors per road
    class the factor is 1 (the router switched in carries them: :class:`ClassCongestion`)."""

    def __init__(self, factors: str | list[float] | dict, *, start: str) -> None:
        self.by_class = factors if isinstance(factors, dict) else None
        week = np.ones(HOURS_PER_WEEK) if self.by_class is not None else week_factors(factors)
        self.week = week  # the factor of each hour of the week, hour 0 = Monday 00:00
        self.offset_s = week_offset_s(start)  # where run time 0 lies in the week
        self.lowest = float(week.min())

    @classmethod
    def of(cls, travel, *, start: str) -> Congestion | None:
        """The congestion of a scenario's ``travel`` block, or None when off (the default)."""
        if travel.congestion is None or travel.mode == "instant":
            return None
        return cls(travel.congestion, start=start)

    def hour_of_week(self, t_s: float) -> int:
        """The hour of the week (0 = Monday 00:00) that run time ``t_s`` falls in."""
        return int((self.offset_s + t_s) // 3600.0) % HOURS_PER_WEEK

    def factor_at(self, t_s: float) -> float:
        """Travel-time multiplier of the clock hour that run time ``t_s`` falls in."""
        return float(self.week[self.hour_of_week(t_s)])


class ClassCongestion:
    """Factors per road class: the router of each hour's weighting, switched in as the clock turns.

    ``base_times_s``: the road seconds of the run without congestion; ``highway``: each edge's class.
    Routers are kept per distinct weighting (a tuple of the classes' factors), the run's own router
    for all factors 1. The others answer by contraction-hierarchy queries (no dense rows: a matrix
    per weighting would not fit); the hierarchy is built once and re-customized per weighting.
    """

    def __init__(
        self, model, congestion: Congestion, *, base_times_s: np.ndarray, highway: np.ndarray
    ) -> None:
        by_class = congestion.by_class
        self.model = model
        self.congestion = congestion
        self.base_times_s = np.asarray(base_times_s, dtype=float)
        other = week_factors(by_class["other"]) if "other" in by_class else np.ones(HOURS_PER_WEEK)
        named = [c for c in by_class if c != "other"]
        classes = np.asarray(highway, dtype=object)
        #: per edge: its column in ``weeks`` (the last one: every class not named)
        self.edge_column = np.full(classes.size, len(named), dtype=np.int64)
        for k, name in enumerate(named):
            self.edge_column[classes == name] = k
        self.weeks = np.column_stack([week_factors(by_class[c]) for c in named] + [other])  # hour x column
        self.base = model.router  # the run's own router: every factor 1
        self.routers: dict[tuple[float, ...], object] = {}
        self._template = None  # the first weighted router: later ones re-customize its hierarchy
        self.switches = 0

    def weighting(self, hour: int) -> tuple[float, ...]:
        """The factors of the columns in ``hour`` of the week."""
        return tuple(self.weeks[hour].tolist())

    def router(self, weighting: tuple[float, ...]):
        """The router of a weighting (built once; the base router for all factors 1)."""
        hit = self.routers.get(weighting)
        if hit is None:
            from policetwin.maps.router import Router

            if all(f == 1.0 for f in weighting):
                hit = self.base
            else:  # no dense rows per weighting (a matrix each): hierarchy queries, customized per weighting
                net = self.model.network
                times = self.base_times_s * np.asarray(weighting)[self.edge_column]
                like = self._template or self.base
                hit = Router(net.n_nodes, net.edge_u, net.edge_v, times, lon=net.lon, lat=net.lat,
                             dense_max_bytes=0, hierarchy=True, like=like)  # fmt: skip
                self._template = self._template or hit
            self.routers[weighting] = hit
        return hit

    def process(self, env):
        """A simpy process: at the start and at each hour whose weighting differs, switch the router."""
        current = None
        while True:
            weighting = self.weighting(self.congestion.hour_of_week(env.now))
            if weighting != current:
                router = self.router(weighting)
                self.model.router = router
                self.model.etas.use_router(router)
                self.switches += current is not None
                current = weighting
            model = self.model
            if env.now >= model.scenario.duration and not model.calls_pending():
                return  # the run is over: the clock no longer needs turning
            into_hour = (self.congestion.offset_s + env.now) % 3600.0
            yield env.timeout(3600.0 - into_hour)
