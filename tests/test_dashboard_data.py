"""Dashboard data layer without a browser: run discovery and bad run directories, replay positions (the
trips.parquet contract), time-window chunks, KPI aggregations, Compare (mean ± CI over sets), Run-page
jobs (overrides, progress parsing, upload validation) and the CLI's port and host checks."""

from __future__ import annotations

import base64
import itertools
import json
import math
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.dashboard import jobs, kpis, replay, replay_map
from policetwin.dashboard.cli import is_loopback
from policetwin.dashboard.compare import Side, compare_sides
from policetwin.dashboard.rundata import RunData, RunDirError, discover, open_run
from policetwin.experiments import compare_runs
from policetwin.experiments.sweep_stats import mean_ci

STEP = 0.009  # degrees of longitude between the line's nodes
NAN = float("nan")


def make_run(path: Path, *, name: str = "tiny", response_scale: float = 1.0) -> Path:
    """A hand-made run directory on a five-node line (ids 100..104, lon = i * STEP, lat 0), station S at
    node 100, units S-01 / S-02, two served calls and one phone call; every file of the contract."""
    path.mkdir(parents=True)
    nodes = pd.DataFrame({"node": np.arange(100, 105, dtype=np.int64), "lon": np.arange(5) * STEP, "lat": 0.0,
                          "district": ["S"] * 4 + [""]})  # fmt: skip
    nodes.to_parquet(path / "nodes.parquet", index=False)
    roads = pd.DataFrame({"u": [100, 101, 102, 103], "v": [101, 102, 103, 104],
                          "highway": ["residential", "residential", "primary", "residential"]})  # fmt: skip
    roads.to_parquet(path / "roads.parquet", index=False)
    arrive0, arrive1 = 160 + 300 * response_scale, 2000 + 300 * response_scale
    inc = pd.DataFrame(
        {
            "incident_id": np.array([0, 1, 2], dtype=np.int64),
            "kind": ["violent", "theft", "noise"],
            "priority": np.array([1, 2, 3], dtype=np.int64),
            "target_s": [600.0, 1200.0, 3600.0],
            "t_occur": [40.0, 2000.0, 4000.0],
            "t_call": [100.0, 2000.0, 4000.0],
            "t_answer": [100.0, 2000.0, 4010.0],
            "t_ready": [160.0, 2000.0, 4100.0],
            "t_desk": [160.0, 2000.0, 4100.0],
            "t_decided": [160.0, 2000.0, 4100.0],
            "t_dispatch": [160.0, 2000.0, NAN],
            "t_enroute": [160.0, 2000.0, NAN],
            "t_arrive": [arrive0, arrive1, NAN],
            "t_clear": [1000.0, 3000.0, 4100.0],
            "node": np.array([103, 104, 102], dtype=np.int64),
            "lon": [3 * STEP, 4 * STEP, 2 * STEP],
            "lat": [0.0, 0.0, 0.0],
            "district": ["S", "", "S"],
            "n_units": np.array([1, 1, 0], dtype=np.int64),
            "first_unit": ["S-01", "S-02", None],
            "source": ["generated"] * 3,
            "detected_by": ["citizen"] * 3,
            "outcome": ["served", "served", "phone"],
            "n_preempted": np.zeros(3, dtype=np.int64),
            "n_backup": np.zeros(3, dtype=np.int64),
            "linked_to": pd.array([None, None, None], dtype="Int64"),
        }
    )
    inc.to_parquet(path / "incidents.parquet", index=False)
    units = pd.DataFrame(
        {
            "unit_id": ["S-01"] * 5 + ["S-02"] * 5,
            "state": ["idle", "enroute", "onscene", "returning", "idle"] * 2,
            "t_start": [0.0, 160.0, 460.0, 1000.0, 1150.0, 0.0, 2000.0, 2300.0, 3000.0, 3400.0],
            "t_end": [160.0, 460.0, 1000.0, 1150.0, 7200.0, 2000.0, 2300.0, 3000.0, 3400.0, 7200.0],
            "incident_id": pd.array([None, 0, 0, None, None, None, 1, 1, None, None], dtype="Int64"),
        }
    )
    units.to_parquet(path / "units.parquet", index=False)
    trips = pa.table(
        {
            "trip_id": pa.array([0, 1, 2, 3], pa.int64()),
            "unit_id": ["S-01", "S-01", "S-02", "S-02"],
            "purpose": ["to_call", "return", "to_call", "return"],
            "incident_id": pa.array([0, None, 1, None], pa.int64()),
            "t_start": [160.0, 1000.0, 2000.0, 3000.0],
            "t_end": [460.0, 1150.0, 2300.0, 3400.0],  # S-01's return is cut short at 1150
            "route": pa.array(
                [
                    [100, 101, 102, 103],
                    [103, 102, 101, 100],
                    [100, 101, 102, 103, 104],
                    [104, 103, 102, 101, 100],
                ],
                pa.list_(pa.int64()),
            ),
            "route_t": pa.array(
                [
                    [160.0, 260.0, 360.0, 460.0],
                    [1000.0, 1100.0, 1200.0, 1300.0],
                    [2050.0, 2100.0, 2150.0, 2200.0, 2300.0],
                    [3000.0, 3100.0, 3200.0, 3300.0, 3400.0],
                ],
                pa.list_(pa.float64()),
            ),
        }
    )
    pq.write_table(trips, path / "trips.parquet")
    assignments = pd.DataFrame(
        {"incident_id": np.array([0, 1], dtype=np.int64), "unit_id": ["S-01", "S-02"], "t_assigned": [160.0, 2000.0],
         "t_enroute": [160.0, 2000.0], "t_arrive": [arrive0, arrive1], "t_released": [1000.0, 3000.0],
         "result": ["completed", "completed"], "out_of_district": [False, True]}
    )  # fmt: skip
    assignments.to_parquet(path / "assignments.parquet", index=False)
    resp = [arrive0 - 100, arrive1 - 2000]
    summary = {
        "version": "0.1.0", "scenario_name": name, "seed": 1, "start": "Mon 00:00", "duration_s": 7200.0,
        "map": {"name": "line", "bbox": [0.0, -0.001, 4 * STEP, 0.001]},
        "priorities": {"1": {"count": 1, "served": 1, "response_mean_s": resp[0], "within_target": 1.0},
                       "2": {"count": 1, "served": 1, "response_mean_s": resp[1], "within_target": 1.0}},
        "overall": {"count": 2, "served": 2, "response_mean_s": sum(resp) / 2, "response_p90_s": max(resp),
                    "within_target": 1.0},
        "units": {"count": 2, "utilisation": 0.3, "saturation_index": 0.25},
        "queue": {"p_wait_for_unit": 0.0, "max_waiting": 0},
        "dispatch": {"districts": {"S": {"units": 2, "calls": 1, "saturation_index": 0.2}}, "units_sent": 2,
                     "preemptions": 1, "backup_units_requested": 0, "out_of_district_share": 0.5,
                     "mutual_aid_share": None, "capabilities": {"k9": {"calls": 1, "mean_wait_for_unit_s": 30.0}}},
        "outcomes": {"served": {"count": 2, "share": 1.0}, "phone": {"count": 0, "share": 0.0}},
        "groups": {}, "engine": {"end_s": 7200.0},
        "files": ["assignments.parquet", "incidents.parquet", "nodes.parquet", "roads.parquet", "scenario.yaml",
                  "summary.json", "trips.parquet", "units.parquet"],
    }  # fmt: skip
    (path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    scenario = {"name": name, "seed": 1, "start": "Mon 00:00", "duration": 7200.0, "map": "synthetic:5",
                "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}], "units": {"count": 2},
                "demand": {"rate_per_hour": 2.0, "hotspots": [{"lon": 0.02, "lat": 0.0, "radius_m": 300.0}]}}  # fmt: skip
    (path / "scenario.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_run(tmp_path / "tiny")


# ----------------------------------------------------------------------------- run directories


def test_discover_runs_sets_and_problems(tmp_path: Path):
    run = make_run(tmp_path / "a")
    sweep = tmp_path / "sweep"
    make_run(sweep / "r1")
    make_run(sweep / "r2")
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "file.txt").write_text("x")
    bad_json = tmp_path / "badjson"
    bad_json.mkdir()
    (bad_json / "summary.json").write_text("{not json")
    found = discover([run, sweep, empty, tmp_path / "missing", tmp_path / "file.txt", bad_json])
    assert {r.label for r in found.runs} == {"a", "r1", "r2"}
    assert [r.label for r in found.sets["sweep"]] == ["r1", "r2"]
    keys = sorted(p.key for p in found.problems)
    assert keys == ["err.bad_summary", "err.missing", "err.not_dir", "err.not_run_dir"]
    msgs = {p.key: p.message("en") for p in found.problems}
    assert (
        msgs["err.not_run_dir"]
        == f"{empty}: is not a run directory (no summary.json) and holds no run directories"
    )
    assert "不是运行目录" in next(p for p in found.problems if p.key == "err.not_run_dir").message("zh")
    assert found.by_key(found.runs[0].key) is found.runs[0]


def test_corrupt_and_incomplete_parquet_files_are_clear_errors(tiny: Path):
    (tiny / "incidents.parquet").write_bytes(b"PAR1 garbage")
    run = RunData(tiny)
    with pytest.raises(RunDirError) as err:
        run.table("incidents.parquet")
    assert err.value.key == "err.bad_parquet" and "incidents.parquet" in err.value.message("en")
    pd.DataFrame({"unit_id": ["a"], "state": ["idle"]}).to_parquet(tiny / "units.parquet")
    with pytest.raises(RunDirError) as err:
        RunData(tiny).table("units.parquet")
    assert err.value.key == "err.bad_columns" and "t_start" in err.value.message("en")


# ----------------------------------------------------------------------------- replay


def test_positions_follow_the_trips_contract(tiny: Path):
    tr = replay.tracks(open_run(tiny))
    assert not tr.approximate
    s01, s02 = tr.unit_ids.index("S-01"), tr.unit_ids.index("S-02")

    def at(t: float) -> tuple[float, float, str]:
        lon, _lat, code = replay.positions_at(tr, t)
        return lon[s01], lon[s02], replay.STATES[code[s01]]

    assert at(100)[0] == pytest.approx(0.0)  # before its first trip: at route[0] (the station)
    assert at(210)[0] == pytest.approx(0.5 * STEP)  # linear between route nodes
    assert at(700)[0] == pytest.approx(3 * STEP) and at(700)[2] == "onscene"
    assert at(1150)[0] == pytest.approx(1.5 * STEP)  # cut short at t_end: interpolated there
    assert at(5000)[0] == pytest.approx(1.5 * STEP) and at(5000)[2] == "idle"  # stays where it stopped
    assert at(2025)[1] == pytest.approx(0.0)  # waits at route[0] until route_t[0]
    assert at(2075)[1] == pytest.approx(0.5 * STEP)
    assert at(2700)[1] == pytest.approx(4 * STEP)


def test_approximate_tracks_without_trips(tiny: Path):
    (tiny / "trips.parquet").unlink()
    tr = replay.tracks(RunData(tiny))
    assert tr.approximate
    lon, _, _ = replay.positions_at(tr, 700)
    assert lon[tr.unit_ids.index("S-01")] == pytest.approx(3 * STEP)  # on scene at the call


def test_chunk_holds_the_window_and_is_json(tiny: Path):
    run = open_run(tiny)
    data = replay.chunk(run, 0)
    assert data["t0"] == 0 and data["t1"] == replay.CHUNK_S
    assert data["units"]["ids"] == ["S-01", "S-02"]
    assert data["incidents"]["id"] == [0, 1]  # incident 2 is called at 4000 s, after this hour
    assert data["incidents"]["kinds"] == ["noise", "theft", "violent"]
    json.dumps(data, allow_nan=False)
    later = replay.chunk(run, 1)
    assert later["incidents"]["id"] == [2]
    # keyframes cover the window: the last one before it and the first one after it are included
    t = later["units"]["t"][0]
    assert t[0] <= 3600 <= t[-1] or len(t) == 1


def test_incident_window_caps_most_urgent_first(tmp_path: Path):
    run_dir = make_run(tmp_path / "r")
    n = 5000
    rng = np.random.default_rng(1)
    inc = pd.DataFrame({"incident_id": np.arange(n, dtype=np.int64), "priority": rng.integers(1, 4, n),
                        "t_call": np.sort(rng.uniform(0, 3600, n)), "t_arrive": NAN, "t_clear": 1e9,
                        "lon": 0.0, "lat": 0.0, "kind": "k"})  # fmt: skip
    inc.to_parquet(run_dir / "incidents.parquet", index=False)
    win = replay.incident_window(RunData(run_dir), 0, 3600, cap=100)
    assert win["total"] == n and len(win["id"]) == 100
    assert set(win["p"]) == {1}


def _decode_lines(part: dict, scale: float) -> list[list[tuple[float, float]]]:
    """The polylines of :func:`replay_map.road_lines` as (lon, lat) lists (what replay.js decodes)."""
    xy = np.cumsum(np.array(part["d"], dtype=np.int64).reshape(-1, 2), axis=0) * scale
    ends = np.cumsum([0, *part["n"]])
    return [[tuple(p) for p in xy[a:b].round(6).tolist()] for a, b in itertools.pairwise(ends)]


def test_road_and_district_geometry(tiny: Path):
    run = open_run(tiny)
    roads = replay_map.road_lines(run)
    scale = roads["scale"]
    assert _decode_lines(roads["major"], scale) == [[(round(2 * STEP, 6), 0.0), (round(3 * STEP, 6), 0.0)]]
    # minor: 100-101-102 joined through node 101 (two minor segments meet there), then 103-104
    minor = _decode_lines(roads["minor"], scale)
    assert roads["minor"]["n"] == [3, 2]
    assert [[lon for lon, _ in line] for line in minor] == [[0.0, STEP, round(2 * STEP, 6)],
                                                           [round(3 * STEP, 6), round(4 * STEP, 6)]]  # fmt: skip
    assert list(replay_map.district_segments(run)) == ["S"]  # 103-104 crosses into "" and is left out
    assert len(replay_map.district_segments(run)["S"]) == 3
    fc = replay_map.geojson_lines(replay_map.district_segments(run)["S"])
    assert fc["features"][0]["geometry"]["type"] == "MultiLineString"


def test_polylines_cover_every_segment_once():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 60, 12), rng.integers(0, 60, 12)  # a street of 60 nodes and a few cross streets
    pairs = {(i, i + 1) for i in range(59)} | {
        (min(p, q), max(p, q)) for p, q in zip(a, b, strict=True) if p != q
    }
    a, b = np.array([p for p, _ in pairs]), np.array([q for _, q in pairs])
    lines = replay_map.polylines(a, b)
    walked = [(min(p, q), max(p, q)) for line in lines for p, q in itertools.pairwise(line)]
    assert sorted(walked) == sorted(pairs)  # every segment exactly once
    assert len(lines) < len(pairs)  # joined where nodes have two segments
    ring = replay_map.polylines(np.array([0, 1, 2]), np.array([1, 2, 0]))
    assert len(ring) == 1 and len(ring[0]) == 4 and ring[0][0] == ring[0][-1]


