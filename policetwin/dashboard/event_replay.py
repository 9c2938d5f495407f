"""The event on the replay map: venue and rings (static plotly traces), and — drawn by
assets/replay_event.js on the replay's overlay canvas at time t — walk links coloured by level of
service, gates sized by their queue, and crowd incidents while they are open.

:func:`payload` is what the page sends for the browser (once, with the page): walk links anyone used
(integer coordinates, ~1 m, as differences from the previous point), per link one character per time bin
(``' '`` nobody, ``A``-``F`` Fruin's level), per gate its queue, lanes open and p95 wait per bin, and the
crowd incidents. Runs with more than :data:`~policetwin.dashboard.event_data.MAX_REPLAY_BINS` bins merge
bins (the worst level, the longest queue).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from dash import html

from policetwin.dashboard import event_data as ed
from policetwin.dashboard.i18n import t
from policetwin.dashboard.layers import LayerContext, ReplayLayer, register_layer
from policetwin.dashboard.rundata import RunData

VENUE_COLOUR = "#6a1b9a"
RING_COLOURS = ("#37474f", "#546e7a", "#78909c")
GATE_COLOUR = "#1565c0"
CROWD_INCIDENT_COLOUR = "#ad1457"
#: The keys of the event layers drawn in the browser (assets/replay_event.js).
DYNAMIC_KEYS = ("event_links", "event_gates", "event_incidents")


def venue_trace(venue: list, lang: str) -> go.Scattermap:
    """The venue's outline, filled."""
    return go.Scattermap(
        lon=[p[0] for p in venue], lat=[p[1] for p in venue], mode="lines", fill="toself",
        fillcolor="rgba(106,27,154,0.12)", line={"color": VENUE_COLOUR, "width": 2}, name=t("layer.event_venue", lang),
        hovertext=t("layer.event_venue", lang), hoverinfo="text",
    )  # fmt: skip


def ring_traces(rings: list[dict], lang: str) -> list[go.Scattermap]:
    """Each ring's outline (dashed), named in the hover."""
    out = []
    for i, ring in enumerate(rings):
        pts = ring.get("outline") or []
        out.append(go.Scattermap(
            lon=[p[0] for p in pts], lat=[p[1] for p in pts], mode="lines",
            line={"color": RING_COLOURS[i % len(RING_COLOURS)], "width": 2},
            name=t("layer.event_rings", lang), legendgroup="rings", showlegend=i == 0,
            hovertext=t("ev.ring_name", lang, name=ring.get("name", "")), hoverinfo="text",
        ))  # fmt: skip
    return out


def _merge(codes: np.ndarray, factor: int, how: str) -> np.ndarray:
    """Merge ``factor`` consecutive bins (columns) into one: the max (worst level, longest queue)."""
    if factor <= 1:
        return codes
    n = codes.shape[1]
    pad = (-n) % factor
    fill = -1 if how == "max" else 0
    padded = np.pad(codes, ((0, 0), (0, pad)), constant_values=fill)
    return padded.reshape(codes.shape[0], -1, factor).max(axis=2)


def payload(run: RunData) -> dict:
    """The event data for the browser (see the module docstring); cached with the run."""

    def load() -> dict:
        crowd = ed.crowd(run)
        gates = ed.gates(run)
        t0, bin_s, n_bins = ed.bin_grid(crowd if len(crowd) else gates)
        factor = max(1, math.ceil(n_bins / ed.MAX_REPLAY_BINS))
        out: dict = {"t0": t0, "bin_s": bin_s * factor, "n_bins": math.ceil(n_bins / factor),
                     "los_colours": list(ed.LOS_COLOURS), "levels": list(ed.LOS_LEVELS),
                     "gate_colour": GATE_COLOUR, "incident_colour": CROWD_INCIDENT_COLOUR}  # fmt: skip
        out["links"] = _links(run, crowd, t0, bin_s, n_bins, factor)
        out["gates"] = _gates(run, gates, t0, bin_s, n_bins, factor)
        inc = ed.crowd_incidents(run)
        clear = inc["t_clear"].to_numpy(float) if len(inc) else np.zeros(0)
        out["incidents"] = {
            "id": inc["incident_id"].astype(np.int64).tolist() if len(inc) else [],
            "lon": np.round(inc["lon"].to_numpy(float), 6).tolist() if len(inc) else [],
            "lat": np.round(inc["lat"].to_numpy(float), 6).tolist() if len(inc) else [],
            "tc": np.round(inc["t_call"].to_numpy(float), 1).tolist() if len(inc) else [],
            "tx": np.round(np.where(np.isfinite(clear), clear, 1e12), 1).tolist(),
            "kind": [str(k) for k in inc["kind"]] if len(inc) else [],
        }
        return out

    return run.memo("event_payload", load)


