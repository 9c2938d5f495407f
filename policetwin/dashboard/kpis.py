"""KPI aggregations: pure functions from the run's data frames to small frames (binned, per priority,
per district, per shift). Whatever the run's size, the browser only gets these aggregates."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Stages of a call in order: (name, start column, end column).
STAGES = (
    ("know", "t_occur", "t_call"),
    ("answer", "t_call", "t_answer"),
    ("handling", "t_answer", "t_ready"),
    ("desk_wait", "t_ready", "t_desk"),
    ("decision", "t_desk", "t_decided"),
    ("queue", "t_decided", "t_dispatch"),
    ("turnout", "t_dispatch", "t_enroute"),
    ("travel", "t_enroute", "t_arrive"),
)
INCIDENT_COLUMNS = [
    "incident_id", "kind", "priority", "target_s", "t_occur", "t_call", "t_answer", "t_ready", "t_desk",
    "t_decided", "t_dispatch", "t_enroute", "t_arrive", "t_clear", "district", "outcome",
]  # fmt: skip


def served(inc: pd.DataFrame) -> pd.DataFrame:
    """Calls that needed units (``outcome == served`` where the column exists)."""
    return inc[inc["outcome"] == "served"] if "outcome" in inc else inc


def response_s(inc: pd.DataFrame) -> pd.Series:
    """``t_arrive - t_call`` (NaN where no unit arrived)."""
    return inc["t_arrive"] - inc["t_call"]


def response_histogram(inc: pd.DataFrame, bin_s: float = 60.0, max_bins: int = 120) -> pd.DataFrame:
    """Counts of response times per priority in ``bin_s`` bins (the last bin collects the tail):
    columns ``priority, bin_start_s, count``; plus the targets in ``attrs["targets"]``."""
    s = served(inc)
    resp = response_s(s)
    ok = resp.notna()
    pr, resp = s.loc[ok, "priority"].astype(int).to_numpy(), resp[ok].to_numpy()
    bins = np.minimum(np.floor(resp / bin_s), max_bins - 1).astype(int) if resp.size else np.zeros(0, int)
    frame = pd.DataFrame({"priority": pr, "bin": bins}).value_counts().rename("count").reset_index()
    frame["bin_start_s"] = frame.pop("bin") * bin_s
    frame = frame.sort_values(["priority", "bin_start_s"]).reset_index(drop=True)
    frame.attrs["targets"] = targets(inc)
    return frame[["priority", "bin_start_s", "count"]]


def targets(inc: pd.DataFrame) -> dict[int, float]:
    """Response target per priority (the first target given for it)."""
    if "target_s" not in inc:
        return {}
    t = inc.dropna(subset=["target_s"]).groupby("priority")["target_s"].first()
    return {int(p): float(v) for p, v in t.items()}


def per_priority(inc: pd.DataFrame) -> pd.DataFrame:
    """Per priority: ``calls, served, response_mean_s, response_p90_s, within_target, time_to_know_mean_s,
    time_to_help_mean_s, target_s``."""
    s = served(inc).copy()
    s["response_s"] = response_s(s)
    s["know_s"] = s["t_call"] - s["t_occur"] if "t_occur" in s else 0.0
    s["help_s"] = s["t_arrive"] - (s["t_occur"] if "t_occur" in s else s["t_call"])
    target = s["target_s"] if "target_s" in s else pd.Series(np.nan, index=s.index)
    s["within"] = (s["response_s"] <= target).where(s["response_s"].notna(), False)
    g = s.groupby("priority")
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "served": g["response_s"].count(),
            "response_mean_s": g["response_s"].mean(),
            "response_p90_s": g["response_s"].quantile(0.9),
            "within_target": g["within"].mean(),
            "time_to_know_mean_s": g["know_s"].mean(),
            "time_to_help_mean_s": g["help_s"].mean(),
            "target_s": g["target_s"].first() if "target_s" in s else np.nan,
        }
    )
    out.index = out.index.astype(int)
    return out


def stage_means(inc: pd.DataFrame) -> pd.DataFrame:
    """Mean duration of each stage per priority (rows: priority; columns: stage names; NaN-safe)."""
    s = served(inc)
    cols = {}
    for name, a, b in STAGES:
        if a in s and b in s:
            cols[name] = (s[b] - s[a]).clip(lower=0)
    frame = pd.DataFrame(cols)
    frame["priority"] = s["priority"].astype(int)
    return frame.groupby("priority").mean()


def _integral(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-integral of the number of open intervals ``[start, end)`` over each bin between ``edges``."""
    s, e = np.sort(starts), np.sort(ends)
    cs, ce = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(e)])
    ns, ne = np.searchsorted(s, edges, side="right"), np.searchsorted(e, edges, side="right")
    area = edges * ns - cs[ns] - (edges * ne - ce[ne])
    return np.diff(area)


