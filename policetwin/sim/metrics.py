"""KPIs as pure functions of the event log (incident and unit tables) -> plain dicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: The stages of a call's life (sense -> assess -> command -> respond) and the columns that bound them.
#: With no sensing, no dispatcher desk and no turn-out, ``know``, ``desk_wait``, ``decision`` and
#: ``turnout`` are 0 and the others keep their meaning from before these existed.
STAGES = {
    "know": ("t_occur", "t_call"),
    "answer": ("t_call", "t_answer"),
    "handling": ("t_answer", "t_ready"),
    "desk_wait": ("t_ready", "t_desk"),
    "decision": ("t_desk", "t_decided"),
    "queue": ("t_decided", "t_dispatch"),
    "turnout": ("t_dispatch", "t_enroute"),
    "travel": ("t_enroute", "t_arrive"),
    "on_scene": ("t_arrive", "t_clear"),
}
ON_CALL_STATES = ("enroute", "onscene")
AWAY_STATES = ("enroute", "onscene", "returning")
UNAVAILABLE_STATES = ("meal_break", "self_initiated")  # on duty, not available for calls


def _num(value: float) -> float | None:
    """JSON-safe float (None for NaN)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def response_stats(frame: pd.DataFrame) -> dict:
    """Count, served, mean/p50/p90 response (t_arrive - t_call), share within each call's target, and
    the mean time to know (t_call - t_occur) and to help (t_arrive - t_occur)."""
    response = (frame["t_arrive"] - frame["t_call"]).to_numpy(dtype=float)
    served = np.isfinite(response)
    out = {"count": len(frame), "served": int(served.sum())}
    if served.any():
        r = response[served]
        out.update(
            response_mean_s=float(r.mean()),
            response_p50_s=float(np.percentile(r, 50)),
            response_p90_s=float(np.percentile(r, 90)),
            within_target=float((r <= frame["target_s"].to_numpy(dtype=float)[served]).mean()),
        )
    else:
        out.update(response_mean_s=None, response_p50_s=None, response_p90_s=None, within_target=None)
    if "t_occur" in frame:
        know = (frame["t_call"] - frame["t_occur"]).to_numpy(dtype=float)
        help_s = (frame["t_arrive"] - frame["t_occur"]).to_numpy(dtype=float)
        out["time_to_know_mean_s"] = _num(float(know.mean())) if len(frame) else None
        out["time_to_help_mean_s"] = _num(float(help_s[served].mean())) if served.any() else None
    return out


def stage_means(frame: pd.DataFrame) -> dict[str, float | None]:
    """Mean seconds spent in each stage of the call's life."""
    return {
        stage: _num(
            float(np.nanmean(frame[b] - frame[a])) if len(frame) and frame[b].notna().any() else math.nan
        )
        for stage, (a, b) in STAGES.items()
    }


def unit_time_shares(units: pd.DataFrame, *, n_units: int, horizon_s: float) -> dict[str, float | None]:
    """Utilisation (time away from the station on calls) and saturation index (time on calls).

    ``utilisation`` = (enroute + onscene + returning) / on-duty time; ``saturation_index`` =
    (enroute + onscene) / on-duty time, both over [0, horizon_s] (shifts come later: on duty = all).
    """
    if units.empty or n_units == 0 or horizon_s <= 0:
        return {"count": n_units, "utilisation": None, "saturation_index": None}
    start = units["t_start"].clip(upper=horizon_s)
    end = units["t_end"].clip(upper=horizon_s)
    span = (end - start).to_numpy()
    state = units["state"]
    on_duty = n_units * horizon_s - span[(state == "off_shift").to_numpy(dtype=bool)].sum()
    if on_duty <= 0:  # nobody on duty in the whole run (e.g. a short run before the first shift)
        return {"count": n_units, "utilisation": None, "saturation_index": None}
    return {
        "count": n_units,
        "utilisation": float(span[state.isin(AWAY_STATES).to_numpy(dtype=bool)].sum() / on_duty),
        "saturation_index": float(span[state.isin(ON_CALL_STATES).to_numpy(dtype=bool)].sum() / on_duty),
    }


