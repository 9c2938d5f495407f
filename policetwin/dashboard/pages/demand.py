"""Demand page: a demand folder (``policetwin demand fit`` output and/or a ``demand predict`` forecast and
its ``demand score`` CSV) — fitted vs observed hour-of-week profile, the fitted intensity surface and a
forecast on an offline map, and the forecast's scores against the baselines."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from policetwin.dashboard.app import current
from policetwin.dashboard.demanddata import DemandRef, find_demand, read_fit, read_forecast_cells, read_scores
from policetwin.dashboard.figures_demand import forecast_figure, profile_figure, surface_figure
from policetwin.dashboard.i18n import normalise_lang, t
from policetwin.dashboard.pages import (
    PageSpec,
    dropdown_labels,
    error_box,
    href,
    picker_page,
    register_page_spec,
)
from policetwin.dashboard.rundata import RunDirError

METHODS = ("kde", "prospective", "hawkes", "last_period", "uniform")


def folders() -> list[DemandRef]:
    """The demand folders of the dashboard's paths."""
    return find_demand(list(current().paths))


def method_label(method: str, lang: str) -> str:
    """A forecast method's name in ``lang`` (unknown methods as they are)."""
    return t(f"dem.m.{method}", lang) if method in METHODS else method


def _fit_part(ref: DemandRef, lang: str) -> list:
    if ref.fit is None:
        return [html.Div(t("dem.no_fit", lang), className="pt-note", id="dem-no-fit")]
    try:
        fit = read_fit(ref.fit)
    except RunDirError as exc:
        return [error_box(exc.message(lang), id="dem-fit-error")]
    summary = t("dem.summary", lang, file=ref.fit.name, rate=f"{fit.rate_per_hour:.3f}", model=fit.model,
                spots=len(fit.spots), bg=f"{fit.background_weight:.3f}")  # fmt: skip
    parts: list = [html.Div(summary, className="pt-note", id="dem-summary"),
                   dcc.Graph(id="dem-profile", figure=profile_figure(fit.profile, lang), config={"displaylogo": False})]  # fmt: skip
    if not fit.has_report:
        parts.append(html.Div(t("dem.no_report", lang), className="pt-note"))
    if len(fit.spots):
        parts.append(
            dcc.Graph(id="dem-surface", figure=surface_figure(fit.spots, lang), config={"displaylogo": False})
        )
    return parts


def forecast_view(
    ref: DemandRef, method: str | None, origin: str | None, lang: str
) -> tuple[object, list, list, str, str]:
    """The forecast figure and the method/origin options and values shown."""
    fc = read_forecast_cells(ref.forecast, method, origin)  # type: ignore[arg-type]
    title = t("dem.forecast", lang, method=method_label(fc.method, lang), origin=fc.origin)
    methods = [{"label": method_label(m, lang), "value": m} for m in fc.methods]
    origins = [{"label": o, "value": o} for o in fc.origins]
    return forecast_figure(fc.cells, fc.cell_m, title, lang), methods, origins, fc.method, fc.origin


def _forecast_part(ref: DemandRef, lang: str) -> list:
    if ref.forecast is None:
        return [html.Div(t("dem.no_forecast", lang), className="pt-note", id="dem-no-forecast")]
    try:
        fig, methods, origins, method, origin = forecast_view(ref, None, None, lang)
    except RunDirError as exc:
        return [error_box(exc.message(lang), id="dem-forecast-error")]
    pickers = html.Div(
        [html.Label(t("dem.method", lang), htmlFor="dem-method"),
         dcc.Dropdown(labels=dropdown_labels(lang), id="dem-method", options=methods, value=method, clearable=False),
         html.Label(t("dem.origin", lang), htmlFor="dem-origin"),
         dcc.Dropdown(labels=dropdown_labels(lang), id="dem-origin", options=origins, value=origin, clearable=False)],
        className="pt-picker",
    )  # fmt: skip
    note = html.Div(t("dem.forecast_note", lang, file=ref.forecast.name), className="pt-note")
    return [note, pickers, dcc.Graph(id="dem-forecast", figure=fig, config={"displaylogo": False})]


def score_table(ref: DemandRef, lang: str) -> list:
    """Hit rate, PAI and PEI per method and coverage (mean over origins) from the score CSV."""
    if ref.scores is None:
        return [html.Div(t("dem.no_scores", lang), className="pt-note", id="dem-no-scores")]
    try:
        scores = read_scores(ref.scores)
    except RunDirError as exc:
        return [error_box(exc.message(lang), id="dem-scores-error")]
    head = [t(k, lang) for k in ("dem.method", "dem.coverage", "dem.hit_rate", "dem.pai", "dem.pei")]
    body = [html.Tr([html.Td(method_label(str(r["method"]), lang)), html.Td(f"{100 * r['coverage']:g}%"),
                     html.Td(f"{100 * r['hit_rate']:.1f}%"), html.Td(f"{r['pai']:.2f}"),
                     html.Td("-" if r["pei"] != r["pei"] else f"{r['pei']:.3f}")]) for _, r in scores.iterrows()]  # fmt: skip
    n = int(scores["origins"].max()) if len(scores) else 0
    return [html.Div(t("dem.scores_note", lang, file=ref.scores.name, n=n), className="pt-note"),
            html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], className="pt-table",
                       id="dem-scores")]  # fmt: skip


def layout(
    lang: str | None = None, demand: str | None = None, run: str | None = None, **_query: object
) -> html.Div:
    """The Demand page for the demand folder ``demand`` (its key; default: the first found)."""
    lang = normalise_lang(lang or current().lang)

    def body(ref: DemandRef) -> list:
        return [html.H3(t("dem.fit_title", lang)), *_fit_part(ref, lang), html.H3(t("dem.forecast_title", lang)),
                *_forecast_part(ref, lang), *score_table(ref, lang)]  # fmt: skip

    return picker_page("demand", lang, prefix="dem", found=folders(), chosen=demand, run=run, body=body)


def _choose(key: str, lang: str, shown: str | None) -> object:
    return dash.no_update if key == shown else href("/demand", lang, demand=key)


def _redraw(method: str, origin: str, lang: str, shown: str | None) -> object:
    ref = next((d for d in folders() if d.key == shown), None)
    if ref is None or ref.forecast is None:
        return dash.no_update
    try:
        return forecast_view(ref, method, origin, lang)[0]
    except RunDirError:
        return dash.no_update


def register_callbacks() -> None:
    """Register this page's callbacks (done by ``create_app`` for each new app)."""
    dash.callback(Output("pt-nav", "href", allow_duplicate=True), Input("dem-pick", "value"), State("pt-lang", "data"),
                  State("dem-shown", "data"), prevent_initial_call=True)(_choose)  # fmt: skip
    dash.callback(Output("dem-forecast", "figure"), Input("dem-method", "value"), Input("dem-origin", "value"),
                  State("pt-lang", "data"), State("dem-shown", "data"), prevent_initial_call=True)(_redraw)  # fmt: skip


SPEC = PageSpec("demand", "/demand", "nav.demand", 60, __name__, layout, callbacks=register_callbacks)
register_page_spec(SPEC)
