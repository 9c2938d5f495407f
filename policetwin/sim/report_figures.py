"""Plotly figures for the HTML run report: incident/unit tables in, figures (and the map) out.

The tables behind the charts come from :mod:`policetwin.sim.report_tables`. Every function tolerates
empty frames, missing columns and all-NaN timestamps; figures then show an "no data" annotation
instead of raising.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from policetwin import clock
from policetwin.sim.report_clock import BAR_WIDTH_MS, clock_axis
from policetwin.sim.report_tables import (
    BUSY_STATES,
    UNAVAILABLE_STATES,
    normalise_incidents,
    stage_breakdown,
    utilisation_by_hour,
    waiting_for_unit,
)

STAGE_COLOURS = {
    "know": "#dadaeb",
    "answer": "#9ecae1",
    "handling": "#4292c6",
    "desk_wait": "#fdae6b",
    "decision": "#e6550d",
    "queue": "#ef6548",
    "turnout": "#a1d99b",
    "travel": "#41ab5d",
    "on_scene": "#bdbdbd",
}
PRIORITY_COLOURS = {1: "#d62728", 2: "#ff7f0e", 3: "#1f77b4", 4: "#2ca02c", 5: "#9467bd"}
MINOR_HIGHWAYS = frozenset({"residential", "living_street", "service", "track", "unclassified", "road"})
TEMPLATE = "plotly_white"


def priority_colour(priority: int) -> str:
    return PRIORITY_COLOURS.get(int(priority), "#7f7f7f")


def _empty_figure(title: str, message: str = "no data") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=260,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "font": {"size": 16},
                "x": 0.5,
                "y": 0.5,
                "xref": "paper",
                "yref": "paper",
            }
        ],
    )
    return fig


def response_ecdf_figure(
    incidents: pd.DataFrame, targets: Mapping[int, float] | None = None, *, max_points: int = 400
) -> go.Figure:
    """ECDF of response time (t_arrive - t_call, minutes) per priority over the served calls (as the
    summary's ``within_target``), with a dashed vertical line at each priority's target; the legend
    names the number of calls and of unserved calls."""
    title = "Response time by priority (share of served calls reached within x minutes)"
    df = normalise_incidents(incidents)
    targets = dict(targets or {})
    if df.empty or not df["response_s"].notna().any():
        return _empty_figure(title, "no incident reached a unit")
    fig = go.Figure()
    for prio, grp in df.groupby("priority", sort=True):
        resp = np.sort(grp["response_s"].dropna().to_numpy(float)) / 60.0
        if resp.size == 0:
            continue
        share = np.arange(1, resp.size + 1) / resp.size
        unserved = len(grp) - resp.size
        if resp.size > max_points:  # keep the curve shape, drop most points
            idx = np.unique(np.linspace(0, resp.size - 1, max_points).round().astype(int))
            resp, share = resp[idx], share[idx]
        colour = priority_colour(prio)
        fig.add_trace(
            go.Scatter(
                x=resp,
                y=share,
                mode="lines",
                line={"shape": "hv", "color": colour},
                name=f"P{prio} ({len(grp):,} calls" + (f", {unserved:,} unserved)" if unserved else ")"),
                hovertemplate="%{x:.1f} min: %{y:.1%}<extra>P" + str(prio) + "</extra>",
            )
        )
        if prio in targets:
            fig.add_vline(
                x=targets[prio] / 60.0,
                line={"color": colour, "dash": "dash", "width": 1.5},
                annotation_text=f"P{prio} target",
                annotation_font_color=colour,
            )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=420,
        xaxis_title="minutes from call",
        yaxis={"title": "share of calls", "tickformat": ".0%", "range": [0, 1.02]},
    )
    return fig


def stage_breakdown_figure(incidents: pd.DataFrame) -> go.Figure:
    """Stacked horizontal bars of mean seconds per stage, one bar per priority (and all calls)."""
    title = "Where the time goes: mean seconds per stage"
    table = stage_breakdown(incidents)
    if not table.notna().any().any():
        return _empty_figure(title)
    fig = go.Figure()
    for stage in table.columns:
        values = table[stage].fillna(0.0)
        fig.add_trace(
            go.Bar(
                y=list(table.index),
                x=values.to_numpy(float),
                orientation="h",
                name=stage,
                marker_color=STAGE_COLOURS.get(stage),
                hovertemplate="%{y} " + stage + ": %{x:.0f} s<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        barmode="stack",
        height=140 + 40 * len(table),
        xaxis_title="seconds",
        yaxis={"autorange": "reversed"},
    )
    return fig


def calls_and_queue_figure(
    incidents: pd.DataFrame, duration_s: float, *, start: str = clock.DEFAULT_START
) -> go.Figure:
    """Calls per clock hour (stacked by priority) and the number of calls waiting for a unit, on a
    clock-time axis: a run starting at 18:30 has its first bar on 18:00-19:00 (half an hour of calls)."""
    title = "Calls per hour and calls waiting for a unit"
    df = normalise_incidents(incidents)
    if df.empty or not df["t_call"].notna().any():
        return _empty_figure(title, "no calls")
    axis = clock_axis(start)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    hour = np.floor((df["t_call"] + axis.hour_offset_s) / 3600.0)
    n_hours = int(max(math.ceil(((duration_s or 0) + axis.hour_offset_s) / 3600.0), np.nanmax(hour) + 1))
    x, labels = axis.hour_middles(n_hours), axis.hour_labels(n_hours)
    for prio, grp_hour in hour.groupby(df["priority"], sort=True):
        counts = np.bincount(grp_hour.dropna().astype(np.int64).clip(0, n_hours - 1), minlength=n_hours)
        fig.add_trace(
            go.Bar(
                x=x,
                y=counts,
                width=BAR_WIDTH_MS,
                customdata=labels,
                name=f"P{prio} calls",
                marker_color=priority_colour(prio),
                opacity=0.75,
                hovertemplate="%{customdata}: %{y} calls<extra>P" + str(prio) + "</extra>",
            ),
            secondary_y=False,
        )
    horizon = n_hours * 3600.0 - axis.hour_offset_s  # end of the last clock hour
    wait = waiting_for_unit(df, horizon, bins=min(1440, max(n_hours * 60, 1)))
    fig.add_trace(
        go.Scatter(
            x=axis.at(wait["t_s"]),
            y=wait["waiting"].to_numpy(np.int64),
            mode="lines",
            line={"shape": "hv", "color": "black", "width": 1.5},
            name="waiting for a unit",
            hovertemplate="%{x|" + axis.tickformat + "}: %{y} waiting<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_layout(template=TEMPLATE, title=title, barmode="stack", height=420, xaxis=axis.layout())
    fig.update_yaxes(title_text="calls per hour", secondary_y=False)
    fig.update_yaxes(title_text="calls waiting", secondary_y=True, rangemode="tozero", showgrid=False)
    return fig


def utilisation_figure(
    units: pd.DataFrame | None, duration_s: float, *, start: str = clock.DEFAULT_START
) -> go.Figure:
    """Share of on-shift unit time per busy state, one stacked bar per clock hour of the run."""
    title = "Unit utilisation by hour (share of on-shift unit time) and units on duty"
    axis = clock_axis(start)
    table = utilisation_by_hour(units, duration_s, offset_s=axis.hour_offset_s)
    if table.empty:
        return _empty_figure(title, "no unit data")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    colours = {"enroute": "#41ab5d", "onscene": "#ef6548", "returning": "#bdbdbd", "meal_break": "#9e9ac8",
               "self_initiated": "#6baed6"}  # fmt: skip
    n_hours = len(table)
    for name in BUSY_STATES:
        if name in UNAVAILABLE_STATES and not table[name].any():
            continue  # no breaks or officer-initiated work in this run: no empty legend entries
        fig.add_trace(
            go.Bar(
                x=axis.hour_middles(n_hours),
                y=table[name].to_numpy(float),
                width=BAR_WIDTH_MS,
                customdata=axis.hour_labels(n_hours),
                name=name,
                marker_color=colours[name],
                hovertemplate="%{customdata}: %{y:.1%}<extra>" + name + "</extra>",
            ),
            secondary_y=False,
        )
    fig.add_trace(
        go.Scatter(
            x=axis.hour_middles(n_hours), y=table["on_duty"].to_numpy(float), mode="lines+markers",
            name="units on duty", line={"color": "black", "width": 1.5}, customdata=axis.hour_labels(n_hours),
            hovertemplate="%{customdata}: %{y:.1f} units on duty<extra></extra>",
        ),
        secondary_y=True,
    )  # fmt: skip
    fig.update_layout(template=TEMPLATE, title=title, barmode="stack", height=380, xaxis=axis.layout())
    fig.update_yaxes(title_text="share of units", tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text="units on duty", rangemode="tozero", showgrid=False, secondary_y=True)
    return fig


def network_segments(network, *, max_segments: int = 40_000) -> tuple[list, list, str]:
    """Road lines as (lon, lat) lists with ``None`` separators, one entry per undirected street segment.

    Above ``max_segments`` minor classes (residential, service, ...) are dropped, then an even
    deterministic stride is taken. Returns the lists and a note on what was drawn."""
    lon = np.asarray(network.lon, dtype=float)
    lat = np.asarray(network.lat, dtype=float)
    u = np.asarray(network.edge_u, dtype=np.int64)
    v = np.asarray(network.edge_v, dtype=np.int64)
    if u.size == 0:
        return [], [], "no roads"
    a, b = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(a * max(lon.size, 1) + b, return_index=True)
    first = np.sort(first)
    total = first.size
    note = f"all {total:,} street segments"
    if total > max_segments:
        highway = np.asarray(getattr(network, "highway", np.array([""] * u.size)), dtype=object)[first]
        major = first[~np.isin(highway.astype(str), list(MINOR_HIGHWAYS))]
        if 0 < major.size <= max_segments:
            first, note = major, f"{major.size:,} of {total:,} street segments (main roads only)"
        else:
            pool = major if major.size else first
            first = pool[np.unique(np.linspace(0, pool.size - 1, max_segments).round().astype(np.int64))]
            note = f"{first.size:,} of {total:,} street segments (deterministic subsample)"
    n = first.size
    xs = np.full(3 * n, np.nan)
    ys = np.full(3 * n, np.nan)
    xs[0::3], xs[1::3] = lon[a[first]], lon[b[first]]
    ys[0::3], ys[1::3] = lat[a[first]], lat[b[first]]
    return _with_gaps(xs), _with_gaps(ys), note


def _with_gaps(values: np.ndarray, digits: int = 5) -> list:
    rounded = np.round(values, digits)
    return [None if not math.isfinite(x) else float(x) for x in rounded.tolist()]


def sample_incidents(incidents: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` rows, evenly spaced in incident order (deterministic)."""
    if len(incidents) <= max_points:
        return incidents
    idx = np.unique(np.linspace(0, len(incidents) - 1, max_points).round().astype(np.int64))
    return incidents.iloc[idx]


def _fmt_min(seconds: float) -> str:
    return "-" if not math.isfinite(seconds) else f"{seconds / 60.0:.1f} min"


def map_figure(
    network,
    incidents: pd.DataFrame,
    stations: Iterable[Mapping],
    *,
    max_segments: int = 40_000,
    max_points: int = 20_000,
    start: str = clock.DEFAULT_START,
) -> tuple[go.Figure, str]:
    """Roads, incidents (one trace per priority, hover text only) and stations on a plain lon/lat plot.

    A plain SVG scatter, not a WebGL map: a report opened from disk (file://) cannot start the map
    library's web worker, and needs no tiles anyway. Equal metric scale: the y axis is stretched by
    1/cos(latitude). Hover text gives each call's clock time from ``start``. Returns the figure and a
    one-line note on what was drawn."""
    fig = go.Figure()
    road_lon, road_lat, note = network_segments(network, max_segments=max_segments)
    fig.add_trace(
        go.Scatter(
            x=road_lon,
            y=road_lat,
            mode="lines",
            name="roads",
            hoverinfo="skip",
            line={"color": "#b0b0b0", "width": 1},
        )
    )
    df = normalise_incidents(incidents)
    df = df[df["lon"].notna() & df["lat"].notna()]
    shown = sample_incidents(df, max_points)
    note += (
        f"; {len(shown):,} of {len(df):,} incidents" if len(shown) < len(df) else f"; {len(df):,} incidents"
    )
    axis = clock_axis(start)
    for prio, grp in shown.groupby("priority", sort=True):
        text = [
            f"#{i} {html.escape(k)} P{prio}<br>call {axis.label(t)}, response {_fmt_min(r)}"
            f"<br>first unit {html.escape(u)}"
            for i, k, t, r, u in zip(
                grp["incident_id"],
                grp["kind"],
                grp["t_call"],
                grp["response_s"],
                grp["first_unit"],
                strict=True,
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=grp["lon"].round(5).to_numpy(float),
                y=grp["lat"].round(5).to_numpy(float),
                mode="markers",
                name=f"P{prio} incidents",
                text=text,
                hoverinfo="text",
                marker={"size": 6, "color": priority_colour(prio), "opacity": 0.7},
            )
        )
    stations = list(stations or [])
    if stations:
        fig.add_trace(
            go.Scatter(
                x=[float(s.get("lon", np.nan)) for s in stations],
                y=[float(s.get("lat", np.nan)) for s in stations],
                mode="markers",
                name="stations",
                hoverinfo="text",
                text=[html.escape(str(s.get("name", ""))) for s in stations],
                marker={"size": 16, "color": "#08306b", "opacity": 0.9},
            )
        )
    lat = np.asarray(network.lat, dtype=float)
    mid_lat = float(np.nanmedian(lat)) if lat.size else 0.0
    fig.update_layout(
        template=TEMPLATE,
        height=750,
        margin={"l": 40, "r": 0, "t": 40, "b": 30},
        xaxis={"title": "longitude", "showgrid": False, "zeroline": False},
        yaxis={"title": "latitude", "showgrid": False, "zeroline": False, "scaleanchor": "x",
               "scaleratio": 1.0 / max(np.cos(np.radians(mid_lat)), 0.05)},
        legend={"bgcolor": "rgba(255,255,255,0.8)"},
        title="Map: roads, incidents, stations",
        plot_bgcolor="white",
    )  # fmt: skip
    return fig, note
