"""The scenario schema (pydantic): every key, its type, default and unit. Unknown keys are errors.

Durations accept numbers (seconds) or strings like ``90s``, ``15min``, ``2h``, ``30d`` and are held
in seconds. Coordinates are lon/lat (WGS84). Numbers must be numbers (strict mode: ``yes`` is not 1 and
``"3"`` is not 3). Checks that relate several fields raise :class:`FieldProblems`, which name each
offending field, so the loader can point at its YAML line. Building blocks live in
:mod:`policetwin.scenarios.base`, the command chain (call handling, dispatch, sensing) in
:mod:`policetwin.scenarios.command`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from policetwin.clock import DEFAULT_START
from policetwin.maps.speeds import FALLBACK_SPEED_KPH
from policetwin.scenarios.base import (
    Distribution,
    Duration,
    FieldProblems,
    Lat,
    Lon,
    Probability,
    Start,
    Strict,
    nearest_name,
    repeated,
)
from policetwin.scenarios.command import CallHandling, Dispatch, Sensing
from policetwin.scenarios.event import Event, check_event_times
from policetwin.scenarios.event_ops import police_problems
from policetwin.scenarios.units import Units


def _highway_class(value: str) -> str:
    if value not in FALLBACK_SPEED_KPH:
        classes = list(FALLBACK_SPEED_KPH)
        msg = f"unknown OSM highway class {value!r}{nearest_name(value, classes)}; allowed: {', '.join(classes)}"
        raise ValueError(msg)
    return value


def _profile(value: object) -> object:
    """One clear message for every wrong profile (instead of one per member of the union)."""
    if value in ("default", "flat"):
        return value
    if isinstance(value, list):
        bad = any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 for v in value)
        if not bad and len(value) in (24, 168) and sum(value) > 0 and all(v < float("inf") for v in value):
            return [float(v) for v in value]
        if bad:
            raise FieldProblems([((i,), f"profile values must be numbers >= 0, got {v!r}") for i, v in enumerate(value)
                                 if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0])  # fmt: skip
        if len(value) not in (24, 168):
            raise ValueError(f"profile needs 24 (daily) or 168 (hour-of-week) values, got {len(value)}")
        raise ValueError("profile values must be finite and not all zero")
    raise ValueError(f"profile is 'default', 'flat', or a list of 24 or 168 numbers >= 0, got {value!r}")


#: Most calls one run may generate (they are drawn before the run and held in memory: ~200 bytes each).
MAX_CALLS = 10_000_000

HighwayClass = Annotated[str, AfterValidator(_highway_class)]


class Station(Strict):
    """A police station (home of units); snapped to the nearest road node."""

    name: str = Field(min_length=1)
    lon: Lon
    lat: Lat


class Hotspot(Strict):
    """A demand hotspot: ``weight`` is its share of calls relative to the background's ``background_weight``."""

    lon: Lon
    lat: Lat
    radius_m: float = Field(default=500.0, gt=0)
    weight: float = Field(default=1.0, gt=0)


class Duplicates(Strict):
    """Further calls about an incident already known: answered and triaged, linked, never dispatched."""

    share: Probability  # expected duplicate calls per incident of this kind (at most one each)
    delay: Distribution = Distribution(dist="exponential", mean=120.0)  # after the first call


class Backup(Strict):
    """Units on scene ask for more: with ``probability``, ``delay`` after the first unit arrives,
    ``units`` more units are requested (dispatched like the call's first ones)."""

    probability: Probability
    delay: Distribution = Distribution(dist="fixed", mean=0.0)
    units: int = Field(default=1, ge=1, le=20)


class Deterrence(Strict):
    """Presence prevents calls (optional; an assumption from hot-spot policing studies, see the README):
    a call is prevented with ``probability`` if a patrolling or posted unit was within ``radius_m`` of
    it in the last ``window``."""

    probability: Probability
    radius_m: float = Field(default=200.0, gt=0, le=5000)
    window: Duration = Field(default=900.0, gt=0, le=6 * 3600)


class IncidentKind(Strict):
    """A kind of incident: priority (1 = most urgent), share of calls, on-scene time, units, target."""

    name: str = Field(min_length=1)
    priority: int = Field(ge=1, le=9)
    share: float = Field(ge=0)
    on_scene: Distribution
    units: int = Field(default=1, ge=1, le=20)
    target: Duration = Field(gt=0)
    report_delay: Distribution | None = None  # incident -> citizen's call (default: called at once)
    phone_share: Probability = 0.0  # resolved at triage by phone: no unit is sent
    duplicates: Duplicates | None = None  # further calls about the same incident
    patience: Distribution | None = None  # callers hang up if not answered within this (default: never)
    backup: Backup | None = None  # units on scene ask for more
    require: str | None = Field(default=None, min_length=1)  # only units with this capability are sent


