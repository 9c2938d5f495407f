"""Tests for the offline HTML run report and its figure helpers."""

from __future__ import annotations

import re
import types
import warnings

import numpy as np
import pandas as pd
import pytest

from policetwin import clock
from policetwin.sim import report_figures as rf
from policetwin.sim import report_tables as rt
from policetwin.sim.report import write_report

N_FIGURES = 5  # response, stages, calls/queue, utilisation, map


def _network(n_side: int = 6) -> types.SimpleNamespace:
    """A small grid, both directions per street, around Coquimbo."""
    ii, jj = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    lon = -71.34 + 0.002 * jj.ravel()
    lat = -29.95 + 0.002 * ii.ravel()
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    pairs = [(idx[i, j], idx[i, j + 1]) for i in range(n_side) for j in range(n_side - 1)]
    pairs += [(idx[i, j], idx[i + 1, j]) for i in range(n_side - 1) for j in range(n_side)]
    u = np.array([a for a, b in pairs] + [b for a, b in pairs], dtype=np.int32)
    v = np.array([b for a, b in pairs] + [a for a, b in pairs], dtype=np.int32)
    highway = np.array(["residential" if k % 3 else "primary" for k in range(u.size)], dtype=object)
    return types.SimpleNamespace(name="grid", lon=lon, lat=lat, edge_u=u, edge_v=v, highway=highway)


def _incidents(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prio = np.array([1, 2, 3])[np.arange(n) % 3]
    t_call = np.sort(rng.uniform(0, 20_000, n))
    t_answer = t_call + rng.uniform(1, 10, n)
    t_ready = t_answer + rng.uniform(30, 120, n)
    t_dispatch = t_ready + rng.uniform(0, 200, n)
    t_arrive = t_dispatch + rng.uniform(100, 700, n)
    t_clear = t_arrive + rng.uniform(600, 2400, n)
    t_dispatch[-1] = t_arrive[-1] = t_clear[-1] = np.nan  # one never served
    return pd.DataFrame(
        {
            "incident_id": np.arange(n),
            "kind": np.where(prio == 1, "robbery", "noise"),
            "priority": prio,
            "t_call": t_call,
            "t_answer": t_answer,
            "t_ready": t_ready,
            "t_dispatch": t_dispatch,
            "t_arrive": t_arrive,
            "t_clear": t_clear,
            "node": np.arange(n) % 36,
            "lon": -71.34 + rng.uniform(0, 0.01, n),
            "lat": -29.95 + rng.uniform(0, 0.01, n),
            "n_units": 1,
            "first_unit": "U1",
            "source": "synthetic",
            "target_s": np.select([prio == 1, prio == 2], [600.0, 1200.0], 1800.0),
        }
    )


def _units() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["U1", "U1", "U1", "U2", "U2"],
            "state": ["patrol", "enroute", "onscene", "off_shift", "idle"],
            "t_start": [0.0, 1800.0, 3600.0, 0.0, 3600.0],
            "t_end": [1800.0, 3600.0, 7200.0, 3600.0, 7200.0],
            "incident_id": pd.array([pd.NA, 1, 1, pd.NA, pd.NA], dtype="Int64"),
        }
    )


def _summary() -> dict:
    return {
        "version": "0.1.0",
        "scenario_name": "coquimbo <test> & co",
        "seed": 42,
        "scenario_sha256": "ab" * 32,
        "wall_s": 3.2,
        "engine": {"routing": "cch", "peak_rss_mb": 1853},
        "duration_s": 21_600,
        "map": {"name": "grid", "nodes": 36, "edges": 120, "street_km": 12.3},
        "incidents": {"count": 60, "served": 59},
        "priorities": {
            "1": {
                "count": 20,
                "served": 20,
                "response_mean_s": 420.0,
                "response_p50_s": 380.0,
                "response_p90_s": 700.0,
                "target_s": 600.0,
                "within_target": 0.83,
            },
            "2": {
                "count": 20,
                "served": 20,
                "response_mean_s": 540.0,
                "target_s": 1200.0,
                "within_target": 0.9,
            },
            "3": {"count": 0, "served": 0, "response_mean_s": None, "target_s": 1800.0},
        },
        "overall": {"count": 60, "served": 59, "response_mean_s": 480.0, "within_target": 0.77},
        "stages_mean_s": {
            "answer": 3.0,
            "handling": 90.0,
            "queue": 40.0,
            "travel": 300.0,
            "on_scene": 1800.0,
        },
        "units": {"count": 24, "utilisation": 0.41, "saturation_index": 0.4321},
        "queue": {"mean_wait_for_unit_s": 40.0, "p_wait_for_unit": 0.12, "max_waiting": 5},
    }