def queue_figures(incidents: pd.DataFrame) -> dict:
    """Waits for a call-taker and for a unit, and the most calls waiting for a unit at once."""
    if incidents.empty:
        return {"mean_wait_for_taker_s": None, "mean_wait_for_unit_s": None, "p_wait_for_unit": None,
                "max_waiting": 0}  # fmt: skip
    ready_col = "t_decided" if "t_decided" in incidents else "t_ready"  # ready for units (after the desk)
    wait_unit = (incidents["t_dispatch"] - incidents[ready_col]).to_numpy(dtype=float)
    wait_taker = (incidents["t_answer"] - incidents["t_call"]).to_numpy(dtype=float)
    ready = incidents["t_decided" if "t_decided" in incidents else "t_ready"].to_numpy(dtype=float)
    dispatched = incidents["t_dispatch"].to_numpy(dtype=float)
    ok = np.isfinite(ready)
    events = np.concatenate([ready[ok], dispatched[ok & np.isfinite(dispatched)]])
    steps = np.concatenate([np.ones(ok.sum()), -np.ones((ok & np.isfinite(dispatched)).sum())])
    order = np.lexsort((steps, events))  # at equal times, dispatches (-1) before arrivals
    waiting = np.cumsum(steps[order]) if order.size else np.zeros(1)
    return {
        "mean_wait_for_taker_s": _num(float(np.nanmean(wait_taker))),
        "mean_wait_for_unit_s": _num(float(np.nanmean(wait_unit))),
        "p_wait_for_unit": _num(float(np.nanmean(wait_unit > 1e-9))),
        "max_waiting": int(waiting.max()) if waiting.size else 0,
    }


def shares(values: pd.Series) -> dict[str, dict]:
    """Count and share of each value (e.g. outcomes, who detected the incident)."""
    counts = values.astype(str).value_counts(sort=False).sort_index()
    total = int(counts.sum())
    return {str(k): {"count": int(v), "share": float(v / total)} for k, v in counts.items()}


def summarise(incidents: pd.DataFrame, units: pd.DataFrame, *, n_units: int, horizon_s: float) -> dict:
    """All KPIs of ``summary.json`` that derive from the log."""
    # response KPIs are over the calls that needed units (not those resolved by phone, duplicates or
    # callers who hung up: see "outcomes")
    needing = incidents[incidents["outcome"] == "served"] if "outcome" in incidents else incidents
    priorities = {
        str(int(p)): {**response_stats(group), "target_s": float(group["target_s"].min())}
        for p, group in needing.groupby("priority", sort=True)
    }
    return {
        "incidents": {"count": len(incidents), "served": int(incidents["t_arrive"].notna().sum())},
        "priorities": priorities,
        "overall": response_stats(needing),
        "stages_mean_s": stage_means(incidents),
        "units": unit_time_shares(units, n_units=n_units, horizon_s=horizon_s),
        "queue": queue_figures(incidents),
        **({"detected_by": shares(incidents["detected_by"])} if "detected_by" in incidents else {}),
        **({"outcomes": shares(incidents["outcome"])} if "outcome" in incidents else {}),
    }


def dispatch_figures(incidents: pd.DataFrame, assignments: pd.DataFrame, units: pd.DataFrame, *, scenario,
                     horizon_s: float, unit_district: dict[str, str]) -> dict:  # fmt: skip
    """The command and dispatch KPIs: policy, pre-emptions, backup requests, the share of units sent
    outside their district (mutual aid when ``dispatch.mutual_aid`` is on), and per district the calls,
    units and saturation index (time on calls / on-duty time of the district's units)."""
    sent = len(assignments)
    out_share = (
        float(assignments["out_of_district"].mean()) if sent and "out_of_district" in assignments else None
    )
    districts = {}
    for name in dict.fromkeys(unit_district.values()):
        mine = [u for u, d in unit_district.items() if d == name]
        shares = unit_time_shares(units[units["unit_id"].isin(mine)], n_units=len(mine), horizon_s=horizon_s)
        calls = int((incidents["district"] == name).sum()) if "district" in incidents else None
        districts[name] = {"units": len(mine), "calls": calls, "saturation_index": shares["saturation_index"]}
    requires = {}
    if "outcome" in incidents:
        for kind in scenario.demand.kinds:
            if kind.require is not None:
                calls = incidents[(incidents["kind"] == kind.name) & (incidents["outcome"] == "served")]
                wait = (calls["t_dispatch"] - calls["t_decided"]).to_numpy(dtype=float)
                entry = requires.setdefault(kind.require, {"calls": 0, "waits": []})
                entry["calls"] += len(calls)
                entry["waits"].extend(wait.tolist())
    capabilities = {cap: {"calls": v["calls"], "mean_wait_for_unit_s": _num(float(np.nanmean(v["waits"])))
                          if v["waits"] and np.isfinite(v["waits"]).any() else None}
                    for cap, v in requires.items()}  # fmt: skip
    return {
        "policy": scenario.dispatch.policy,
        "capabilities": capabilities,
        "units_sent": sent,
        "preemptions": int(incidents["n_preempted"].sum()) if "n_preempted" in incidents else 0,
        "backup_units_requested": int(incidents["n_backup"].sum()) if "n_backup" in incidents else 0,
        "out_of_district_share": out_share,
        "mutual_aid_share": out_share if scenario.dispatch.mutual_aid is not None else None,
        "districts": districts,
    }