def _default_kinds() -> list[IncidentKind]:
    return [
        IncidentKind(name="urgent", priority=1, share=0.2, units=1, target=600.0,
                     on_scene=Distribution(dist="lognormal", mean=2700.0, sd=1200.0)),
        IncidentKind(name="routine", priority=2, share=0.5, units=1, target=1200.0,
                     on_scene=Distribution(dist="lognormal", mean=1800.0, sd=900.0)),
        IncidentKind(name="minor", priority=3, share=0.3, units=1, target=3600.0,
                     on_scene=Distribution(dist="exponential", mean=1200.0)),
    ]  # fmt: skip


def _iso_datetime(value: object) -> object:
    """An ISO date-time string (a YAML date/datetime is accepted too) for ``demand.replay.start``."""
    import datetime as dt

    if isinstance(value, dt.date):
        when = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
        return when.isoformat()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError(f"use an ISO date-time such as 2023-06-01T00:00, got {value!r}")


class Hawkes(Strict):
    """Self-exciting calls (``demand.model: hawkes``): each call triggers on average ``branching_ratio`` more
    of its kind, ``trigger_time`` later on average (exponential) and ``trigger_sd_m`` away (Gaussian).
    ``rate_per_hour`` stays the long-run total rate: the background rate is rate x (1 - branching_ratio)."""

    branching_ratio: float = Field(default=0.2, ge=0, le=0.95)
    trigger_time: Duration = Field(default=86400.0, gt=0, le=365 * 86400.0)  # 1/omega
    trigger_sd_m: float = Field(default=200.0, gt=0, le=50_000)
    burn_in: Duration | None = Field(default=None, ge=0, le=365 * 86400.0)  # default 5 x trigger_time


class Replay(Strict):
    """Replay a table of incidents (``demand.replay``): its calls at their times and places, kinds mapped by
    category (names equal to a kind map to it; ``kinds`` maps the others). Data time ``start`` is run time 0
    (default: the scenario's date-time start, else the file's first row)."""

    file: str = Field(min_length=1)
    start: Annotated[str, BeforeValidator(_iso_datetime)] | None = None
    kinds: dict[str, str] = Field(default_factory=dict)  # category -> kind name
    max_snap_m: float = Field(default=1000.0, gt=0, le=50_000)  # rows farther from any road node: outside
    outside: Literal["error", "skip"] = "error"  # rows outside the map: an error, or skipped and counted


def _replay(value: object) -> object:
    return {"file": value} if isinstance(value, str) else value


def _demand_source(value: object) -> object:
    """``demand: FILE`` (or ``{file: FILE, ...}``): the demand file's block (policetwin.demandfit.include)."""
    from policetwin.demandfit.include import read_demand_file

    return read_demand_file(value, Demand)


class Demand(Strict):
    """Calls for service: a non-homogeneous Poisson (or Hawkes) process placed on road nodes, or a replay."""

    model: Literal["poisson", "hawkes"] = "poisson"
    hawkes: Hawkes | None = None  # parameters for model: hawkes (defaults when absent)
    replay: Annotated[Replay | None, BeforeValidator(_replay)] = None  # replay a file instead of generating
    rate_per_hour: float = Field(gt=0, le=100_000)
    profile: Annotated[str | list[float], BeforeValidator(_profile)] = "default"
    background_weight: float = Field(default=1.0, ge=0)
    hotspots: list[Hotspot] = Field(default_factory=list)
    kinds: list[IncidentKind] = Field(default_factory=_default_kinds, min_length=1)

    @field_validator("kinds")
    @classmethod
    def _check_kinds(cls, kinds: list[IncidentKind]) -> list[IncidentKind]:
        if sum(k.share for k in kinds) <= 0:
            raise ValueError("the shares of the incident kinds must sum to a positive number")
        twice = repeated([k.name for k in kinds])
        if twice:
            raise FieldProblems([((i, "name"), f"incident kind name {kinds[i].name!r} is used twice; names "
                                  "must be unique") for i in twice])  # fmt: skip
        return kinds

    @model_validator(mode="after")
    def _check_weights(self) -> Demand:
        if self.background_weight == 0 and not self.hotspots:
            raise ValueError("background_weight is 0 and there are no hotspots: calls have nowhere to happen")
        if self.replay is not None:
            names = [k.name for k in self.kinds]
            bad = [((("replay", "kinds", cat)), f"unknown kind {kind!r}{nearest_name(kind, names)}; kinds: "
                    f"{', '.join(names)}") for cat, kind in self.replay.kinds.items() if kind not in names]  # fmt: skip
            if bad:
                raise FieldProblems(bad)
        return self


def _congestion(value: object) -> object:
    """``travel.congestion`` checked by :func:`policetwin.sim.congestion.check_factors` (imported here:
    ``policetwin.sim`` imports this module)."""
    from policetwin.sim.congestion import check_factors

    return None if value is None else check_factors(value)


