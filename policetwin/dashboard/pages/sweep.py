"""Sweep page: a ``policetwin sweep`` directory — each KPI against the factors with 95% CI bands, the arm
table with differences to the baseline (paired under common random numbers, Welch beside it); a click on
a value (or a point) opens a kept run of that arm (``--keep-runs``) in Replay."""

from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, dcc, html

from policetwin.dashboard.app import current
from policetwin.dashboard.figures_sweep import diff_figure, kpi_figure
from policetwin.dashboard.i18n import fmt_duration, normalise_lang, t
from policetwin.dashboard.pages import PageSpec, error_box, href, picker_page, register_page_spec
from policetwin.dashboard.rundata import RunDirError, run_key
from policetwin.dashboard.sweepdata import SweepData, SweepRef, find_sweeps, fmt_value, kept_run, read_sweep


def sweeps() -> list[SweepRef]:
    """The sweep directories of the dashboard's paths and runs directory."""
    state = current()
    return find_sweeps([*state.paths, state.runs_dir])


def replay_href(data: SweepData, arm: int, kpi: str | None, lang: str) -> str | None:
    """The Replay link of the kept run of ``arm`` closest to its mean ``kpi`` (None if none kept)."""
    path = kept_run(data, arm, kpi)
    return None if path is None else href("/replay", lang, run=run_key(path.resolve()))


def _cell(text: str, link: str | None, title: str) -> html.Td:
    if link is None:
        return html.Td(text)
    return html.Td(dcc.Link(text, href=link, title=title, className="pt-sweep-link"))


def arm_table(data: SweepData, lang: str) -> html.Table:
    """Arms: factor values, runs, per KPI mean ± 95% CI (a link to a kept run) and the difference to the
    baseline ± its CI (paired, with the unpaired half-width beside it)."""
    table, base, paired = data.table, data.baseline, data.paired
    head = [t("sweep.arm", lang), *data.factors, t("sweep.runs", lang), *data.kpis]
    if base is not None:
        head += [t("sweep.delta_paired" if paired else "sweep.delta", lang, kpi=k) for k in data.kpis]
        if paired:
            head += [t("sweep.unpaired", lang, kpi=k) for k in data.kpis]
    arms = {int(a["arm"]): a for a in data.study.get("arms") or [] if isinstance(a, dict)}
    body = []
    for _, r in table.iterrows():
        arm = int(r["arm"])
        label = t("sweep.arm_base", lang, arm=arm) if arm == base else str(arm)
        runs = str(int(r["n"])) + (" " + t("sweep.failed", lang, n=int(r["failed"])) if r["failed"] else "")
        values = arms.get(arm, {})  # factor values as the study wrote them (not upcast by the table)
        cells = [html.Td(label), *(html.Td(str(values.get(c, r[c]))) for c in data.factors), html.Td(runs)]
        for k in data.kpis:
            link = replay_href(data, arm, k, lang)
            cells.append(_cell(fmt_value(r[k], r[f"{k}_hw"]), link, t("sweep.open", lang)))
        if base is not None:
            cells += [
                html.Td("-" if arm == base else fmt_value(r[f"{k}_diff"], r[f"{k}_diff_hw"]))
                for k in data.kpis
            ]
            if paired:
                cells += [
                    html.Td("-" if arm == base else fmt_value(r[f"{k}_diff_hw_unpaired"])) for k in data.kpis
                ]
        body.append(html.Tr(cells, className="pt-bold" if arm == base else None))
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], className="pt-table",
                      id="sweep-arms")  # fmt: skip


