"""The operational parts of an ``event:`` block: police for the event, crowd incidents, road closures.

- ``police``: groups of units for the event. A group has a ``role`` (``gate_post``: foot officers at the
  gates, spread over them in turn; ``ring_patrol``: foot officers posted along the inside of a ring;
  ``vehicle``: cars posted just outside the outermost ring) and is either added for the event
  (``drawn_from`` left out) or taken from the city (``drawn_from`` names a unit group, or a station when
  the units are given by ``count`` / ``per_station``), so the city has that many fewer.
- ``incidents``: crowd incidents at rates per 10,000 people present per hour, and crush-risk alerts when a
  walk link's density stays at or above a threshold for a while. They become calls (``source: crowd``)
  for the same call-takers and dispatchers; event police take them when the event has police.
- ``road_closures``: streets closed to traffic (inside a ring, or within a radius of a point). Police
  vehicles may still use them at ``speed_kph`` (walking pace by default), for the whole run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from policetwin.scenarios.base import Distribution, Duration, Lat, Lon, Strict

#: Default crush-risk threshold: just below Fruin's queuing level E (3.59 p/m^2) and the 4 p/m^2
#: holding cap, so alerts can fire where queues press together.
CRUSH_DENSITY_P_M2 = 3.5


class EventPolice(Strict):
    """A group of officers for the event (see the module docstring)."""

    name: str = Field(min_length=1)
    count: int = Field(ge=1, le=10_000)
    role: Literal["gate_post", "ring_patrol", "vehicle"]
    ring: str | None = (
        None  # ring_patrol: whose inside (default innermost); vehicle: outside which (outermost)
    )
    drawn_from: str | None = None  # a unit group (or station) of the city; default: extra units for the event


class CrowdKind(Strict):
    """A kind of crowd incident: its rate per 10,000 people present per hour, and how it is handled."""

    name: str = Field(min_length=1)
    rate_per_10k_per_hour: float = Field(ge=0, le=10_000)
    priority: int = Field(default=2, ge=1, le=9)
    on_scene: Distribution = Distribution(dist="exponential", mean=900.0)
    units: int = Field(default=1, ge=1, le=20)
    target: Duration = Field(default=600.0, gt=0)


def _default_crowd_kinds() -> list[CrowdKind]:
    """Illustrative rates (mass-gathering medicine reports 0.5-2 patients per 1,000 attendees per event)."""
    return [
        CrowdKind(name="medical", rate_per_10k_per_hour=2.0, priority=1, target=300.0,
                  on_scene=Distribution(dist="lognormal", mean=1200.0, sd=600.0)),
        CrowdKind(name="fight", rate_per_10k_per_hour=0.5, priority=1, units=2, target=300.0,
                  on_scene=Distribution(dist="exponential", mean=900.0)),
        CrowdKind(name="lost_person", rate_per_10k_per_hour=1.0, priority=3, target=1800.0,
                  on_scene=Distribution(dist="exponential", mean=1200.0)),
    ]  # fmt: skip


class CrushAlert(Strict):
    """A crush-risk alert: a walk link at or above ``density_p_m2`` for ``hold``. One alert per place and
    ``cooldown``: a link does not alert again, nor do links sharing a node with it, within ``cooldown``
    (one jam is one call, not one per link of it)."""

    density_p_m2: float = Field(default=CRUSH_DENSITY_P_M2, gt=0, le=6)
    hold: Duration = Field(default=60.0, gt=0, le=3600)
    cooldown: Duration = Field(default=1800.0, ge=0, le=24 * 3600)
    priority: int = Field(default=1, ge=1, le=9)
    units: int = Field(default=2, ge=1, le=20)
    on_scene: Distribution = Distribution(dist="fixed", mean=1200.0)
    target: Duration = Field(default=300.0, gt=0)


class CrowdIncidents(Strict):
    """Incidents in the crowd (see the module docstring); ``crush: null`` turns alerts off."""

    kinds: list[CrowdKind] = Field(default_factory=_default_crowd_kinds)
    crush: CrushAlert | None = CrushAlert()

    @model_validator(mode="after")
    def _names(self) -> CrowdIncidents:
        names = [k.name for k in self.kinds] + (["crush_risk"] if self.crush else [])
        if len(set(names)) != len(names):
            raise ValueError(f"crowd incident kind names must be unique (crush_risk is taken), got {names}")
        return self


class RoadClosure(Strict):
    """Streets closed to traffic for the event: every road edge with an end inside ``ring`` (a ring's
    name), or within ``radius_m`` of ``lon``/``lat``. Police may still drive them at ``speed_kph``."""

    ring: str | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    radius_m: float | None = Field(default=None, gt=0, le=5000)
    speed_kph: float = Field(default=5.0, gt=0, le=50)

    @model_validator(mode="after")
    def _one_area(self) -> RoadClosure:
        point = (self.lon, self.lat, self.radius_m)
        by_ring = self.ring is not None and all(p is None for p in point)
        by_point = self.ring is None and all(p is not None for p in point)
        if not (by_ring or by_point):
            raise ValueError("give a road closure either ring, or lon, lat and radius_m")
        return self


def city_unit_counts(units, station_names: list[str]) -> tuple[str, dict[str, int]]:
    """("group" or "station", units per name) that event police may be drawn from: the unit groups, or
    the stations' units when units are given by ``count`` (round-robin) or ``per_station``."""
    if units.groups:
        return "group", {g.name: g.count for g in units.groups}
    if units.per_station is not None:
        return "station", {name: int(units.per_station.get(name, 0)) for name in station_names}
    n = len(station_names)
    return "station", {name: len(range(i, units.count, n)) for i, name in enumerate(station_names)}


def police_problems(police: list[EventPolice], units, station_names: list[str]) -> list[tuple[tuple, str]]:
    """Problems with ``drawn_from``: an unknown group or station, or more units than it has (a group
    keeps at least one unit: groups cannot be empty)."""
    what, counts = city_unit_counts(units, station_names)
    keep = 1 if what == "group" else 0
    problems, taken = [], dict.fromkeys(counts, 0)
    for i, group in enumerate(police):
        name = group.drawn_from
        if name is None:
            continue
        if name not in counts:
            problems.append((("police", i, "drawn_from"), f"no {what} is named {name!r}; {what}s: "
                             f"{', '.join(counts)}"))  # fmt: skip
            continue
        taken[name] += group.count
        if counts[name] - taken[name] < keep:
            problems.append((("police", i, "count"), f"{what} {name!r} has {counts[name]} units; the event takes "
                             f"{taken[name]}" + (" (a group keeps at least one)" if keep else "")))  # fmt: skip
    return problems
