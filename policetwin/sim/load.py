"""Assess (研判): load diagnostics. Before a run, how much work each stage of the command chain is offered
per server; after it, whether a queue was still growing when the run ended.

Offered load (Erlang load per server, ``ρ``) of a stage = calls per second x mean busy seconds per call /
servers. A stage with ``ρ`` >= 1 over the whole run cannot keep up: its queue grows without bound and the
run's KPIs depend on how long it lasts rather than on the city. A stage near 1 at the peak hour builds a
queue there. Both are cheap to see before simulating, so :func:`offered_load` turns them into warnings
(``file:0: field.path: warning: ...``, given their YAML line by the CLI) and returns the figures for
``summary.json``. :func:`queue_growth_warnings` checks a finished run's incident log for the same thing.

Stages and the work each call brings (``p_k``: kind k's share of calls, normalised):

- call-takers (``call_handling.takers``): every call, and the duplicate calls (``p_k`` x
  ``duplicates.share`` more), is handled for ``handling`` on average;
- dispatchers (``call_handling.dispatchers``, only with a desk): every call not resolved by phone
  (``1 - phone_share``) takes ``decision``;
- units (``units.count``): every call not resolved by phone keeps ``units_k`` units busy for turn-out +
  travel to the call + on-scene. Return trips are not counted: a returning unit can be dispatched from
  where it is, so it is available. Travel is the demand-weighted mean over road nodes of the time from the
  nearest station (divided by the priority's ``priority_speed_factor``; 0 with ``travel.mode: instant``).
  Real units often come from further away (the nearest one is busy; a second unit), so the units' figure
  usually underestimates: on the bundled helsinki scenario it gives 0.73 over the run where simulated
  units spend 0.81-0.83 of their time on calls. When it warns, the real load is likely higher still.

Callers who hang up (``patience``) are counted as if they stayed: the call-takers' figure is an upper
bound when patience is set. Sensors and report delays move calls in time, not their number.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from policetwin.clock import start_datetime, week_offset_s
from policetwin.maps import RoadNetwork, Router, Snapper
from policetwin.scenarios.schema import Distribution, Scenario
from policetwin.sim.demand import hour_of_week_profile, node_weights

#: Warn when a stage's offered load at the peak hour of the run exceeds this.
PEAK_WARN_LOAD = 0.9
#: Warn loudly when a stage's offered load averaged over the run reaches this: queues grow without bound.
MEAN_WARN_LOAD = 1.0
#: Slack for float rounding at the thresholds (a load computed as 0.9999999999 is 1).
_EPS = 1e-9
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class _Stage:
    """How a stage is named in warnings and which scenario field sets its servers."""

    label: str  # "call-takers are 95% loaded"
    field: str  # YAML path the warning points at
    remedy: str  # "add call-takers"


STAGES: dict[str, _Stage] = {
    "takers": _Stage("call-takers", "call_handling.takers", "add call-takers"),
    "dispatchers": _Stage("dispatchers", "call_handling.dispatchers", "add dispatchers"),
    "units": _Stage("units", "units.count", "add units"),
}


def _mean(dist: Distribution | None) -> float:
    """Mean seconds of a scenario distribution (0 when absent)."""
    return 0.0 if dist is None else float(dist.mean)


def run_hours(start: str, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The clock hours a run covers: their index counted from the Monday 00:00 before the start (take
    ``% 168`` for the hour of the week) and the seconds of the run inside each (partial at the ends)."""
    offset = week_offset_s(start)
    first = int(offset // 3600)
    last = int(np.ceil((offset + duration_s) / 3600.0))
    edges = np.clip(np.arange(first, last + 1) * 3600.0 - offset, 0.0, duration_s)
    hours = np.arange(first, last)
    seconds = np.diff(edges)
    keep = seconds > 0
    return hours[keep], seconds[keep]


def hour_label(start: str, hour: int) -> str:
    """A clock-hour label such as ``Fri 20:00-21:00`` (with the date for a calendar ``start``);
    ``hour`` counts from the Monday 00:00 before the start, as in :func:`run_hours`."""
    hh = hour % 24
    span = f"{hh:02d}:00-{hh + 1:02d}:00"
    when = start_datetime(start)
    if when is None:
        return f"{_DAYS[(hour // 24) % 7]} {span}"
    monday = when.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=when.weekday())
    day = monday + dt.timedelta(hours=hour)
    return f"{day:%a %Y-%m-%d} {span}"


