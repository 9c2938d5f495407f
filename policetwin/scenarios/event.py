"""The ``event:`` block of a scenario (large-event security): venue, rings, gates, attendees, timeline.

Validated like the rest of the schema (unknown keys refused, strict numbers, durations such as ``90s`` or
``2h``, distributions as everywhere); checks across fields raise :class:`FieldProblems` naming every
offending field, so the loader points at each YAML line. Times (``start``, ``end``, ``at``) are offsets
from the scenario's start (``4h``) or clock times (``22:30``, the first such time at or after the
scenario's start). Geometry checks use metres in a projection centred on the venue: rings listed from
the outermost to the innermost must each contain the next and the innermost the venue; a gate must lie
within :data:`GATE_RING_TOLERANCE_M` of its ring's boundary. Checks that need the map (venue outside it,
no walk link crossing a ring at a gate) are made when the layout is built (:mod:`policetwin.event.layout`);
checks that need the run (interventions outside it) by :func:`check_event_times`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from policetwin.clock import parse_start
from policetwin.durations import parse_duration
from policetwin.scenarios.base import (
    Distribution,
    Duration,
    FieldProblems,
    Lat,
    Lon,
    Strict,
    nearest_name,
    repeated,
)
from policetwin.scenarios.event_ops import CrowdIncidents, EventPolice, RoadClosure

#: Most attendees one event may have (each is ~100 bytes of arrays).
MAX_ATTENDEES = 10_000_000
#: A gate must be this close (m) to its ring's boundary.
GATE_RING_TOLERANCE_M = 50.0
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _event_time(value: object) -> float | str:
    """A duration in seconds, or a clock time kept as ``HH:MM`` (resolved against the scenario's start)."""
    if isinstance(value, str):
        m = _CLOCK.match(value)
        if m:
            if int(m[1]) < 24 and int(m[2]) < 60:
                return f"{int(m[1]):02d}:{m[2]}"
            raise ValueError(f"bad clock time {value!r}: use HH:MM with HH < 24 and MM < 60")
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"a time in the run cannot be negative, got {value!r}")
    return seconds


EventTime = Annotated[float | str, BeforeValidator(_event_time)]
LonLat = Annotated[list[float], Field(min_length=2, max_length=2)]


def event_time_s(value: float | str, scenario_start: str) -> float:
    """Seconds from the scenario's start of an event time (an offset, or a clock time ``HH:MM``)."""
    if not isinstance(value, str):
        return float(value)
    start = parse_start(scenario_start)
    clock = start.split("T")[1] if "T" in start else start.split(" ")[1]
    parts = [int(p) for p in clock.split(":")]
    start_s = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
    hh, mm = (int(p) for p in value.split(":"))
    return float((hh * 3600 + mm * 60 - start_s) % 86400)


def _check_lonlat(points: list[list[float]]) -> list[list[float]]:
    for lon, lat in points:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"[{lon}, {lat}] is not a lon/lat point (lon -180..180, lat -90..90)")
    return points


Polygon = Annotated[list[LonLat], Field(min_length=3, max_length=10_000)]


class Venue(Strict):
    """The venue: a ``polygon`` of ``[lon, lat]`` points, or a point (``lon``, ``lat``) and ``radius_m``."""

    polygon: Polygon | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    radius_m: float | None = Field(default=None, gt=0, le=5000)

    @field_validator("polygon")
    @classmethod
    def _lonlat(cls, value: list | None) -> list | None:
        return value if value is None else _check_lonlat(value)

    @model_validator(mode="after")
    def _one_shape(self) -> Venue:
        point = (self.lon, self.lat, self.radius_m)
        if self.polygon is None and None in point:
            raise ValueError("give the venue a polygon, or lon, lat and radius_m")
        if self.polygon is not None and any(p is not None for p in point):
            raise ValueError("give the venue either a polygon or lon/lat/radius_m, not both")
        return self


class Ring(Strict):
    """A security perimeter: a ``polygon``, or the venue buffered by ``buffer_m``."""

    name: str = Field(min_length=1)
    polygon: Polygon | None = None
    buffer_m: float | None = Field(default=None, gt=0, le=20_000)

    @field_validator("polygon")
    @classmethod
    def _lonlat(cls, value: list | None) -> list | None:
        return value if value is None else _check_lonlat(value)

    @model_validator(mode="after")
    def _one_shape(self) -> Ring:
        if (self.polygon is None) == (self.buffer_m is None):
            raise ValueError("give a ring exactly one of polygon or buffer_m")
        return self


