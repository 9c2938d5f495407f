"""Run page: pick a bundled or uploaded scenario, edit its key parameters, run it in the background
(``policetwin run`` as a subprocess) with a progress bar and cancel; the run list shows every run found."""

from __future__ import annotations

import time
from pathlib import Path

import dash
from dash import Input, Output, State, dcc, html

from policetwin.dashboard import event_run, jobs
from policetwin.dashboard.app import current
from policetwin.dashboard.i18n import clock_label, fmt_count, fmt_duration, fmt_share, normalise_lang, t
from policetwin.dashboard.pages import PageSpec, dropdown_labels, error_box, frame, href, register_page_spec
from policetwin.errors import ScenarioError

#: The scenario chosen when the page opens.
DEFAULT_SCENARIO = "bundled:helsinki"


def run_list(lang: str) -> html.Div:
    """The runs found (newest first) and the directories that could not be read."""
    found = current().scan()
    if not found.runs:
        rows: list = [html.Div(t("common.no_runs", lang), className="pt-note")]
    else:
        head = [t(k, lang) for k in ("col.run", "col.set", "col.scenario", "col.start", "col.duration", "col.calls",
                                     "col.units", "col.within", "col.path")]  # fmt: skip
        body = []
        for r in found.runs:
            s = r.summary
            overall = s.get("overall") if isinstance(s.get("overall"), dict) else {}
            units = s.get("units") if isinstance(s.get("units"), dict) else {}
            body.append(html.Tr([
                html.Td(dcc.Link(r.label, href=href("/replay", lang, run=r.key), className="pt-run-link")),
                html.Td(r.set_label or "-"), html.Td(str(s.get("scenario_name", "-"))),
                html.Td(clock_label(0.0, s.get("start", "Mon 00:00"), lang)),
                html.Td(fmt_duration(s.get("duration_s"), lang)), html.Td(fmt_count(overall.get("count"))),
                html.Td(fmt_count(units.get("count"))), html.Td(fmt_share(overall.get("within_target"))),
                html.Td(html.Code(str(r.path))),
            ]))  # fmt: skip
        rows = [html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
                           className="pt-table", id="run-table")]  # fmt: skip
    if found.problems:
        rows += [
            html.H4(t("run.problems", lang)),
            html.Ul(
                [html.Li(p.message(lang), className="pt-error") for p in found.problems], id="run-problems"
            ),
        ]
    return html.Div(rows)


def _scenario_options(lang: str, upload: dict | None) -> list[dict]:
    from policetwin.scenarios import bundled_scenarios

    options = [
        {"label": f"{name} ({t('run.bundled', lang)})", "value": f"bundled:{name}"}
        for name in bundled_scenarios()
    ]
    if upload and upload.get("token"):
        options.insert(
            0,
            {"label": f"{upload['name']} ({t('run.uploaded', lang)})", "value": f"upload:{upload['token']}"},
        )
    return options


def _facts(choice: str | None, upload: dict | None) -> dict | None:
    """The facts of the chosen scenario (None if it cannot be read)."""
    scenario = resolve_choice(choice, upload)
    if scenario is None:
        return None
    try:
        return jobs.scenario_facts(scenario)
    except ScenarioError:
        return None


def idle_options(lang: str, facts: dict | None) -> list[dict]:
    """The patrol-mode choices for a scenario: every idle mode of the schema, ``post`` only with posts."""
    modes = jobs.idle_modes(facts) if facts else [m for m in jobs.IDLE_MODES if m != "post"]
    return [{"label": t(f"idle.{m}", lang), "value": m} for m in modes]


def idle_note(lang: str, facts: dict | None) -> str:
    """Why ``post`` is or is not offered for this scenario."""
    posts = len((facts or {}).get("posts") or [])
    return t("run.idle_posts", lang, n=posts) if posts else t("run.idle_no_posts", lang)


def _field(label_key: str, component, lang: str) -> html.Div:
    return html.Div([html.Label(t(label_key, lang), htmlFor=component.id), component], className="pt-field")