def mean_travel_s(
    scenario: Scenario,
    *,
    network: RoadNetwork,
    station_nodes: np.ndarray,
    weights: np.ndarray,
    router: Router | None = None,
) -> float:
    """Demand-weighted mean travel time (s) from the nearest station to a call, at normal speed.

    Uses forward shortest-path rows from each station node (``router.times_from``); the router is built
    like the engine builds it (speed overrides and ``speed_factor``) unless given. 0 for instant travel.
    """
    if scenario.travel.mode == "instant":
        return 0.0
    if router is None:
        travel = scenario.travel
        edge_s = network.travel_times_s(overrides_kph=travel.speeds_kph, speed_factor=travel.speed_factor)
        router = Router(network.n_nodes, network.edge_u, network.edge_v, edge_s, dense_max_bytes=0)
    rows = np.vstack([router.times_from(int(n)) for n in np.unique(station_nodes)]).astype(float)
    nearest = rows.min(axis=0)
    ok = np.isfinite(nearest) & (weights > 0)
    if not ok.any():
        return 0.0
    return float(np.average(nearest[ok], weights=weights[ok]))


def stage_work(scenario: Scenario, *, travel_s: float) -> dict[str, tuple[float, int]]:
    """Per stage: the busy server-seconds one call brings on average (all kinds mixed), and the servers.

    ``travel_s``: the mean travel to a call at normal speed (see :func:`mean_travel_s`).
    """
    kinds = scenario.demand.kinds
    shares = np.array([k.share for k in kinds], dtype=float)
    p = (shares / shares.sum()).tolist()
    handling = scenario.call_handling
    duplicates = sum(
        pk * (k.duplicates.share if k.duplicates else 0.0) for pk, k in zip(p, kinds, strict=True)
    )
    sent = [pk * (1.0 - k.phone_share) for pk, k in zip(p, kinds, strict=True)]  # share needing units
    turnout = _mean(scenario.travel.turnout)
    factors = scenario.travel.priority_speed_factor
    unit_s = sum(
        s * k.units * (_mean(k.on_scene) + travel_s / factors.get(k.priority, 1.0) + turnout)
        for s, k in zip(sent, kinds, strict=True)
    )
    work = {"takers": ((1.0 + duplicates) * _mean(handling.handling), handling.takers)}
    if handling.dispatchers > 0:
        work["dispatchers"] = (sum(sent) * _mean(handling.decision), handling.dispatchers)
    work["units"] = (unit_s, int(scenario.units.count))
    return work


def stage_loads(scenario: Scenario, *, travel_s: float) -> dict[str, dict]:
    """Offered load per stage at the run's peak hour and averaged over the run (no map needed).

    The call rate of each clock hour is ``rate_per_hour`` x the hour-of-week profile multiplier, placed
    in the week by the scenario's ``start``; the mean weighs each hour by the seconds of it the run covers.
    """
    hours, seconds = run_hours(scenario.start, scenario.duration)
    multiplier = hour_of_week_profile(scenario.demand.profile)[hours % 168]
    rate_s = scenario.demand.rate_per_hour / 3600.0
    peak = int(np.argmax(multiplier))  # the first of equal peaks
    peak_rate = rate_s * float(multiplier[peak])
    mean_rate = rate_s * float(np.average(multiplier, weights=seconds))
    label = hour_label(scenario.start, int(hours[peak]))
    out = {}
    for stage, (work_s, servers) in stage_work(scenario, travel_s=travel_s).items():
        out[stage] = {
            "offered_load_peak": peak_rate * work_s / servers,
            "offered_load_mean": mean_rate * work_s / servers,
            "servers": servers,
            "peak_hour": label,
            "work_per_call_s": work_s,
            "calls_per_hour_peak": peak_rate * 3600.0,
            "calls_per_hour_mean": mean_rate * 3600.0,
        }
    out["units"]["travel_s"] = travel_s
    return out


