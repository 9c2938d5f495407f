"""The Dash application: configuration, run discovery, the page registry wired into ``dash.register_page``,
and the server routes that feed the replay map (district GeoJSON, time-window chunks)."""

from __future__ import annotations

import gzip
import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import dash
from dash import Dash, dcc, html

from policetwin.dashboard.i18n import normalise_lang
from policetwin.dashboard.rundata import Discovery, RunData, RunDirError, RunRef, discover, open_run

ASSETS = Path(__file__).parent / "assets"
URL_PREFIX = "/_pt"


@dataclass
class DashboardState:
    """What the pages share: the directories to read, where new runs and uploads go, the default language."""

    paths: list[Path]
    runs_dir: Path
    lang: str = "en"
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="policetwin-dashboard-")))
    _discovery: Discovery | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def upload_dir(self) -> Path:
        """Where uploaded scenarios are kept (a private temp directory)."""
        return self.work_dir / "uploads"

    def scan(self) -> Discovery:
        """Discover runs now (the given directories and the runs directory, if it exists)."""
        roots = list(self.paths)
        if self.runs_dir.is_dir() and self.runs_dir.resolve() not in {
            p.resolve() for p in roots if p.exists()
        }:
            roots.append(self.runs_dir)
        found = discover(roots)
        if self.runs_dir not in self.paths:  # an empty default runs directory is not a problem
            found = Discovery(
                found.runs,
                found.sets,
                tuple(p for p in found.problems if p.params.get("path") != str(self.runs_dir)),
            )
        with self._lock:
            self._discovery = found
        return found

    def discovery(self) -> Discovery:
        """The last scan (scanning once if none yet)."""
        return self._discovery or self.scan()

    def find(self, key: str | None) -> RunRef | None:
        """The run with ``key``, rescanning once if it is unknown (a run just finished)."""
        if not key:
            return None
        return self.discovery().by_key(key) or self.scan().by_key(key)

    def run_data(self, key: str | None) -> RunData:
        """The data of run ``key``; RunDirError if unknown."""
        ref = self.find(key)
        if ref is None:
            raise RunDirError("err.unknown_run", key=str(key))
        return open_run(ref.path)


STATE: DashboardState = DashboardState(paths=[], runs_dir=Path("runs"))


def current() -> DashboardState:
    """The running dashboard's state."""
    return STATE


def _register_routes(app: Dash) -> None:
    from flask import Response, abort, request

    from policetwin.dashboard import replay, replay_map

    def payload(data: object, status: int = 200) -> Response:
        body = json.dumps(data, separators=(",", ":"), allow_nan=False)
        return Response(
            body, status=status, mimetype="application/json", headers={"Cache-Control": "max-age=3600"}
        )

    @app.server.after_request
    def compress(response: Response) -> Response:
        """gzip JSON answers (page layouts carry the replay's street network and first chunk; chunks are
        mostly digits): a third to a tenth of the bytes."""
        if (
            response.mimetype == "application/json"
            and not (response.direct_passthrough or response.is_streamed)
            and "Content-Encoding" not in response.headers
            and "gzip" in request.headers.get("Accept-Encoding", "")
        ):
            body = response.get_data()
            if len(body) > 2048:
                response.set_data(gzip.compress(body, compresslevel=5))
                response.headers["Content-Encoding"] = "gzip"
                response.headers["Vary"] = "Accept-Encoding"
        return response

    @app.server.route(f"{URL_PREFIX}/geo/<key>/<name>.geojson")
    def geojson(key: str, name: str):  # type: ignore[no-untyped-def]
        try:
            run = STATE.run_data(key)
            if name.startswith("district-") and name[9:].isdigit():
                segments = list(replay_map.district_segments(run).values())
                i = int(name[9:])
                if i < len(segments):
                    return payload(replay_map.geojson_lines(segments[i]))
        except RunDirError:
            pass
        abort(404)

    @app.server.route(f"{URL_PREFIX}/replay/<key>/<int:index>.json")
    def chunk(key: str, index: int):  # type: ignore[no-untyped-def]
        try:
            run = STATE.run_data(key)
            return payload(replay.chunk(run, index))
        except RunDirError as exc:
            return payload({"error": exc.message(STATE.lang)}, 404)


def _reset_global_callbacks() -> None:
    """Drop ``dash.callback`` registrations left by an app that was built but never served, so each app
    gets the pages' callbacks exactly once (tests build several apps in one process)."""
    from dash import _callback

    _callback.GLOBAL_CALLBACK_MAP.clear()
    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_INLINE_SCRIPTS.clear()


def create_app(paths: list[Path], *, runs_dir: Path | None = None, lang: str = "en") -> Dash:
    """Build the dashboard for these run/sweep directories (new runs go to ``runs_dir``, default ``runs``)."""
    import diskcache
    from dash import DiskcacheManager

    from policetwin.dashboard.pages import pages

    global STATE
    pages_now = pages()
    _reset_global_callbacks()
    for spec in pages_now:  # dash.callback: taken up by the next app that serves (this one)
        spec.callbacks()
    STATE = DashboardState(
        paths=[Path(p) for p in paths], runs_dir=Path(runs_dir or "runs"), lang=normalise_lang(lang)
    )
    STATE.upload_dir.mkdir(parents=True, exist_ok=True)
    cache = diskcache.Cache(str(STATE.work_dir / "jobs"))
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        background_callback_manager=DiskcacheManager(cache),
        suppress_callback_exceptions=True,
        title="PoliceTwin",
        update_title=None,
    )
    for spec in pages_now:
        dash.register_page(spec.module, path=spec.path, name=spec.key, order=spec.order, layout=spec.layout,
                           redirect_from=list(spec.redirect_from) or None)  # fmt: skip
    from policetwin.dashboard.pages import not_found_layout

    dash.register_page(f"{__package__}.pages.not_found_404", path="/_not_found", layout=not_found_layout)
    app.layout = html.Div(
        [dcc.Location(id="pt-nav", refresh="callback-nav"), dash.page_container], className="pt-root"
    )
    _register_routes(app)
    STATE.scan()
    return app