class LaneChange(Strict):
    """From time ``at`` on, ``open`` lanes of the gate screen (the lowest-numbered ones). A gate with a
    schedule is closed before its first change (doors open then)."""

    at: EventTime
    open: int = Field(ge=0, le=100)


class Gate(Strict):
    """A screening gate where a walk link crosses ``ring``. Screening time is per person per lane
    (defaults from practice: walk-through magnetometer 5-7 s; bag search 8-15 s)."""

    name: str = Field(min_length=1)
    lon: Lon
    lat: Lat
    ring: str = Field(min_length=1)
    lanes: int = Field(ge=1, le=100)
    screening: Distribution = Distribution(dist="lognormal", mean=6.0, sd=1.5)
    schedule: list[LaneChange] = Field(default_factory=list)
    queue: Literal["shared", "per_lane"] = "shared"

    @model_validator(mode="after")
    def _check_schedule(self) -> Gate:
        problems = [(("schedule", i, "open"), f"{c.open} lanes open, but the gate has only {self.lanes}")
                    for i, c in enumerate(self.schedule) if c.open > self.lanes]  # fmt: skip
        numeric = [c.at for c in self.schedule if not isinstance(c.at, str)]
        if numeric != sorted(numeric):
            problems.append((("schedule",), "lane changes must be in time order"))
        if problems:
            raise FieldProblems(problems)
        return self


class Place(Strict):
    """An origin or destination (transit station, car park ...): snapped to the nearest walk node."""

    name: str = Field(min_length=1)
    lon: Lon
    lat: Lat
    share: float = Field(default=1.0, gt=0)


def _profile(value: object) -> object:
    if value == "default":
        return value
    if isinstance(value, list):
        bad = [
            (i, v)
            for i, v in enumerate(value)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
        ]
        if bad:
            raise FieldProblems([((i,), f"profile weights must be numbers >= 0, got {v!r}") for i, v in bad])
        if not value or not sum(value) > 0 or sum(value) == float("inf"):
            raise ValueError("the arrival profile must sum to a positive (finite) number")
        return [float(v) for v in value]
    raise ValueError(f"profile is 'default' or a list of weights >= 0 over equal time bins, got {value!r}")


class Arrival(Strict):
    """When attendees come: weights over equal bins from ``before`` the event's start to ``after`` it.
    ``default``: about 65% in the last 45 minutes before the start, 5% after it."""

    before: Duration = Field(default=3 * 3600.0, ge=0, le=24 * 3600.0)
    after: Duration = Field(default=900.0, ge=0, le=12 * 3600.0)
    profile: Annotated[str | list[float], BeforeValidator(_profile)] = "default"

    @model_validator(mode="after")
    def _window(self) -> Arrival:
        if self.before + self.after <= 0:
            raise ValueError("the arrival window is empty: give before and/or after > 0")
        return self


class Attendees(Strict):
    """Who comes, from where, when, and where they go after the end (default: back to their origin)."""

    total: int = Field(ge=1, le=MAX_ATTENDEES)
    arrival: Arrival = Arrival()
    origins: list[Place] = Field(min_length=1)
    destinations: list[Place] | None = None
    leave_over: Duration = Field(default=1200.0, gt=0, le=6 * 3600.0)  # leaving spread after the end

    @model_validator(mode="after")
    def _names(self) -> Attendees:
        problems = [(("origins", i, "name"), f"origin name {self.origins[i].name!r} is used twice")
                    for i in repeated([o.name for o in self.origins])]  # fmt: skip
        problems += [(("destinations", i, "name"), "destination name is used twice")
                     for i in repeated([d.name for d in self.destinations or []])]  # fmt: skip
        if problems:
            raise FieldProblems(problems)
        return self


