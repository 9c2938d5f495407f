"""Building blocks of the scenario schema: the strict base model, durations, coordinates, random
distributions, and :class:`FieldProblems` for checks that name the offending fields.

Numbers must be numbers (strict mode: ``yes`` is not 1 and ``"3"`` is not 3). Durations accept numbers
(seconds) or strings like ``90s``, ``15min``, ``2h``, ``30d`` and are held in seconds.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policetwin.clock import parse_start
from policetwin.durations import parse_duration


class FieldProblems(ValueError):
    """Problems found by a check across fields: ``(path relative to the model, message)`` pairs."""

    def __init__(self, problems: list[tuple[tuple, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(msg for _, msg in problems))


def nearest_name(value: str, allowed: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for a likely misspelling of one of ``allowed``, else ``''``."""
    close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def repeated(names: list[str]) -> list[int]:
    """Indices of names that repeat an earlier one."""
    return [i for i, name in enumerate(names) if name in names[:i]]


Duration = Annotated[float, BeforeValidator(parse_duration)]
Start = Annotated[str, BeforeValidator(parse_start)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Probability = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    """Unknown keys are errors, values are frozen, numbers are strict, inf/NaN are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Distribution(Strict):
    """A random duration: ``exponential`` (mean), ``lognormal`` (mean, sd) or ``fixed`` (mean).

    A parameter the distribution does not use is an error (it would be silently ignored).
    """

    dist: Literal["exponential", "lognormal", "fixed"]
    mean: Duration = Field(ge=0)
    sd: Duration | None = Field(default=None, ge=0)

    @field_validator("sd")
    @classmethod
    def _sd_is_used(cls, value: float | None, info: ValidationInfo) -> float | None:
        dist = info.data.get("dist")
        if value is not None and dist in ("exponential", "fixed"):
            raise ValueError(f"{dist} has no sd (its only parameter is mean); remove sd or use lognormal")
        return value

    @model_validator(mode="after")
    def _check_parameters(self) -> Distribution:
        if self.dist == "lognormal" and (self.sd is None or self.sd <= 0 or self.mean <= 0):
            raise ValueError("lognormal needs mean > 0 and sd > 0")
        if self.dist == "exponential" and self.mean <= 0:
            raise ValueError("exponential needs mean > 0")
        return self