def layout(lang: str | None = None, **_query: object) -> html.Div:
    """The Run page."""
    state = current()
    lang = normalise_lang(lang or state.lang)
    as_scenario = t("run.as_scenario", lang)
    facts = _facts(DEFAULT_SCENARIO, None)
    params = html.Div(
        [
            _field("run.units", dcc.Input(id="run-units", type="number", min=1, step=1, debounce=True), lang),
            _field("run.rate", dcc.Input(id="run-rate", type="number", min=0, step="any", debounce=True), lang),
            _field("run.policy", dcc.Dropdown(labels=dropdown_labels(lang),
                id="run-policy", placeholder=as_scenario,
                options=[{"label": t(f"policy.{p}", lang), "value": p} for p in jobs.POLICIES]), lang),
            html.Div([html.Label(t("run.patrol", lang), htmlFor="run-idle"),
                      dcc.Dropdown(labels=dropdown_labels(lang), id="run-idle", placeholder=as_scenario,
                                   options=idle_options(lang, facts)),
                      html.Div(idle_note(lang, facts), id="run-idle-note", className="pt-hint")],
                     className="pt-field"),
            _field("run.traffic", dcc.Dropdown(labels=dropdown_labels(lang), id="run-traffic",
                placeholder=as_scenario,
                options=[{"label": t(f"traffic.{k}", lang), "value": k} for k in jobs.TRAFFIC]), lang),
            _field("run.duration", dcc.Input(id="run-duration", type="text", debounce=True), lang),
            _field("run.seed", dcc.Input(id="run-seed", type="number", min=0, step=1, debounce=True), lang),
        ],
        className="pt-params",
    )  # fmt: skip
    children = [
        html.H2(t("run.title", lang)),
        dcc.Store(id="run-upload"),
        html.Div(
            [
                _field(
                    "run.scenario",
                    dcc.Dropdown(
                        labels=dropdown_labels(lang),
                        id="run-scenario",
                        options=_scenario_options(lang, None),
                        value=DEFAULT_SCENARIO,
                        clearable=False,
                    ),
                    lang,
                ),
                # over max_size, dcc.Upload drops a file without a word: assets/upload.js reports the
                # name and size of each file chosen to run-upload-picked, and _picked says it is too large
                dcc.Upload(
                    html.Div(t("run.upload", lang, max_kb=jobs.MAX_UPLOAD_BYTES // 1024)),
                    id="run-upload-box",
                    className="pt-upload",
                    max_size=jobs.MAX_UPLOAD_BYTES,
                    multiple=False,
                ),
                dcc.Store(id="run-upload-picked"),
                html.Div(id="run-upload-msg"),
            ],
            className="pt-scenario",
        ),
        html.H4(t("run.params", lang)),
        params,
        event_run.params_box(
            event_run.event_facts(resolve_choice(DEFAULT_SCENARIO, None)), lang, dropdown_labels(lang)
        ),
        html.Div(
            [
                html.Button(
                    t("run.start", lang), id="run-start", n_clicks=0, className="pt-button pt-primary"
                ),
                html.Button(
                    t("run.cancel", lang), id="run-cancel", n_clicks=0, className="pt-button", disabled=True
                ),
                html.Progress(id="run-progress", value="0", max="100", className="pt-progress"),
                html.Span(t("run.idle", lang), id="run-status", className="pt-status"),
            ],
            className="pt-controls",
        ),
        html.Div(id="run-result"),
        html.H3(t("run.list", lang)),
        html.Div(run_list(lang), id="run-list"),
    ]
    return frame("run", lang, children)


def _upload(contents: str | None, filename: str | None, lang: str):
    lang = normalise_lang(lang)
    if not contents:
        return dash.no_update, dash.no_update, dash.no_update, dash.no_update
    up = jobs.validate_upload(filename or "", contents, current().upload_dir)
    if up.error_key:
        return (
            error_box(t(up.error_key, lang, **up.error_params), id="run-upload-error"),
            None,
            _scenario_options(lang, None),
            DEFAULT_SCENARIO,
        )
    if up.lines:
        msg = html.Div([html.Div(t("run.upload_bad", lang, name=up.name)), html.Pre("\n".join(up.lines))],
                       className="pt-error", id="run-upload-error", role="alert")  # fmt: skip
        return msg, None, _scenario_options(lang, None), DEFAULT_SCENARIO
    assert up.path is not None
    data = {"token": up.path.parent.name, "name": up.name}
    ok = html.Div(
        t("run.upload_ok", lang, name=up.name, scenario=up.scenario_name),
        className="pt-ok",
        id="run-upload-ok",
    )
    return ok, data, _scenario_options(lang, data), f"upload:{data['token']}"


def _picked(picked: dict | None, lang: str) -> object:
    """A file chosen for upload (name and size, from assets/upload.js): the message when it is over the
    limit (dcc.Upload then drops it without a word); a file within the limit goes on to :func:`_upload`."""
    if not isinstance(picked, dict) or not isinstance(picked.get("size"), int | float):
        return dash.no_update
    refused = jobs.too_large(str(picked.get("name") or ""), int(picked["size"]))
    if refused is None:
        return dash.no_update
    return error_box(
        t(refused.error_key, normalise_lang(lang), **refused.error_params), id="run-upload-error"
    )


def _idle_choices(
    choice: str | None, upload: dict | None, idle: str | None, lang: str
) -> tuple[list[dict], str | None, str]:
    """The patrol-mode choices and note for the chosen scenario (a choice it cannot take is cleared)."""
    lang = normalise_lang(lang)
    facts = _facts(choice, upload)
    options = idle_options(lang, facts)
    keep = idle if idle in {o["value"] for o in options} else None
    return options, keep, idle_note(lang, facts)


def resolve_choice(value: str | None, upload: dict | None) -> str | Path | None:
    """The scenario to run: a bundled name, or the uploaded file (only from the private upload directory)."""
    from policetwin.scenarios import bundled_scenarios

    if not value:
        return None
    if value.startswith("bundled:") and value[8:] in bundled_scenarios():
        return value[8:]
    if value.startswith("upload:") and upload and upload.get("token") == value[7:]:
        folder = current().upload_dir / value[7:]
        files = (
            sorted(folder.glob("*.y*ml")) if folder.is_dir() and folder.parent == current().upload_dir else []
        )
        return files[0] if files else None
    return None


def _event_choices(choice: str | None, upload: dict | None, lang: str) -> tuple[dict, list[dict], None, str]:
    """The event fields for the chosen scenario: shown only when it has an ``event:`` block."""
    lang = normalise_lang(lang)
    facts = event_run.event_facts(resolve_choice(choice, upload))
    style = {} if facts else {"display": "none"}
    return style, event_run.gate_options(facts, lang), None, event_run.hint(facts, lang)


def _run(set_progress, n_clicks, choice, upload, units, rate, policy, idle, traffic, duration, seed, ev_attendees,
         ev_gate, ev_lanes, ev_evacuate, lang):  # fmt: skip
    lang = normalise_lang(lang)
    scenario = resolve_choice(choice, upload)
    if scenario is None:
        return error_box(t("run.no_scenario", lang), id="run-error"), dash.no_update
    problems = jobs.check_params(units, rate, duration)
    ev_facts = event_run.event_facts(scenario)
    if ev_facts:
        problems += event_run.check(ev_attendees, ev_gate, ev_lanes, ev_evacuate, ev_facts)
    if problems:
        lines = [t("run.bad_param", lang, field=t(f, lang), detail=t(p, lang)) for f, p in problems]
        return html.Div(
            [html.Div(line) for line in lines], className="pt-error", id="run-error"
        ), dash.no_update
    set_progress(("0", t("run.preparing", lang)))
    try:
        facts = jobs.scenario_facts(scenario)
    except ScenarioError as exc:
        return html.Pre("\n".join(exc.problems), className="pt-error", id="run-error"), dash.no_update
    params = jobs.RunParams(
        units=int(units) if units not in (None, "") else None,
        rate_per_hour=float(rate) if rate not in (None, "") else None,
        policy=policy or None, idle=idle or None, duration=(str(duration).strip() or None) if duration else None,
        seed=int(seed) if seed not in (None, "") else None, traffic=traffic if traffic in jobs.TRAFFIC else None,
    )  # fmt: skip
    try:
        sets = jobs.overrides(params, facts)
    except ValueError:  # post in a scenario without posts (not offered, but the request can say it)
        return error_box(t("run.idle_no_posts", lang), id="run-error"), dash.no_update
    if ev_facts:
        sets += event_run.overrides(ev_attendees, ev_gate, ev_lanes, ev_evacuate, ev_facts)
    horizon = facts["duration_s"]
    if params.duration:
        from policetwin.durations import parse_duration

        horizon = parse_duration(params.duration)
    state = current()
    state.runs_dir.mkdir(parents=True, exist_ok=True)
    from policetwin.cli import default_run_name

    out_dir = state.runs_dir / f"{default_run_name(facts['name'])}-{time.strftime('%Y%m%d-%H%M%S')}"
    start = facts.get("start", "Mon 00:00")

    def progress(sim_t: float | None) -> None:
        if sim_t is None:
            return
        if sim_t >= horizon:
            set_progress(("100", t("run.writing", lang)))
        else:
            pct = int(100 * sim_t / max(horizon, 1.0))
            set_progress((str(pct), t("run.progress", lang, clock=clock_label(sim_t, start, lang), pct=pct)))

    progress_file = state.work_dir / "progress" / f"{out_dir.name}.jsonl"
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = jobs.run_command(scenario, out_dir, sets, params.seed, progress_file)
    try:
        result = jobs.execute(cmd, out_dir, progress, progress_file)
    finally:
        progress_file.unlink(missing_ok=True)
    if result.code != 0:
        msg = html.Div([html.Div(t("run.failed", lang, code=result.code)), html.Pre("\n".join(result.lines[-40:]))],
                       className="pt-error", id="run-error", role="alert")  # fmt: skip
        set_progress(("0", t("run.idle", lang)))
        return msg, run_list(lang)
    set_progress(("100", t("run.done", lang, path=out_dir.name, wall_s=f"{result.wall_s:.1f}")))
    done = html.Div(
        [t("run.done", lang, path=str(out_dir), wall_s=f"{result.wall_s:.1f}"), " ",
         dcc.Link(t("nav.replay", lang), href=href("/replay", lang, run=_key(out_dir))), " · ",
         dcc.Link(t("nav.kpis", lang), href=href("/kpis", lang, run=_key(out_dir)))],
        className="pt-ok", id="run-done",
    )  # fmt: skip
    return done, run_list(lang)


def _key(path: Path) -> str:
    from policetwin.dashboard.rundata import run_key

    return run_key(path.resolve())


def _cancelled(n: int, lang: str):
    return t("run.cancelled", normalise_lang(lang)), "0"


def register_callbacks() -> None:
    """Register this page's callbacks with ``dash.callback`` (done by ``create_app`` for each new app)."""
    dash.callback(
        Output("run-upload-msg", "children"),
        Output("run-upload", "data"),
        Output("run-scenario", "options"),
        Output("run-scenario", "value"),
        Input("run-upload-box", "contents"),
        State("run-upload-box", "filename"),
        State("pt-lang", "data"),
        prevent_initial_call=True,
    )(_upload)
    dash.callback(
        Output("run-upload-msg", "children", allow_duplicate=True),
        Input("run-upload-picked", "data"),
        State("pt-lang", "data"),
        prevent_initial_call=True,
    )(_picked)
    dash.callback(
        Output("run-idle", "options"),
        Output("run-idle", "value"),
        Output("run-idle-note", "children"),
        Input("run-scenario", "value"),
        State("run-upload", "data"),
        State("run-idle", "value"),
        State("pt-lang", "data"),
        prevent_initial_call=True,
    )(_idle_choices)
    dash.callback(
        Output("run-event", "style"),
        Output("run-ev-gate", "options"),
        Output("run-ev-gate", "value"),
        Output("run-ev-hint", "children"),
        Input("run-scenario", "value"),
        State("run-upload", "data"),
        State("pt-lang", "data"),
        prevent_initial_call=True,
    )(_event_choices)
    dash.callback(
        Output("run-result", "children"),
        Output("run-list", "children"),
        Input("run-start", "n_clicks"),
        State("run-scenario", "value"),
        State("run-upload", "data"),
        State("run-units", "value"),
        State("run-rate", "value"),
        State("run-policy", "value"),
        State("run-idle", "value"),
        State("run-traffic", "value"),
        State("run-duration", "value"),
        State("run-seed", "value"),
        State("run-ev-attendees", "value"),
        State("run-ev-gate", "value"),
        State("run-ev-lanes", "value"),
        State("run-ev-evacuate", "value"),
        State("pt-lang", "data"),
        background=True,
        interval=250,  # ms between the browser's progress polls (the default 1 s can miss a short run's)
        progress=[Output("run-progress", "value"), Output("run-status", "children")],
        running=[
            (Output("run-start", "disabled"), True, False),
            (Output("run-cancel", "disabled"), False, True),
        ],
        cancel=[Input("run-cancel", "n_clicks")],
        prevent_initial_call=True,
    )(_run)
    dash.callback(
        Output("run-status", "children", allow_duplicate=True),
        Output("run-progress", "value", allow_duplicate=True),
        Input("run-cancel", "n_clicks"),
        State("pt-lang", "data"),
        prevent_initial_call=True,
    )(_cancelled)


register_page_spec(PageSpec("run", "/", "nav.run", 10, __name__, layout, callbacks=register_callbacks))
