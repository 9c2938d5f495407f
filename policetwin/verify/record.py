"""Result records of the theory checks: one :class:`Figure` per compared number, grouped in a
:class:`CheckResult` per check (what ``policetwin verify`` prints and writes to ``verify.html``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Two-sided 95% normal quantile for the confidence intervals shown beside each simulated figure.
Z_95 = 1.959964


@dataclass(frozen=True)
class Figure:
    """One simulated figure against its theory value.

    ``se`` is the standard error behind the 95% CI (0 for deterministic figures); the figure passes when
    ``|simulated - theory| <= tolerance`` (an absolute tolerance in the figure's own ``unit``).
    """

    name: str
    theory: float
    simulated: float
    tolerance: float
    se: float = 0.0
    unit: str = ""
    rule: str = ""  # how the tolerance was set, e.g. "4 SE" or "5% rel."

    @property
    def error(self) -> float:
        return self.simulated - self.theory

    @property
    def passed(self) -> bool:
        return math.isfinite(self.simulated) and abs(self.error) <= self.tolerance

    @property
    def ci_95(self) -> tuple[float, float]:
        half = Z_95 * self.se
        return self.simulated - half, self.simulated + half


@dataclass
class CheckResult:
    """The figures of one check, with its wall time and a short note on the set-up."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    note: str = ""
    wall_s: float = 0.0
    error: str = ""  # set when the check itself crashed (it then fails)

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.figures) and all(f.passed for f in self.figures)

    @property
    def failed_figures(self) -> list[str]:
        return [f.name for f in self.figures if not f.passed]


def within_se(
    name: str, *, theory: float, simulated: float, se: float, k_se: float = 4.0, unit: str = ""
) -> Figure:
    """A figure that passes within ``k_se`` standard errors."""
    return Figure(name, theory, simulated, k_se * se, se=se, unit=unit, rule=f"{k_se:g} SE")


def within_rel(
    name: str, *, theory: float, simulated: float, rel: float, se: float = 0.0, unit: str = ""
) -> Figure:
    """A figure that passes within a relative tolerance of the theory value."""
    return Figure(name, theory, simulated, rel * abs(theory), se=se, unit=unit, rule=f"{100 * rel:g}% rel.")