def test_road_lines_are_compact_and_empty_without_roads(tiny: Path, tmp_path: Path):
    run = open_run(tiny)
    assert all(isinstance(v, int) for v in replay_map.road_lines(run)["minor"]["d"])
    bare = make_run(tmp_path / "bare")
    (bare / "roads.parquet").unlink()
    assert replay_map.road_lines(open_run(bare)) == {"scale": replay_map.COORD_SCALE, "major": {"n": [], "d": []},
                                                 "minor": {"n": [], "d": []}}  # fmt: skip


# ----------------------------------------------------------------------------- KPIs


def test_kpi_aggregations(tiny: Path):
    run = open_run(tiny)
    inc = run.table("incidents.parquet")
    hist = kpis.response_histogram(inc)
    assert hist["count"].sum() == 2 and hist.attrs["targets"] == {1: 600.0, 2: 1200.0, 3: 3600.0}
    pp = kpis.per_priority(inc)
    assert list(pp.index) == [1, 2] and pp.loc[1, "response_mean_s"] == pytest.approx(360.0)
    assert pp.loc[1, "time_to_know_mean_s"] == pytest.approx(60.0) and pp.loc[1, "within_target"] == 1.0
    stages = kpis.stage_means(inc)
    assert stages.loc[1, "handling"] == pytest.approx(60.0) and stages.loc[1, "travel"] == pytest.approx(
        300.0
    )
    occ = kpis.state_occupancy(run.table("units.parquet"), 7200, 900)
    assert occ.loc[0.0, "enroute"] == pytest.approx(300 / 900)  # S-01 en route 160-460
    assert occ.sum(axis=1).to_numpy() == pytest.approx(np.full(8, 2.0))  # two units at all times
    util = kpis.utilisation_series(occ)
    assert util.loc[0.0, "saturation_index"] == pytest.approx((300 + 440) / 900 / 2)
    queue = kpis.queue_series(inc, 7200, 900)
    assert queue.loc[3600.0, "for_taker"] == pytest.approx(10 / 900)  # the phone call waited 10 s
    districts = kpis.per_district(inc, run.summary)
    assert districts.loc["S", "saturation_index"] == 0.2
    watch = kpis.per_watch(inc, 0.0)
    assert list(watch.index) == [0] and watch.loc[0, "calls"] == 2