class Travel(Strict):
    """Travel on the road network (``network``) or in zero time (``instant``, for queueing checks)."""

    mode: Literal["network", "instant"] = "network"
    speed_factor: float = Field(default=1.0, gt=0, le=10)
    speeds_kph: dict[HighwayClass, Annotated[float, Field(gt=0, le=200)]] = Field(default_factory=dict)
    turnout: Distribution | None = None  # a unit at its station: assigned -> rolling (mobilisation)
    #: Emergency driving: travel to a call of this priority takes time / factor (return trips: 1).
    priority_speed_factor: dict[
        Annotated[int, Field(strict=False, ge=1, le=9)], Annotated[float, Field(gt=0, le=3)]
    ] = Field(default_factory=dict)
    #: Time of day: travel-time multipliers by clock hour (24 or 168) or a named profile; None = off.
    congestion: Annotated[
        str | list[float] | dict[str, str | list[float]] | None, BeforeValidator(_congestion)
    ] = None
    #: How exact travel times are found: auto (dense rows while they fit 2 GB, else contraction
    #: hierarchies), or one of them, or bounded reverse Dijkstra searches (for comparisons).
    routing: Literal["auto", "dense-rows", "cch", "dijkstra"] = "auto"


class Outputs(Strict):
    """Which optional outputs to write (the incident log and summary are always written)."""

    report: bool = True
    units_log: bool = True
    trips: bool = True  # trips.parquet (every movement with its route, for replay) and the road network


class Scenario(Strict):
    """A complete scenario: map, stations, units, demand, call handling, dispatch and travel."""

    name: str = Field(default="scenario", min_length=1)
    seed: int = Field(default=0, ge=0)
    start: Start = DEFAULT_START
    duration: Duration = Field(gt=0, le=3650 * 86400.0)  # up to ten years
    map: str = Field(default="coquimbo", min_length=1)
    stations: list[Station] = Field(min_length=1)
    units: Units
    demand: Annotated[Demand, BeforeValidator(_demand_source)]  # or a demand file (demand fit)
    sensing: Sensing | None = None
    deterrence: Deterrence | None = None
    call_handling: CallHandling = CallHandling()
    dispatch: Dispatch = Dispatch()
    travel: Travel = Travel()
    outputs: Outputs = Outputs()
    event: Event | None = None  # a large event in the city (policetwin.scenarios.event)

    @model_validator(mode="after")
    def _check_across_fields(self) -> Scenario:
        names = [s.name for s in self.stations]
        problems = [(("stations", i, "name"), f"station name {names[i]!r} is used twice; names must be unique")
                    for i in repeated(names)]  # fmt: skip
        for i, group in enumerate(self.units.groups or []):
            for key in ("station", "beat"):
                value = getattr(group, key)
                if value is not None and value not in names:
                    problems.append((("units", "groups", i, key), f"no station is named {value!r}"
                                     f"{nearest_name(value, names)}; stations: {', '.join(names)}"))  # fmt: skip
        capable = {c for g in self.units.groups or [] for c in g.capabilities}
        for i, kind in enumerate(self.demand.kinds):
            if kind.require is not None and kind.require not in capable:
                have = ", ".join(sorted(capable)) or "none (give units.groups capabilities)"
                problems.append((("demand", "kinds", i, "require"), f"no unit has capability {kind.require!r}"
                                 f"{nearest_name(kind.require, sorted(capable))}; capabilities: {have}"))  # fmt: skip
        for name in self.units.per_station or {}:
            if name not in names:
                problems.append((("units", "per_station", name), f"no station is named {name!r}"
                                 f"{nearest_name(name, names)}; stations: {', '.join(names)}"))  # fmt: skip
        for i, kind in enumerate(self.demand.kinds):
            if kind.units > self.units.count:
                problems.append((("demand", "kinds", i, "units"), f"kind {kind.name!r} needs {kind.units} units "
                                 f"but the scenario has only {self.units.count}"))  # fmt: skip
        preempt = self.dispatch.preempt
        if preempt is not None and not any(k.priority <= preempt.max_priority for k in self.demand.kinds):
            problems.append((("dispatch", "preempt", "max_priority"), f"no incident kind has priority <= "
                             f"{preempt.max_priority}: nothing could pre-empt"))  # fmt: skip
        calls = self.demand.rate_per_hour * self.duration / 3600.0
        if calls > MAX_CALLS:
            problems.append((("demand", "rate_per_hour"), f"rate x duration gives about {calls:,.0f} calls, more "
                             f"than the {MAX_CALLS:,} one run holds in memory; shorten the duration or lower the rate"))  # fmt: skip
        if self.event is not None:
            found = check_event_times(self.event, duration_s=self.duration, scenario_start=self.start)
            found += police_problems(self.event.police, self.units, names)
            problems += [(("event", *p), m) for p, m in found]
        if problems:
            raise FieldProblems(problems)
        return self
