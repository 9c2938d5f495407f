"""Replay page: the map at time t (units by state, open incidents by priority, switchable layers), a
time slider and play/pause animated in the browser, and an incident's timeline on click."""

from __future__ import annotations

import math

import dash
import pandas as pd
from dash import ClientsideFunction, Input, Output, State, dcc, html

from policetwin.dashboard import event_replay, replay, replay_map
from policetwin.dashboard import layers as layer_registry
from policetwin.dashboard.app import URL_PREFIX, current
from policetwin.dashboard.i18n import clock_label, fmt_duration, normalise_lang, start_offset_s, t
from policetwin.dashboard.pages import (
    PageSpec,
    chosen_run,
    dropdown_labels,
    error_box,
    frame,
    no_runs_layout,
    register_page_spec,
    register_run_picker,
    run_picker,
)
from policetwin.dashboard.rundata import RunData, RunDirError

SPEEDS_MIN_PER_S = (1, 5, 10, 30, 60)
_STAGES = ("occur", "call", "answer", "ready", "decided", "dispatch", "enroute", "arrive", "clear")


def replay_panel(
    prefix: str, keys: list[str], lang: str, *, height: int = 620, t0_s: float = 0.0
) -> html.Div:
    """Map(s) of the runs ``keys`` driven by one time slider and play button (lockstep when several).
    RunDirError if a run cannot be read."""
    runs = [current().run_data(k) for k in keys]
    horizon = max(r.duration_s for r in runs) or 3600.0
    t_max = math.ceil(horizon / 60.0) * 60.0
    start = runs[0].start
    graphs, maps, present = [], [], []
    for i, (key, run) in enumerate(zip(keys, runs, strict=True)):
        ctx = layer_registry.LayerContext(run, key, lang, URL_PREFIX)
        fig, keys_present = layer_registry.build_map(ctx, meta={"run": key}, height=height)
        present += [k for k in keys_present if k not in present]
        gid = f"{prefix}-map-{i}"
        view = fig.layout.map
        # the street network and the first chunk come with the page: replay.js draws them at once, before
        # plotly (4.8 MB of script) has loaded; later chunks are fetched from /_pt/replay/<run>/<i>.json
        first = min(int(t0_s // replay.CHUNK_S), math.ceil(t_max / replay.CHUNK_S))
        graphs.append({
            "id": gid, "base": f"{URL_PREFIX}/replay/{key}",
            "roads": replay_map.road_lines(run) if "roads" in keys_present else None,
            "first": {"i": first, "data": replay.chunk(run, first)},
            "view": [view.center.lon, view.center.lat, view.zoom],
            "event": event_replay.layer_context_payload(ctx),
        })  # fmt: skip
        graph = dcc.Graph(
            id=gid, figure=fig, config={"scrollZoom": True, "displaylogo": False}, className="pt-map"
        )
        # the box holds the map and replay.js's canvases (streets, units, incidents): they are drawn in the
        # map's initial view before the map library has loaded, then follow the map
        box = html.Div(graph, id=f"{gid}-box", className="pt-map-box", style={"height": f"{height}px"})
        maps.append(html.Div([box, html.Div(id=f"{gid}-hover", className="pt-hover")]))
    step_h = max(1, math.ceil(t_max / 3600 / 8))
    marks = {
        int(h * 3600): clock_label(h * 3600, start, lang) for h in range(0, int(t_max // 3600) + 1, step_h)
    }
    offset, _ = start_offset_s(start)
    cfg = {
        "graphs": graphs,
        "chunk_s": replay.CHUNK_S,
        "n_chunks": math.ceil(t_max / replay.CHUNK_S) + 1,
        "t_max": t_max,
        "offset_s": offset,
        "days": [t(f"day.{d}", lang) for d in range(7)],
        "state_labels": [t(f"state.{s}", lang) for s in replay.STATES] + ["?"],
        "state_colours": list(replay.STATE_COLOURS),
        "prio_colours": {str(p): c for p, c in replay.PRIORITY_COLOURS.items()},
        "other_colour": replay.OTHER_PRIORITY_COLOUR,
        "play": t("replay.play", lang),
        "pause": t("replay.pause", lang),
        "unit": t("replay.unit", lang),
        "incident": t("replay.incident", lang),
        "dynamic": [layer.key for layer in layer_registry.layers() if layer.dynamic and layer.key in present],
        "event_labels": event_replay.labels(lang),
    }
    options = [
        {"label": t(layer.label_key, lang), "value": layer.key}
        for layer in layer_registry.layers()
        if layer.key in present
    ]
    on = [layer.key for layer in layer_registry.layers() if layer.key in present and layer.default_on]
    controls = html.Div(
        [
            html.Button(t("replay.play", lang), id=f"{prefix}-play", n_clicks=0, className="pt-button"),
            html.Span(t("replay.speed", lang) + ":", className="pt-label"),
            dcc.Dropdown(
                labels=dropdown_labels(lang),
                id=f"{prefix}-speed",
                value=10,
                clearable=False,
                searchable=False,
                className="pt-speed",
                options=[{"label": t("replay.speed_x", lang, x=x), "value": x} for x in SPEEDS_MIN_PER_S],
            ),
            html.Span(clock_label(t0_s, start, lang), id=f"{prefix}-clock", className="pt-clock"),
        ],
        className="pt-controls",
    )
    slider = dcc.Slider(
        id=f"{prefix}-t", min=0, max=t_max, step=60, value=min(t0_s, t_max), marks=marks, updatemode="drag",
        allow_direct_input=False, className="pt-slider",
    )  # fmt: skip
    layers_box = html.Div(
        [html.Span(t("replay.layers", lang) + ":", className="pt-label"),
         dcc.Checklist(id=f"{prefix}-layers", options=options, value=on, inline=True, className="pt-layers")],
        className="pt-layer-box",
    )  # fmt: skip
    return html.Div(
        [
            dcc.Store(id=f"{prefix}-cfg", data=cfg),
            dcc.Store(id=f"{prefix}-click"),
            dcc.Interval(id=f"{prefix}-tick", interval=50, disabled=True),
            controls,
            slider,
            layers_box,
            html.Div(maps, className=f"pt-maps pt-maps-{len(maps)}"),
            legend(lang),
            *([event_replay.legend(lang)] if "event_gates" in present or "event_links" in present else []),
        ],
        className="pt-replay",
    )


def legend(lang: str) -> html.Div:
    """Colour keys of unit states and incident priorities."""

    def swatch(colour: str, label: str) -> html.Span:
        return html.Span(
            [html.Span(className="pt-dot", style={"background": colour}), label], className="pt-key"
        )

    states = [
        swatch(c, t(f"state.{s}", lang)) for s, c in zip(replay.STATES, replay.STATE_COLOURS, strict=False)
    ]
    prios = [swatch(c, t("kpi.priority", lang, p=p)) for p, c in replay.PRIORITY_COLOURS.items()]
    return html.Div(
        [
            html.Span(t("layer.units", lang) + ":", className="pt-label"),
            *states,
            html.Span(t("layer.incidents", lang) + ":", className="pt-label"),
            *prios,
        ],
        className="pt-legend",
    )


def register_replay_callbacks(prefix: str) -> None:
    """The browser-side callbacks of a replay panel: draw at t, play/pause, tick, layer switches."""
    dash.clientside_callback(
        ClientsideFunction("policetwin", "draw"),
        Output(f"{prefix}-clock", "children"),
        Input(f"{prefix}-t", "value"),
        Input(f"{prefix}-cfg", "data"),
    )
    dash.clientside_callback(
        ClientsideFunction("policetwin", "toggle"),
        Output(f"{prefix}-tick", "disabled"),
        Output(f"{prefix}-play", "children"),
        Input(f"{prefix}-play", "n_clicks"),
        State(f"{prefix}-tick", "disabled"),
        State(f"{prefix}-cfg", "data"),
        prevent_initial_call=True,
    )
    dash.clientside_callback(
        ClientsideFunction("policetwin", "tick"),
        Output(f"{prefix}-t", "value"),
        Input(f"{prefix}-tick", "n_intervals"),
        State(f"{prefix}-t", "value"),
        State(f"{prefix}-speed", "value"),
        State(f"{prefix}-cfg", "data"),
        prevent_initial_call=True,
    )
    dash.clientside_callback(
        ClientsideFunction("policetwin", "layers"),
        Output(f"{prefix}-layers", "className"),
        Input(f"{prefix}-layers", "value"),
        State(f"{prefix}-cfg", "data"),
        prevent_initial_call=True,
    )


def timeline(run: RunData, incident_id: int, lang: str) -> html.Div:
    """An incident's timeline: call -> answer -> dispatch -> arrive -> clear, and the units sent."""
    rows = run.filtered("incidents.parquet", "incident_id", int(incident_id))
    if rows.empty:
        return html.Div(t("tl.not_found", lang, id=incident_id), className="pt-note")
    inc = rows.iloc[0]
    start = run.start
    t_call = inc.get("t_call")
    body = []
    for stage in _STAGES:
        value = inc.get(f"t_{stage}")
        if value is None or pd.isna(value):
            continue
        if stage == "decided" and value == inc.get("t_ready"):
            continue  # flat command: the dispatcher stage coincides with triage
        since = fmt_duration(float(value - t_call), lang) if pd.notna(t_call) else "-"
        body.append(html.Tr([html.Td(t(f"tl.{stage}", lang)), html.Td(clock_label(float(value), start, lang)),
                             html.Td(since)]))  # fmt: skip
    outcome = str(inc.get("outcome", "served"))
    outcome_text = t(f"outcome.{outcome}", lang) if f"outcome.{outcome}" in _OUTCOMES else outcome
    parts: list = [
        html.H4(t("tl.title", lang, id=int(incident_id), kind=str(inc.get("kind", "")), priority=int(inc["priority"]))),
        html.Div(t("tl.district", lang, district=str(inc.get("district", "")) or "-", outcome=outcome_text)),
        html.Table(
            [html.Thead(html.Tr([html.Th(t("tl.stage", lang)), html.Th(t("tl.clock", lang)),
                                 html.Th(t("tl.since_call", lang))])), html.Tbody(body)],
            className="pt-table",
        ),
    ]  # fmt: skip
    if run.has("assignments.parquet"):
        sent = run.filtered("assignments.parquet", "incident_id", int(incident_id))
        if not sent.empty:
            trs = []
            for _, a in sent.iterrows():
                result = str(a.get("result", ""))
                trs.append(html.Tr([
                    html.Td(str(a["unit_id"])), html.Td(clock_label(float(a["t_assigned"]), start, lang)),
                    html.Td(clock_label(float(a["t_arrive"]), start, lang)),
                    html.Td(clock_label(float(a["t_released"]), start, lang)),
                    html.Td(t(f"result.{result}", lang) if f"result.{result}" in _RESULTS else result),
                ]))  # fmt: skip
            head = [t(k, lang) for k in ("tl.unit", "tl.assigned", "tl.arrived", "tl.released", "tl.result")]
            parts += [
                html.H5(t("tl.units", lang)),
                html.Table(
                    [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(trs)], className="pt-table"
                ),
            ]
        else:
            parts.append(html.Div(t("tl.none", lang, outcome=outcome_text)))
    return html.Div(parts, id="replay-timeline-body")


_OUTCOMES = {"outcome.served", "outcome.phone", "outcome.duplicate", "outcome.abandoned"}
_RESULTS = {"result.completed", "result.preempted", "result.cancelled", "result.released_on_arrival"}


def layout(lang: str | None = None, run: str | None = None, **_query: object) -> html.Div:
    """The Replay page for run ``run`` (default: the newest)."""
    lang, key = chosen_run(lang, run)
    if key is None:
        return no_runs_layout("replay", "replay.title", lang)
    children: list = [html.H2(t("replay.title", lang)), run_picker("replay", lang, key)]
    try:
        data = current().run_data(key)
        notes = []
        if not (data.has("roads.parquet") and data.has("nodes.parquet")):
            notes.append(html.Div(t("replay.no_roads", lang), className="pt-note", id="replay-no-roads"))
        if replay.approximate(data):
            notes.append(html.Div(t("replay.approx", lang), className="pt-note", id="replay-approx"))
        n_inc = data.parquet_rows("incidents.parquet") if data.has("incidents.parquet") else 0
        if n_inc > replay.MAX_INCIDENTS_PER_CHUNK:
            notes.append(html.Div(t("replay.large", lang, n=f"{n_inc:,}", cap=f"{replay.MAX_INCIDENTS_PER_CHUNK:,}"),
                                  className="pt-note", id="replay-large"))  # fmt: skip
        children += [
            *notes,
            replay_panel("replay", [key], lang),
            html.Div(
                html.Div(t("replay.click", lang), className="pt-note"),
                id="replay-timeline",
                className="pt-timeline",
            ),
        ]
    except RunDirError as exc:
        children.append(error_box(exc.message(lang), id="replay-error"))
    return frame("replay", lang, children, run=key)


def _show_timeline(click: dict | None, key: str, lang: str):
    lang = normalise_lang(lang)
    incident = (click or {}).get("id")
    if not isinstance(incident, int | float) or isinstance(incident, bool):
        return dash.no_update
    try:
        return timeline(current().run_data(key), int(incident), lang)
    except RunDirError as exc:
        return error_box(exc.message(lang))


def register_callbacks() -> None:
    """Register this page's callbacks with ``dash.callback`` (done by ``create_app`` for each new app)."""
    register_replay_callbacks("replay")
    dash.callback(
        Output("replay-timeline", "children"),
        Input("replay-click", "data"),
        State("replay-run", "value"),
        State("pt-lang", "data"),
        prevent_initial_call=True,
    )(_show_timeline)
    register_run_picker("replay", "/replay")


register_page_spec(
    PageSpec("replay", "/replay", "nav.replay", 20, __name__, layout, callbacks=register_callbacks)
)