STATIONS = [{"name": "<b>Central</b>", "lon": -71.335, "lat": -29.945, "node": 7}]


def _calls(t_call: list[float]) -> pd.DataFrame:
    """Served P1 calls at the given seconds from the start (each waits 10 s, then reaches a unit)."""
    t = np.asarray(t_call, float)
    return pd.DataFrame(
        {"priority": 1, "t_call": t, "t_ready": t + 5, "t_dispatch": t + 15, "t_arrive": t + 300}
    )


def _outside_bundle(page: str) -> str:
    """The page with the embedded plotly.js bundle removed (it mentions URLs in its source)."""
    out, n = re.subn(
        r'<script type="text/javascript" id="plotly-bundle">.*?</script>', "", page, flags=re.DOTALL
    )
    assert n == 1
    return out


def _write(tmp_path, **overrides) -> str:
    args = {
        "incidents": _incidents(),
        "units": _units(),
        "summary": _summary(),
        "network": _network(),
        "stations": STATIONS,
    }
    args.update(overrides)
    path = tmp_path / "out" / "report.html"
    write_report(path, **args)
    assert path.exists()
    assert not [p for p in path.parent.iterdir() if p.name != "report.html"]  # temp file gone
    return path.read_text(encoding="utf-8")


def test_report_contents(tmp_path):
    page = _write(tmp_path)
    rest = _outside_bundle(page)
    assert "<title>PoliceTwin report: coquimbo &lt;test&gt; &amp; co</title>" in page
    assert "<test>" not in rest
    for value in [
        "7.0 min",
        "6.3 min",
        "11.7 min",
        "10.0 min",
        "83.0%",
        "9.0 min",
        "8.0 min",
        "41.0%",
        "43.2%",
        "40.0 s",
    ]:
        assert value in rest, value
    assert "12.0%" in rest and ">5<" in rest and "3.2 s" in rest and "6.0 h" in rest
    assert "<b>Routing:</b> cch" in rest and "<b>Peak memory:</b> 1,853 MB" in rest
    assert rest.count("Plotly.newPlot") == N_FIGURES
    assert page.count("Plotly.newPlot") == N_FIGURES
    assert "&lt;b&gt;Central&lt;" in rest  # escaped in the hover text (plotly's JSON writes / as \\u002f)
    assert "<b>Central" not in page
    # P3 had no calls in the summary and no response: dashes, no crash
    p3 = re.search(r"<tr><td>P3</td>(.*?)</tr>", rest).group(1)
    assert "<td>0</td>" in p3 and "<td>-</td>" in p3


def test_report_is_offline(tmp_path):
    page = _write(tmp_path)
    rest = _outside_bundle(page)
    assert "<script src" not in page.lower()
    assert "cdn.plot.ly" not in rest
    assert "http://" not in rest and "https://" not in rest
    assert "<link" not in rest.lower()
    assert '"white-bg"' not in rest  # no WebGL map: its web worker is blocked on file://
    assert page.count('id="plotly-bundle"') == 1


def test_report_handles_empty_and_missing(tmp_path):
    page = _write(tmp_path, incidents=pd.DataFrame(), units=pd.DataFrame(), summary={}, stations=[])
    rest = _outside_bundle(page)
    assert rest.count("Plotly.newPlot") == N_FIGURES
    assert "no incident reached a unit" in rest

    cols = _incidents().columns
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    _write(tmp_path, incidents=empty)

    nan_resp = _incidents()
    nan_resp[["t_dispatch", "t_arrive", "t_clear"]] = np.nan
    page = _write(tmp_path, incidents=nan_resp)
    assert "no incident reached a unit" in _outside_bundle(page)


def test_report_has_no_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _write(tmp_path)
        _write(tmp_path, incidents=pd.DataFrame(), units=pd.DataFrame(), summary={}, stations=[])


