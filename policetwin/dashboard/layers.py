"""The replay map's layers, in a registry later features extend (large events: rings, gates, crowd
density) with :func:`register_layer` — without touching the page or the figure code.

A layer contributes static plotly traces and/or map (GeoJSON) layers. Layers drawn by assets/replay.js on
its own canvases (``dynamic=True``: the street network under the map, units and incidents over it, at time
t) have neither; the browser finds traces and map layers by their layer key (trace ``meta`` /
``layout.meta.map_layers``) to switch them on and off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import plotly.graph_objects as go

from policetwin.dashboard import figures, replay_map
from policetwin.dashboard.i18n import t
from policetwin.dashboard.rundata import RunData

_DISTRICT_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip


@dataclass(frozen=True)
class LayerContext:
    """What a layer builder gets: the run, its key (for URLs), the language and the URL prefix."""

    run: RunData
    run_key: str
    lang: str
    url_prefix: str = "/_pt"


@dataclass(frozen=True)
class ReplayLayer:
    """A switchable replay layer: its key, catalogue label key, whether it starts visible, and builders."""

    key: str
    label_key: str
    default_on: bool = True
    order: int = 100
    traces: Callable[[LayerContext], list[go.Scattermap]] = field(default=lambda ctx: [])
    map_layers: Callable[[LayerContext], list[dict]] = field(default=lambda ctx: [])
    available: Callable[[RunData], bool] = field(default=lambda run: True)
    dynamic: bool = False


_LAYERS: dict[str, ReplayLayer] = {}


def register_layer(layer: ReplayLayer) -> None:
    """Add (or replace) a replay layer."""
    _LAYERS[layer.key] = layer


def layers() -> list[ReplayLayer]:
    """The registered layers in drawing order (lower ``order`` below)."""
    return sorted(_LAYERS.values(), key=lambda layer: (layer.order, layer.key))


def geo_url(ctx: LayerContext, name: str) -> str:
    """URL of a GeoJSON file the server makes for this run (see app.py)."""
    return f"{ctx.url_prefix}/geo/{ctx.run_key}/{name}.geojson"


def _line_layer(url: str, colour: str, width: float, opacity: float = 1.0) -> dict:
    return {
        "sourcetype": "geojson", "source": url, "type": "line", "color": colour, "line": {"width": width},
        "opacity": opacity, "below": "traces",
    }  # fmt: skip


def _districts(ctx: LayerContext) -> list[dict]:
    names = list(replay_map.district_segments(ctx.run))
    return [
        _line_layer(geo_url(ctx, f"district-{i}"), _DISTRICT_COLOURS[i % len(_DISTRICT_COLOURS)], 1.6, 0.55)
        for i, _ in enumerate(names)
    ]


def _has_roads(run: RunData) -> bool:
    return run.has("roads.parquet") and run.has("nodes.parquet")


register_layer(ReplayLayer("roads", "layer.roads", True, 10, dynamic=True, available=_has_roads))
register_layer(
    ReplayLayer("districts", "layer.districts", False, 20, map_layers=_districts, available=_has_roads)
)
register_layer(
    ReplayLayer(
        "hotspots", "layer.hotspots", True, 30,
        traces=lambda ctx: [figures.hotspot_trace(replay_map.hotspots(ctx.run), ctx.lang)],
        available=lambda run: bool(replay_map.hotspots(run)),
    )
)  # fmt: skip
register_layer(
    ReplayLayer(
        "stations", "layer.stations", True, 40,
        traces=lambda ctx: [figures.point_trace(replay_map.stations(ctx.run), t("layer.stations", ctx.lang), "#1a237e", 14)],
        available=lambda run: bool(replay_map.stations(run)),
    )
)  # fmt: skip
register_layer(
    ReplayLayer(
        "posts", "layer.posts", True, 50,
        traces=lambda ctx: [figures.point_trace(replay_map.posts(ctx.run), t("layer.posts", ctx.lang), "#00897b", 10)],
        available=lambda run: bool(replay_map.posts(run)),
    )
)  # fmt: skip
register_layer(
    ReplayLayer(
        "incidents", "layer.incidents", True, 60, dynamic=True,
        available=lambda run: run.has("incidents.parquet"),
    )
)  # fmt: skip
register_layer(
    ReplayLayer(
        "units", "layer.units", True, 70, dynamic=True,
        available=lambda run: run.has("units.parquet") or run.has("trips.parquet"),
    )
)  # fmt: skip


def build_map(
    ctx: LayerContext, *, meta: dict | None = None, height: int = 620
) -> tuple[go.Figure, list[str]]:
    """The replay figure of a run and the keys of the layers it has."""
    traces: list[tuple[str, go.Scattermap]] = []
    map_layers: list[tuple[str, dict]] = []
    present = []
    for layer in layers():
        if not layer.available(ctx.run):
            continue
        present.append(layer.key)
        for trace in layer.traces(ctx):
            trace.visible = True if layer.default_on else "legendonly"
            traces.append((layer.key, trace))
        for item in layer.map_layers(ctx):
            map_layers.append((layer.key, {**item, "visible": layer.default_on}))
    fig = figures.map_figure(replay_map.bbox(ctx.run), traces, map_layers, meta=meta or {}, height=height)
    return fig, present


# the large-event layers (venue, rings, walk links by level of service, gates, crowd incidents) register
# themselves; imported last, as they use this module's registry
from policetwin.dashboard import event_replay  # noqa: E402, F401
