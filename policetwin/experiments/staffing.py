"""Staffing: the fewest units per shift (or per clock hour) that meet a response-time compliance target.

Step 1 (this module) is a queueing approximation per period, stationary and period by period (each
period on its own, as if it lasted for ever): the period's unit jobs arrive at the mean rate of its clock
hours (``rate_per_hour`` x the hour-of-week profile, over the run) and keep a unit busy for the mean of
turn-out + travel from the nearest station + on scene (:func:`policetwin.sim.load.stage_work`, the same
figures as the offered-load warnings). Erlang C gives P(wait); a call of the target priority P waits, when
it waits, an exponential time with the mean of the non-preemptive priority M/M/c queue (Cobham):
``1 / (c mu (1 - s_<P) (1 - s_<=P))``, ``s`` the load of the more (or as) urgent jobs; its response is
that wait plus the fixed mean delays (handling, desk, turn-out, travel). The start is the fewest units
with ``c > a`` (a stable queue for all priorities) whose approximate compliance meets the target.

Step 2 (:mod:`.staffing_search`) confirms and adjusts the plan by simulation with common random numbers.
The plan is written as ``units.groups``: one group per period and template (see :func:`plan_scenario`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import yaml

from policetwin.clock import week_offset_s
from policetwin.durations import format_duration, parse_duration
from policetwin.errors import PoliceTwinError
from policetwin.scenarios import Scenario, scenario_to_yaml
from policetwin.scenarios.units import Shift, window_s
from policetwin.sim.demand import hour_of_week_profile
from policetwin.sim.load import stage_work
from policetwin.sim.shifts import window_spans

#: The shifts used with ``--per shift`` when the scenario's units have none.
DEFAULT_SHIFTS = ("06:00-14:00", "14:00-22:00", "22:00-06:00")
_TARGET = re.compile(
    r"^\s*(?:priority|p)\s*(?P<priority>\S+?)\s*:\s*(?P<share>[0-9.]+)\s*%\s*within\s+(?P<within>\S+)\s*$",
    re.IGNORECASE,
)


class StaffingError(PoliceTwinError, ValueError):
    """The staffing search cannot run with these inputs (bad target, unknown priority, ...): exit 2."""


@dataclass(frozen=True)
class Target:
    """``priority`` P calls: a ``share`` of them reached within ``within_s`` (response = arrive - call)."""

    priority: int
    share: float
    within_s: float

    def label(self) -> str:
        return f"priority {self.priority}: {100 * self.share:g}% within {format_duration(self.within_s)}"


def parse_target(text: str, scenario: Scenario) -> Target:
    """Read ``"priority 1: 90% within 10min"``; StaffingError naming the form, or the scenario's
    priorities when the priority has no demand kind."""
    m = _TARGET.match(text or "")
    form = 'use "priority P: S% within DURATION", e.g. "priority 1: 90% within 10min"'
    if m is None:
        raise StaffingError(f"--target {text!r}: cannot read it; {form}")
    known = sorted({k.priority for k in scenario.demand.kinds})
    if not m["priority"].isdigit():
        raise StaffingError(f"--target {text!r}: priority {m['priority']!r} is not a whole number; {form}")
    priority = int(m["priority"])
    if priority not in known:
        raise StaffingError(f"--target {text!r}: unknown priority {priority}; the scenario's demand kinds "
                            f"have priorities {', '.join(map(str, known))}")  # fmt: skip
    try:
        share = float(m["share"]) / 100.0
        within_s = parse_duration(m["within"])
    except ValueError as exc:
        raise StaffingError(f"--target {text!r}: {exc}") from None
    if not 0 < share < 1:
        raise StaffingError(f"--target {text!r}: the share must be above 0% and below 100%")
    if within_s <= 0:
        raise StaffingError(f"--target {text!r}: the time must be positive")
    return Target(priority, share, within_s)


@dataclass
class Period:
    """A daily clock window staffed by one number of units; ``templates``: (group dict, weight) that its
    units are shared out to (the scenario's groups on duty then, or one per station)."""

    window: str
    templates: list[tuple[dict, float]]
    spans: list[tuple[float, float]] = field(default_factory=list)  # in run time (s), within the run
    hours: float = 0.0

    @property
    def label(self) -> str:
        return self.window


def _covers(window: str, clock_s: float) -> bool:
    a, b = window_s(window)
    return a <= clock_s < b or a <= clock_s + 86400.0 < b


def periods_of(scenario: Scenario, per: str) -> tuple[list[Period], list[dict]]:
    """The periods to staff and the groups kept as they are (no shift: e.g. specialists on all day).

    ``per="shift"``: the distinct windows of the scenario's shift groups (each must have one window and no
    ``days``), else :data:`DEFAULT_SHIFTS`; ``per="hour"``: the 24 clock hours."""
    if per not in ("shift", "hour"):
        raise StaffingError(f"--per {per!r}: use shift or hour")
    data = scenario.model_dump(mode="json")
    groups = data["units"].get("groups") or []
    fixed = [g for g in groups if g.get("shift") is None]
    shifted = [g for g in groups if g.get("shift") is not None]
    for i, g in enumerate(groups):
        shift = g.get("shift")
        if shift is not None and (len(shift["windows"]) != 1 or shift.get("days")):
            raise StaffingError(f"units.groups.{i} ({g['name']}): staffing plans daily periods; give each shift "
                                "group one window and no days")  # fmt: skip
    if per == "shift":
        windows = list(dict.fromkeys(g["shift"]["windows"][0] for g in shifted)) or list(DEFAULT_SHIFTS)
        windows.sort(key=lambda w: window_s(w)[0])
    else:
        windows = [f"{h:02d}:00-{h + 1:02d}:00" for h in range(24)]
    periods = []
    for w in windows:
        a, b = window_s(w)
        if per == "shift":
            on = [g for g in shifted if g["shift"]["windows"][0] == w]
        else:
            on = [g for g in shifted if _covers(g["shift"]["windows"][0], (a + b) / 2.0 % 86400.0)]
        if on:
            templates = [(g, float(g["count"])) for g in on]
        else:
            templates = [({"name": s["name"], "station": s["name"]}, 1.0) for s in data["stations"]]
        spans = window_spans(Shift(windows=[w]), start=scenario.start, horizon_s=scenario.duration)[w]
        spans = [(x, y) for x, y in spans if y > x]
        if not spans:
            raise StaffingError(f"period {w} does not occur in the run ({format_duration(scenario.duration)} "
                                f"from {scenario.start}); lengthen duration")  # fmt: skip
        periods.append(Period(w, templates, spans, (b - a) / 3600.0))
    return periods, fixed


def erlang_c(c: int, a: float) -> float:
    """P(wait > 0) in M/M/c with offered load ``a`` Erlangs (1 when ``c <= a``); via Erlang B."""
    if c <= a:
        return 1.0
    b = 1.0
    for m in range(1, c + 1):
        b = a * b / (m + a * b)
    return c * b / (c - a * (1.0 - b))


@dataclass(frozen=True)
class PeriodLoad:
    """The queueing inputs of one period: unit jobs per second (all, and of priority <= P and < P), mean
    busy seconds per job, and the fixed mean delay of a priority-P call (handling, desk, turn-out, travel)."""

    rate_s: float
    rate_le_s: float
    rate_lt_s: float
    busy_s: float
    delay_s: float

    @property
    def offered(self) -> float:
        return self.rate_s * self.busy_s


def period_loads(
    scenario: Scenario, periods: list[Period], target: Target, *, travel_s: float
) -> list[PeriodLoad]:
    """:class:`PeriodLoad` per period; ``travel_s``: mean travel to a call (:func:`policetwin.sim.load.mean_travel_s`)."""
    kinds = scenario.demand.kinds
    p = np.array([k.share for k in kinds], dtype=float)
    p = p / p.sum()
    jobs = np.array([pk * (1.0 - k.phone_share) * k.units for pk, k in zip(p, kinds, strict=True)])
    busy_s = stage_work(scenario, travel_s=travel_s)["units"][0] / max(float(jobs.sum()), 1e-12)
    le = np.array([k.priority <= target.priority for k in kinds])
    lt = np.array([k.priority < target.priority for k in kinds])
    handling = scenario.call_handling
    factor = scenario.travel.priority_speed_factor.get(target.priority, 1.0)
    delay = (float(handling.handling.mean) + (float(handling.decision.mean) if handling.dispatchers and
             handling.decision else 0.0) + (float(scenario.travel.turnout.mean) if scenario.travel.turnout
             else 0.0) + travel_s / factor)  # fmt: skip
    week = hour_of_week_profile(scenario.demand.profile)
    offset = week_offset_s(scenario.start)
    out = []
    for period in periods:
        t = np.concatenate([np.arange(a, b, 60.0) + min(30.0, (b - a) / 2) for a, b in period.spans])
        mult = float(week[((offset + t) // 3600).astype(np.int64) % 168].mean())
        calls_s = scenario.demand.rate_per_hour / 3600.0 * mult
        out.append(
            PeriodLoad(
                calls_s * jobs.sum(), calls_s * jobs[le].sum(), calls_s * jobs[lt].sum(), busy_s, delay
            )
        )
    return out


def approx_compliance(c: int, load: PeriodLoad, target: Target) -> float:
    """Approximate share of priority-P calls answered within the target by ``c`` units (see the module)."""
    a = load.offered
    if c <= a:
        return 0.0
    slack = target.within_s - load.delay_s
    if slack < 0:
        return 0.0
    if load.rate_s <= 0:
        return 1.0
    mu_c = c / load.busy_s
    mean_wait = 1.0 / (mu_c * (1.0 - load.rate_lt_s / mu_c) * (1.0 - load.rate_le_s / mu_c))
    return 1.0 - erlang_c(c, a) * math.exp(-slack / mean_wait)


def min_stable(load: PeriodLoad) -> int:
    """The fewest units with a stable queue for all priorities (``c > a``), at least 1."""
    return max(1, math.floor(load.offered) + 1)


def approx_plan(loads: list[PeriodLoad], target: Target, *, max_units: int) -> list[int | None]:
    """The fewest units per period whose approximate compliance meets the target (None: not within
    ``max_units``, e.g. when the fixed delays alone exceed the target time)."""
    plan: list[int | None] = []
    for load in loads:
        c = min_stable(load)
        while c <= max_units and approx_compliance(c, load, target) < target.share:
            c += 1
        plan.append(c if c <= max_units else None)
    return plan


def _apportion(total: int, weights: list[float]) -> list[int]:
    """``total`` split by ``weights``, largest remainder (ties: the earlier)."""
    w = np.asarray(weights, dtype=float)
    share = total * w / w.sum()
    base = np.floor(share).astype(int)
    order = np.argsort(-(share - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base.tolist()


def plan_groups(periods: list[Period], counts: list[int], fixed: list[dict], *, per: str) -> list[dict]:
    """``units.groups`` for a plan: the fixed groups, then per period its units shared out over its
    templates (in their proportions), each on duty in the period's window (per hour: no handover or meal
    break, which need longer windows)."""
    groups = [dict(g) for g in fixed]
    for period, count in zip(periods, counts, strict=True):
        for (template, _), n in zip(period.templates, _apportion(count, [w for _, w in period.templates]),
                                    strict=True):  # fmt: skip
            if n <= 0:
                continue
            g = {k: v for k, v in template.items() if k not in ("count", "shift", "name")}
            name = (
                template["name"]
                if per == "shift" and "shift" in template
                else f"{template['name']}-{period.window[:2]}h"
            )
            shift = {"windows": [period.window]}
            if per == "shift" and "shift" in template:
                shift["handover"] = template["shift"].get("handover", 0.0)
            else:
                g.pop("meal_break", None)
            groups.append({"name": name, "count": int(n), **{k: v for k, v in g.items() if k == "station"},
                           "shift": shift, **{k: v for k, v in g.items() if k != "station"}})  # fmt: skip
    return groups


def plan_scenario(
    scenario: Scenario, periods: list[Period], counts: list[int], fixed: list[dict], *, per: str
) -> dict:
    """The scenario (as a dict, resolved) with its units replaced by the plan."""
    data = yaml.safe_load(scenario_to_yaml(scenario))
    data["units"] = {"groups": plan_groups(periods, counts, fixed, per=per)}
    return data


def unit_hours_per_day(periods: list[Period], counts: list[int], fixed: list[dict]) -> float:
    """Unit-hours of one day of the plan: units x window hours per period, plus the fixed groups' 24 h."""
    return float(
        sum(c * p.hours for p, c in zip(periods, counts, strict=True)) + 24.0 * sum(g["count"] for g in fixed)
    )