def test_per_shift_reads_the_summary_groups():
    summary = {"groups": {"day": {"count": 3, "utilisation": 0.5, "saturation_index": 0.4,
                                  "shifts": {"07:00-15:00": {"saturation_index": 0.45}},
                                  "patrol": {"shifts": {"07:00-15:00": {"coverage_mean": 0.3}}},
                                  "meal_break_s": 5400.0, "self_initiated_s": 600.0, "overtime_s": 120.0}}}  # fmt: skip
    frame = kpis.per_shift(summary)
    assert frame.iloc[0].to_dict() == {"group": "day", "window": "07:00-15:00", "units": 3, "utilisation": 0.5,
                                       "saturation_index": 0.45, "coverage": 0.3, "meal_break_s": 5400.0,
                                       "self_initiated_s": 600.0, "overtime_s": 120.0}  # fmt: skip


def test_dispatch_figures_come_from_the_summary(tiny: Path):
    from policetwin.dashboard.pages import kpis as kpi_page
    from policetwin.dashboard.rundata import open_run

    run = open_run(tiny)
    rows, dispatch = kpis.dispatch_rows(run.summary)
    assert rows == [("served", 2, 1.0), ("phone", 0, 0.0)] and dispatch["preemptions"] == 1
    assert kpis.dispatch_rows({}) == ([], {})  # a run from before these figures: nothing shown

    def texts(node) -> list[str]:
        if isinstance(node, str):
            return [node]
        kids = getattr(node, "children", None)
        return [x for k in (kids if isinstance(kids, list) else [kids]) if k is not None for x in texts(k)]

    for lang, served, preempt in (("en", "served", "Pre-emptions"), ("zh", "已出警", "改派（抢占）次数")):
        shown = [x for part in kpi_page.content(run, lang) for x in texts(part)]
        assert served in shown and preempt in shown and "50.0%" in shown
        assert any(x.startswith("30") for x in shown)  # the k9 wait, 30 s


