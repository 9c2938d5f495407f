"""The report's event sections: overview, gate waits over time, peak density by level of service, minutes at
LOS E/F per walk link, the egress curve, crowd incidents and their response times, and what the event
costs the city (routine calls with vs without the event). Input: :meth:`EventGlue.report_data`, the
summary's ``event`` block and the incident table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from policetwin.event.los import WALKWAY_BOUNDS_P_M2
from policetwin.sim import report_html as rh

LOS_COLOURS = {"A": "#1a9850", "B": "#91cf60", "C": "#d9ef8b", "D": "#fee08b", "E": "#fc8d59", "F": "#d73027"}
TOP_LINKS = 20


def _gate_figure(gates: pd.DataFrame, clock) -> go.Figure:
    fig = go.Figure()
    for name, rows in gates.groupby("gate", sort=False):
        fig.add_trace(go.Scatter(x=clock.at(rows["t_start_s"].to_numpy(float)), y=rows["wait_p95_s"] / 60.0,
                                 mode="lines", name=str(name), connectgaps=False))  # fmt: skip
    fig.update_layout(title="Gate waits: 95th percentile per bin (min)", yaxis_title="wait (min)", height=380,
                      margin={"t": 40, "b": 40}, xaxis=clock.layout())  # fmt: skip
    return fig


def _density_map(data: Mapping) -> go.Figure:
    links, peak = data["links"], data["peak_density_p_m2"]
    level = np.searchsorted(WALKWAY_BOUNDS_P_M2, peak, side="right")
    fig = go.Figure()
    for lon, lat in data["outlines"]:
        fig.add_trace(go.Scattergl(x=lon, y=lat, mode="lines", line={"color": "#555", "dash": "dot", "width": 1},
                                   hoverinfo="skip", showlegend=False))  # fmt: skip
    used = peak > 0
    for i, letter in enumerate("ABCDEF"):
        pick = np.flatnonzero(used & (level == i))
        if not pick.size:
            continue
        xs = np.column_stack([links["lon_u"].to_numpy()[pick], links["lon_v"].to_numpy()[pick],
                              np.full(pick.size, np.nan)]).ravel()  # fmt: skip
        ys = np.column_stack([links["lat_u"].to_numpy()[pick], links["lat_v"].to_numpy()[pick],
                              np.full(pick.size, np.nan)]).ravel()  # fmt: skip
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", name=f"LOS {letter}",
                                   line={"color": LOS_COLOURS[letter], "width": 2 + i / 2}))  # fmt: skip
    lon, lat, names = data["gates_lonlat"]
    fig.add_trace(go.Scatter(x=lon, y=lat, mode="markers", name="gates", text=names,
                             marker={"symbol": "square", "size": 8, "color": "#0b2545"}))  # fmt: skip
    fig.update_layout(title="Peak density by level of service (Fruin walkway scale)", height=560,
                      yaxis={"scaleanchor": "x", "scaleratio": 1 / np.cos(np.radians(float(np.mean(lat))))},
                      margin={"t": 40, "b": 20})  # fmt: skip
    return fig


def _los_ef_figure(data: Mapping) -> go.Figure:
    seconds, links = data["seconds_los_ef"], data["links"]
    top = np.argsort(-seconds)[:TOP_LINKS]
    top = top[seconds[top] > 0]
    labels = [f"link {k} ({links['highway'].iat[k]}, {links['width_m'].iat[k]:.0f} m)" for k in top]
    fig = go.Figure(go.Bar(x=seconds[top] / 60.0, y=labels, orientation="h", marker_color="#d73027"))
    fig.update_layout(title=f"Minutes at LOS E or F: the {TOP_LINKS} worst walk links", height=480,
                      xaxis_title="minutes", yaxis={"autorange": "reversed"}, margin={"t": 40, "l": 260})  # fmt: skip
    return fig


def _egress_figure(census: pd.DataFrame, clock, data: Mapping) -> go.Figure:
    fig = go.Figure()
    t = clock.at(census["t_s"].to_numpy(float))
    for col, name in (("edge", "walking"), ("queue", "queued at gates"), ("inside", "inside the venue"),
                      ("gone", "gone (home / safe)")):  # fmt: skip
        fig.add_trace(go.Scatter(x=t, y=census[col], mode="lines", name=name))
    for when, label in ((data["start_s"], "start"), (data["end_s"], "end")):
        x = str(clock.at(np.array([when]))[0])
        fig.add_shape(
            type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line={"dash": "dash", "color": "#888"}
        )
        fig.add_annotation(x=x, y=1, yref="paper", text=label, showarrow=False)
    fig.update_layout(title="Attendees by state: arrival, egress", yaxis_title="people", height=380,
                      margin={"t": 40, "b": 40}, xaxis=clock.layout())  # fmt: skip
    return fig


def _response_rows(frame: pd.DataFrame) -> list[list[str]]:
    rows = []
    for kind, group in frame.groupby(frame["kind"].astype(str), sort=True):
        response = (group["t_arrive"] - group["t_call"]).to_numpy(float)
        served = response[np.isfinite(response)]
        within = (
            float((served <= group["target_s"].to_numpy(float)[np.isfinite(response)]).mean())
            if served.size
            else None
        )
        rows.append([rh.esc(kind), rh.fmt_int(len(group)), rh.fmt_int(served.size),
                     rh.fmt_minutes(float(np.median(served)) if served.size else None),
                     rh.fmt_minutes(float(np.percentile(served, 90)) if served.size else None),
                     rh.fmt_share(within)])  # fmt: skip
    return rows


def _city_cost(cost: Mapping | None) -> str:
    if not cost:
        return '<p class="note">No counterfactual run (event.counterfactual: false).</p>'
    rows = []
    for where in ("outside", "inside"):
        block = cost.get(where) or {}
        for label, key in (("with the event", "with_event"), ("without the event", "without_event")):
            s = block.get(key) or {}
            rows.append([f"{where} the event area, {label}", rh.fmt_int(s.get("count")), rh.fmt_int(s.get("served")),
                         rh.fmt_minutes(s.get("response_mean_s")), rh.fmt_minutes(s.get("response_p90_s")),
                         rh.fmt_share(s.get("within_target"))])  # fmt: skip
        change = block.get("response_change_mean_s")
        rows.append([f"{where}: the same calls, mean change", rh.fmt_int(block.get("paired_calls")), "",
                     rh.DASH if change is None else f"{change / 60.0:+.1f} min", "",
                     f"{rh.fmt_share(block.get('slower_share'))} slower"])  # fmt: skip
    same = "identical" if cost.get("same_routine_calls") else "NOT identical (check deterrence settings)"
    note = (f"<p class='note'>The same scenario and seed run without its event block; routine calls are {same} "
            "in both runs (common random numbers), so differences are the event's: units drawn to it, streets "
            "closed to traffic, call-takers and dispatchers busy with crowd calls.</p>")  # fmt: skip
    return note + rh.table(
        ["routine calls", "calls", "served", "mean response", "p90", "within target"], rows
    )


def event_sections(data: Mapping | None, summary: Mapping, incidents: pd.DataFrame, clock,
                   figure_html: Callable[[go.Figure, str], str]) -> str:  # fmt: skip
    """The event's report sections (empty without an event)."""
    block = rh.get(summary, "event")
    if not data or not isinstance(block, Mapping):
        return ""
    walk = block.get("walk_network") or {}
    evac = block.get("evacuation") or {}
    overview = rh.table(["figure", "value"], [
        ["attendees / arrived inside", f"{rh.fmt_int(block.get('attendees'))} / {rh.fmt_int(block.get('arrived_inside'))}"],
        ["gate wait p50 / p95 / max", " / ".join(rh.fmt_seconds(block.get(k)) for k in ("wait_p50_s", "wait_p95_s", "wait_max_s"))],
        ["peak density", f"{rh.num(block.get('peak_density_p_m2')) or 0:.2f} p/m²"],
        ["link-minutes at LOS E/F", f"{rh.num(block.get('edge_minutes_at_los_e_f')) or 0:,.0f} ({rh.fmt_int(block.get('edges_at_los_e_f'))} links)"],
        ["egress: 95% gone after the " + ("evacuation order" if evac else "end"), rh.fmt_minutes(block.get("egress_95_s"))],
        ["evacuation: outer ring clear after the order", rh.fmt_minutes(evac.get("outer_ring_clear_s")) if evac else rh.DASH],
        ["people still out at the run's end", rh.fmt_int(sum((block.get("census_at_end") or {}).get(k, 0) for k in ("edge", "queue")))],
        ["event police", rh.esc(", ".join(f"{k} {v['count']} ({v['role']})" for k, v in (block.get("police") or {}).items()) or None)],
        ["streets closed to traffic (whole run)", rh.fmt_int((block.get("road_closures") or {}).get("edges"))],
        ["walk network", rh.esc(walk.get("source"))],
    ])  # fmt: skip
    streets = walk.get("streets_as_walkable")
    note = (
        "Walk network: the street network used as two-way walkable (the map has no pedestrian ways). "
        if streets
        else "Walk network: OpenStreetMap pedestrian ways. "
    ) + ("Event officers on foot are timed on the road network (at walking pace inside road closures).")
    crowd = (
        incidents[incidents["source"].astype(str) == "crowd"] if "source" in incidents else incidents.iloc[:0]
    )
    crowd_html = (rh.table(["crowd incident", "calls", "served", "response p50", "p90", "within target"],
                           _response_rows(crowd)) if len(crowd) else '<p class="note">No crowd incidents.</p>')  # fmt: skip
    gates, census = data.get("gates"), data["census"]
    return "".join([
        rh.section("Event: " + str(block.get("name", "")), overview, note),
        rh.section("Gate waits over time", figure_html(_gate_figure(gates, clock), "fig-event-gates"))
        if gates is not None and len(gates) else "",
        rh.section("Peak crowd density", figure_html(_density_map(data), "fig-event-density"),
                   "Each walk link coloured by the level of service of the highest density it had in any step."),
        rh.section("Minutes at LOS E/F per walk link", figure_html(_los_ef_figure(data), "fig-event-losef")),
        rh.section("Arrival and egress", figure_html(_egress_figure(census, clock, data), "fig-event-egress")),
        rh.section("Crowd incidents and their response times", crowd_html,
                   "Crowd incidents become calls (source: crowd) for the same call-takers and dispatchers."),
        rh.section("What the event costs the city", _city_cost(block.get("city_cost")),
                   "Routine calls outside the outermost ring, against the same scenario and seed without the event."),
    ])  # fmt: skip
