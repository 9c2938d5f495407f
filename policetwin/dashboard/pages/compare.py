"""Compare page: two or more runs (or sets of replications) side by side — KPI deltas and scenario
differences as ``policetwin compare`` computes them — and two replays scrubbed in lockstep."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from policetwin.dashboard.app import current
from policetwin.dashboard.compare import Side, compare_sides, format_cell, format_change, kpi_label
from policetwin.dashboard.i18n import normalise_lang, t
from policetwin.dashboard.pages import (
    PageSpec,
    dropdown_labels,
    error_box,
    frame,
    href,
    register_page_spec,
    run_options,
)
from policetwin.dashboard.pages.replay import register_replay_callbacks, replay_panel
from policetwin.dashboard.rundata import RunDirError
from policetwin.errors import PoliceTwinError


def _sides(values: list[str]) -> list[Side]:
    """Sides from dropdown values: run keys or ``set:NAME``."""
    found = current().discovery()
    sides = []
    for v in values:
        if v.startswith("set:") and v[4:] in found.sets:
            members = found.sets[v[4:]]
            sides.append(Side(v[4:], tuple(m.path for m in members)))
        elif (ref := found.by_key(v)) is not None:
            sides.append(Side(f"{ref.set_label}/{ref.label}" if ref.set_label else ref.label, (ref.path,)))
    return sides


def _first_key(value: str) -> str | None:
    found = current().discovery()
    if value.startswith("set:") and value[4:] in found.sets:
        return found.sets[value[4:]][0].key
    return value if found.by_key(value) else None


def content(values: list[str], lang: str) -> list:
    """The comparison table, scenario differences, notes and lockstep replays."""
    sides = _sides(values)
    if len(sides) < 2:
        return [error_box(t("err.compare_two", lang), id="cmp-error")]
    try:
        view = compare_sides(sides)
    except PoliceTwinError as exc:
        return [error_box(t("err.compare", lang, detail=str(exc)), id="cmp-error")]
    head = [
        t("cmp.kpi", lang),
        *view.labels,
        *(t("cmp.delta", lang, label=label) for label in view.labels[1:]),
    ]
    body = []
    for r in view.rows:
        cells = [format_cell(m, h, r.unit, lang) for m, h, _ in r.cells]
        cells += [format_change(d, p, r.unit, lang) for d, p in r.deltas]
        body.append(html.Tr([html.Td(kpi_label(r, lang)), *(html.Td(c) for c in cells)],
                            className="pt-bold" if r.key.startswith("overall.") else None))  # fmt: skip
    parts: list = [
        html.Div(t("cmp.baseline", lang, label=view.labels[0]), className="pt-note"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], className="pt-table",
                   id="cmp-table"),
    ]  # fmt: skip
    if view.replicated:
        parts.append(html.Div(t("cmp.ci", lang), className="pt-note", id="cmp-ci"))
    parts.append(html.H3(t("cmp.diff", lang)))
    if view.scenario_diff:
        parts.append(html.Ul([html.Li(html.Code(line)) for line in view.scenario_diff[:60]], id="cmp-diff"))
    else:
        parts.append(html.Div(t("cmp.no_diff", lang), className="pt-note", id="cmp-diff"))
    if view.notes:
        parts += [html.H4(t("cmp.notes", lang)), html.Ul([html.Li(n) for n in view.notes])]
    keys = [k for k in (_first_key(v) for v in values[:2]) if k]
    if len(keys) == 2:
        try:
            parts += [html.H3(t("cmp.replays", lang)), replay_panel("cmp", keys, lang, height=460)]
        except RunDirError as exc:
            parts.append(error_box(exc.message(lang)))
    return parts


def layout(
    lang: str | None = None, runs: str | None = None, run: str | None = None, **_query: object
) -> html.Div:
    """The Compare page for ``runs`` (comma-separated run keys or ``set:NAME``; default: the two newest)."""
    state = current()
    lang = normalise_lang(lang or state.lang)
    found = state.scan()
    options = run_options(lang, include_sets=True)
    valid = {o["value"] for o in options}
    chosen = [v for v in (runs or "").split(",") if v in valid]
    if not chosen:
        chosen = [r.key for r in found.runs[:2]]
        if run in valid and run not in chosen:
            chosen = [run, *chosen[:1]]
    picker = html.Div(
        [html.Label(t("common.runs", lang), htmlFor="cmp-runs"),
         dcc.Dropdown(labels=dropdown_labels(lang), id="cmp-runs", options=options, value=chosen, multi=True),
         dcc.Store(id="cmp-shown", data=",".join(chosen))],
        className="pt-picker",
    )  # fmt: skip
    if not found.runs:
        body = [html.Div(t("common.no_runs", lang), className="pt-note")]
    else:
        body = content(chosen, lang)
    return frame(
        "compare",
        lang,
        [html.H2(t("cmp.title", lang)), picker, *body],
        run=run or (chosen[0] if chosen else None),
    )


def _choose_runs(values: list[str], lang: str, shown: str | None):
    wanted = ",".join(values or [])
    if shown == wanted:
        return dash.no_update
    return href("/compare", lang, runs=wanted)


def register_callbacks() -> None:
    """Register this page's callbacks with ``dash.callback`` (done by ``create_app`` for each new app)."""
    register_replay_callbacks("cmp")
    dash.callback(
        Output("pt-nav", "href", allow_duplicate=True),
        Input("cmp-runs", "value"),
        State("pt-lang", "data"),
        State("cmp-shown", "data"),
        prevent_initial_call=True,
    )(_choose_runs)


register_page_spec(
    PageSpec("compare", "/compare", "nav.compare", 40, __name__, layout, callbacks=register_callbacks)
)
