"""Figures: pure functions from (small, aggregated) data frames to plotly figures, in either language.
Unit-tested without a browser."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from policetwin.dashboard.i18n import clock_label, t
from policetwin.dashboard.kpis import STAGES
from policetwin.dashboard.replay import OTHER_PRIORITY_COLOUR, PRIORITY_COLOURS, STATE_COLOURS, STATES

_FONT = {"family": "Noto Sans CJK SC, WenQuanYi Zen Hei, Microsoft YaHei, Arial, sans-serif", "size": 12}
#: A map style without tiles and with a transparent background: the page's street canvas shows through it.
#: (Not empty: plotly drops empty objects from a style it re-applies, and the map then rejects it.)
BLANK_STYLE = {
    "version": 8,
    "sources": {"none": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [{"id": "background", "type": "background", "paint": {"background-opacity": 0}}],
}
_STAGE_COLOURS = ("#9b59b6", "#3498db", "#1abc9c", "#95a5a6", "#34495e", "#e74c3c", "#f39c12", "#2ecc71")


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        font=_FONT,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def priority_colour(p: int) -> str:
    """Colour of a priority (1 red, 2 orange, 3 yellow, others brown)."""
    return PRIORITY_COLOURS.get(int(p), OTHER_PRIORITY_COLOUR)


def response_figure(hist: pd.DataFrame, lang: str) -> go.Figure:
    """Response-time distribution per priority (bars of binned counts) with each priority's target."""
    fig = go.Figure()
    bin_s = float(hist["bin_start_s"].diff().min()) if len(hist) > 1 else 60.0
    bin_s = bin_s if math.isfinite(bin_s) and bin_s > 0 else 60.0
    for p, rows in hist.groupby("priority"):
        fig.add_bar(
            x=(rows["bin_start_s"] + bin_s / 2) / 60, y=rows["count"], width=bin_s / 60,
            name=t("kpi.priority", lang, p=p), marker_color=priority_colour(p), opacity=0.6,
        )  # fmt: skip
    for p, target_s in sorted(hist.attrs.get("targets", {}).items()):
        fig.add_vline(x=target_s / 60, line_dash="dash", line_color=priority_colour(p))
        fig.add_scatter(
            x=[target_s / 60, target_s / 60], y=[0, 0], mode="lines", line={"dash": "dash", "color": priority_colour(p)},
            name=t("kpi.target", lang, p=p), hoverinfo="skip",
        )  # fmt: skip
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=t("kpi.response_x", lang))
    fig.update_yaxes(title=t("kpi.calls", lang))
    return _layout(fig, t("kpi.response", lang))


def compliance_figure(pp: pd.DataFrame, lang: str) -> go.Figure:
    """Share of calls within the target, per priority."""
    labels = [t("kpi.priority", lang, p=p) for p in pp.index]
    fig = go.Figure(
        go.Bar(
            x=labels, y=pp["within_target"], marker_color=[priority_colour(p) for p in pp.index],
            text=[f"{100 * v:.1f}%" if pd.notna(v) else "-" for v in pp["within_target"]], textposition="auto",
        )
    )  # fmt: skip
    fig.update_yaxes(title=t("kpi.share", lang), tickformat=".0%", range=[0, 1.05])
    return _layout(fig, t("kpi.compliance", lang))


def know_help_figure(pp: pd.DataFrame, lang: str) -> go.Figure:
    """Mean time to know and time to help per priority (minutes)."""
    labels = [t("kpi.priority", lang, p=p) for p in pp.index]
    fig = go.Figure()
    fig.add_bar(x=labels, y=pp["time_to_know_mean_s"] / 60, name=t("kpi.know", lang), marker_color="#9b59b6")
    fig.add_bar(x=labels, y=pp["time_to_help_mean_s"] / 60, name=t("kpi.help", lang), marker_color="#2980b9")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=t("kpi.minutes", lang))
    return _layout(fig, t("kpi.know_help", lang))


def stages_figure(stages: pd.DataFrame, lang: str) -> go.Figure:
    """Mean time per stage of a call, stacked, one bar per priority (minutes)."""
    fig = go.Figure()
    labels = [t("kpi.priority", lang, p=p) for p in stages.index]
    for (name, _, _), colour in zip(STAGES, _STAGE_COLOURS, strict=True):
        if name in stages:
            fig.add_bar(
                y=labels,
                x=stages[name] / 60,
                orientation="h",
                name=t(f"stage.{name}", lang),
                marker_color=colour,
            )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=t("kpi.minutes", lang))
    return _layout(fig, t("kpi.stages", lang))


def _clock_axis(fig: go.Figure, horizon_s: float, start: str, lang: str) -> None:
    step_h = max(1, math.ceil(horizon_s / 3600 / 12))
    ticks = np.arange(0, horizon_s / 3600 + 1e-9, step_h)
    fig.update_xaxes(
        title=t("kpi.clock", lang),
        tickvals=ticks,
        ticktext=[clock_label(h * 3600, start, lang) for h in ticks],
    )