# ----------------------------------------------------------------------------- compare


def test_compare_uses_compare_runs_and_sets_get_confidence_intervals(tmp_path: Path):
    a = make_run(tmp_path / "a", response_scale=1.0)
    b = make_run(tmp_path / "b", response_scale=2.0)
    view = compare_sides([Side("a", (a,)), Side("b", (b,))])
    ref = compare_runs([a, b])
    assert [r.key for r in view.rows] == [r.key for r in ref.rows]
    row = next(r for r in view.rows if r.key == "overall.response_mean_s")
    assert row.cells[0][0] == ref.row("overall.response_mean_s").values[0]
    assert row.deltas[0][0] == pytest.approx(ref.row("overall.response_mean_s").delta_abs[0])
    assert not view.replicated
    reps = [make_run(tmp_path / "set" / f"r{i}", response_scale=s) for i, s in enumerate((1.0, 1.5, 2.0))]
    view = compare_sides([Side("set", tuple(reps)), Side("b", (b,))])
    row = next(r for r in view.rows if r.key == "overall.response_mean_s")
    means = [ref_v for ref_v in compare_runs(reps).row("overall.response_mean_s").values]
    mean, half = mean_ci(means)
    assert row.cells[0] == (pytest.approx(mean), pytest.approx(half), 3)
    assert half == pytest.approx(4.302653 * np.std(means, ddof=1) / math.sqrt(3), rel=1e-5)
    assert view.replicated