class Intervention(Strict):
    """A timeline action: ``close_walk`` / ``open_walk`` (walk links within ``radius_m`` of a point),
    ``one_way`` (walk links within ``radius_m`` of a point: walkers only in the direction nearest
    ``heading_deg``, for the rest of the run), ``hold`` (attendees on their way in wait at the walk
    nodes within ``radius_m`` of a point, until ``until`` or a ``release``), ``release`` (ends the hold
    ``name``, else every hold), ``lanes`` (set a gate's open lanes), ``evacuate``
    (everyone to ``safe_areas``, default the destinations; ring barriers open outwards), ``close_roads``
    (road edges with an end inside ``ring`` or within ``radius_m`` of a point driven at ``speed_kph``)
    and ``open_roads`` (every earlier ``close_roads`` ends)."""

    at: EventTime
    action: Literal[
        "close_walk",
        "open_walk",
        "one_way",
        "hold",
        "release",
        "lanes",
        "evacuate",
        "close_roads",
        "open_roads",
    ]
    lon: Lon | None = None
    lat: Lat | None = None
    radius_m: float = Field(default=25.0, gt=0, le=2000)
    gate: str | None = None
    open: int | None = Field(default=None, ge=0, le=100)
    safe_areas: list[Place] | None = None
    ring: str | None = None  # close_roads: the ring's inside
    speed_kph: float = Field(default=5.0, gt=0, le=50)  # close_roads: police may still drive at this
    heading_deg: float | None = Field(default=None, ge=0, lt=360)  # one_way: compass direction allowed
    until: EventTime | None = None  # hold: released then (else by a release)
    name: str | None = Field(default=None, min_length=1)  # hold: its name; release: the hold it ends

    @model_validator(mode="after")
    def _fields_for_action(self) -> Intervention:
        problems = []
        if self.action in ("close_walk", "open_walk", "one_way", "hold") and (
            self.lon is None or self.lat is None
        ):
            problems.append((("lon",), f"{self.action} needs lon and lat"))
        if self.action == "one_way" and self.heading_deg is None:
            problems.append((("heading_deg",), "one_way needs heading_deg (compass degrees walkers may go)"))
        if self.action == "close_roads" and (self.ring is None) == (self.lon is None or self.lat is None):
            problems.append((("ring",), "close_roads needs either ring, or lon and lat (with radius_m)"))
        if self.ring is not None and self.action != "close_roads":
            problems.append((("ring",), "ring is only used by close_roads"))
        if self.action == "lanes" and (self.gate is None or self.open is None):
            problems.append((("gate",), "lanes needs gate and open"))
        if self.until is not None and self.action != "hold":
            problems.append((("until",), "until is only used by hold"))
        if self.name is not None and self.action not in ("hold", "release"):
            problems.append((("name",), "name is only used by hold and release"))
        if self.safe_areas is not None and self.action != "evacuate":
            problems.append((("safe_areas",), "safe_areas is only used by evacuate"))
        if problems:
            raise FieldProblems(problems)
        return self


class CrowdOptions(Strict):
    """Crowd model settings: step, holding cap, output bin, walk widths by OSM class (untagged ways)."""

    step: Duration = Field(default=1.0, gt=0, le=10)
    max_density_p_m2: float = Field(default=4.0, ge=1.0, le=5.0)
    bin: Duration = Field(default=60.0, ge=1, le=3600)
    widths_m: dict[str, Annotated[float, Field(gt=0, le=100)]] = Field(default_factory=dict)