def load_warnings(loads: dict[str, dict], *, filename: str) -> list[str]:
    """One warning per overloaded stage: LOUD when the load averaged over the run reaches 1 (queues grow
    without bound), else when the peak hour's load exceeds 0.9 (queues build at the peak)."""
    warnings = []
    for stage, figures in loads.items():
        spec = STAGES[stage]
        where = f"{filename}:0: {spec.field}: warning: {spec.label} are"
        mean, peak = figures["offered_load_mean"], figures["offered_load_peak"]
        if mean >= MEAN_WARN_LOAD - _EPS:
            warnings.append(f"{where} {mean:.0%} loaded on average over the run: queues grow without bound "
                            f"({spec.remedy} or lower the rate)")  # fmt: skip
        elif peak > PEAK_WARN_LOAD + _EPS:
            warnings.append(f"{where} {peak:.0%} loaded at the peak hour ({figures['peak_hour']}): "
                            "queues will build at the peak")  # fmt: skip
    return warnings


def offered_load(
    scenario: Scenario,
    *,
    network: RoadNetwork,
    snapper: Snapper | None = None,
    weights: np.ndarray | None = None,
    station_nodes: np.ndarray | None = None,
    router: Router | None = None,
    filename: str = "scenario",
) -> tuple[dict[str, dict], list[str]]:
    """The offered load of each stage (``takers``, ``dispatchers`` if there is a desk, ``units``) and the
    warnings it calls for (``file:0: field.path: warning: ...``).

    Each stage's dict: ``offered_load_peak`` (at the busiest clock hour of the run), ``offered_load_mean``
    (over the run), ``servers``, ``peak_hour`` (e.g. ``Fri 20:00-21:00``), ``work_per_call_s`` (busy
    server-seconds per call), ``calls_per_hour_peak`` and ``calls_per_hour_mean``; ``units`` also has
    ``travel_s``, the estimated mean travel to a call. ``weights`` (demand per node, from
    :func:`~policetwin.sim.demand.node_weights`) and ``station_nodes`` are computed with ``snapper`` when
    not given; pass ``router`` to reuse the engine's.
    """
    if scenario.travel.mode == "instant":
        travel_s = 0.0
    else:
        if station_nodes is None or weights is None:
            if snapper is None:
                raise ValueError("offered_load needs snapper, or both weights and station_nodes")
            if station_nodes is None:
                station_nodes, _ = snapper.nearest([s.lon for s in scenario.stations],
                                                   [s.lat for s in scenario.stations])  # fmt: skip
            if weights is None:
                weights = node_weights(scenario.demand, snapper, filename=filename)
        travel_s = mean_travel_s(scenario, network=network, station_nodes=station_nodes, weights=weights,
                                 router=router)  # fmt: skip
    loads = stage_loads(scenario, travel_s=travel_s)
    return loads, load_warnings(loads, filename=filename)


# --- after the run ------------------------------------------------------------------------------------

#: The run is cut into tenths; the first is left out of the trend (queues start empty: a warm-up).
N_BINS = 10
#: The middle fifth of the run, which the last tenth is compared with.
MIDDLE_WINDOW = (0.4, 0.6)
#: A steady rise: Kendall's tau of the mean number waiting over tenths 2-10 (1: every tenth above
#: all earlier ones; a stable queue scatters around 0) ...
GROWTH_TAU = 0.6
#: ... and the last tenth has at least this many more calls waiting, on average, than the middle fifth.
GROWTH_MIN_CALLS = 2.0
#: Or a queue that builds only at the very end: the last tenth has this many times the most waiting in
#: any other tenth (after the first) plus GROWTH_MIN_CALLS.
JUMP_RATIO = 3.0

#: Queues in the incident log: (stage, column the wait starts at, column it ends at).
_QUEUES = (
    ("takers", "t_call", "t_answer"),
    ("dispatchers", "t_ready", "t_desk"),
    ("units", "t_decided", "t_dispatch"),
)


def mean_waiting(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> float:
    """Time-averaged number of calls waiting during [lo, hi), given each call's wait [start, end)."""
    if hi <= lo:
        return 0.0
    overlap = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0.0, None)
    return float(overlap.sum() / (hi - lo))


def kendall_tau(values: np.ndarray) -> float:
    """Kendall's tau of ``values`` against their order (ties count 0): 1 for a strict rise, ~0 for noise."""
    v = np.asarray(values, dtype=float)
    n = v.size
    if n < 2:
        return 0.0
    i, j = np.triu_indices(n, k=1)
    return float(np.sign(v[j] - v[i]).sum() / (n * (n - 1) / 2))