def _links(run: RunData, crowd, t0: float, bin_s: float, n_bins: int, factor: int) -> dict:
    geo = ed.walk_links(run)
    if geo is None or not len(crowd):
        return {"scale": ed.COORD_SCALE, "d": [], "los": []}
    edges = np.unique(crowd["edge"].to_numpy())
    edges = edges[np.isin(edges, geo.index.to_numpy())]
    row = np.searchsorted(edges, crowd["edge"].to_numpy())
    ok = (row < edges.size) & (edges[np.minimum(row, edges.size - 1)] == crowd["edge"].to_numpy())
    col = np.clip(((crowd["t_start_s"].to_numpy(float) - t0) / bin_s).round().astype(int), 0, n_bins - 1)
    codes = np.full((edges.size, n_bins), -1, dtype=np.int8)
    lvl = ed.los_codes(crowd["los"])
    codes[row[ok], col[ok]] = lvl[ok]
    codes = _merge(codes, factor, "max")
    chars = np.array([" ", *ed.LOS_LEVELS])
    los = ["".join(chars[r + 1]) for r in codes]
    g = geo.loc[edges]
    pts = np.column_stack([g.lon_u, g.lat_u, g.lon_v, g.lat_v]).reshape(-1, 2)
    ints = np.round(pts / ed.COORD_SCALE).astype(np.int64)
    d = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
    return {"scale": ed.COORD_SCALE, "d": d.ravel().tolist(), "los": los}


def _gates(run: RunData, gates, t0: float, bin_s: float, n_bins: int, factor: int) -> dict:
    places = {g["name"]: g for g in ed.geometry(run)["gates"]}
    names = [str(n) for n in dict.fromkeys(gates["gate"].astype(str)) if str(n) in places]
    out: dict = {"name": names, "lon": [places[n]["lon"] for n in names], "lat": [places[n]["lat"] for n in names],
                 "q": [], "lanes": [], "wait": []}  # fmt: skip
    for name in names:
        rows = gates[gates["gate"].astype(str) == name]
        col = np.clip(((rows["t_start_s"].to_numpy(float) - t0) / bin_s).round().astype(int), 0, n_bins - 1)
        q, lanes, wait = np.zeros(n_bins, np.int64), np.zeros(n_bins, np.int64), np.full(n_bins, -1.0)
        q[col] = rows["queue_max" if "queue_max" in rows else "queue"].to_numpy()
        lanes[col] = rows["lanes_open"].to_numpy()
        wait[col] = np.nan_to_num(rows["wait_p95_s"].to_numpy(float), nan=-1.0)
        out["q"].append(_merge(q[None, :], factor, "max")[0].tolist())
        out["lanes"].append(lanes[::factor].tolist())
        out["wait"].append(np.round(_merge(wait[None, :], factor, "max")[0], 1).tolist())
    return out


def labels(lang: str) -> dict:
    """Hover texts of the browser-drawn event layers."""
    return {"gate": t("ev.hover_gate", lang), "incident": t("ev.hover_incident", lang)}


def legend(lang: str) -> html.Div:
    """Colour key of the event layers: levels of service A-F, gates, crowd incidents."""

    def swatch(colour: str, label: str) -> html.Span:
        return html.Span(
            [html.Span(className="pt-dot", style={"background": colour}), label], className="pt-key"
        )

    return html.Div(
        [html.Span(t("ev.legend_los", lang) + ":", className="pt-label"),
         *[swatch(c, t("ev.los", lang, level=level)) for level, c in zip(ed.LOS_LEVELS, ed.LOS_COLOURS, strict=True)],
         html.Span(t("layer.event_gates", lang) + ":", className="pt-label"),
         swatch(GATE_COLOUR, t("ev.legend_gate", lang)),
         swatch(CROWD_INCIDENT_COLOUR, t("layer.event_incidents", lang))],
        className="pt-legend", id="replay-event-legend",
    )  # fmt: skip


def _geo(run: RunData) -> dict:
    return ed.geometry(run) if ed.has_event(run) else {"venue": [], "rings": [], "gates": []}


register_layer(ReplayLayer(
    "event_links", "layer.event_links", True, 15, dynamic=True,
    available=lambda run: ed.has_event(run) and run.has("walk_links.parquet"),
))  # fmt: skip
register_layer(ReplayLayer(
    "event_venue", "layer.event_venue", True, 24,
    traces=lambda ctx: [venue_trace(_geo(ctx.run)["venue"], ctx.lang)],
    available=lambda run: bool(_geo(run)["venue"]),
))  # fmt: skip
register_layer(ReplayLayer(
    "event_rings", "layer.event_rings", True, 25,
    traces=lambda ctx: ring_traces(_geo(ctx.run)["rings"], ctx.lang),
    available=lambda run: bool(_geo(run)["rings"]),
))  # fmt: skip
register_layer(ReplayLayer(
    "event_incidents", "layer.event_incidents", True, 65, dynamic=True,
    available=lambda run: ed.has_event(run) and run.has("incidents.parquet"),
))  # fmt: skip
register_layer(ReplayLayer(
    "event_gates", "layer.event_gates", True, 66, dynamic=True,
    available=lambda run: bool(_geo(run)["gates"]),
))  # fmt: skip


def layer_context_payload(ctx: LayerContext) -> dict | None:
    """The browser payload of a run with an event (None without one)."""
    return payload(ctx.run) if ed.has_event(ctx.run) else None