# ----------------------------------------------------------------------------- Run page jobs


def test_progress_lines_and_messages(tmp_path: Path):
    """The job reads the CLI's --progress-file JSON lines (a line still being written waits)."""
    file = tmp_path / "p.jsonl"
    assert jobs.read_progress(file) == (None, 0)  # not there yet: the CLI is still loading the map
    file.write_text(
        '{"sim_t": 60.0, "duration_s": 7200, "calls": 1}\n{"sim_t": 3600.5, "duration_s": 7200, "calls": 9}\n'
    )
    sim_t, offset = jobs.read_progress(file)
    assert sim_t == 3600.5 and offset == file.stat().st_size
    assert jobs.read_progress(file, offset) == (None, offset)  # nothing new
    with file.open("a") as fh:
        fh.write('{"sim_t": 7200.0, "dura')  # half a line
    assert jobs.read_progress(file, offset) == (None, offset)
    with file.open("a") as fh:
        fh.write('tion_s": 7200, "calls": 12}\nnot json\n')
    assert jobs.read_progress(file, offset)[0] == 7200.0
    assert jobs.message_lines("\x1b[33mbad.yaml:3: units.count: bad\x1b[0m\n\n") == [
        "bad.yaml:3: units.count: bad"
    ]


def test_execute_follows_the_cli_progress_file(tmp_path: Path):
    out, progress = tmp_path / "run", tmp_path / "progress.jsonl"
    seen: list[float] = []
    cmd = jobs.run_command("helsinki", out, ["duration=2h"], 3, progress)
    result = jobs.execute(cmd, out, seen.append, progress)
    assert result.code == 0, result.lines
    assert (out / "summary.json").is_file()
    assert seen and seen == sorted(seen) and seen[-1] >= 7200.0  # (a fast run may show only its end)
    bad = jobs.execute(jobs.run_command("helsinki", tmp_path / "bad", ["units.count=yes"], None, progress),
                       tmp_path / "bad", seen.append, progress)  # fmt: skip
    assert bad.code == 2 and any("units.count" in line for line in bad.lines)


