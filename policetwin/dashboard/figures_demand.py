"""Demand figures: pure functions from a fit's profile and hotspots and a forecast's cells to plotly
figures, in either language; the maps use an offline style (no tile server). Unit-tested without a browser."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from policetwin.dashboard.figures import _FONT, _layout, zoom_for
from policetwin.dashboard.i18n import t

#: The Demand page's map style: no tiles, a light grey ground (there is no street canvas under it).
GROUND_STYLE = {
    "version": 8,
    "sources": {"none": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [{"id": "background", "type": "background", "paint": {"background-color": "#eef2f5"}}],
}
_M_PER_DEG = 111_320.0


def profile_figure(profile: pd.DataFrame, lang: str) -> go.Figure:
    """Fitted vs observed hour-of-week profile (relative rate, mean 1) with the observed 95% CI band; x
    ticks at each day's midnight."""
    fig = go.Figure()
    hours = profile["hour"].to_numpy()
    if profile["observed"].notna().any():
        fig.add_scatter(x=np.concatenate([hours, hours[::-1]]),
                        y=np.concatenate([profile["upper"].to_numpy(), profile["lower"].to_numpy()[::-1]]),
                        fill="toself", fillcolor="rgba(127,140,141,0.25)", line={"width": 0}, hoverinfo="skip",
                        name=t("dem.ci", lang))  # fmt: skip
        fig.add_scatter(x=hours, y=profile["observed"], mode="lines", name=t("dem.observed", lang),
                        line={"color": "#7f8c8d", "width": 1})  # fmt: skip
    fig.add_scatter(x=hours, y=profile["fitted"], mode="lines", name=t("dem.fitted", lang),
                    line={"color": "#c0392b", "width": 2})  # fmt: skip
    fig.update_xaxes(title=t("dem.hour_axis", lang), tickvals=list(range(0, 168, 24)),
                     ticktext=[t(f"day.{d}", lang) for d in range(7)], range=[0, 167])  # fmt: skip
    fig.update_yaxes(title=t("dem.relative", lang), rangemode="tozero")
    return _layout(fig, t("dem.profile", lang), height=340)


def squares(lon: np.ndarray, lat: np.ndarray, half_m: float) -> dict:
    """GeoJSON squares of ``2 * half_m`` metres around the points (feature ids ``0..n-1``)."""
    features = []
    for i, (x, y) in enumerate(zip(np.asarray(lon, float), np.asarray(lat, float), strict=True)):
        dy = half_m / _M_PER_DEG
        dx = half_m / (_M_PER_DEG * max(math.cos(math.radians(y)), 1e-6))
        ring = [[x - dx, y - dy], [x + dx, y - dy], [x + dx, y + dy], [x - dx, y + dy], [x - dx, y - dy]]
        features.append({"type": "Feature", "id": str(i), "properties": {},
                         "geometry": {"type": "Polygon", "coordinates": [[[round(a, 6), round(b, 6)] for a, b in ring]]}})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _map(fig: go.Figure, lon: np.ndarray, lat: np.ndarray, title: str, height: int) -> go.Figure:
    if len(lon):
        pad = 0.002
        box = (
            float(np.min(lon)) - pad,
            float(np.min(lat)) - pad,
            float(np.max(lon)) + pad,
            float(np.max(lat)) + pad,
        )
    else:
        box = (-0.01, -0.01, 0.01, 0.01)
    fig.update_layout(
        map={"style": GROUND_STYLE, "center": {"lon": (box[0] + box[2]) / 2, "lat": (box[1] + box[3]) / 2},
             "zoom": zoom_for(box, 640, height - 60)},
        title={"text": title, "x": 0.01, "font": {"size": 14}}, height=height,
        margin={"l": 0, "r": 0, "t": 40, "b": 0}, font=_FONT,
    )  # fmt: skip
    return fig


def surface_figure(spots: pd.DataFrame, lang: str, *, height: int = 480) -> go.Figure:
    """The fitted intensity surface: the KDE hotspot blocks of the fit (a block's side is its radius / 0.8)
    coloured by their share of the calls per km²."""
    side_m = spots["radius_m"].to_numpy(float) / 0.8
    per_km2 = spots["weight"].to_numpy(float) / np.maximum(side_m / 1000.0, 1e-9) ** 2
    half = float(np.median(side_m)) / 2 if len(spots) else 100.0
    hover = [t("dem.spot_hover", lang, share=f"{100 * w:.2f}", density=f"{d:.3f}")
             for w, d in zip(spots["weight"], per_km2, strict=True)]  # fmt: skip
    fig = go.Figure(go.Choroplethmap(
        geojson=squares(spots["lon"].to_numpy(), spots["lat"].to_numpy(), half), locations=[str(i) for i in range(len(spots))],
        z=per_km2, colorscale="YlOrRd", marker={"opacity": 0.8, "line": {"width": 0}}, hovertext=hover,
        hoverinfo="text", colorbar={"title": {"text": t("dem.density", lang)}}, name=t("dem.surface", lang),
    ))  # fmt: skip
    return _map(fig, spots["lon"].to_numpy(), spots["lat"].to_numpy(), t("dem.surface", lang), height)


def forecast_figure(
    cells: pd.DataFrame, cell_m: float, title: str, lang: str, *, height: int = 480
) -> go.Figure:
    """A forecast's cells (squares of the forecast grid) coloured by their score; the hover text gives a
    cell's share of the total score."""
    score = cells["score"].to_numpy(float)
    total = max(float(score.sum()), 1e-300)
    hover = [t("dem.cell_hover", lang, share=f"{100 * s / total:.2f}") for s in score]
    fig = go.Figure(go.Choroplethmap(
        geojson=squares(cells["lon"].to_numpy(), cells["lat"].to_numpy(), cell_m / 2),
        locations=[str(i) for i in range(len(cells))], z=score, colorscale="Viridis",
        marker={"opacity": 0.75, "line": {"width": 0}}, hovertext=hover, hoverinfo="text",
        colorbar={"title": {"text": t("dem.score", lang)}}, name=title,
    ))  # fmt: skip
    return _map(fig, cells["lon"].to_numpy(), cells["lat"].to_numpy(), title, height)
