"""The dashboard's event parts without a browser: the data read from a run directory (geometry from the
summary or rebuilt from the scenario, event times), the replay payload and layers, the KPI frames and
figures (pure, in both languages), the KPIs section and the Run page's event parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dash import html
from test_dashboard import _components, _english_patterns, _strings
from test_dashboard_data import STEP, make_run

from policetwin.dashboard import event_data as ed
from policetwin.dashboard import event_figures as ef
from policetwin.dashboard import event_kpis, event_replay, layers
from policetwin.dashboard import event_run as er
from policetwin.dashboard.i18n import clock_label, t
from policetwin.dashboard.rundata import open_run

VENUE = (2 * STEP, 0.0)


def make_event_run(path: Path, *, geometry: bool = True) -> Path:
    """make_run's tiny run plus an event: 3 walk links, 3 one-minute bins (LOS A, then C and F), two
    gates (one never used), one crowd incident, a summary ``event`` block and the scenario's ``event:``."""
    make_run(path)
    links = pd.DataFrame({"edge": np.arange(3, dtype=np.int32), "lon_u": [0.0, STEP, 2 * STEP],
                          "lat_u": 0.0001, "lon_v": [STEP, 2 * STEP, 3 * STEP], "lat_v": 0.0001,
                          "length_m": 1000.0, "width_m": [4.0, 4.0, 10.0], "highway": ["footway"] * 3})  # fmt: skip
    links.to_parquet(path / "walk_links.parquet", index=False)
    crowd = pd.DataFrame({"t_start_s": [0.0, 60.0, 60.0, 120.0], "t_end_s": [60.0, 120.0, 120.0, 180.0],
                          "edge": np.array([0, 0, 1, 1], np.int32), "people": np.array([5, 50, 400, 900], np.int32),
                          "density_p_m2": [0.01, 0.5, 1.5, 3.9], "peak_density_p_m2": [0.02, 0.6, 1.6, 4.0],
                          "los": pd.Categorical(["A", "C", "D", "F"]), "los_scale": "walkway"})  # fmt: skip
    crowd.to_parquet(path / "crowd.parquet", index=False)
    gates = pd.DataFrame({"gate": ["g1"] * 3 + ["g2"] * 3, "t_start_s": [0.0, 60.0, 120.0] * 2,
                          "t_end_s": [60.0, 120.0, 180.0] * 2, "queue": [0, 30, 4, 0, 0, 0],
                          "queue_max": [2, 40, 9, 0, 0, 0], "wait_p50_s": [1.0, 50.0, 20.0] + [np.nan] * 3,
                          "wait_p95_s": [3.0, 120.0, 40.0] + [np.nan] * 3, "throughput": [10, 20, 30, 0, 0, 0],
                          "lanes_open": [2, 2, 2, 0, 0, 0]})  # fmt: skip
    gates.to_parquet(path / "gates.parquet", index=False)
    inc = pd.read_parquet(path / "incidents.parquet")
    crowd_call = inc.iloc[[0]].assign(incident_id=9, kind="crowd-medical", source="crowd", t_call=70.0,
                                      t_arrive=300.0, t_clear=900.0, target_s=300.0)  # fmt: skip
    pd.concat([inc, crowd_call], ignore_index=True).to_parquet(path / "incidents.parquet", index=False)
    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    ring = ed._circle(*VENUE, 300.0)
    summary["event"] = {
        "attendees": 1000, "arrived_inside": 990, "peak_density_p_m2": 4.0, "edges_at_los_e_f": 1,
        "edge_minutes_at_los_e_f": 1.0, "egress_95_s": 600.0,
        "city_cost": {"same_routine_calls": True,
                      "outside": {"with_event": {"count": 2, "response_mean_s": 600.0, "response_p90_s": 900.0,
                                                 "within_target": 0.5},
                                  "without_event": {"count": 2, "response_mean_s": 300.0, "response_p90_s": 400.0,
                                                    "within_target": 1.0},
                                  "response_change_mean_s": 300.0, "slower_share": 0.5}},
    }  # fmt: skip
    if geometry:
        summary["event"]["geometry"] = {
            "venue": ed._circle(*VENUE, 50.0), "rings": [{"name": "outer", "outline": ring}],
            "gates": [{"name": "g1", "ring": "outer", "lanes": 2, "lon": STEP, "lat": 0.0},
                      {"name": "g2", "ring": "outer", "lanes": 2, "lon": 3 * STEP, "lat": 0.0}],
        }  # fmt: skip
    (path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    scenario = yaml.safe_load((path / "scenario.yaml").read_text(encoding="utf-8"))
    scenario["event"] = {
        "start": "00:01", "end": "00:02", "venue": {"lon": VENUE[0], "lat": VENUE[1], "radius_m": 50.0},
        "rings": [{"name": "outer", "buffer_m": 250.0}, {"name": "inner", "buffer_m": 100.0}],
        "gates": [{"name": "g1", "ring": "outer", "lanes": 2, "lon": STEP, "lat": 0.0}],
    }  # fmt: skip
    (path / "scenario.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


@pytest.fixture
def event_run(tmp_path: Path):
    return open_run(make_event_run(tmp_path / "ev"))


def test_geometry_from_the_summary_else_rebuilt_from_the_scenario(event_run, tmp_path: Path):
    geo = ed.geometry(event_run)
    assert [r["name"] for r in geo["rings"]] == ["outer"]
    assert [g["name"] for g in geo["gates"]] == ["g1", "g2"]
    old = open_run(make_event_run(tmp_path / "old", geometry=False))
    geo = ed.geometry(old)
    assert [r["name"] for r in geo["rings"]] == ["outer", "inner"] and geo["gates"][0]["name"] == "g1"
    # a circle of the venue's radius + the ring's buffer (300 m) around the venue
    _, lat = np.array(geo["rings"][0]["outline"]).T
    assert (lat.max() - lat.min()) / 2 * 111_320 == pytest.approx(300.0, rel=1e-3)
    assert ed.event_times(event_run) == (60.0, 120.0)  # 00:01 and 00:02 after Mon 00:00
    assert not ed.has_event(open_run(make_run(tmp_path / "plain")))


def test_replay_payload_encodes_levels_per_bin_and_gate_queues(event_run):
    p = event_replay.payload(event_run)
    assert (p["t0"], p["bin_s"], p["n_bins"]) == (0.0, 60.0, 3)
    assert p["links"]["los"] == ["AC ", " DF"]  # link 0: A then C; link 1: D then F; link 2 never used
    d = np.array(p["links"]["d"]).reshape(-1, 2).cumsum(axis=0) * ed.COORD_SCALE  # two points per link
    assert d[0] == pytest.approx([0.0, 0.0001]) and d[3] == pytest.approx([2 * STEP, 0.0001])
    assert p["gates"]["name"] == ["g1", "g2"] and p["gates"]["q"][0] == [2, 40, 9]
    assert p["gates"]["lanes"][1] == [0, 0, 0] and p["gates"]["wait"][1] == [-1.0, -1.0, -1.0]
    assert p["incidents"]["id"] == [9] and p["incidents"]["kind"] == ["crowd-medical"]


def test_long_runs_merge_bins_keeping_the_worst(event_run, monkeypatch):
    monkeypatch.setattr(ed, "MAX_REPLAY_BINS", 2)
    event_run._cache.pop("memo:event_payload", None)
    p = event_replay.payload(event_run)
    assert (p["bin_s"], p["n_bins"]) == (120.0, 2)
    assert p["links"]["los"] == ["C ", "DF"] and p["gates"]["q"][0] == [40, 9]


def test_event_layers_are_on_the_map_only_for_event_runs(event_run, tmp_path: Path):
    fig, present = layers.build_map(layers.LayerContext(event_run, "k", "zh"))
    assert {"event_links", "event_venue", "event_rings", "event_gates", "event_incidents"} <= set(present)
    assert present.index("event_links") < present.index("incidents") < present.index("event_gates")
    rings = [tr for tr in fig.data if tr.meta == "event_rings"]
    assert rings[0].name == t("layer.event_rings", "zh") and "text" not in (rings[0].mode or "")
    assert rings[0].hovertext == t("ev.ring_name", "zh", name="outer")
    _, plain = layers.build_map(layers.LayerContext(open_run(make_run(tmp_path / "p")), "p", "en"))
    assert not [k for k in plain if k.startswith("event_")]


def test_replay_page_sends_the_event_payload_and_dynamic_keys(tmp_path: Path):
    from policetwin.dashboard.app import create_app
    from policetwin.dashboard.pages import replay as replay_page
    from policetwin.dashboard.rundata import run_key

    path = make_event_run(tmp_path / "ev")
    create_app([path], runs_dir=tmp_path / "new")
    panel = replay_page.replay_panel("replay", [run_key(path.resolve())], "zh")
    cfg = next(c for c in _components(panel) if getattr(c, "id", None) == "replay-cfg").data
    assert cfg["graphs"][0]["event"] == event_replay.payload(open_run(path))
    dynamic = {"roads", "units", "incidents", "event_links", "event_gates", "event_incidents"}
    assert set(cfg["dynamic"]) == dynamic
    assert "{queue}" in cfg["event_labels"]["gate"]
    assert any(getattr(c, "id", None) == "replay-event-legend" for c in _components(panel))


def test_kpi_frames(event_run):
    agg = event_kpis.aggregates(event_run)
    assert agg["waits"]["gate"].unique().tolist() == ["g1"]  # nobody queued at g2
    assert agg["waits"]["queue"].tolist() == [2, 40, 9]
    assert agg["los_time"].loc[60.0].to_dict() == {"A": 0, "C": 1, "D": 1, "F": 0}
    assert agg["los_minutes"].to_dict() == {"A": 1.0, "C": 1.0, "D": 1.0, "F": 1.0}
    hot = agg["hot"]
    assert hot.iloc[0]["edge"] == 1 and hot.iloc[0]["minutes_ef"] == 1.0 and hot.iloc[0]["width_m"] == 4.0
    people = agg["people"]
    assert people["walking"].tolist() == [5, 450, 900] and people["screened"].tolist() == [10, 30, 60]
    cost = event_kpis.city_cost(ed.event_block(event_run))
    assert cost.loc["with_event", "response_mean_s"] == 600.0
    assert list(cost.index) == ["without_event", "with_event"]
    assert event_kpis.city_cost({}).empty


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_figures_are_pure_and_translated(event_run, lang: str):
    agg = event_kpis.aggregates(event_run)
    start = event_run.start
    fig = ef.gate_wait_figure(agg["waits"], start, lang, (60.0, 120.0))
    assert fig.layout.title.text == t("ev.gate_waits", lang) and list(fig.data[0].y) == [0.05, 2.0, 40 / 60]
    assert len(fig.layout.shapes) == 2 and fig.layout.annotations[0].text == t("ev.start_line", lang)
    assert fig.layout.xaxis.ticktext[0] == clock_label(0, start, lang)
    fig = ef.los_time_figure(agg["los_time"], start, lang)
    assert [tr.name for tr in fig.data] == [t("ev.los", lang, level=x) for x in "ACDF"]
    assert fig.data[-1].line.color == ed.LOS_COLOURS[5]
    fig = ef.los_minutes_figure(agg["los_minutes"], lang)
    assert list(fig.data[0].y) == [1.0] * 4
    fig = ef.egress_figure(agg["people"], start, lang)
    assert [tr.name for tr in fig.data] == [t("ev.walking", lang), t("ev.screened", lang)]
    fig = ef.city_cost_figure(event_kpis.city_cost(ed.event_block(event_run)), lang)
    assert [tr.name for tr in fig.data] == [t("ev.without_event", lang), t("ev.with_event", lang)]
    assert list(fig.data[1].y) == [10.0, 15.0]
    assert ef.gate_queue_figure(agg["waits"], start, lang).data[0].y.tolist() == [2, 40, 9]


def test_kpi_section_in_both_languages(event_run, tmp_path: Path):
    pats = _english_patterns()
    for lang in ("en", "zh"):
        parts = html.Div(event_kpis.section(event_run, lang))
        ids = {getattr(c, "id", None) for c in _components(parts)}
        assert {"kpi-ev-waits", "kpi-ev-los", "kpi-ev-egress", "kpi-ev-incident-table", "kpi-ev-city"} <= ids
        strings = _strings(parts)
        if lang == "zh":
            assert not [s for s in strings if any(p.match(s) for p in pats)]
    assert event_kpis.section(open_run(make_run(tmp_path / "plain")), "en") == []


def test_run_page_event_parameters_make_set_overrides():
    facts = er.event_facts("helsinki-newyear-evacuation")
    assert facts["attendees"] == 40000 and facts["gates"][0]["name"] == "outer-1"
    assert er.event_facts("helsinki") is None
    assert er.check(2000, "outer-2", 8, "23:45", facts) == []
    sets = er.overrides(2000, "outer-2", 8, "23:45", facts)
    assert sets[:2] == ["event.attendees.total=2000", "event.gates.1.lanes=8"]
    assert json.loads(sets[2].split("=", 1)[1]) == [{"at": "23:45", "action": "evacuate"}]
    assert er.overrides(None, None, None, "", facts) == []
    bad = er.check(0, None, 3, "25:00", facts)
    assert bad == [("ev.run_attendees", "ev.run_bad_attendees"), ("ev.run_gate", "ev.run_choose_gate"),
                   ("ev.run_evacuate", "ev.run_bad_clock")]  # fmt: skip
    for lang in ("en", "zh"):
        box = er.params_box(facts, lang, {})
        assert box.style == {} and er.gate_options(facts, lang)[0]["value"] == "outer-1"
        assert er.params_box(None, lang, {}).style == {"display": "none"}


def test_event_overrides_are_valid_for_the_cli():
    """The --set assignments the Run page makes load as a valid scenario."""
    from policetwin.scenarios import load_scenario

    facts = er.event_facts("helsinki-newyear")
    sets = er.overrides(1234, "outer-3", 5, "23:40", facts)
    sc = load_scenario("helsinki-newyear", overrides=sets)
    assert sc.event.attendees.total == 1234 and sc.event.gates[2].lanes == 5
    assert [(i.action, i.at) for i in sc.event.interventions] == [("evacuate", "23:40")]
