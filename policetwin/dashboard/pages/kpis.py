"""KPIs page: response-time distributions against targets, compliance, time to know / help, utilisation
and saturation index over the day, queues, stage breakdown, per district and per shift. Everything is
aggregated on the server (binned counts, per-priority means), so large runs stay light in the browser."""

from __future__ import annotations

from dash import dcc, html

from policetwin.dashboard import event_kpis, figures, kpis
from policetwin.dashboard.app import current
from policetwin.dashboard.i18n import fmt_count, fmt_duration, fmt_share, start_offset_s, t
from policetwin.dashboard.pages import (
    PageSpec,
    chosen_run,
    error_box,
    frame,
    no_runs_layout,
    register_page_spec,
    register_run_picker,
    run_picker,
)
from policetwin.dashboard.rundata import RunData, RunDirError

_GRAPH = {"displaylogo": False}


def aggregates(run: RunData) -> dict:
    """The KPI frames of a run (cached with the run; independent of the language)."""

    def load() -> dict:
        inc = run.table("incidents.parquet", columns=kpis.INCIDENT_COLUMNS, cache=False)
        horizon = run.duration_s
        bin_s = 900.0 if horizon <= 3 * 86400 else 3600.0 * max(1, round(horizon / 86400 / 7))
        out = {
            "n_calls": len(inc),
            "hist": kpis.response_histogram(inc),
            "pp": kpis.per_priority(inc),
            "stages": kpis.stage_means(inc),
            "queue": kpis.queue_series(inc, horizon, bin_s),
            "districts": kpis.per_district(inc, run.summary),
            "watch": kpis.per_watch(inc, start_offset_s(run.start)[0]),
            "shifts": kpis.per_shift(run.summary),
        }
        if run.has("units.parquet"):
            units = run.table("units.parquet", columns=["unit_id", "state", "t_start", "t_end"], cache=False)
            out["occupancy"] = kpis.state_occupancy(units, horizon, bin_s)
            out["util"] = kpis.utilisation_series(out["occupancy"])
        return out

    return run.memo("kpi_aggregates", load)


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> html.Table:
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])],
        className="pt-table", id=table_id,
    )  # fmt: skip


