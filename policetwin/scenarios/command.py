"""The sense -> assess -> command chain of a scenario: sensing (cameras and sensors that turn incidents
into calls), call handling (call-takers, dispatcher desk) and dispatch (policy and its parameters).
Policy names are checked here without importing the engine."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from policetwin.scenarios.base import Distribution, FieldProblems, Lat, Lon, Probability, Strict

#: Dispatch policies built into the engine (``policetwin.sim.policies`` implements each of them).
BUILTIN_POLICIES = ("nearest",)


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


class Dispatch(Strict):
    """The dispatch policy by name (one of :data:`BUILTIN_POLICIES`)."""

    policy: str = "nearest"

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        if value not in BUILTIN_POLICIES:
            raise ValueError(f"unknown dispatch policy {value!r}; allowed: {', '.join(BUILTIN_POLICIES)}")
        return value