def _unit_seconds_before(starts: np.ndarray, ends: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unit-seconds that the intervals [start, end) cover before each time in ``t`` (vectorised: the
    intervals started by t less those ended by t, each weighted by how long before t)."""
    s, e = np.sort(starts), np.sort(ends)
    cs, ce = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(e)])
    ns, ne = np.searchsorted(s, t, side="right"), np.searchsorted(e, t, side="right")
    return (t * ns - cs[ns]) - (t * ne - ce[ne])


def shift_saturation(units: pd.DataFrame, *, n_units: int, spans: list[tuple[float, float]]) -> float | None:
    """Saturation index (time en route or on scene / time on duty) of ``n_units`` units over the time
    ``spans`` (e.g. every Monday..Sunday instance of one shift window)."""
    if not spans or n_units == 0:
        return None
    a = np.array([b for b, _ in spans], dtype=float)
    b = np.array([e for _, e in spans], dtype=float)

    def within(states) -> float:
        rows = units[units["state"].isin(states)]
        starts, ends = rows["t_start"].to_numpy(float), rows["t_end"].to_numpy(float)
        return float((_unit_seconds_before(starts, ends, b) - _unit_seconds_before(starts, ends, a)).sum())

    on_duty = n_units * float((b - a).sum()) - within(("off_shift",))
    return within(ON_CALL_STATES) / on_duty if on_duty > 0 else None


def group_figures(units: pd.DataFrame, *, scenario, unit_group: dict[str, int], overtime_s: dict[str, float],
                  horizon_s: float, shift_spans: dict[int, dict[str, list[tuple[float, float]]]] | None = None,
                  patrol: dict[str, dict] | None = None) -> dict:  # fmt: skip
    """Per unit group (``units.groups``): units, utilisation, saturation index (on-duty time on calls, the
    "Rule of 60") overall and per shift window (``shift_spans``: group -> window -> its spans in the
    run), time on meal breaks and officer-initiated work, overtime and patrol coverage (``patrol``: group
    name -> figures); empty without groups."""
    out = {}
    for g, group in enumerate(scenario.units.groups or []):
        mine = [u for u, k in unit_group.items() if k == g]
        rows = units[units["unit_id"].isin(mine)]
        shares = unit_time_shares(rows, n_units=len(mine), horizon_s=horizon_s)
        span = (rows["t_end"].clip(upper=horizon_s) - rows["t_start"].clip(upper=horizon_s)).to_numpy(float)
        state = rows["state"]
        entry = {**shares, "overtime_s": float(sum(overtime_s[u] for u in mine))}
        for name in UNAVAILABLE_STATES:
            entry[f"{name}_s"] = float(span[(state == name).to_numpy(dtype=bool)].sum())
        windows = (shift_spans or {}).get(g) or {}
        entry["shifts"] = {w: {"saturation_index": shift_saturation(rows, n_units=len(mine), spans=spans)}
                           for w, spans in windows.items()}  # fmt: skip
        if patrol and group.name in patrol:
            entry["patrol"] = patrol[group.name]
        out[group.name] = entry
    return out
