"""The units of a scenario: a count spread over the stations, a count per station, or groups with their
station, shift, where they wait (idle behaviour, posts) and capabilities.

Exactly one of ``count`` (short form), ``per_station`` or ``groups`` describes the units; a ``count``
beside ``per_station`` or ``groups`` must equal their sum. Shift windows are clock times (``07:00-15:00``,
``23:00-07:00`` crosses midnight) in the scenario's clock: the run starts at ``start``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from policetwin.clock import DAY_NAMES
from policetwin.scenarios.base import Distribution, Duration, FieldProblems, Lat, Lon, Strict, repeated

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(value: object) -> str:
    """The canonical form ``HH:MM-HH:MM`` of a shift window; ValueError naming the accepted form."""
    m = _WINDOW.match(value) if isinstance(value, str) else None
    if m:
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60 and (h2 < 24 or m2 == 0) and (h1, m1) != (h2, m2):
            return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"
    msg = f"cannot read shift window {value!r}: use HH:MM-HH:MM, e.g. 07:00-15:00 or 23:00-07:00 (crosses midnight)"
    raise ValueError(msg)


def window_s(window: str) -> tuple[float, float]:
    """(start, end) of a canonical window in seconds from midnight; end > start (next day if it crosses)."""
    a, b = window.split("-")
    start = int(a[:2]) * 3600.0 + int(a[3:]) * 60.0
    end = int(b[:2]) * 3600.0 + int(b[3:]) * 60.0
    return start, end if end > start else end + 86400.0


Window = Annotated[str, BeforeValidator(parse_window)]


class Shift(Strict):
    """When a group is on duty: daily windows, optionally on some weekdays only (by the window's start)."""

    windows: list[Window] = Field(min_length=1)
    days: list[str] | None = None  # Mon..Sun (or 周一..周日); default: every day
    handover: Duration = Field(
        default=0.0, ge=0, le=4 * 3600
    )  # at the start of each window: not yet available

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: list[str] | None) -> list[str] | None:
        if days is None:
            return None
        bad = [d for d in days if d.lower() not in DAY_NAMES]
        if bad:
            raise ValueError(f"unknown weekday {bad[0]!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun")
        return days


def _shift(value: object) -> object:
    """``shift: 07:00-15:00`` is short for ``shift: {windows: [07:00-15:00]}``."""
    if isinstance(value, str):
        return {"windows": [value]}
    if isinstance(value, list):
        return {"windows": value}
    return value


class MealBreak(Strict):
    """One meal break per duty period: due ``after`` its start, lasting ``duration``; a unit busy then
    takes it when it is next free (before its shift ends)."""

    after: Duration = Field(gt=0, le=24 * 3600)
    duration: Distribution


class SelfInitiated(Strict):
    """Officer-initiated activity (stops, checks): a free unit on duty starts one at ``rate_per_hour``
    (a Poisson process per unit) and is not available for calls for ``duration``."""

    rate_per_hour: float = Field(gt=0, le=60)
    duration: Distribution


class Post(Strict):
    """A place where a unit waits between calls (snapped to the nearest road node)."""

    lon: Lon
    lat: Lat


def _iso(value: object) -> object:
    """A YAML date (``2024-02-20``) as its ISO text."""
    import datetime as dt

    return value.isoformat() if isinstance(value, dt.date) else value


class Forecast(Strict):
    """A ``demand predict`` forecast whose top cells (snapped to the beat's nodes) are the hotspots:
    ``method`` default hawkes, else prospective, else kde (the first the file has); ``origin`` default the
    latest in the file (policetwin.demandfit.hotspots)."""

    file: str = Field(min_length=1)
    method: Literal["kde", "prospective", "hawkes"] | None = None
    origin: Annotated[str | None, BeforeValidator(_iso)] = None  # ISO date of a forecast origin in the file


def _forecast(value: object) -> object:
    """``forecast: FILE`` is short for ``forecast: {file: FILE}``."""
    return {"file": value} if isinstance(value, str) else value