def _facts(**kw) -> dict:
    base = {"name": "x", "duration_s": 3600.0, "stations": ["A", "B"], "count": 5, "groups": [], "posts": [],
            "per_station": {}}  # fmt: skip
    return base | kw


def _group(name: str, count: int, **kw) -> dict:
    return {"name": name, "count": count, "idle": "station", "posts": [], "beat": False, "dwell": False} | kw


def test_overrides_for_each_unit_form():
    facts = _facts()
    sets = jobs.overrides(
        jobs.RunParams(units=7, rate_per_hour=3.5, policy="beat_first", duration="2h"), facts
    )
    assert sets == ["demand.rate_per_hour=3.5", "dispatch.policy=beat_first", "duration=2h", "units.count=7",
                    "units.per_station=null"]  # fmt: skip
    patrol = jobs.overrides(jobs.RunParams(units=5, idle="random_beat"), facts)
    value = yaml.safe_load(patrol[0].split("=", 1)[1])
    assert value["groups"] == [{"name": "A", "count": 3, "station": "A", "idle": "random_beat"},
                               {"name": "B", "count": 2, "station": "B", "idle": "random_beat"}]  # fmt: skip
    grouped = _facts(groups=[_group("g1", 2), _group("g2", 6)])
    assert jobs.overrides(jobs.RunParams(units=4, idle="hotspot"), grouped) == [
        "units.groups.0.count=1", "units.groups.0.idle=hotspot", "units.groups.1.count=3",
        "units.groups.1.idle=hotspot", "units.count=null"]  # fmt: skip
    assert jobs.check_params(0, -1, "soon") == [("run.units", "run.bad_number"), ("run.rate", "run.bad_number"),
                                                ("run.duration", "run.bad_duration")]  # fmt: skip
    assert jobs.check_params(3, 2.5, "90min") == []