def state_occupancy(units: pd.DataFrame, horizon_s: float, bin_s: float = 900.0) -> pd.DataFrame:
    """Mean number of units in each state per time bin: index ``bin_start_s``, one column per state."""
    n = max(int(np.ceil(horizon_s / bin_s)), 1)
    edges = np.arange(n + 1) * bin_s
    out = {}
    for state, rows in units.groupby("state", observed=True):
        start = rows["t_start"].to_numpy(float)
        end = np.minimum(rows["t_end"].to_numpy(float), edges[-1])
        out[str(state)] = _integral(start, np.maximum(end, start), edges) / bin_s
    frame = pd.DataFrame(out, index=pd.Index(edges[:-1], name="bin_start_s"))
    return frame.fillna(0.0)


def utilisation_series(occupancy: pd.DataFrame) -> pd.DataFrame:
    """Per bin: ``utilisation`` (en route + on scene + returning, over units on duty) and
    ``saturation_index`` (en route + on scene, over units on duty)."""

    def get(c: str) -> pd.Series | float:
        return occupancy.get(c, 0.0)

    on_duty = occupancy.sum(axis=1) - get("off_shift")
    busy = get("enroute") + get("onscene")
    with np.errstate(invalid="ignore", divide="ignore"):
        util = (busy + get("returning")) / on_duty.where(on_duty > 0)
        sat = busy / on_duty.where(on_duty > 0)
    return pd.DataFrame({"utilisation": util, "saturation_index": sat}, index=occupancy.index)


def queue_series(inc: pd.DataFrame, horizon_s: float, bin_s: float = 900.0) -> pd.DataFrame:
    """Mean calls waiting per bin: ``for_taker`` (call -> answer) and ``for_unit`` (ready for dispatch ->
    first unit assigned)."""
    n = max(int(np.ceil(horizon_s / bin_s)), 1)
    edges = np.arange(n + 1) * bin_s
    end = edges[-1]

    def wait(a: str, b: str, rows: pd.DataFrame) -> np.ndarray:
        if a not in rows or b not in rows:
            return np.zeros(n)
        start = rows[a].to_numpy(float)
        stop = rows[b].to_numpy(float)
        ok = np.isfinite(start)
        start, stop = start[ok], np.where(np.isfinite(stop[ok]), stop[ok], end)
        return _integral(start, np.maximum(np.minimum(stop, end), start), edges) / bin_s

    ready = "t_decided" if "t_decided" in inc else "t_ready"
    return pd.DataFrame(
        {"for_taker": wait("t_call", "t_answer", inc), "for_unit": wait(ready, "t_dispatch", served(inc))},
        index=pd.Index(edges[:-1], name="bin_start_s"),
    )


