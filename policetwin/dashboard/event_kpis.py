"""The KPIs page's event section: gate waits and queues over time, walk links by level of service (over
time, link-minutes per level, the links longest at LOS E/F), arrival and egress, crowd incidents and their
response, and what the event costs the city (routine calls with vs without the event). Frames are made
once per run on the server (small: per gate and bin, per level and bin); figures are
:mod:`policetwin.dashboard.event_figures`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import dcc, html

from policetwin.dashboard import event_data as ed
from policetwin.dashboard import event_figures as ef
from policetwin.dashboard.i18n import clock_label, fmt_count, fmt_duration, fmt_share, t
from policetwin.dashboard.rundata import RunData

_GRAPH = {"displaylogo": False}
#: Rows of the crowd-incident and hot-link tables (the rest is summarised).
MAX_ROWS = 30


def gate_waits(gates: pd.DataFrame) -> pd.DataFrame:
    """Per gate where anyone queued (else: that screened anyone) and bin: ``gate, t_s, wait_p95_s, queue``
    (the bin's longest queue)."""
    queue_col = "queue_max" if "queue_max" in gates else "queue"
    queued = gates.groupby("gate", sort=False)[queue_col].max()
    used = queued[queued > 0] if (queued > 0).any() else gates.groupby("gate", sort=False)["throughput"].sum()
    keep = gates[gates["gate"].isin(used[used > 0].index)]
    queue = keep[queue_col]
    return pd.DataFrame({"gate": keep["gate"].astype(str).to_numpy(), "t_s": keep["t_start_s"].to_numpy(float),
                         "wait_p95_s": keep["wait_p95_s"].to_numpy(float), "queue": queue.to_numpy()})  # fmt: skip


def los_over_time(crowd: pd.DataFrame) -> pd.DataFrame:
    """Walk links in use per bin and level of service: index ``t_s``, columns A-F (0 where none)."""
    counts = crowd.groupby(["t_start_s", "los"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[c for c in ed.LOS_LEVELS if c in counts.columns])
    counts.index = counts.index.rename("t_s")
    return counts


def los_minutes(crowd: pd.DataFrame) -> pd.Series:
    """Link-minutes at each level of service (rows' bin lengths summed)."""
    minutes = (crowd["t_end_s"] - crowd["t_start_s"]) / 60.0
    out = minutes.groupby(crowd["los"]).sum()
    return out.reindex([c for c in ed.LOS_LEVELS if c in out.index]).fillna(0.0)


def hot_links(crowd: pd.DataFrame, links: pd.DataFrame | None, n: int = 10) -> pd.DataFrame:
    """The links longest at LOS E/F, then by peak density: ``edge, minutes_ef, peak_density_p_m2,
    highway, width_m``."""
    ef_rows = crowd["los"].isin(["E", "F"])
    minutes = ((crowd["t_end_s"] - crowd["t_start_s"]) / 60.0).where(ef_rows, 0.0)
    peak_col = "peak_density_p_m2" if "peak_density_p_m2" in crowd else "density_p_m2"
    per = pd.DataFrame({"minutes_ef": minutes.groupby(crowd["edge"]).sum(),
                        "peak_density_p_m2": crowd.groupby("edge")[peak_col].max()})  # fmt: skip
    per = per.sort_values(["minutes_ef", "peak_density_p_m2"], ascending=False).head(n)
    if links is not None:
        per = per.join(links[[c for c in ("highway", "width_m") if c in links]], how="left")
    return per.reset_index().rename(columns={"index": "edge"})


def people_series(crowd: pd.DataFrame, gates: pd.DataFrame, geometry: dict) -> pd.DataFrame:
    """People on the walk ways per bin and people screened at the outer ring's gates so far."""
    walking = crowd.groupby("t_start_s")["people"].sum()
    out = pd.DataFrame({"t_s": walking.index.to_numpy(float), "walking": walking.to_numpy()})
    rings = [r.get("name") for r in geometry.get("rings") or []]
    outer = {g["name"] for g in geometry.get("gates") or [] if rings and g.get("ring") == rings[0]}
    if outer and len(gates):
        through = (
            gates[gates["gate"].astype(str).isin(outer)].groupby("t_start_s")["throughput"].sum().cumsum()
        )
        out["screened"] = np.interp(out["t_s"], through.index.to_numpy(float), through.to_numpy(float))
    return out


def city_cost(block: dict, area: str = "outside") -> pd.DataFrame:
    """Routine-call KPIs with vs without the event in ``area`` (``outside`` / ``inside`` the outer ring)."""
    part = ((block.get("city_cost") or {}).get(area)) or {}
    rows = {case: part[case] for case in ("without_event", "with_event") if isinstance(part.get(case), dict)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame.astype(float) if len(frame) else frame


def aggregates(run: RunData) -> dict:
    """The event section's frames of a run (cached with the run; independent of the language)."""

    def load() -> dict:
        crowd, gates = ed.crowd(run), ed.gates(run)
        geo = ed.geometry(run)
        return {
            "waits": gate_waits(gates), "los_time": los_over_time(crowd), "los_minutes": los_minutes(crowd),
            "hot": hot_links(crowd, ed.walk_links(run)), "people": people_series(crowd, gates, geo),
            "incidents": ed.crowd_incidents(run), "times": ed.event_times(run),
        }  # fmt: skip

    return run.memo("event_kpis", load)


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> html.Table:
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])],
        className="pt-table", id=table_id,
    )  # fmt: skip