def test_traffic_choices_set_the_congestion_and_give_valid_scenarios():
    from policetwin.scenarios import load_scenario

    assert jobs.overrides(jobs.RunParams(traffic="weekday-peaks"), _facts()) == [
        "travel.congestion=weekday-peaks"
    ]
    assert jobs.overrides(jobs.RunParams(traffic="free"), _facts()) == ["travel.congestion=null"]
    for traffic in jobs.TRAFFIC:
        sets = jobs.overrides(jobs.RunParams(traffic=traffic), jobs.scenario_facts("coquimbo"))
        congestion = load_scenario("coquimbo", sets).travel.congestion
        assert congestion == (None if traffic == "free" else traffic)


def test_idle_modes_are_the_schema_s_and_post_needs_posts():
    import typing

    from policetwin.scenarios.units import UnitGroup

    assert set(jobs.IDLE_MODES) == set(typing.get_args(UnitGroup.model_fields["idle"].annotation))
    assert jobs.idle_modes(_facts()) == ["station", "random_beat", "hotspot"]
    post = {"lon": 1.0, "lat": 2.0}
    with_posts = _facts(groups=[_group("g1", 2, idle="post", posts=[post]), _group("g2", 3, beat=True,
                                idle="hotspot", dwell=True)], posts=[post])  # fmt: skip
    assert jobs.idle_modes(with_posts) == ["station", "post", "random_beat", "hotspot"]
    # post: a group without posts of its own waits at the scenario's posts, and drops beat and dwell
    assert jobs.overrides(jobs.RunParams(idle="post"), with_posts) == [
        "units.groups.0.idle=post", "units.groups.1.idle=post", 'units.groups.1.posts=[{"lon": 1.0, "lat": 2.0}]',
        "units.groups.1.beat=null", "units.groups.1.dwell=null"]  # fmt: skip
    # away from post: the posts go; random_beat keeps the beat
    assert jobs.overrides(jobs.RunParams(idle="random_beat"), with_posts) == [
        "units.groups.0.idle=random_beat", "units.groups.0.posts=[]", "units.groups.1.idle=random_beat",
        "units.groups.1.dwell=null"]  # fmt: skip
    with pytest.raises(ValueError, match="no posts"):
        jobs.overrides(jobs.RunParams(idle="post"), _facts())


@pytest.mark.parametrize("name", ["helsinki", "coquimbo-shifts", "coquimbo-whatif-posts"])
def test_every_offered_idle_mode_gives_a_valid_scenario(name: str):
    from policetwin.scenarios import load_scenario

    facts = jobs.scenario_facts(name)
    modes = jobs.idle_modes(facts)
    assert ("post" in modes) == (name != "helsinki")
    for mode in modes:
        sc = load_scenario(name, jobs.overrides(jobs.RunParams(idle=mode, units=9), facts))
        groups = sc.units.groups or []  # a scenario without groups waits at its stations
        assert all(g.idle == mode for g in groups) and (groups or mode == "station"), mode
        if mode == "post":
            assert all(g.posts for g in sc.units.groups)


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return "data:application/x-yaml;base64," + base64.b64encode(raw).decode()