def content(ref: SweepRef, lang: str) -> list:
    """The page body for one sweep (a message naming the file when it cannot be read)."""
    try:
        data = read_sweep(ref.path)
    except RunDirError as exc:
        return [error_box(exc.message(lang), id="sweep-error")]
    ok = int((data.runs["status"] == "ok").sum())
    seeds = t("sweep.seeds_common" if data.paired else "sweep.seeds_independent", lang)
    meta = t("sweep.meta", lang, name=str(data.study.get("name", ref.label)), arms=len(data.table), ok=ok,
             failed=len(data.runs) - ok, seeds=seeds, warmup=fmt_duration(data.study.get("warmup_s"), lang))  # fmt: skip
    kept = any((data.path / "runs").glob("*/summary.json"))
    sampled = data.study.get("sample") is not None
    parts: list = [html.Div(meta, className="pt-note", id="sweep-meta"), html.H3(t("sweep.kpis", lang)),
                   html.Div(t("sweep.kpi_note", lang), className="pt-note")]  # fmt: skip
    for i, k in enumerate(data.kpis):
        fig = kpi_figure(data.table, data.factors, k, lang, sampled=sampled)
        parts.append(
            dcc.Graph(id={"type": "sweep-kpi", "index": i}, figure=fig, config={"displaylogo": False})
        )
    parts += [html.H3(t("sweep.arms", lang)), arm_table(data, lang)]
    note = "sweep.arm_note_paired" if data.paired else "sweep.arm_note_welch"
    parts.append(
        html.Div(
            t(note, lang) if data.baseline is not None else t("sweep.arm_note", lang), className="pt-note"
        )
    )
    parts.append(
        html.Div(t("sweep.click" if kept else "sweep.no_kept", lang), className="pt-note", id="sweep-kept")
    )
    if data.baseline is not None:
        for k in data.kpis[:2]:
            parts.append(dcc.Graph(figure=diff_figure(data.table, k, data.baseline, lang, paired=data.paired),
                                   config={"displaylogo": False}, id=f"sweep-diff-{data.kpis.index(k)}"))  # fmt: skip
    failed = data.runs[data.runs["status"] != "ok"]
    if len(failed):
        rows = [
            html.Tr([html.Td(str(r["run_id"])), html.Td(str(r.get("error") or ""))])
            for _, r in failed.head(50).iterrows()
        ]
        parts += [html.H3(t("sweep.failed_runs", lang)),
                  html.Table([html.Thead(html.Tr([html.Th(t("sweep.run", lang)), html.Th(t("sweep.error", lang))])),
                              html.Tbody(rows)], className="pt-table")]  # fmt: skip
    return parts


def layout(
    lang: str | None = None, sweep: str | None = None, run: str | None = None, **_query: object
) -> html.Div:
    """The Sweep page for ``sweep`` (a sweep key; default: the newest sweep)."""
    lang = normalise_lang(lang or current().lang)
    return picker_page(
        "sweep",
        lang,
        prefix="sweep",
        found=sweeps(),
        chosen=sweep,
        run=run,
        body=lambda ref: content(ref, lang),
    )


def _choose(key: str, lang: str, shown: str | None) -> object:
    return dash.no_update if key == shown else href("/sweep", lang, sweep=key)


def _clicked(clicks: list, lang: str, shown: str | None) -> object:
    """A click on a KPI point: the Replay of a kept run of that arm."""
    trigger = dash.ctx.triggered_id
    ref = next((s for s in sweeps() if s.key == shown), None)
    if ref is None or not isinstance(trigger, dict):
        return dash.no_update
    click = clicks[trigger["index"]] if trigger["index"] < len(clicks) else None
    points = (click or {}).get("points") or []
    arm = points[0].get("customdata") if points else None
    if arm is None:
        return dash.no_update
    data = read_sweep(ref.path)
    kpi = data.kpis[trigger["index"]] if trigger["index"] < len(data.kpis) else None
    return replay_href(data, int(arm), kpi, lang) or dash.no_update


def register_callbacks() -> None:
    """Register this page's callbacks (done by ``create_app`` for each new app)."""
    dash.callback(Output("pt-nav", "href", allow_duplicate=True), Input("sweep-pick", "value"), State("pt-lang", "data"),
                  State("sweep-shown", "data"), prevent_initial_call=True)(_choose)  # fmt: skip
    dash.callback(Output("pt-nav", "href", allow_duplicate=True), Input({"type": "sweep-kpi", "index": ALL}, "clickData"),
                  State("pt-lang", "data"), State("sweep-shown", "data"), prevent_initial_call=True)(_clicked)  # fmt: skip


SPEC = PageSpec("sweep", "/sweep", "nav.sweep", 50, __name__, layout, callbacks=register_callbacks)
register_page_spec(SPEC)