def _incident_rows(inc: pd.DataFrame, start: str, lang: str) -> list[list[str]]:
    rows = []
    for _, r in inc.head(MAX_ROWS).iterrows():
        resp = float(r["t_arrive"] - r["t_call"]) if pd.notna(r.get("t_arrive")) else None
        target = r.get("target_s")
        within = "-" if resp is None or target is None or pd.isna(target) else (
            t("ev.yes", lang) if resp <= float(target) else t("ev.no", lang))  # fmt: skip
        rows.append([str(int(r["incident_id"])), str(r["kind"]), t("kpi.priority", lang, p=int(r["priority"])),
                     clock_label(float(r["t_call"]), start, lang), fmt_duration(resp, lang), within,
                     str(r.get("first_unit") or "-")])  # fmt: skip
    return rows


def _headline(block: dict, inc: pd.DataFrame, lang: str) -> str:
    resp = (inc["t_arrive"] - inc["t_call"]).dropna() if len(inc) else pd.Series(dtype=float)
    return t(
        "ev.headline", lang, attendees=fmt_count(block.get("attendees")), inside=fmt_count(block.get("arrived_inside")),
        peak=f"{float(block.get('peak_density_p_m2') or 0):.2f}", links_ef=fmt_count(block.get("edges_at_los_e_f")),
        minutes_ef=fmt_count(round(float(block.get("edge_minutes_at_los_e_f") or 0), 1)),
        egress=fmt_duration(block.get("egress_95_s"), lang), calls=fmt_count(len(inc)),
        response=fmt_duration(float(resp.mean()) if len(resp) else None, lang),
    )  # fmt: skip


def section(run: RunData, lang: str) -> list:
    """The event section of the KPIs page (empty for a run without an event)."""
    if not ed.has_event(run):
        return []
    agg, block, start = aggregates(run), ed.event_block(run), run.start
    times, inc = agg["times"], agg["incidents"]
    graphs = [
        dcc.Graph(id="kpi-ev-waits", figure=ef.gate_wait_figure(agg["waits"], start, lang, times), config=_GRAPH),
        dcc.Graph(id="kpi-ev-queues", figure=ef.gate_queue_figure(agg["waits"], start, lang, times), config=_GRAPH),
        dcc.Graph(id="kpi-ev-los", figure=ef.los_time_figure(agg["los_time"], start, lang, times), config=_GRAPH),
        dcc.Graph(id="kpi-ev-los-minutes", figure=ef.los_minutes_figure(agg["los_minutes"], lang), config=_GRAPH),
        dcc.Graph(id="kpi-ev-egress", figure=ef.egress_figure(agg["people"], start, lang, times), config=_GRAPH),
    ]  # fmt: skip
    hot = agg["hot"]
    hot_rows = [[str(int(r["edge"])), str(r.get("highway", "-")), f"{float(r.get('width_m', float('nan'))):.1f}",
                 f"{float(r['peak_density_p_m2']):.2f}", f"{float(r['minutes_ef']):.1f}"]
                for _, r in hot.iterrows()]  # fmt: skip
    hot_head = [
        t(k, lang) for k in ("ev.col_link", "ev.col_class", "ev.col_width", "ev.col_peak", "ev.col_min_ef")
    ]
    inc_head = [t(k, lang) for k in ("ev.col_id", "ev.col_kind", "ev.col_priority", "ev.col_call", "ev.col_response",
                                     "kpi.col_within", "ev.col_unit")]  # fmt: skip
    parts: list = [
        html.H3(t("ev.section", lang), id="kpi-event"),
        html.Div(_headline(block, inc, lang), className="pt-headline", id="kpi-ev-headline"),
        html.Div(graphs, className="pt-grid"),
        html.H4(t("ev.hot_links", lang)),
        _table(hot_head, hot_rows, "kpi-ev-hot-table"),
        html.H4(t("ev.incidents", lang)),
    ]
    if len(inc):
        parts.append(_table(inc_head, _incident_rows(inc, start, lang), "kpi-ev-incident-table"))
        if len(inc) > MAX_ROWS:
            parts.append(html.Div(t("ev.more_rows", lang, n=len(inc) - MAX_ROWS), className="pt-note"))
    else:
        parts.append(html.Div(t("ev.no_incidents", lang), className="pt-note"))
    parts += _city_cost(block, lang)
    return parts


def _city_cost(block: dict, lang: str) -> list:
    cost = block.get("city_cost")
    out: list = [html.H4(t("ev.city_cost", lang))]
    if not isinstance(cost, dict):
        return [*out, html.Div(t("ev.no_city_cost", lang), className="pt-note")]
    rows = []
    for area in ("outside", "inside"):
        frame = city_cost(block, area)
        part = cost.get(area) or {}
        for case in frame.index:
            r = frame.loc[case]
            rows.append([t(f"ev.area_{area}", lang), t(f"ev.{case}", lang), fmt_count(r.get("count")),
                         fmt_duration(r.get("response_mean_s"), lang), fmt_duration(r.get("response_p90_s"), lang),
                         fmt_share(r.get("within_target")),
                         fmt_duration(part.get("response_change_mean_s"), lang) if case == "with_event" else "",
                         fmt_share(part.get("slower_share")) if case == "with_event" else ""])  # fmt: skip
    head = [t(k, lang) for k in ("ev.col_area", "ev.col_case", "kpi.col_calls", "kpi.col_mean", "kpi.col_p90",
                                 "kpi.col_within", "ev.col_change", "ev.col_slower")]  # fmt: skip
    outside = city_cost(block, "outside")
    out.append(html.Div(t("ev.same_calls", lang) if cost.get("same_routine_calls") else t("ev.not_same_calls", lang),
                        className="pt-note"))  # fmt: skip
    out.append(_table(head, rows, "kpi-ev-city-table"))
    if len(outside):
        out.append(dcc.Graph(id="kpi-ev-city", figure=ef.city_cost_figure(outside, lang), config=_GRAPH))
    return out