def content(run: RunData, lang: str) -> list:
    """The KPI figures and tables of a run."""
    agg = aggregates(run)
    s = run.summary
    overall = s.get("overall") or {}
    units = s.get("units") or {}
    headline = t(
        "kpi.headline", lang, calls=fmt_count(overall.get("count", agg["n_calls"])),
        mean=fmt_duration(overall.get("response_mean_s"), lang), p90=fmt_duration(overall.get("response_p90_s"), lang),
        within=fmt_share(overall.get("within_target")), units=fmt_count(units.get("count")),
        sat=fmt_share(units.get("saturation_index")),
    )  # fmt: skip
    start = run.start
    graphs: list = [
        dcc.Graph(id="kpi-response", figure=figures.response_figure(agg["hist"], lang), config=_GRAPH),
        dcc.Graph(id="kpi-compliance", figure=figures.compliance_figure(agg["pp"], lang), config=_GRAPH),
        dcc.Graph(id="kpi-know-help", figure=figures.know_help_figure(agg["pp"], lang), config=_GRAPH),
        dcc.Graph(id="kpi-stages", figure=figures.stages_figure(agg["stages"], lang), config=_GRAPH),
    ]
    if "occupancy" in agg:
        graphs += [
            dcc.Graph(
                id="kpi-util", figure=figures.utilisation_figure(agg["util"], start, lang), config=_GRAPH
            ),
            dcc.Graph(
                id="kpi-occupancy",
                figure=figures.occupancy_figure(agg["occupancy"], start, lang),
                config=_GRAPH,
            ),
        ]
    graphs.append(
        dcc.Graph(id="kpi-queues", figure=figures.queue_figure(agg["queue"], start, lang), config=_GRAPH)
    )
    d = agg["districts"]
    district_rows = [
        [str(name) or "-", fmt_count(r["calls"]), fmt_duration(r["response_mean_s"], lang),
         fmt_duration(r["response_p90_s"], lang), fmt_share(r["within_target"]), fmt_count(r["units"]),
         fmt_share(r["saturation_index"])]
        for name, r in d.iterrows()
    ]  # fmt: skip
    district_head = [t(k, lang) for k in ("kpi.district", "kpi.col_calls", "kpi.col_mean", "kpi.col_p90",
                                          "kpi.col_within", "kpi.col_units", "kpi.col_sat")]  # fmt: skip
    watch_rows = [
        [f"{int(h):02d}:00-{int(h) + 8:02d}:00", fmt_count(r["calls"]), fmt_duration(r["response_mean_s"], lang),
         fmt_share(r["within_target"])]
        for h, r in agg["watch"].iterrows()
    ]  # fmt: skip
    watch_head = [t(k, lang) for k in ("kpi.window", "kpi.col_calls", "kpi.col_mean", "kpi.col_within")]
    shifts = agg["shifts"]
    if len(shifts):
        shift_rows = [
            [str(r["group"]), str(r["window"]) or "-", fmt_count(r["units"]), fmt_share(r["utilisation"]),
             fmt_share(r["saturation_index"]), fmt_share(r["coverage"]), fmt_duration(r["meal_break_s"], lang),
             fmt_duration(r["self_initiated_s"], lang), fmt_duration(r["overtime_s"], lang)]
            for _, r in shifts.iterrows()
        ]  # fmt: skip
        shift_head = [t(k, lang) for k in ("kpi.group", "kpi.window", "kpi.col_units", "kpi.col_util",
                                           "kpi.col_sat", "kpi.col_coverage", "kpi.col_meal", "kpi.col_self",
                                           "kpi.col_overtime")]  # fmt: skip
        shift_block = _table(shift_head, shift_rows, "kpi-shift-table")
    else:
        shift_block = html.Div(t("kpi.no_groups", lang), className="pt-note")
    outcome_rows, dispatch = kpis.dispatch_rows(s)
    command: list = []
    if outcome_rows:
        command.append(_table(
            [t(k, lang) for k in ("kpi.outcome", "kpi.col_calls", "kpi.col_share")],
            [[t(f"outcome.{name}", lang), fmt_count(n), fmt_share(share)] for name, n, share in outcome_rows],
            "kpi-outcome-table",
        ))  # fmt: skip
    if dispatch:
        figures_rows = [
            [t("kpi.units_sent", lang), fmt_count(dispatch.get("units_sent"))],
            [t("kpi.preemptions", lang), fmt_count(dispatch.get("preemptions"))],
            [t("kpi.backup", lang), fmt_count(dispatch.get("backup_units_requested"))],
            [t("kpi.out_of_district", lang), fmt_share(dispatch.get("out_of_district_share"))],
            [t("kpi.mutual_aid", lang), fmt_share(dispatch.get("mutual_aid_share"))],
        ]
        for cap, v in (dispatch.get("capabilities") or {}).items():
            figures_rows.append([t("kpi.capability_wait", lang, cap=str(cap)),
                                 fmt_duration((v or {}).get("mean_wait_for_unit_s"), lang)])  # fmt: skip
        command.append(_table([t("kpi.dispatch", lang), ""], figures_rows, "kpi-dispatch-table"))
    return [
        html.Div(headline, className="pt-headline", id="kpi-headline"),
        html.Div(t("kpi.aggregated", lang, n=f"{agg['n_calls']:,}"), className="pt-note"),
        html.Div(graphs, className="pt-grid"),
        *([html.H3(t("kpi.command", lang)), html.Div(command, className="pt-tables")] if command else []),
        html.H3(t("kpi.districts", lang)),
        _table(district_head, district_rows, "kpi-district-table"),
        html.H3(t("kpi.shifts", lang)),
        shift_block,
        html.H4(t("kpi.watch", lang)),
        _table(watch_head, watch_rows, "kpi-watch-table"),
        *event_kpis.section(run, lang),  # a run with a large event (crowd.parquet, gates.parquet)
    ]


def layout(lang: str | None = None, run: str | None = None, **_query: object) -> html.Div:
    """The KPIs page for run ``run`` (default: the newest)."""
    lang, key = chosen_run(lang, run)
    if key is None:
        return no_runs_layout("kpis", "kpi.title", lang)
    try:
        body = content(current().run_data(key), lang)
    except RunDirError as exc:
        body = [error_box(exc.message(lang), id="kpi-error")]
    return frame("kpis", lang, [html.H2(t("kpi.title", lang)), run_picker("kpi", lang, key), *body], run=key)


def register_callbacks() -> None:
    """Register this page's callbacks with ``dash.callback`` (done by ``create_app`` for each new app)."""
    register_run_picker("kpi", "/kpis")


register_page_spec(PageSpec("kpis", "/kpis", "nav.kpis", 30, __name__, layout, callbacks=register_callbacks))
