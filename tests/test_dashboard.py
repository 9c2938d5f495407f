"""Dashboard without a browser: the translation catalogue (complete, really translated), no hard-coded
strings in the pages, every page's layout in Chinese without English text, the figures as pure
functions, the page/layer registries, and a 1M-incident run directory handled without sending every row."""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from test_dashboard_data import make_run

from policetwin.dashboard import figures, kpis, layers, replay, replay_map
from policetwin.dashboard.catalogue import CATALOGUE, SAME_IN_BOTH
from policetwin.dashboard.i18n import clock_label, fmt_duration, start_offset_s, t

PKG = Path(__file__).parents[1] / "policetwin" / "dashboard"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


# ----------------------------------------------------------------------------- catalogue


def test_every_key_has_both_languages_and_the_same_placeholders():
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"en", "zh"}, key
        assert entry["en"].strip() and entry["zh"].strip(), key
        assert set(PLACEHOLDER.findall(entry["en"])) == set(PLACEHOLDER.findall(entry["zh"])), key


def test_chinese_is_not_the_english_text():
    for key, entry in CATALOGUE.items():
        if key in SAME_IN_BOTH:
            continue
        assert entry["zh"] != entry["en"], f"{key}: the Chinese entry is the English text"
        if re.search(r"[A-Za-z]", PLACEHOLDER.sub("", entry["en"])):  # has words, not just placeholders
            assert CJK.search(entry["zh"]), f"{key}: no Chinese characters in {entry['zh']!r}"


def test_key_terms_use_the_police_vocabulary():
    assert t("tl.answer", "zh") == "接警" and t("tl.dispatch", "zh") == "派警"
    assert t("tl.arrive", "zh") == "到场" and "处置" in t("tl.clear", "zh")


def _t_calls() -> list[tuple[str, ast.AST]]:
    out = []
    for file in PKG.rglob("*.py"):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "t"
                and node.args
            ):
                out.append((f"{file.name}:{node.lineno}", node.args[0]))
    return out


def test_every_key_used_in_the_code_exists():
    calls = _t_calls()
    assert len(calls) > 100
    for where, arg in calls:
        if isinstance(arg, ast.Constant):
            assert arg.value in CATALOGUE, f"{where}: unknown key {arg.value!r}"
        elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
            prefix = arg.values[0].value
            assert any(k.startswith(prefix) for k in CATALOGUE), f"{where}: no key starts with {prefix!r}"
    for family, names in (("state", replay.STATES), ("stage", [s[0] for s in kpis.STAGES]),
                          ("day", [str(d) for d in range(7)])):  # fmt: skip
        for name in names:
            assert f"{family}.{name}" in CATALOGUE


def test_pages_have_no_hard_coded_text():
    """Strings given to html/dcc components as children, label or placeholder come from the catalogue."""
    for file in (PKG / "pages").glob("*.py"):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("html", "dcc")):
                continue
            texts = list(node.args[:1]) + [
                k.value for k in node.keywords if k.arg in ("children", "label", "placeholder", "title")
            ]
            for arg in texts:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    assert not re.search(r"[A-Za-z]{2}", arg.value), (
                        f"{file.name}:{node.lineno}: {arg.value!r}"
                    )


def test_the_dashboard_does_not_import_engine_internals():
    """It reads run directories; runs go through the CLI (policetwin.sim/agents/maps are never imported)."""
    for file in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(("policetwin.sim", "policetwin.agents", "policetwin.maps")), (
                    file.name
                )


def test_clock_and_duration_formatting():
    assert clock_label(0, "Mon 00:00", "en") == "Mon 00:00"
    assert clock_label(6 * 3600 + 5 * 60, "Fri 18:00", "zh") == "周六 00:05"
    assert clock_label(3600, "周五 18:00", "en") == "Fri 19:00"
    assert start_offset_s("2026-12-31T20:00") == (3 * 86400 + 20 * 3600, True)  # a Thursday
    assert fmt_duration(300, "zh") == "5.0分钟" and fmt_duration(300, "en") == "5.0min"
    assert fmt_duration(float("nan"), "en") == "-"


# ----------------------------------------------------------------------------- layouts in both languages