def test_stage_breakdown_matches_means():
    inc = _incidents()
    table = rt.stage_breakdown(inc)
    assert list(table.columns) == ["know", "answer", "handling", "desk_wait", "decision", "queue", "turnout",
                                   "travel", "on_scene"]  # fmt: skip
    assert (table[["know", "desk_wait", "decision", "turnout"]] == 0).all().all()  # a log from before them
    assert list(table.index) == ["P1", "P2", "P3", "all"]
    p2 = inc[inc["priority"] == 2]
    assert table.loc["P2", "travel"] == pytest.approx((p2["t_arrive"] - p2["t_dispatch"]).mean())
    assert table.loc["all", "answer"] == pytest.approx((inc["t_answer"] - inc["t_call"]).mean())
    assert table.loc["all", "on_scene"] == pytest.approx((inc["t_clear"] - inc["t_arrive"]).dropna().mean())

    fig = rf.stage_breakdown_figure(inc)
    bars = {tr.name: tr for tr in fig.data}
    assert list(bars) == list(table.columns)
    assert list(bars["queue"].y) == list(table.index)
    np.testing.assert_allclose(np.asarray(bars["queue"].x, float), table["queue"].to_numpy())


def test_response_ecdf_targets_and_shares():
    inc = _incidents()
    targets = rt.priority_targets(inc, {"1": {"target_s": 500.0}})
    assert targets == {1: 500.0, 2: 1200.0, 3: 1800.0}
    fig = rf.response_ecdf_figure(inc, targets)
    assert len(fig.data) == 3
    assert [round(s["x0"], 3) for s in fig.layout.shapes] == [
        round(t / 60, 3) for t in (500.0, 1200.0, 1800.0)
    ]
    last = fig.data[2]  # P3 contains the unserved call: over served calls, named in the legend
    assert float(np.asarray(last.y)[-1]) == pytest.approx(1.0)
    assert len(last.x) == 19 and "1 unserved" in last.name and "unserved" not in fig.data[0].name
    resp = inc[inc["priority"] == 1].eval("t_arrive - t_call").sort_values() / 60
    np.testing.assert_allclose(np.asarray(fig.data[0].x, float), resp.to_numpy())


def test_waiting_for_unit_counts():
    inc = pd.DataFrame(
        {
            "priority": [1, 1, 2],
            "t_ready": [0.0, 100.0, 150.0],
            "t_dispatch": [200.0, 300.0, np.nan],  # the third never gets a unit
        }
    )
    wait = rt.waiting_for_unit(inc, 400.0, bins=4)
    assert wait["t_s"].tolist() == [0.0, 100.0, 200.0, 300.0]
    assert wait["waiting"].tolist() == [1, 3, 2, 1]


def test_utilisation_by_hour():
    table = rt.utilisation_by_hour(_units(), 7200.0)
    assert table["hour"].tolist() == [0, 1]
    # hour 0: U1 on shift (1800 s enroute), U2 off shift
    assert table.loc[0, "enroute"] == pytest.approx(0.5)
    assert table.loc[0, "onscene"] == pytest.approx(0.0)
    # hour 1: U1 on scene 3600 s, U2 idle 3600 s
    assert table.loc[1, "onscene"] == pytest.approx(0.5)
    assert rt.utilisation_by_hour(pd.DataFrame(), 7200.0).empty


def test_network_segments_dedupe_and_thin():
    net = _network()
    lon, lat, note = rf.network_segments(net)
    n_undirected = net.edge_u.size // 2
    assert len(lon) == len(lat) == 3 * n_undirected
    assert lon[2::3] == [None] * n_undirected
    assert "all" in note
    lon2, _, note2 = rf.network_segments(net, max_segments=25)
    assert len(lon2) <= 3 * 25 and "main roads" in note2
    lon3, _, note3 = rf.network_segments(net, max_segments=5)
    assert len(lon3) == 3 * 5 and "subsample" in note3
    assert rf.network_segments(net, max_segments=5)[0] == lon3  # deterministic


def test_map_figure_subsamples_incidents():
    inc = _incidents(n=300)
    fig, note = rf.map_figure(_network(), inc, STATIONS, max_points=90)
    points = [tr for tr in fig.data if tr.name.endswith("incidents")]
    assert sum(len(tr.x) for tr in points) == 90
    assert all(tr.type == "scatter" for tr in fig.data)
    assert all(tr.mode == "markers" for tr in fig.data if tr.name != "roads")
    assert "90 of 300 incidents" in note
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio > 1.0  # metric aspect