class UnitGroup(Strict):
    """Units alike: their station, shift, where they wait between calls and what they can do."""

    name: str = Field(min_length=1)
    count: int = Field(ge=1, le=100_000)
    station: str = Field(min_length=1)
    shift: Annotated[Shift | None, BeforeValidator(_shift)] = None  # default: always on duty
    idle: Literal["station", "post", "random_beat", "hotspot"] = "station"
    posts: list[Post] = Field(default_factory=list)  # idle: post (units spread over them in turn)
    beat: str | None = None  # random_beat / hotspot: the station whose district they patrol (default: theirs)
    speed_factor: float = Field(default=0.6, gt=0, le=1)  # patrol speed relative to the road speed
    hotspots: int = Field(default=5, ge=1, le=100)  # hotspot: the beat's top nodes by demand, visited in turn
    dwell: Distribution | None = None  # hotspot: time spent at each (default 10 min)
    forecast: Annotated[Forecast | None, BeforeValidator(_forecast)] = None  # hotspot: from a forecast file
    capabilities: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    meal_break: MealBreak | None = None  # needs a shift: one break per duty period
    self_initiated: SelfInitiated | None = None

    @model_validator(mode="after")
    def _break_in_shift(self) -> UnitGroup:
        if self.meal_break is None:
            return self
        if self.shift is None:
            raise FieldProblems([(("meal_break",), "a meal break is due `after` the start of each duty period: "
                                  "give the group a shift")])  # fmt: skip
        longest = max(window_s(w)[1] - window_s(w)[0] for w in self.shift.windows)
        if self.meal_break.after >= longest:
            raise FieldProblems([(("meal_break", "after"), f"the break would be due after the shift ends: after "
                                  f"must be shorter than the longest window ({longest / 3600:g} h)")])  # fmt: skip
        return self

    @model_validator(mode="after")
    def _patrol_parameters(self) -> UnitGroup:
        problems = []
        if self.beat is not None and self.idle not in ("random_beat", "hotspot"):
            problems.append(
                (
                    ("beat",),
                    f"beat is where random_beat or hotspot units patrol; this group's idle is {self.idle}",
                )
            )
        if self.dwell is not None and self.idle != "hotspot":
            problems.append(
                (
                    ("dwell",),
                    f"dwell is the time hotspot units stay at each hotspot; this group's idle is {self.idle}",
                )
            )
        if self.forecast is not None:
            if self.idle != "hotspot":
                problems.append(
                    (
                        ("forecast",),
                        f"forecast sets the hotspots of hotspot units; this group's idle is {self.idle}",
                    )
                )
            else:
                from policetwin.demandfit.hotspots import check_forecast

                f = self.forecast
                if (msg := check_forecast(f.file, method=f.method, origin=f.origin)) is not None:
                    problems.append((("forecast",), msg))
        if problems:
            raise FieldProblems(problems)
        if self.idle == "hotspot" and self.dwell is None:
            object.__setattr__(self, "dwell", Distribution(dist="fixed", mean=600.0))
        return self

    @model_validator(mode="after")
    def _posts_for_post_idle(self) -> UnitGroup:
        if self.idle == "post" and not self.posts:
            raise FieldProblems([(("posts",), "idle: post needs posts (a list of {lon, lat})")])
        if self.idle != "post" and self.posts:
            raise FieldProblems(
                [
                    (
                        ("posts",),
                        f"posts are where units with idle: post wait; this group's idle is {self.idle}",
                    )
                ]
            )
        return self


class Units(Strict):
    """Police units: ``count`` spread round-robin over the stations, ``per_station``, or ``groups``."""

    count: int | None = Field(default=None, ge=1, le=100_000)
    per_station: dict[str, Annotated[int, Field(ge=0)]] | None = None
    groups: list[UnitGroup] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_count(self) -> Units:
        forms = [name for name in ("per_station", "groups") if getattr(self, name) is not None]
        if len(forms) > 1:
            raise ValueError(
                "give one of per_station or groups (with an optional count that equals its sum), not both"
            )
        if not forms:
            if self.count is None:
                raise ValueError("give count (units spread over the stations), per_station or groups")
            return self
        if forms == ["groups"]:
            twice = repeated([g.name for g in self.groups])
            if twice:
                raise FieldProblems([(("groups", i, "name"), f"group name {self.groups[i].name!r} is used twice")
                                     for i in twice])  # fmt: skip
            total = sum(g.count for g in self.groups)
        else:
            total = sum(self.per_station.values())
        if self.count is None:
            if total < 1:
                raise FieldProblems([(("per_station",), "per_station gives no units at all")])
            object.__setattr__(self, "count", total)  # the resolved scenario says the count
        elif total != self.count:
            raise ValueError(f"{forms[0]} adds up to {total} units but count is {self.count}")
        return self
