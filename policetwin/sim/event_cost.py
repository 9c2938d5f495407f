"""What the event costs the city: routine-call KPIs with the event against the same scenario and seed
without it (a counterfactual run, not "during vs outside the event", which would mix in time of day).

Routine calls are the same in both runs (common random numbers: demand, service, sensing and caller
streams do not depend on the event), so they are matched one to one by (call time, kind, node) and
compared per call too. "Outside the event area" means outside the outermost ring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from policetwin.sim.metrics import response_stats

if TYPE_CHECKING:
    from policetwin.sim.event_glue import EventGlue

CALL_KEY = ["t_call", "kind", "node"]


def routine_calls(incidents: pd.DataFrame) -> pd.DataFrame:
    """The routine (not crowd) calls of an incident table, with an occurrence number per call key."""
    routine = incidents[incidents["source"].astype(str) != "crowd"].copy()
    routine["kind"] = routine["kind"].astype(str)
    routine["nth"] = routine.groupby(CALL_KEY, sort=False).cumcount()
    return routine


def _stats(frame: pd.DataFrame) -> dict:
    served = frame[frame["outcome"].astype(str) == "served"] if "outcome" in frame else frame
    return response_stats(served)


def city_cost(glue: EventGlue, incidents: pd.DataFrame, base_incidents: pd.DataFrame) -> dict:
    """Routine-call KPIs outside (and inside) the event area, with and without the event, and the paired
    change in response time of the same calls."""
    net, outer = glue.crowd.layout.network, glue.crowd.layout.rings[0]
    with_event, without = routine_calls(incidents), routine_calls(base_incidents)
    out: dict = {"area": "outside the outermost ring", "same_routine_calls": bool(
        len(with_event) == len(without)
        and (with_event[CALL_KEY].to_numpy() == without[CALL_KEY].to_numpy()).all()
    )}  # fmt: skip
    for frame in (with_event, without):
        x, y = net.to_xy(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
        frame["inside"] = np.asarray(shapely.contains_xy(outer, x, y), dtype=bool)
    for where, flag in (("outside", False), ("inside", True)):
        a, b = with_event[with_event["inside"] == flag], without[without["inside"] == flag]
        out[where] = {"with_event": _stats(a), "without_event": _stats(b)}
        pair = a.merge(b, on=[*CALL_KEY, "nth"], suffixes=("", "_base"))
        delta = (pair["t_arrive"] - pair["t_arrive_base"]).to_numpy(float)  # same call times
        delta = delta[np.isfinite(delta)]
        out[where]["paired_calls"] = int(delta.size)
        out[where]["response_change_mean_s"] = float(delta.mean()) if delta.size else None
        out[where]["slower_share"] = float((delta > 1e-6).mean()) if delta.size else None
    return out