def test_calls_figure_is_on_clock_time():
    inc = _incidents()
    fig = rf.calls_and_queue_figure(inc, 21_600.0, start="Fri 18:00")
    bars = [tr for tr in fig.data if tr.type == "bar"]
    x = pd.to_datetime(bars[0].x)
    assert x[0].day_name() == "Friday" and (x[0].hour, x[0].minute) == (18, 30)  # middle of 18:00-19:00
    assert len(x) == 6 and (x[1:] - x[:-1] == pd.Timedelta(hours=1)).all()
    assert sum(int(np.sum(tr.y)) for tr in bars) == len(inc)
    line = pd.to_datetime(fig.data[-1].x)
    assert line[0].day_name() == "Friday" and (line[0].hour, line[0].minute) == (18, 0)
    assert fig.layout.xaxis.type == "date" and fig.layout.xaxis.tickformat == "%a %H:%M"
    assert fig.layout.xaxis.title.text == "clock time (run starts Fri 18:00)"
    util = rf.utilisation_figure(_units(), 7200.0, start="Fri 18:00")
    assert [t.strftime("%a %H:%M") for t in pd.to_datetime(util.data[0].x)] == ["Fri 18:30", "Fri 19:30"]
    assert util.layout.xaxis.tickformat == "%a %H:%M"


def test_calls_bin_by_clock_hour_when_start_is_mid_hour():
    # 18:30 start: 0 s and 1799 s are in 18:00-19:00, 1801 s and 5399 s in 19:00-20:00, 5401 s after
    fig = rf.calls_and_queue_figure(_calls([0.0, 1799.0, 1801.0, 5399.0, 5401.0]), 7200.0, start="Fri 18:30")
    bar = fig.data[0]
    assert list(bar.y) == [2, 2, 1]
    assert [t.strftime("%a %H:%M") for t in pd.to_datetime(bar.x)] == ["Fri 18:30", "Fri 19:30", "Fri 20:30"]
    assert list(bar.customdata) == ["Fri 18:00–19:00", "Fri 19:00–20:00", "Fri 20:00–21:00"]
    assert pd.Timestamp(fig.data[-1].x[0]).strftime("%H:%M") == "18:30"  # the queue line starts at the start


def test_utilisation_by_hour_follows_clock_hours():
    units = pd.DataFrame({"state": ["enroute", "idle"], "t_start": [0.0, 1800.0], "t_end": [1800.0, 7200.0]})
    from_start = rt.utilisation_by_hour(units, 7200.0)
    assert from_start["enroute"].tolist() == pytest.approx([0.5, 0.0])
    clock_hours = rt.utilisation_by_hour(units, 7200.0, offset_s=1800.0)  # run starts at :30
    assert clock_hours["hour"].tolist() == [0, 1, 2]
    assert clock_hours["enroute"].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_map_hover_gives_clock_time_of_call():
    fig, _ = rf.map_figure(
        _network(), _calls([4500.0]).assign(lon=-71.335, lat=-29.945), [], start="Fri 18:00"
    )
    (point,) = [tr for tr in fig.data if tr.name == "P1 incidents"]
    assert "call Fri 19:15, response 5.0 min" in point.text[0]


def test_report_header_and_axes_show_weekday_start(tmp_path):
    page = _write(tmp_path, summary={**_summary(), "start": "Fri 18:00"})
    rest = _outside_bundle(page)
    assert "<b>Starts:</b> Fri 18:00" in rest
    origin, tickformat = clock.axis_origin("Fri 18:00")
    first_bar = (origin + pd.Timedelta(minutes=30)).isoformat()  # calls bar of 18:00-19:00
    assert f'"x":["{first_bar}' in rest
    assert rest.count(f'"tickformat":"{tickformat}"') == 2  # calls and utilisation axes
    assert "run starts Fri 18:00" in rest and "hours from start" not in rest


def test_report_with_calendar_start_shows_the_date(tmp_path):
    page = _write(tmp_path, summary={**_summary(), "start": "2026-12-31T20:00:00"})
    rest = _outside_bundle(page)
    assert "<b>Starts:</b> Thu 31 Dec 2026 20:00" in rest
    assert '"x":["2026-12-31T20:30:00' in rest
    assert '"tickformat":"%a %d %b %H:%M"' in rest
    fig = rf.calls_and_queue_figure(_incidents(), 21_600.0, start="2026-12-31T20:00:00")
    assert pd.Timestamp(fig.data[0].x[-1]) == pd.Timestamp("2027-01-01 01:30")  # runs past midnight


