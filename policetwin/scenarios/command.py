"""The command chain of a scenario: call handling (call-takers, dispatcher desk) and dispatch (policy
and its parameters). Policy names are checked here without importing the engine."""

from __future__ import annotations

from pydantic import Field, field_validator

from policetwin.scenarios.base import Distribution, Strict

#: Dispatch policies built into the engine (``policetwin.sim.policies`` implements each of them).
BUILTIN_POLICIES = ("nearest",)


class CallHandling(Strict):
    """Call-takers answer calls (a queue when all are busy), then handle and triage them."""

    takers: int = Field(default=4, ge=1, le=10_000)
    handling: Distribution = Distribution(dist="lognormal", mean=90.0, sd=40.0)


class Dispatch(Strict):
    """The dispatch policy by name (one of :data:`BUILTIN_POLICIES`)."""

    policy: str = "nearest"

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        if value not in BUILTIN_POLICIES:
            raise ValueError(f"unknown dispatch policy {value!r}; allowed: {', '.join(BUILTIN_POLICIES)}")
        return value