def _english_patterns() -> list[re.Pattern]:
    pats = []
    for key, entry in CATALOGUE.items():
        parts = PLACEHOLDER.split(entry["en"])[::2]
        if key in SAME_IN_BOTH or entry["en"] == entry["zh"] or not re.search(r"[A-Za-z]{3}", "".join(parts)):
            continue
        pats.append(re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$", re.S))
    return pats


def _strings(component) -> list[str]:
    """Every string a layout shows: children, labels, placeholders, dropdown options, figure texts."""
    out: list[str] = []

    def walk(obj) -> None:
        if isinstance(obj, str):
            out.append(obj)
        elif isinstance(obj, list | tuple):
            for x in obj:
                walk(x)
        elif isinstance(obj, go.Figure):
            walk(obj.to_plotly_json())
        elif isinstance(obj, dict):
            for k, v in obj.items():
                if k in (
                    "text",
                    "name",
                    "label",
                    "title",
                    "placeholder",
                    "ticktext",
                    "children",
                    "options",
                    "layout",
                    "data",
                    "xaxis",
                    "yaxis",
                    "marks",
                    "labels",
                    "font",
                ) or isinstance(k, int):
                    walk(v)
        elif hasattr(obj, "to_plotly_json"):
            d = obj.to_plotly_json()
            walk(d.get("props", {}))

    walk(component)
    return [s.strip() for s in out if s.strip()]


@pytest.fixture
def app_with_runs(tmp_path: Path):
    from policetwin.dashboard.app import create_app

    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b", response_scale=2.0)
    sweep = tmp_path / "sweep"
    make_run(sweep / "r1")
    make_run(sweep / "r2", response_scale=1.5)
    return create_app([a, b, sweep, tmp_path / "missing"], runs_dir=tmp_path / "new")


def test_every_page_layout_in_chinese_has_no_english_text(app_with_runs):
    from policetwin.dashboard.pages import pages

    pats = _english_patterns()
    specs = pages()
    assert [p.key for p in specs] == ["run", "replay", "kpis", "compare", "sweep", "demand"]
    for spec in specs:
        for lang in ("en", "zh"):
            strings = _strings(spec.layout(lang=lang))
            assert len(strings) > 10, spec.key
            bad = [s for s in strings if lang == "zh" and any(p.match(s) for p in pats)]
            assert not bad, f"{spec.key}: English text on the Chinese page: {bad}"
            if lang == "zh":
                assert sum(bool(CJK.search(s)) for s in strings) > 5, spec.key


def test_unknown_paths_get_a_translated_page(app_with_runs):
    import dash

    from policetwin.dashboard.pages import not_found_layout

    assert any(m.endswith(".not_found_404") for m in dash.page_registry)
    text = " ".join(_strings(not_found_layout(lang="zh")))
    assert t("page.not_found", "zh") in text


def test_pages_show_run_directory_problems_not_tracebacks(app_with_runs, tmp_path: Path):
    from policetwin.dashboard.pages import kpis as kpi_page
    from policetwin.dashboard.pages import run as run_page
    from policetwin.dashboard.rundata import run_key

    text = " ".join(_strings(run_page.layout(lang="en")))
    assert f"{tmp_path / 'missing'}: does not exist" in text
    (tmp_path / "a" / "incidents.parquet").write_bytes(b"broken")
    text = " ".join(_strings(kpi_page.layout(lang="zh", run=run_key((tmp_path / "a").resolve()))))
    assert "incidents.parquet" in text and "不是可读的 Parquet 文件" in text and "Traceback" not in text


# ----------------------------------------------------------------------------- figures and registries


def test_figures_are_pure_and_translated(tmp_path: Path):
    from policetwin.dashboard.rundata import open_run

    run = open_run(make_run(tmp_path / "r"))
    inc = run.table("incidents.parquet")
    hist, pp = kpis.response_histogram(inc), kpis.per_priority(inc)
    for lang in ("en", "zh"):
        fig = figures.response_figure(hist, lang)
        assert fig.layout.title.text == t("kpi.response", lang)
        bars = [tr for tr in fig.data if tr.type == "bar"]
        assert [tr.name for tr in bars] == ["P1", "P2"] and sum(sum(tr.y) for tr in bars) == 2
        assert len(fig.layout.shapes) == 3  # one target line per priority
        occ = kpis.state_occupancy(run.table("units.parquet"), 7200)
        fig = figures.occupancy_figure(occ, "Mon 00:00", lang)
        assert {tr.name for tr in fig.data} == {
            t(f"state.{s}", lang) for s in ("idle", "enroute", "onscene", "returning")
        }
        assert fig.layout.xaxis.ticktext[0] == clock_label(0, "Mon 00:00", lang)
        fig = figures.compliance_figure(pp, lang)
        assert list(fig.data[0].y) == [1.0, 1.0]
    assert figures.zoom_for((0, 0, 0.1, 0.1)) > figures.zoom_for((0, 0, 1, 1))


def test_layer_registry_builds_the_map_and_accepts_new_layers(tmp_path: Path):
    from policetwin.dashboard.rundata import open_run

    run = open_run(make_run(tmp_path / "r"))
    ctx = layers.LayerContext(run, "abc", "zh")
    fig, present = layers.build_map(ctx)
    assert present == ["roads", "districts", "hotspots", "stations", "incidents", "units"]
    assert fig.layout.map.style == figures.BLANK_STYLE  # transparent: the streets are drawn under the map
    assert [layer.source for layer in fig.layout.map.layers] == ["/_pt/geo/abc/district-0.geojson"]
    assert fig.layout.meta["map_layers"] == ["districts"]
    assert [tr.meta for tr in fig.data] == ["hotspots", "stations"]
    assert fig.data[1].name == "派出所" and "text" not in (fig.data[1].mode or "")
    ring = layers.ReplayLayer("rings", "layer.hotspots", True, 35,
                              traces=lambda c: [figures.point_trace([("gate", 0.01, 0.0)], "x", "#000", 5)])  # fmt: skip
    layers.register_layer(ring)
    try:
        _, present = layers.build_map(ctx)
        assert present.index("rings") == present.index("hotspots") + 1
    finally:
        layers._LAYERS.pop("rings")


def test_replay_page_brings_the_streets_and_the_first_chunk(app_with_runs, tmp_path: Path):
    """Replay's first paint needs no request after the page: the street network (compact polylines) and the
    chunk at the slider's start are in the page's config; later chunks are fetched."""
    from policetwin.dashboard.pages import replay as replay_page
    from policetwin.dashboard.rundata import open_run, run_key

    key = run_key((tmp_path / "a").resolve())
    panel = replay_page.replay_panel("replay", [key], "en", t0_s=4000.0)
    cfg = next(c for c in _components(panel) if getattr(c, "id", None) == "replay-cfg").data
    (graph,) = cfg["graphs"]
    run = open_run(tmp_path / "a")
    assert graph["roads"] == replay_map.road_lines(run)
    assert graph["first"] == {"i": 1, "data": replay.chunk(run, 1)}
    assert graph["base"] == f"/_pt/replay/{key}"
    lon, lat, zoom = graph["view"]  # the map's initial view: replay.js draws in it before the map loads
    assert (lon, lat) == pytest.approx((2 * 0.009, 0.0)) and zoom == figures.zoom_for(replay_map.bbox(run))
    box = next(c for c in _components(panel) if getattr(c, "id", None) == "replay-map-0-box")
    assert box.style == {"height": "620px"} and box.children.id == "replay-map-0"
    # a run without streets: no street data, and the page says so
    (tmp_path / "b" / "roads.parquet").unlink()
    layout = replay_page.layout(lang="en", run=run_key((tmp_path / "b").resolve()))
    cfg = next(c for c in _components(layout) if getattr(c, "id", None) == "replay-cfg").data
    assert cfg["graphs"][0]["roads"] is None
    assert any(getattr(c, "id", None) == "replay-no-roads" for c in _components(layout))


def test_one_run_pages_share_the_run_choice(app_with_runs, tmp_path: Path):
    from policetwin.dashboard.app import current
    from policetwin.dashboard.pages import chosen_run
    from policetwin.dashboard.rundata import run_key

    newest = current().scan().runs[0].key
    assert chosen_run(None, "no-such-run") == ("en", newest)
    b = run_key((tmp_path / "b").resolve())
    assert chosen_run("zh", b) == ("zh", b)
    for page in ("replay", "kpis"):  # both use it: the URL's run, else the newest
        src = (PKG / "pages" / f"{page}.py").read_text(encoding="utf-8")
        assert "chosen_run(lang, run)" in src and "found.runs[0]" not in src and "def _choose_run" not in src


def test_run_page_says_when_an_upload_is_too_large(app_with_runs):
    import dash

    from policetwin.dashboard import jobs
    from policetwin.dashboard.pages import run as run_page

    for lang in ("en", "zh"):
        box = run_page._picked({"name": "huge.yaml", "size": 5 * 1024 * 1024, "n": 1}, lang)
        assert box.id == "run-upload-error"
        assert box.children == t("run.upload_too_large", lang, name="huge.yaml", size_kb="5,120", max_kb=256)
    assert run_page._picked({"name": "ok.yaml", "size": 1000, "n": 2}, "en") is dash.no_update
    assert run_page._picked(None, "en") is dash.no_update
    layout = run_page.layout(lang="zh")
    upload = next(c for c in _components(layout) if getattr(c, "id", None) == "run-upload-box")
    assert upload.max_size == jobs.MAX_UPLOAD_BYTES  # the box refuses what the server would refuse
    assert t("run.upload", "zh", max_kb=256) in _strings(layout)


def test_run_page_offers_the_idle_modes_of_the_chosen_scenario(app_with_runs):
    from policetwin.dashboard import jobs
    from policetwin.dashboard.pages import run as run_page

    n_posts = len(jobs.scenario_facts("coquimbo-whatif-posts")["posts"])
    options, value, note = run_page._idle_choices("bundled:coquimbo-whatif-posts", None, "hotspot", "zh")
    assert [o["value"] for o in options] == ["station", "post", "random_beat", "hotspot"]
    assert [o["label"] for o in options][1] == t("idle.post", "zh") and value == "hotspot"
    assert note == t("run.idle_posts", "zh", n=n_posts)
    options, value, note = run_page._idle_choices("bundled:helsinki", None, "post", "en")
    assert [o["value"] for o in options] == ["station", "random_beat", "hotspot"]
    assert value is None and note == t("run.idle_no_posts", "en")  # post is cleared: no posts here
    layout = run_page.layout(lang="en")  # the default scenario (helsinki) has no posts
    idle = next(c for c in _components(layout) if getattr(c, "id", None) == "run-idle")
    assert [o["value"] for o in idle.options] == ["station", "random_beat", "hotspot"]


def _components(component) -> list:
    """A component and every component inside it."""
    out, todo = [], [component]
    while todo:
        c = todo.pop()
        out.append(c)
        children = getattr(c, "children", None)
        todo += (
            children
            if isinstance(children, list)
            else [children]
            if hasattr(children, "to_plotly_json")
            else []
        )
    return out


# ----------------------------------------------------------------------------- a 1M-incident run


def test_a_million_incidents_are_aggregated_and_windowed(tmp_path: Path):
    run_dir = make_run(tmp_path / "big")
    n = 1_000_000
    rng = np.random.default_rng(7)
    t_call = np.sort(rng.uniform(0, 30 * 86400, n))
    arrive = t_call + 60 + rng.exponential(400, n)
    inc = pd.DataFrame({
        "incident_id": np.arange(n, dtype=np.int64), "kind": rng.choice(["a", "b", "c"], n),
        "priority": rng.integers(1, 4, n), "target_s": 900.0, "t_occur": t_call, "t_call": t_call,
        "t_answer": t_call + 5, "t_ready": t_call + 60, "t_desk": t_call + 60, "t_decided": t_call + 60,
        "t_dispatch": t_call + 60, "t_enroute": t_call + 60, "t_arrive": arrive, "t_clear": arrive + 1200,
        "lon": rng.uniform(0, 0.03, n), "lat": 0.0, "district": "S", "outcome": "served",
    })  # fmt: skip
    inc.to_parquet(run_dir / "incidents.parquet", index=False, row_group_size=100_000)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["duration_s"] = 30 * 86400.0
    summary["engine"]["end_s"] = 30 * 86400.0
    (run_dir / "summary.json").write_text(json.dumps(summary))

    from policetwin.dashboard.pages.kpis import aggregates
    from policetwin.dashboard.rundata import open_run

    run = open_run(run_dir)
    started = time.perf_counter()
    agg = aggregates(run)
    kpi_s = time.perf_counter() - started
    assert agg["n_calls"] == n and agg["hist"]["count"].sum() == n
    payload = sum(len(json.dumps(f.to_plotly_json(), default=str)) for f in (
        figures.response_figure(agg["hist"], "en"), figures.queue_figure(agg["queue"], "Mon 00:00", "en")))  # fmt: skip
    assert payload < 200_000  # binned: the browser never gets one point per call
    started = time.perf_counter()
    chunk = replay.chunk(run, 100)
    chunk_s = time.perf_counter() - started
    open_calls = int(((inc.t_call < 101 * 3600) & (inc.t_clear >= 100 * 3600)).sum())
    assert chunk["incidents"]["total"] == open_calls and len(chunk["incidents"]["id"]) == open_calls
    assert len(json.dumps(chunk)) < 500_000
    win = replay.incident_window(run, 0, 30 * 86400)  # the whole month at once is capped
    assert win["total"] == n and len(win["id"]) == replay.MAX_INCIDENTS_PER_CHUNK
    assert kpi_s < 30 and chunk_s < 5, (kpi_s, chunk_s)
    print(f"1M incidents: KPI aggregates {kpi_s:.1f}s, one replay chunk {chunk_s:.2f}s")
