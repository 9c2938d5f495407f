"""The sense -> assess -> command chain of a scenario: sensing (cameras and sensors that turn incidents
into calls), call handling (call-takers, dispatcher desk) and dispatch (policy and its parameters).
Policy names are checked here without importing the engine."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from policetwin.scenarios.base import (
    Distribution,
    Duration,
    FieldProblems,
    Lat,
    Lon,
    Probability,
    Strict,
    nearest_name,
)

#: Dispatch policies built into the engine (``policetwin.sim.policies`` implements each of them).
BUILTIN_POLICIES = ("nearest", "beat_first", "priority_preempt")
#: A user policy: a Python file (relative to the scenario's folder) and a class in it.
USER_POLICY = re.compile(r"^(?P<file>.+\.py):(?P<cls>[A-Za-z_][A-Za-z0-9_]*)$")


class Sensor(Strict):
    """A camera or sensor point: incidents at road nodes within ``radius_m`` can be detected."""

    lon: Lon
    lat: Lat
    radius_m: float = Field(default=100.0, gt=0, le=10_000)


class Sensing(Strict):
    """Sensor coverage (感知): a covered incident is detected with ``detection_probability`` after
    ``delay``; it becomes a call then, unless a citizen called earlier (``detected_by``)."""

    sensors: list[Sensor] = Field(default_factory=list)
    node_share: Probability | None = None  # or: this share of road nodes (drawn at random) is covered
    detection_probability: Probability = 1.0
    delay: Distribution = Distribution(dist="fixed", mean=0.0)

    @model_validator(mode="after")
    def _coverage_given(self) -> Sensing:
        if not self.sensors and self.node_share is None:
            raise ValueError(
                "sensing needs sensors (points with a radius) or node_share (a share of road nodes)"
            )
        return self


class CallHandling(Strict):
    """Call-takers answer calls (a queue when all are busy), then handle and triage them; a dispatcher
    desk (``dispatchers`` > 0) then decides which units go, or the call-taker does (flat command, 0)."""

    takers: int = Field(default=4, ge=1, le=10_000)
    handling: Distribution = Distribution(dist="lognormal", mean=90.0, sd=40.0)
    dispatchers: int = Field(default=0, ge=0, le=10_000)
    decision: Distribution | None = None  # the dispatcher's time per call (needs dispatchers > 0)

    @model_validator(mode="after")
    def _decision_needs_a_desk(self) -> CallHandling:
        if self.decision is not None and self.dispatchers == 0:
            msg = "decision is the dispatcher desk's time: set dispatchers > 0 (0 = flat command, no desk)"
            raise FieldProblems([(("decision",), msg)])
        return self


class Preempt(Strict):
    """Pre-emption (``priority_preempt``): a call of priority <= ``max_priority`` may take a unit that is
    en route to (or, with ``on_scene``, working at) a call at least ``min_gap`` priority levels lower."""

    max_priority: int = Field(default=1, ge=1, le=9)
    min_gap: int = Field(default=1, ge=1, le=8)
    on_scene: bool = False


class MutualAid(Strict):
    """Units stay in their own district unless the call's district has no free unit within
    ``threshold`` (an ETA), or at least ``queue`` calls wait there; then the nearest unit anywhere."""

    threshold: Duration | None = Field(default=None, ge=0)
    queue: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_rule(self) -> MutualAid:
        if self.threshold is None and self.queue is None:
            raise ValueError(
                "mutual_aid needs threshold (an ETA such as 8min) or queue (calls waiting), or both"
            )
        return self


class Dispatch(Strict):
    """The dispatch policy and its parameters. ``policy``: one of :data:`BUILTIN_POLICIES` or
    ``file.py:ClassName`` (a user policy; see the README). ``districts``: ``voronoi`` (each node to the
    station that reaches it first) or a GeoJSON file of polygons naming their stations."""

    policy: str = "nearest"
    slack: Duration | None = Field(default=None, ge=0)  # beat_first: own-district unit if within slack
    preempt: Preempt | None = None  # priority_preempt (defaults apply when left out)
    districts: str = Field(default="voronoi", min_length=1)
    mutual_aid: MutualAid | None = None

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        if value not in BUILTIN_POLICIES and not USER_POLICY.match(value):
            raise ValueError(f"unknown dispatch policy {value!r}{nearest_name(value, BUILTIN_POLICIES)}; allowed: "
                             f"{', '.join(BUILTIN_POLICIES)}, or path/to/file.py:ClassName")  # fmt: skip
        return value

    @model_validator(mode="after")
    def _parameters_of_the_policy(self) -> Dispatch:
        problems = []
        if self.slack is not None and self.policy != "beat_first":
            problems.append((("slack",), f"slack is a parameter of beat_first, not of {self.policy}"))
        if self.preempt is not None and self.policy != "priority_preempt":
            problems.append(
                (("preempt",), f"preempt is a parameter of priority_preempt, not of {self.policy}")
            )
        if problems:
            raise FieldProblems(problems)
        if self.policy == "beat_first" and self.slack is None:
            object.__setattr__(self, "slack", 0.0)  # the resolved scenario says it
        if self.policy == "priority_preempt" and self.preempt is None:
            object.__setattr__(self, "preempt", Preempt())
        return self