def per_district(inc: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """Per district: calls, response mean / p90, within target, and the summary's saturation index."""
    s = served(inc).copy()
    if "district" not in s:
        return pd.DataFrame()
    s["response_s"] = response_s(s)
    target = s["target_s"] if "target_s" in s else pd.Series(np.nan, index=s.index)
    s["within"] = (s["response_s"] <= target).where(s["response_s"].notna(), False)
    s["district"] = s["district"].fillna("").astype(str)
    g = s.groupby("district")
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "response_mean_s": g["response_s"].mean(),
            "response_p90_s": g["response_s"].quantile(0.9),
            "within_target": g["within"].mean(),
        }
    )
    districts = (summary.get("dispatch") or {}).get("districts") or {}
    out["saturation_index"] = [
        (districts.get(d) or {}).get("saturation_index") if isinstance(districts.get(d), dict) else None
        for d in out.index
    ]
    out["units"] = [
        (districts.get(d) or {}).get("units") if isinstance(districts.get(d), dict) else None
        for d in out.index
    ]
    return out.sort_values("calls", ascending=False)


def per_watch(
    inc: pd.DataFrame, start_offset_s: float, watches_h: tuple[int, ...] = (0, 8, 16)
) -> pd.DataFrame:
    """Calls by clock-time watch of the call (00-08, 08-16, 16-24 by default): calls, response mean,
    within target. Index: watch start hour."""
    s = served(inc).copy()
    s["response_s"] = response_s(s)
    target = s["target_s"] if "target_s" in s else pd.Series(np.nan, index=s.index)
    s["within"] = (s["response_s"] <= target).where(s["response_s"].notna(), False)
    hour = ((start_offset_s + s["t_call"]) % 86400) // 3600
    s["watch"] = np.asarray(watches_h)[np.searchsorted(watches_h, hour.to_numpy(), side="right") - 1]
    g = s.groupby("watch")
    return pd.DataFrame(
        {"calls": g.size(), "response_mean_s": g["response_s"].mean(), "within_target": g["within"].mean()}
    )


def per_shift(summary: dict) -> pd.DataFrame:
    """Per unit group and shift window (summary.json ``groups``): units, utilisation, saturation index
    of the window, patrol coverage, and the group's time on meal breaks, officer-initiated work and
    overtime over the run."""
    rows = []
    for name, g in (summary.get("groups") or {}).items():
        if not isinstance(g, dict):
            continue
        patrol = g.get("patrol") if isinstance(g.get("patrol"), dict) else {}
        shifts = g.get("shifts") if isinstance(g.get("shifts"), dict) else {}
        for window, w in (shifts or {"": {}}).items():
            cov = ((patrol.get("shifts") or {}).get(window) or {}).get("coverage_mean") if patrol else None
            rows.append(
                {
                    "group": name,
                    "window": window,
                    "units": g.get("count"),
                    "utilisation": g.get("utilisation"),
                    "saturation_index": (w or {}).get("saturation_index", g.get("saturation_index")),
                    "coverage": cov,
                    "meal_break_s": g.get("meal_break_s"),
                    "self_initiated_s": g.get("self_initiated_s"),
                    "overtime_s": g.get("overtime_s"),
                }
            )
    return pd.DataFrame(rows)


#: Outcomes in the order the report gives them (summary.json ``outcomes``).
OUTCOMES = ("served", "phone", "duplicate", "abandoned")


def dispatch_rows(summary: dict) -> tuple[list[tuple[str, int | None, float | None]], dict]:
    """How calls ended (outcome, count, share; from ``outcomes``) and what dispatch did (``dispatch``:
    units sent, pre-emptions, backup units, out-of-district and mutual-aid shares, capability waits);
    empty for runs that predate these figures."""
    outcomes = summary.get("outcomes") if isinstance(summary.get("outcomes"), dict) else {}
    rows = [(name, (outcomes.get(name) or {}).get("count"), (outcomes.get(name) or {}).get("share"))
            for name in OUTCOMES if name in outcomes]  # fmt: skip
    dispatch = summary.get("dispatch") if isinstance(summary.get("dispatch"), dict) else {}
    return rows, dispatch