class Event(Strict):
    """A large event in the city: venue, rings and gates, attendees, timeline (see the module docstring)."""

    name: str = Field(default="event", min_length=1)
    venue: Venue
    capacity: int | None = Field(default=None, ge=1, le=MAX_ATTENDEES)
    start: EventTime
    end: EventTime
    rings: list[Ring] = Field(min_length=2, max_length=3)
    gates: list[Gate] = Field(min_length=1)
    attendees: Attendees
    interventions: list[Intervention] = Field(default_factory=list)
    crowd: CrowdOptions = CrowdOptions()
    police: list[EventPolice] = Field(default_factory=list)
    incidents: CrowdIncidents | None = None  # none: no crowd incidents become calls
    road_closures: list[RoadClosure] = Field(default_factory=list)
    counterfactual: bool = True  # also run without the event: what the event costs the city

    @model_validator(mode="after")
    def _check_across_fields(self) -> Event:
        problems: list[tuple[tuple, str]] = []
        if not isinstance(self.start, str) and not isinstance(self.end, str) and self.end <= self.start:
            problems.append(
                (("end",), f"the event must end after it starts ({self.end:g} s <= {self.start:g} s)")
            )
        rings = [r.name for r in self.rings]
        problems += [(("rings", i, "name"), f"ring name {rings[i]!r} is used twice") for i in repeated(rings)]
        gates = [g.name for g in self.gates]
        problems += [(("gates", i, "name"), f"gate name {gates[i]!r} is used twice") for i in repeated(gates)]
        for i, gate in enumerate(self.gates):
            if gate.ring not in rings:
                problems.append((("gates", i, "ring"), f"no ring is named {gate.ring!r}"
                                 f"{nearest_name(gate.ring, rings)}; rings: {', '.join(rings)}"))  # fmt: skip
        for i, step in enumerate(self.interventions):
            if step.gate is not None and step.gate not in gates:
                problems.append((("interventions", i, "gate"), f"no gate is named {step.gate!r}"
                                 f"{nearest_name(step.gate, gates)}"))  # fmt: skip
        problems += self._ops_problems(rings)
        if not problems:
            problems += self._geometry_problems()
        if problems:
            raise FieldProblems(problems)
        return self

    def _ops_problems(self, rings: list[str]) -> list[tuple[tuple, str]]:
        """Police and closures name existing rings; crush alerts can fire below the holding cap."""
        problems = [(("police", i, "name"), f"police group name {self.police[i].name!r} is used twice")
                    for i in repeated([p.name for p in self.police])]  # fmt: skip
        named = [(("police", i), p.ring) for i, p in enumerate(self.police)]
        named += [(("road_closures", i), c.ring) for i, c in enumerate(self.road_closures)]
        named += [(("interventions", i), s.ring) for i, s in enumerate(self.interventions)]
        for path, ring in named:
            if ring is not None and ring not in rings:
                problems.append(((*path, "ring"), f"no ring is named {ring!r}{nearest_name(ring, rings)}; "
                                 f"rings: {', '.join(rings)}"))  # fmt: skip
        from policetwin.event.hold import hold_name_problems

        problems += hold_name_problems(self.interventions)
        crush = self.incidents.crush if self.incidents is not None else None
        if crush is not None and crush.density_p_m2 >= self.crowd.max_density_p_m2:
            problems.append((("incidents", "crush", "density_p_m2"), f"{crush.density_p_m2:g} p/m2 is not below "
                             f"the holding cap crowd.max_density_p_m2 ({self.crowd.max_density_p_m2:g}): "
                             "the alert could never fire"))  # fmt: skip
        return problems

    def _geometry_problems(self) -> list[tuple[tuple, str]]:
        """Rings nest (outermost first) around the venue; gates lie on their ring."""
        import numpy as np
        import shapely

        from policetwin.event.geometry import local_to_xy, ring_shapes, venue_centre, venue_shape

        to_xy = local_to_xy(*venue_centre(self.venue))
        venue = venue_shape(self.venue, to_xy)
        shapes = ring_shapes(self.rings, venue, to_xy)
        problems = []
        for i, shape in enumerate(shapes):
            inner = shapes[i + 1] if i + 1 < len(shapes) else venue
            what = f"ring {self.rings[i + 1].name!r}" if i + 1 < len(shapes) else "the venue"
            if not shape.buffer(1.0).contains(inner):
                problems.append((("rings", i), f"ring {self.rings[i].name!r} does not contain {what}: rings must "
                                 "nest, listed from the outermost to the innermost, around the venue"))  # fmt: skip
        by_name = dict(zip([r.name for r in self.rings], shapes, strict=True))
        for i, gate in enumerate(self.gates):
            x, y = to_xy(np.array([gate.lon]), np.array([gate.lat]))
            dist = shapely.Point(float(x[0]), float(y[0])).distance(by_name[gate.ring].boundary)
            if dist > GATE_RING_TOLERANCE_M:
                problems.append((("gates", i), f"gate {gate.name!r} is {dist:,.0f} m from ring {gate.ring!r}; a gate "
                                 f"must be on its ring (within {GATE_RING_TOLERANCE_M:.0f} m)"))  # fmt: skip
        return problems


def check_event_times(event: Event, *, duration_s: float, scenario_start: str) -> list[tuple[tuple, str]]:
    """Problems with times against the run: the event and interventions must fall inside it."""
    problems = []
    start, end = event_time_s(event.start, scenario_start), event_time_s(event.end, scenario_start)
    if end <= start:
        problems.append(
            (("end",), f"the event must end after it starts ({event.end} is before {event.start})")
        )
    for key, value in (("start", start), ("end", end)):
        if value > duration_s:
            problems.append(((key,), f"{key} is {value / 3600:.2f} h after the run starts, but the run lasts "
                             f"{duration_s / 3600:.2f} h"))  # fmt: skip
    for i, step in enumerate(event.interventions):
        at = event_time_s(step.at, scenario_start)
        if at > duration_s:
            problems.append((("interventions", i, "at"), f"at {at / 3600:.2f} h is outside the run "
                             f"(0 to {duration_s / 3600:.2f} h)"))  # fmt: skip
        if step.until is not None and event_time_s(step.until, scenario_start) > duration_s:
            problems.append((("interventions", i, "until"), "until is outside the run"))
    to_s = lambda t: event_time_s(t, scenario_start)  # noqa: E731
    steps = event.interventions
    from policetwin.event.hold import hold_time_problems

    problems += hold_time_problems(steps, [to_s(s.at) for s in steps], to_s)
    for g, gate in enumerate(event.gates):
        for i, change in enumerate(gate.schedule):
            if event_time_s(change.at, scenario_start) > duration_s:
                problems.append((("gates", g, "schedule", i, "at"), "lane change outside the run"))
    return problems