def test_upload_validation(tmp_path: Path):
    good = (Path(__file__).parents[1] / "policetwin/scenarios/bundled/helsinki.yaml").read_text(
        encoding="utf-8"
    )
    ok = jobs.validate_upload("my city.yaml", _b64(good), tmp_path)
    assert ok.path is not None and ok.path.name == "my-city.yaml" and ok.scenario_name and not ok.lines
    big = jobs.validate_upload("big.yaml", _b64("#" * (jobs.MAX_UPLOAD_BYTES + 1)), tmp_path)
    assert big.error_key == "run.upload_too_large" and big.path is None
    assert jobs.too_large("x.yaml", jobs.MAX_UPLOAD_BYTES) is None
    huge = jobs.too_large("../my big.yaml", 50 * 1024 * 1024)
    assert huge.error_params == {"name": "my-big.yaml", "size_kb": "51,200", "max_kb": 256}
    assert jobs.validate_upload("x.txt", _b64("a: 1"), tmp_path).error_key == "run.upload_not_yaml"
    bad = jobs.validate_upload("bad.yaml", _b64("name: x\nunits: {count: yes}\n: : :\n"), tmp_path)
    assert bad.path is None and bad.lines and all(line.startswith("bad.yaml:") for line in bad.lines)
    assert not any(str(tmp_path) in line for line in bad.lines)  # the private upload path is not shown
    binary = jobs.validate_upload("bin.yaml", _b64(b"name: x\n\xff\xfe"), tmp_path)
    assert binary.lines and "UTF-8" in binary.lines[0]
    pickled = jobs.validate_upload("p.yaml", _b64("!!python/object/apply:os.system ['echo hi']\n"), tmp_path)
    assert pickled.path is None and pickled.lines  # safe-loaded: a tag is an error, never executed
    policy = good.replace("policy: nearest", "policy: my_rules.py:Mine") if "policy: nearest" in good else (
        good + "\ndispatch: {policy: my_rules.py:Mine}\n")  # fmt: skip
    refused = jobs.validate_upload("policy.yaml", _b64(policy), tmp_path)
    assert refused.path is None
    assert refused.error_key == "run.upload_policy" or any("policy" in line for line in refused.lines)


def test_run_command_is_the_cli():
    cmd = jobs.run_command("helsinki", Path("runs/x"), ["units.count=3"], 7, Path("p.jsonl"))
    assert cmd[1:] == ["-m", "policetwin", "run", "helsinki", "--out", "runs/x", "--quiet", "--progress-file",
                       "p.jsonl", "--set", "units.count=3", "--seed", "7"]  # fmt: skip


# ----------------------------------------------------------------------------- CLI


def test_cli_port_in_use_lang_and_host(tmp_path: Path):
    from policetwin.cli import app

    runner = CliRunner()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        res = runner.invoke(app, ["dashboard", str(tmp_path), "--port", str(port)])
        assert res.exit_code == 2
        assert f"port {port} on 127.0.0.1 is in use" in res.output
        res = runner.invoke(app, ["dashboard", "--host", "0.0.0.0", "--port", str(port)])
        assert res.exit_code == 2 and "warning: serving on 0.0.0.0" in res.output
    res = runner.invoke(app, ["dashboard", "--lang", "fr"])
    assert res.exit_code == 2 and "--lang must be en or zh" in res.output
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def test_flask_routes_serve_chunks_and_geojson(tiny: Path, tmp_path: Path):
    import gzip

    from policetwin.dashboard.app import create_app
    from policetwin.dashboard.rundata import run_key

    app = create_app([tiny], runs_dir=tmp_path / "none")
    app.server.add_url_rule("/_test/big", "big", lambda: {"x": [[1.5, -2.25]] * 2000})
    client = app.server.test_client()
    key = run_key(tiny.resolve())
    data = client.get(f"/_pt/replay/{key}/0.json").get_json()
    assert data["units"]["ids"] == ["S-01", "S-02"]
    assert client.get(f"/_pt/geo/{key}/district-0.geojson").status_code == 200
    assert client.get(f"/_pt/geo/{key}/district-9.geojson").status_code == 404
    assert client.get(f"/_pt/geo/{key}/roads-minor.geojson").status_code == 404  # streets come with the page
    assert client.get("/_pt/replay/nope/0.json").status_code == 404
    # JSON answers (chunks, and Dash's page layouts that carry the streets) are gzip-compressed when accepted
    plain = client.get("/_test/big")
    packed = client.get("/_test/big", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    assert len(packed.data) < len(plain.data) / 3
    small = client.get(f"/_pt/replay/{key}/0.json", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers  # under 2 kB: not worth it
    shutil.rmtree(tiny)
