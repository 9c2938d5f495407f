"""The page registry: each page registers a :class:`PageSpec`; the app hands them to
``dash.register_page``. Later features (experiments/sweeps, demand, large events) add pages with
:func:`register_page_spec` and get the navigation bar, language switch and run picker for free."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

import dash
from dash import Input, Output, State, dcc, html

from policetwin.dashboard.i18n import LANGS, normalise_lang, t


@dataclass(frozen=True)
class PageSpec:
    """A page: key, URL path, catalogue key of its name, order in the navigation, layout function."""

    key: str
    path: str
    label_key: str
    order: int
    module: str
    layout: Callable[..., object]
    callbacks: Callable[[], None] = lambda: None
    redirect_from: tuple[str, ...] = ()


_PAGES: dict[str, PageSpec] = {}
BUILTIN = ("run", "replay", "kpis", "compare", "sweep", "demand")


def register_page_spec(spec: PageSpec) -> None:
    """Add (or replace) a page."""
    _PAGES[spec.key] = spec


def pages() -> list[PageSpec]:
    """All pages in navigation order (the built-in ones are imported on first use)."""
    for name in BUILTIN:
        importlib.import_module(f"policetwin.dashboard.pages.{name}")
    return sorted(_PAGES.values(), key=lambda p: (p.order, p.key))


def href(path: str, lang: str, **query: object) -> str:
    """A page link keeping the language and the given query values (None values dropped)."""
    params = {"lang": normalise_lang(lang), **{k: v for k, v in query.items() if v not in (None, "")}}
    return f"{path}?{urlencode(params)}"


def query_value(search: str | None, name: str) -> str | None:
    """The value of ``name`` in a URL query string (``?lang=zh&run=abc``), None if absent."""
    values = parse_qs((search or "").lstrip("?")).get(name)
    return values[0] if values else None


def frame(page: str, lang: str, children: list, **query: object) -> html.Div:
    """The common page frame: title, navigation (keeping ``query``, e.g. the chosen run) and the
    language switch (the same page in the other language)."""
    lang = normalise_lang(lang)
    current = _PAGES[page]
    nav = [
        dcc.Link(
            t(spec.label_key, lang), href=href(spec.path, lang, **query), id=f"nav-{spec.key}",
            className="pt-nav-link" + (" pt-active" if spec.key == page else ""),
        )
        for spec in pages()
    ]  # fmt: skip
    switch = [
        dcc.Link(t(f"lang.{code}", lang), href=href(current.path, code, **query), id=f"lang-{code}",
                 className="pt-lang" + (" pt-active" if code == lang else ""))
        for code in LANGS
    ]  # fmt: skip
    header = html.Header(
        [
            html.Span(t("app.title", lang), className="pt-brand"),
            html.Nav(nav, className="pt-nav"),
            html.Span(
                [html.Span(t("app.language", lang) + ":", className="pt-lang-label"), *switch],
                className="pt-lang-switch",
            ),
        ],
        className="pt-header",
    )
    return html.Div(
        [
            header,
            dcc.Store(id="pt-lang", data=lang),
            html.Main(children, className="pt-main", id=f"page-{page}"),
        ],
        lang="zh-Hans" if lang == "zh" else "en",
    )


def run_options(lang: str, *, include_sets: bool = False) -> list[dict]:
    """Dropdown options of the discovered runs (and sets of replications)."""
    from policetwin.dashboard.app import current

    found = current().discovery()
    options = []
    if include_sets:
        for name, members in found.sets.items():
            options.append(
                {"label": f"{name} — {t('common.set', lang, n=len(members))}", "value": f"set:{name}"}
            )
    for r in found.runs:
        scenario = str(r.summary.get("scenario_name", ""))
        label = f"{r.set_label}/{r.label}" if r.set_label else r.label
        options.append({"label": f"{label} ({scenario})" if scenario else label, "value": r.key})
    return options


def dropdown_labels(lang: str) -> dict[str, str]:
    """The texts Dash draws inside a dropdown (select all, n selected, search...) in ``lang``."""
    keys = ("select_all", "deselect_all", "selected_count", "search", "clear_search", "clear_selection",
            "no_options_found")  # fmt: skip
    return {k: t(f"dd.{k}", lang) for k in keys}


def error_box(message: str, *, id: str | None = None) -> html.Div:
    """A clear message instead of a traceback."""
    return html.Div(message, className="pt-error", role="alert", **({"id": id} if id else {}))


def not_found_layout(lang: str | None = None, **_query: object) -> html.Div:
    """The page for an unknown path (instead of Dash's English 404)."""
    from policetwin.dashboard.app import current

    lang = normalise_lang(lang or current().lang)
    return frame("run", lang, [error_box(t("page.not_found", lang), id="page-not-found")])


def chosen_run(lang: str | None, run: str | None) -> tuple[str, str | None]:
    """The language and the run a one-run page shows: ``run`` if it is known, else the newest run (None
    when there is none). Rescans the run directories (a run may have just finished)."""
    from policetwin.dashboard.app import current

    state = current()
    found = state.scan()
    key = (run if found.by_key(run) else found.runs[0].key) if found.runs else None
    return normalise_lang(lang or state.lang), key


def register_run_picker(prefix: str, path: str) -> None:
    """The callback of :func:`run_picker`: choosing another run opens ``path`` for it (same language)."""

    def choose(key: str, lang: str, shown: str | None) -> object:
        if shown == key:
            return dash.no_update
        return href(path, lang, run=key)

    dash.callback(
        Output("pt-nav", "href", allow_duplicate=True),
        Input(f"{prefix}-run", "value"),
        State("pt-lang", "data"),
        State(f"{prefix}-shown", "data"),
        prevent_initial_call=True,
    )(choose)


def run_picker(prefix: str, lang: str, key: str) -> html.Div:
    """The run dropdown of a one-run page (ids ``<prefix>-run`` and ``<prefix>-shown``), on ``key``; its
    callback is :func:`register_run_picker`."""
    return html.Div(
        [html.Label(t("common.run", lang), htmlFor=f"{prefix}-run"),
         dcc.Dropdown(labels=dropdown_labels(lang), id=f"{prefix}-run", options=run_options(lang), value=key,
                      clearable=False),
         dcc.Store(id=f"{prefix}-shown", data=key)],
        className="pt-picker",
    )  # fmt: skip


def no_runs_layout(page: str, title_key: str, lang: str) -> html.Div:
    """A page that needs a run, when there is none."""
    return frame(
        page, lang, [html.H2(t(title_key, lang)), html.Div(t("common.no_runs", lang), className="pt-note")]
    )


def picker_page(
    page: str, lang: str, *, prefix: str, found: list, chosen: str | None, run: str | None, body: Callable
) -> html.Div:
    """A page over one of several things found (sweeps, demand folders; each with ``key`` and ``label``):
    its title, a drop-down to choose one (ids ``<prefix>-pick``, ``<prefix>-shown``) and ``body(chosen)``,
    or a note when none was found (catalogue keys ``<prefix>.title``, ``.choose``, ``.none``)."""
    title = html.H2(t(f"{prefix}.title", lang))
    if not found:
        note = html.Div(t(f"{prefix}.none", lang), className="pt-note", id=f"{prefix}-none")
        return frame(page, lang, [title, note], run=run)
    ref = next((x for x in found if x.key == chosen), found[0])
    options = [{"label": x.label, "value": x.key} for x in found]
    picker = html.Div(
        [html.Label(t(f"{prefix}.choose", lang), htmlFor=f"{prefix}-pick"),
         dcc.Dropdown(labels=dropdown_labels(lang), id=f"{prefix}-pick", options=options, value=ref.key,
                      clearable=False),
         dcc.Store(id=f"{prefix}-shown", data=ref.key)],
        className="pt-picker",
    )  # fmt: skip
    return frame(page, lang, [title, picker, *body(ref)], run=run)