def test_report_without_start_draws_from_monday(tmp_path):
    summary = _summary()
    assert "start" not in summary
    rest = _outside_bundle(_write(tmp_path, summary=summary))
    assert "<b>Starts:</b> Mon 00:00" in rest
    origin, _ = clock.axis_origin(clock.DEFAULT_START)
    assert origin.weekday() == 0 and f'"x":["{(origin + pd.Timedelta(minutes=30)).isoformat()}' in rest


def test_report_lists_warnings_escaped(tmp_path):
    lines = [
        "city.yaml:7: stations.0: station '<b>X</b>' is 1.2 km from the nearest road node (snapped there)",
        "units & shifts: none on duty Sunday",
    ]
    rest = _outside_bundle(_write(tmp_path, summary={**_summary(), "warnings": lines}))
    section = re.search(r'<section class="warnings"[^>]*><h2>Warnings</h2>(.*?)</section>', rest).group(1)
    assert section.count("<li>") == 2
    assert "station &#x27;&lt;b&gt;X&lt;/b&gt;&#x27; is 1.2 km" in section
    assert "units &amp; shifts" in section and "<b>X" not in rest
    assert rest.index("<h2>Warnings</h2>") < rest.index("<h2>Key figures</h2>")


@pytest.mark.parametrize("summary", [_summary(), {**_summary(), "warnings": []}, {}])
def test_report_without_warnings_has_no_warnings_section(tmp_path, summary):
    rest = _outside_bundle(_write(tmp_path, summary=summary))
    assert "Warnings" not in rest and 'class="warnings"' not in rest


def test_report_with_unreadable_start_warns_and_renders(tmp_path):
    rest = _outside_bundle(_write(tmp_path, summary={**_summary(), "start": "Someday 25:00"}))
    assert "<h2>Warnings</h2>" in rest and "cannot read start" in rest
    assert "<b>Starts:</b> Mon 00:00" in rest


def test_command_section_shows_outcomes_dispatch_and_districts():
    from policetwin.sim.report_command import command_section

    summary = {
        "outcomes": {"served": {"count": 90, "share": 0.9}, "phone": {"count": 10, "share": 0.1}},
        "detected_by": {"citizen": {"count": 70, "share": 0.7}, "sensor": {"count": 30, "share": 0.3}},
        "dispatch": {"policy": "priority_preempt", "units_sent": 95, "preemptions": 4, "backup_units_requested": 2,
                     "out_of_district_share": 0.25, "mutual_aid_share": None,
                     "districts": {"North <A&B>": {"units": 3, "calls": 40, "saturation_index": 0.5}}},
    }  # fmt: skip
    summary["groups"] = {
        "night": {"count": 8, "utilisation": 0.4, "saturation_index": 0.3, "overtime_s": 5400.0}
    }
    page = command_section(summary)
    assert "<td>night</td>" in page and "1.5 h" in page
    for text in ("Sense, command and dispatch", "phone", "sensor", "priority_preempt", "Pre-emptions",
                 "<td>4</td>", "25.0%", "North &lt;A&amp;B&gt;", "50.0%"):  # fmt: skip
        assert text in page, text
    assert command_section({}) == ""  # an older run: no section


def test_units_on_duty_per_hour_follow_the_shifts():
    """Two units all day, a third on duty only 01:00-02:00: 2, 3, 2 units on duty in hours 0, 1, 2."""
    units = pd.DataFrame({
        "unit_id": ["a", "b", "c", "c", "c"], "state": ["idle", "idle", "off_shift", "idle", "off_shift"],
        "t_start": [0.0, 0.0, 0.0, 3600.0, 7200.0], "t_end": [10800.0, 10800.0, 3600.0, 7200.0, 10800.0],
        "incident_id": [None] * 5})  # fmt: skip
    table = rt.utilisation_by_hour(units, 10800.0)
    assert table["on_duty"].tolist() == [2.0, 3.0, 2.0]
    fig = rf.utilisation_figure(units, 10800.0)
    line = next(tr for tr in fig.data if tr.name == "units on duty")
    assert list(line.y) == [2.0, 3.0, 2.0]