def occupancy_figure(occ: pd.DataFrame, start: str, lang: str) -> go.Figure:
    """Units in each state over the run (stacked areas; x in hours from the start, labelled by clock)."""
    fig = go.Figure()
    x = occ.index.to_numpy() / 3600
    for state, colour in zip(STATES, STATE_COLOURS, strict=False):
        if state in occ and occ[state].max() > 0:
            fig.add_scatter(
                x=x, y=occ[state], stackgroup="one", name=t(f"state.{state}", lang), line={"width": 0.5, "color": colour},
                line_shape="hv",
            )  # fmt: skip
    _clock_axis(fig, float(occ.index.max() + 1) if len(occ) else 3600.0, start, lang)
    fig.update_yaxes(title=t("kpi.units_axis", lang))
    return _layout(fig, t("kpi.occupancy", lang))


def utilisation_figure(util: pd.DataFrame, start: str, lang: str) -> go.Figure:
    """Utilisation and saturation index per time bin."""
    fig = go.Figure()
    x = util.index.to_numpy() / 3600
    fig.add_scatter(
        x=x, y=util["utilisation"], name=t("kpi.util_line", lang), line_shape="hv", line_color="#2980b9"
    )
    fig.add_scatter(
        x=x, y=util["saturation_index"], name=t("kpi.sat_line", lang), line_shape="hv", line_color="#c0392b"
    )
    _clock_axis(fig, float(util.index.max() + 1) if len(util) else 3600.0, start, lang)
    fig.update_yaxes(title=t("kpi.share", lang), tickformat=".0%", rangemode="tozero")
    return _layout(fig, t("kpi.utilisation", lang))


def queue_figure(queue: pd.DataFrame, start: str, lang: str) -> go.Figure:
    """Mean number of calls waiting for a call-taker and for a unit per time bin."""
    fig = go.Figure()
    x = queue.index.to_numpy() / 3600
    fig.add_scatter(
        x=x, y=queue["for_taker"], name=t("kpi.q_taker", lang), line_shape="hv", line_color="#8e44ad"
    )
    fig.add_scatter(
        x=x, y=queue["for_unit"], name=t("kpi.q_unit", lang), line_shape="hv", line_color="#e67e22"
    )
    _clock_axis(fig, float(queue.index.max() + 1) if len(queue) else 3600.0, start, lang)
    fig.update_yaxes(title=t("kpi.waiting", lang), rangemode="tozero")
    return _layout(fig, t("kpi.queues", lang))


def _circle(lon: float, lat: float, radius_m: float, n: int = 40) -> tuple[list[float], list[float]]:
    ang = np.linspace(0, 2 * np.pi, n + 1)
    dlat = radius_m / 111_320.0
    dlon = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
    return (lon + dlon * np.cos(ang)).tolist(), (lat + dlat * np.sin(ang)).tolist()


def hotspot_trace(spots: list[tuple[float, float, float]], lang: str) -> go.Scattermap:
    """Hotspot circles (radius in metres) as one line trace."""
    lons: list[float | None] = []
    lats: list[float | None] = []
    for lon, lat, r in spots:
        x, y = _circle(lon, lat, r)
        lons += [*x, None]
        lats += [*y, None]
    return go.Scattermap(
        lon=lons, lat=lats, mode="lines", line={"color": "#e74c3c", "width": 2}, name=t("layer.hotspots", lang),
        hoverinfo="skip", showlegend=True,
    )  # fmt: skip


def point_trace(points: list[tuple[str, float, float]], name: str, colour: str, size: int) -> go.Scattermap:
    """Named points (stations, posts) as circle markers with hover names (no map text: needs glyphs)."""
    return go.Scattermap(
        lon=[p[1] for p in points], lat=[p[2] for p in points], mode="markers", name=name,
        marker={"size": size, "color": colour, "opacity": 0.9}, hovertext=[p[0] for p in points], hoverinfo="text",
    )  # fmt: skip


def zoom_for(box: tuple[float, float, float, float], width_px: int = 900, height_px: int = 600) -> float:
    """A map zoom level that fits the bounding box into ``width_px`` x ``height_px``."""
    lon0, lat0, lon1, lat1 = box
    span_lon = max(lon1 - lon0, 1e-4)
    span_lat = max(lat1 - lat0, 1e-4) / max(math.cos(math.radians((lat0 + lat1) / 2)), 1e-6)
    zoom = min(math.log2(360 * width_px / (512 * span_lon)), math.log2(360 * height_px / (512 * span_lat)))
    return round(max(min(zoom, 18.0), 1.0), 2)


def map_figure(
    box: tuple[float, float, float, float],
    traces: list[tuple[str, go.Scattermap]],
    map_layers: list[tuple[str, dict]],
    *,
    meta: dict,
    height: int = 620,
) -> go.Figure:
    """The replay map: a blank, transparent style (no tile server; the streets are drawn under it by
    assets/replay.js), static GeoJSON line layers (districts: drawn once by the map library) and traces;
    each trace and map layer is tagged with its layer key (trace ``meta``, ``layout.meta.map_layers``) so
    the browser can switch layers on and off."""
    fig = go.Figure()
    for key, trace in traces:
        trace.meta = key
        fig.add_trace(trace)
    lon0, lat0, lon1, lat1 = box
    fig.update_layout(
        map={
            "style": BLANK_STYLE,
            "center": {"lon": (lon0 + lon1) / 2, "lat": (lat0 + lat1) / 2},
            "zoom": zoom_for(box),
            "layers": [layer for _, layer in map_layers],
        },
        meta={**meta, "map_layers": [key for key, _ in map_layers]},
        height=height,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        font=_FONT,
        uirevision="map",
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"},
        showlegend=True,
    )
    return fig