def queue_growing(waiting: np.ndarray, middle: float) -> bool:
    """The rule of :func:`queue_growth_warnings` on the mean number waiting per tenth of the run
    (``waiting``, :data:`N_BINS` values) and in the middle fifth (``middle``)."""
    last, trend = waiting[-1], waiting[1:]
    rising = kendall_tau(trend) >= GROWTH_TAU and last >= middle + GROWTH_MIN_CALLS
    jump = last >= JUMP_RATIO * float(trend[:-1].max(initial=0.0)) + GROWTH_MIN_CALLS
    return bool(rising or jump)


def queue_growth_warnings(incidents: pd.DataFrame, *, duration_s: float, filename: str) -> list[str]:
    """Warnings for queues (call-takers, dispatcher desk, units) still growing when the run ended.

    The queue is measured as the time-averaged number of calls waiting in each tenth of the run and in
    its middle fifth (waits from the incident log: taker ``t_call`` -> ``t_answer``; desk ``t_ready`` ->
    ``t_desk``; units ``t_decided`` (or ``t_ready``) -> ``t_dispatch``; calls that never reached the end
    of a wait, e.g. hung up or resolved by phone, are left out). It is growing when either

    - it rose steadily: Kendall's tau over tenths 2-10 >= :data:`GROWTH_TAU` (the first tenth is the
      warm-up from empty queues) and the last tenth has >= :data:`GROWTH_MIN_CALLS` more calls waiting
      than the middle fifth; or
    - it built at the very end: the last tenth has >= :data:`JUMP_RATIO` x the most waiting in tenths
      2-9, plus :data:`GROWTH_MIN_CALLS`.

    Why a trend and not "end much larger than middle": a stable queue with long service times (e.g.
    M/M/3, 1 h on scene, load 0.8-0.9, 500 h) fluctuates for tens of hours, so its last tenth is often
    twice its middle; it rarely rises through nine tenths in a row. In 40 seeded runs each, this rule
    fired on no stable M/M/3 run (load 0.8 and 0.9, 500 h and 3000 h) and on 31/40, 33/40 and 40/40
    runs at load 1.05 (1000 h), 1.1 and 1.33 (300 h); never on the bundled coquimbo and helsinki runs.
    """
    if incidents.empty or duration_s <= 0:
        return []
    edges = np.linspace(0.0, duration_s, N_BINS + 1)
    mid = (MIDDLE_WINDOW[0] * duration_s, MIDDLE_WINDOW[1] * duration_s)
    warnings = []
    for stage, a, b in _QUEUES:
        if stage == "units" and a not in incidents:
            a = "t_ready"  # logs from before the dispatcher desk existed
        if a not in incidents or b not in incidents:
            continue
        t0 = incidents[a].to_numpy(dtype=float)
        t1 = incidents[b].to_numpy(dtype=float)
        ok = np.isfinite(t0) & np.isfinite(t1)
        t0, t1 = t0[ok], t1[ok]
        waiting = np.array([mean_waiting(t0, t1, lo, hi) for lo, hi in itertools.pairwise(edges)])
        middle = mean_waiting(t0, t1, *mid)
        if not queue_growing(waiting, middle):
            continue
        wait = t1 - t0
        w_mid = wait[(t0 >= mid[0]) & (t0 < mid[1])]
        w_end = wait[t0 >= edges[-2]]
        waits = (
            f"; mean wait {_minutes(w_end)} against {_minutes(w_mid)}" if w_end.size and w_mid.size else ""
        )
        spec = STAGES[stage]
        what = {"takers": "a call-taker", "dispatchers": "a dispatcher", "units": "a unit"}[stage]
        warnings.append(
            f"{filename}:0: {spec.field}: warning: the queue for {what} was still growing at the end of the "
            f"run: {waiting[-1]:.1f} calls waiting on average in its last tenth against {middle:.1f} in the "
            f"middle{waits}; the KPIs depend on the run's length ({spec.remedy} or lower the rate)"
        )
    return warnings


def _minutes(waits: np.ndarray) -> str:
    return f"{float(waits.mean()) / 60.0:.1f} min"
