"""Dispatch policies as exact event logs on hand-built lines (every edge 100 s): beat_first with its
slack, priority_preempt (a 2-unit, 3-call case), mutual aid between districts, and user policies
loaded from a file (with every way they can be wrong)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import STEP_DEG, make_line_network
from engine_calls import run_calls
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.errors import ScenarioError
from policetwin.scenarios import Scenario
from policetwin.sim.model import PoliceModel

KINDS = [
    {"name": "p1", "priority": 1, "share": 1, "on_scene": {"dist": "fixed", "mean": 60}, "target": 600},
    {"name": "p3", "priority": 3, "share": 1, "on_scene": {"dist": "fixed", "mean": 60}, "target": 3600},
]
P1, P3 = 0, 1


def scenario(stations: list[int], units: dict[str, int], **dispatch) -> Scenario:
    return Scenario.model_validate({
        "name": "policy-test", "duration": "1h", "map": "line",
        "stations": [{"name": f"S{n}", "lon": n * STEP_DEG, "lat": 0.0} for n in stations],
        "units": {"per_station": units},
        "demand": {"rate_per_hour": 1.0, "profile": "flat", "kinds": KINDS},
        "call_handling": {"takers": 50, "handling": {"dist": "fixed", "mean": 0}},
        "dispatch": dispatch, "outputs": {"report": False},
    })  # fmt: skip


def rows(frame: pd.DataFrame, *cols: str) -> list[tuple]:
    """Rows as tuples, NaN as None (so that logs compare with ==)."""
    return [tuple(None if pd.isna(v) else v for v in r) for r in frame[list(cols)].itertuples(index=False)]


# ----------------------------------------------------------------------------------------- beat_first
#: Six nodes, stations at both ends: districts S0 = nodes 0-2, S5 = nodes 3-5. Call 0 at node 2 takes
#: S0's unit (there at 200, clear at 260, home at 460); call 1 at node 1 (t=10) gets S5's unit (400 s
#: away: there at 410, clear at 470), which drives home past node 2 at 570 and node 3 at 670. Call 2 at
#: node 2 (S0's district) at t=600: S0's own unit waits at home (ETA 200), S5's unit is between nodes 2
#: and 3, next at node 3 at 670 (ETA 70 + 100 = 170).
BEAT_CALLS = [(0, P3, 2, 60), (10, P3, 1, 60), (600, P3, 2, 60)]


@pytest.mark.parametrize(("slack", "unit", "arrive"), [(None, "S5-1", 770.0), (0, "S5-1", 770.0), (29, "S5-1", 770.0),
                                                       (31, "S0-1", 800.0), (10_000, "S0-1", 800.0)])  # fmt: skip
def test_beat_first_sends_the_own_district_unit_within_slack(slack, unit, arrive):
    network = make_line_network(6)
    dispatch = {"policy": "nearest"} if slack is None else {"policy": "beat_first", "slack": slack}
    incidents, assignments, _, model = run_calls(
        scenario([0, 5], {"S0": 1, "S5": 1}, **dispatch), network, BEAT_CALLS
    )
    assert model.node_district.tolist() == [0, 0, 0, 1, 1, 1]
    assert rows(incidents, "first_unit", "t_arrive") == [("S0-1", 200.0), ("S5-1", 410.0), (unit, arrive)]
    assert assignments["out_of_district"].tolist() == [False, True, unit == "S5-1"]


#: Ten nodes, stations at nodes 2 and 9: districts S2 = nodes 0-5, S9 = 6-9. Call 0 at node 0 takes
#: S2's unit (there at 200, clear at 260), which drives home: past node 1 at 360. Call 1 at node 5 (S2's
#: district) at t=300: S9's unit waits at home (ETA 400); S2's unit is driving away, next at node 1 at 360
#: (ETA 60 + 400 = 460), within a slack of 100 s: beat_first sends it (there at 760), nearest does not.
RETURNING_CALLS = [(0, P3, 0, 60), (300, P3, 5, 60)]


@pytest.mark.parametrize(
    ("policy", "unit", "arrive"), [("nearest", "S9-1", 700.0), ("beat_first", "S2-1", 760.0)]
)
def test_beat_first_times_an_own_unit_driving_home_that_is_not_the_nearest(policy, unit, arrive):
    """Dispatch may skip timing units that cannot be among the nearest, but beat_first (and mutual aid,
    and user policies) need the others' times too: an own unit within the slack is never left out."""
    network = make_line_network(10)
    dispatch = {"policy": policy, **({"slack": 100} if policy == "beat_first" else {})}
    sc = scenario([2, 9], {"S2": 1, "S9": 1}, **dispatch)
    incidents, _, _, model = run_calls(sc, network, RETURNING_CALLS)
    assert model.node_district.tolist() == [0] * 6 + [1] * 4
    assert rows(incidents, "first_unit", "t_arrive") == [("S2-1", 200.0), (unit, arrive)]


def test_beat_first_slack_defaults_to_zero_in_the_resolved_scenario():
    sc = scenario([0, 5], {"S0": 1, "S5": 1}, policy="beat_first")
    assert sc.dispatch.slack == 0.0


# ----------------------------------------------------------------------------------- priority_preempt
def test_priority_preempt_takes_the_unit_of_a_less_urgent_call(line_network):
    """Two units at node 0. t=0: P3 calls at node 4 (S0-1, 400 s) and node 3 (S0-2, 300 s). t=100: a P1
    call at node 2 finds no free unit; both are at node 1 then, 100 s from node 2; S0-1 (lower index)
    is taken: there at 200, clear at 260. Call 0 waits again (history kept: first dispatch at 0, one
    pre-emption) and gets S0-1 back at 260: node 2 -> 4, there at 460."""
    sc = scenario([0], {"S0": 2}, policy="priority_preempt")
    calls = [(0, P3, 4, 60), (0, P3, 3, 60), (100, P1, 2, 60)]
    incidents, assignments, log, _ = run_calls(sc, line_network, calls)
    assert rows(incidents, "t_dispatch", "t_arrive", "t_clear", "n_units", "n_preempted") == [
        (0.0, 460.0, 520.0, 2, 1),
        (0.0, 300.0, 360.0, 1, 0),
        (100.0, 200.0, 260.0, 1, 0),
    ]
    assert rows(assignments, "incident_id", "unit_id", "t_assigned", "t_arrive", "t_released", "result") == [
        (0, "S0-1", 0.0, None, 100.0, "preempted"),
        (1, "S0-2", 0.0, 300.0, 360.0, "completed"),
        (2, "S0-1", 100.0, 200.0, 260.0, "completed"),
        (0, "S0-1", 260.0, 460.0, 520.0, "completed"),
    ]
    assert [e for e in log if e[0] == "S0-1"] == [
        ("S0-1", "enroute", 0.0, 100.0, 0),
        ("S0-1", "enroute", 100.0, 200.0, 2),
        ("S0-1", "onscene", 200.0, 260.0, 2),
        ("S0-1", "enroute", 260.0, 460.0, 0),
        ("S0-1", "onscene", 460.0, 520.0, 0),
        ("S0-1", "returning", 520.0, 920.0, None),
        ("S0-1", "idle", 920.0, 3600.0, None),
    ]


def test_priority_preempt_leaves_equally_urgent_calls_alone(line_network):
    sc = scenario([0], {"S0": 1}, policy="priority_preempt")
    incidents, assignments, _, _ = run_calls(sc, line_network, [(0, P1, 4, 60), (100, P1, 2, 60)])
    assert incidents["n_preempted"].tolist() == [0, 0]
    assert assignments["result"].tolist() == ["completed", "completed"]


def test_preempt_priorities_no_kind_has_are_bad_input():
    with pytest.raises(Exception, match=r"greater than or equal to 1"):
        scenario([0], {"S0": 1}, policy="priority_preempt", preempt={"max_priority": 0})


def test_a_long_preempting_run_conserves_every_call(helsinki_network):
    """A busy day with pre-emption on scene allowed: every call ends in one outcome, its stage times are
    ordered, and every assignment is closed with a result."""
    from policetwin.sim.run import simulate

    sc = Scenario.model_validate({
        "name": "busy", "seed": 11, "duration": "24h", "map": "helsinki",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}, {"name": "B", "lon": 24.95, "lat": 60.164}],
        "units": {"count": 4},
        "demand": {"rate_per_hour": 9, "profile": "flat", "kinds": [
            {"name": "p1", "priority": 1, "share": 0.3, "target": 480, "on_scene": {"dist": "exponential", "mean": 1200}},
            {"name": "p3", "priority": 3, "share": 0.7, "target": 3600, "on_scene": {"dist": "exponential", "mean": 1200}},
        ]},
        "dispatch": {"policy": "priority_preempt", "preempt": {"on_scene": True}}, "outputs": {"report": False},
    })  # fmt: skip
    result = simulate(sc, network=helsinki_network)
    inc, asg = result.incidents, result.assignments
    assert inc["n_preempted"].sum() > 20  # pre-emption really happened, en route and on scene
    assert (inc["outcome"] == "served").all() and inc["t_clear"].notna().all()
    cols = ["t_call", "t_answer", "t_ready", "t_dispatch", "t_arrive", "t_clear"]
    assert (np.diff(inc[cols].to_numpy(), axis=1) >= 0).all()
    assert asg["t_released"].notna().all() and set(asg["result"]) <= {
        "completed",
        "preempted",
        "released_on_arrival",
    }
    assert (asg.groupby("incident_id").size() == inc.set_index("incident_id")["n_units"]).all()
    assert (asg["result"] == "preempted").sum() == inc["n_preempted"].sum()


def test_preemption_offers_timed_lazily_equal_timing_every_victim(helsinki_network, monkeypatch):
    """Victims are timed exactly only until the best ones are known (bounds from their trip's origin);
    with emergency speed factors too, every decision of a busy day offers what timing all of them does."""
    from policetwin.sim.dispatch import Dispatcher

    lazy = Dispatcher._offers
    checked = []

    def both(self, node, victims, best):
        row, now = self.etas.row_to(node), self.model.env.now
        full = sorted((float(row[n]) + o, u.index) for u, _ in victims for n, o in [u.position(now)])[:best]
        offers = lazy(self, node, victims, best)
        assert [(eta, index) for eta, index, _, _ in offers] == full
        checked.append(len(victims))
        return offers

    monkeypatch.setattr(Dispatcher, "_offers", both)
    sc = Scenario.model_validate({
        "name": "busy", "seed": 5, "duration": "24h", "map": "helsinki",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}, {"name": "B", "lon": 24.95, "lat": 60.164}],
        "units": {"count": 6},
        "travel": {"priority_speed_factor": {"1": 1.5}},
        "demand": {"rate_per_hour": 14, "profile": "flat", "kinds": [
            {"name": "p1", "priority": 1, "share": 0.3, "target": 300, "on_scene": {"dist": "exponential", "mean": 1500}},
            {"name": "p3", "priority": 3, "share": 0.7, "target": 3600, "on_scene": {"dist": "exponential", "mean": 1500}},
        ]},
        "dispatch": {"policy": "priority_preempt", "preempt": {"on_scene": True}}, "outputs": {"report": False},
    })  # fmt: skip
    PoliceModel(sc, network=helsinki_network).run()
    assert len(checked) > 50 and max(checked) >= 3  # many decisions, several victims to choose from


# --------------------------------------------------------------------------------------------- mutual aid
def test_mutual_aid_crosses_only_when_the_own_district_has_no_unit_near(line_network):
    """Stations at nodes 0 and 4 (districts 0-2 and 3-4). S4's unit is busy (call 0 at node 4 for 1000 s).
    Call 1 at node 3 (S4's district): S0's unit is 300 s away. Threshold 200 s: no own unit near ->
    mutual aid from S0 at once. Without mutual aid the same; with a queue rule needing 2 waiting calls,
    the call waits for its own unit (free at 1000, back at node 3 at 1100)."""
    calls = [(0, P3, 4, 1000), (10, P3, 3, 60)]
    base = scenario([0, 4], {"S0": 1, "S4": 1})
    aid = scenario([0, 4], {"S0": 1, "S4": 1}, mutual_aid={"threshold": 200})
    only_queue = scenario([0, 4], {"S0": 1, "S4": 1}, mutual_aid={"queue": 2})
    for sc, unit, arrive in ((base, "S0-1", 310.0), (aid, "S0-1", 310.0), (only_queue, "S4-1", 1100.0)):
        incidents, _, _, _ = run_calls(sc, line_network, calls)
        assert rows(incidents, "first_unit", "t_arrive")[1] == (unit, arrive)


# ------------------------------------------------------------------------------------------ user policies
FARTHEST = """
class Farthest:
    '''Sends the free unit with the LONGEST ETA; a freed unit takes the newest waiting call.'''

    def choose_units(self, call, candidates):
        need = call.units_needed - call.units_sent
        return [u.id for u in sorted(candidates, key=lambda u: -u.eta_s)[:need]]

    def choose_call(self, unit, waiting):
        return waiting[-1].id if waiting else None
"""


def test_user_policy_from_the_scenario_folder(tmp_path: Path):
    (tmp_path / "rules.py").write_text(FARTHEST)
    network = make_line_network(6)
    sc = scenario([0, 5], {"S0": 1, "S5": 1}, policy="rules.py:Farthest")
    incidents, _, _, _ = run_calls(sc, network, [(0, P3, 1, 60)], base_dir=tmp_path)
    assert rows(incidents, "first_unit", "t_arrive") == [("S5-1", 400.0)]  # the far one, not S0 (100 s)


def test_user_policy_runs_from_the_cli_and_resolves_its_path(tmp_path: Path):
    (tmp_path / "rules.py").write_text(FARTHEST)
    path = tmp_path / "s.yaml"
    path.write_text("name: u\nduration: 2h\nmap: helsinki\nstations: [{name: A, lon: 24.934, lat: 60.169}, "
                    "{name: B, lon: 24.95, lat: 60.164}]\nunits: {count: 3}\ndemand: {rate_per_hour: 6}\n"
                    "dispatch: {policy: rules.py:Farthest}\noutputs: {report: false}\n")  # fmt: skip
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    resolved = (tmp_path / "run" / "scenario.yaml").read_text()
    assert f"policy: {tmp_path.resolve() / 'rules.py'}:Farthest" in resolved


@pytest.mark.parametrize(
    ("code", "spec", "fragment"),
    [
        (None, "missing.py:Farthest", "policy file not found"),
        (FARTHEST, "rules.py:Nearest", "has no class 'Nearest' (classes there: Farthest)"),
        ("raise RuntimeError('boom')\n", "rules.py:Farthest", "cannot import"),
        ("def broken(:\n", "rules.py:Farthest", "SyntaxError"),
        ("class Farthest:\n    def choose_units(self, call, c):\n        return []\n", "rules.py:Farthest",
         "lacks choose_call"),
        ("class Farthest:\n    def __init__(self, x):\n        pass\n    def choose_units(self, c, u):\n        return []\n"
         "    def choose_call(self, u, w):\n        return None\n", "rules.py:Farthest", "Farthest() failed"),
    ],
    ids=["missing-file", "missing-class", "raises-on-import", "syntax-error", "missing-method", "bad-constructor"],
)  # fmt: skip
def test_bad_user_policies_are_bad_input(tmp_path: Path, code: str | None, spec: str, fragment: str):
    if code is not None:
        (tmp_path / "rules.py").write_text(code)
    path = tmp_path / "s.yaml"
    path.write_text("name: u\nduration: 1h\nmap: helsinki\nstations: [{name: A, lon: 24.934, lat: 60.169}]\n"
                    f"units: {{count: 1}}\ndemand: {{rate_per_hour: 1}}\ndispatch:\n  policy: {spec}\n")  # fmt: skip
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run"), "-q"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"{path}:8: dispatch.policy: "), result.stderr
        assert fragment in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_policy_that_breaks_its_protocol_stops_the_run_with_exit_2(tmp_path: Path):
    (tmp_path / "rules.py").write_text(
        "class Liar:\n    def choose_units(self, call, candidates):\n        return ['nobody']\n"
        "    def choose_call(self, unit, waiting):\n        return None\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text("name: u\nduration: 2h\nmap: helsinki\nstations: [{name: A, lon: 24.934, lat: 60.169}]\n"
                    "units: {count: 1}\ndemand: {rate_per_hour: 6}\ndispatch: {policy: rules.py:Liar}\n")  # fmt: skip
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2, result.output
    assert "choose_units returned ['nobody']" in result.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_policy_names_are_refused_with_a_suggestion():
    with pytest.raises(
        Exception, match="unknown dispatch policy 'beatfirst' \\(did you mean 'beat_first'\\?\\)"
    ):
        scenario([0], {"S0": 1}, policy="beatfirst")
    with pytest.raises(Exception, match="slack is a parameter of beat_first, not of nearest"):
        scenario([0], {"S0": 1}, policy="nearest", slack=60)


def test_scenario_error_type_for_missing_policy_file(tmp_path: Path):
    from policetwin.sim.policies import make_policy

    sc = scenario([0], {"S0": 1}, policy="nope.py:X")
    with pytest.raises(ScenarioError, match="policy file not found"):
        make_policy(sc.dispatch, base_dir=tmp_path)


def test_preempt_max_priority_that_no_kind_reaches_is_bad_input():
    from policetwin.scenarios import scenario_from_text

    text = ("name: p\nduration: 1h\nmap: helsinki\nstations: [{name: A, lon: 24.934, lat: 60.169}]\n"
            "units: {count: 2}\ndemand:\n  rate_per_hour: 1\n  kinds:\n"
            "    - {name: minor, priority: 3, share: 1, on_scene: {dist: fixed, mean: 60}, target: 1h}\n"
            "dispatch:\n  policy: priority_preempt\n  preempt: {max_priority: 2}\n")  # fmt: skip
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "p.yaml")
    assert info.value.problems == [
        "p.yaml:12: dispatch.preempt.max_priority: no incident kind has priority <= 2: nothing could pre-empt"
    ]


def test_backup_is_requested_from_scene(line_network):
    """The first unit arrives at node 2 at 200 and asks for one more 30 s later; the second unit drives
    from the station (200 s): there at 430, both released when the work ends at 700."""
    kinds = [{**KINDS[0], "backup": {"probability": 1.0, "delay": {"dist": "fixed", "mean": 30}}}, KINDS[1]]
    sc = Scenario.model_validate({**scenario([0], {"S0": 2}).model_dump(), "demand": {
        "rate_per_hour": 1.0, "profile": "flat", "kinds": kinds}})  # fmt: skip
    incidents, assignments, _, _ = run_calls(sc, line_network, [(0, P1, 2, 500), (5, P3, 1, 10)])
    assert rows(incidents, "n_units", "n_backup", "t_arrive", "t_clear")[0] == (2, 1, 200.0, 700.0)
    assert rows(assignments[assignments["incident_id"] == 0], "unit_id", "t_assigned", "t_arrive", "result") == [
        ("S0-1", 0.0, 200.0, "completed"), ("S0-2", 230.0, 430.0, "completed")]  # fmt: skip


@pytest.mark.parametrize(
    ("dispatch", "field", "fragment"),
    [("{policy: beat_first, slack: -60}", "dispatch.slack", "greater than or equal to 0"),
     ("{policy: nearest, districts: beats.geojson}", "dispatch.districts", "beats.geojson"),
     ("{policy: beat_first, districts: bad.geojson}", "dispatch.districts", "not valid JSON"),
     ("{policy: nearest, mutual_aid: {}}", "dispatch.mutual_aid", "needs threshold")],
    ids=["negative-slack", "districts-file-missing", "districts-file-invalid", "mutual-aid-without-rule"],
)  # fmt: skip
def test_bad_dispatch_blocks_are_bad_input(tmp_path: Path, dispatch: str, field: str, fragment: str):
    (tmp_path / "bad.geojson").write_text("{not json")
    path = tmp_path / "s.yaml"
    path.write_text("name: u\nduration: 1h\nmap: helsinki\nstations: [{name: A, lon: 24.934, lat: 60.169}]\n"
                    f"units: {{count: 1}}\ndemand: {{rate_per_hour: 1}}\ndispatch: {dispatch}\n")  # fmt: skip
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{path}:7: {field}"), result.stderr
    assert fragment in result.stderr


def test_districts_from_geojson_polygons(tmp_path: Path, helsinki_network):
    """Two polygons split central Helsinki at 24.945 E: A's district is the west, B's the east."""
    import json

    def box(x0, x1):
        return {
            "type": "Polygon",
            "coordinates": [[[x0, 60.1], [x1, 60.1], [x1, 60.3], [x0, 60.3], [x0, 60.1]]],
        }

    (tmp_path / "beats.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"station": "A"}, "geometry": box(24.8, 24.945)},
        {"type": "Feature", "properties": {"station": "B"}, "geometry": box(24.945, 25.1)}]}))  # fmt: skip
    from policetwin.scenarios import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text("name: u\nduration: 1h\nmap: helsinki\nstations: [{name: A, lon: 24.934, lat: 60.169}, "
                    "{name: B, lon: 24.95, lat: 60.164}]\nunits: {count: 2}\ndemand: {rate_per_hour: 1}\n"
                    "dispatch: {policy: beat_first, districts: beats.geojson}\n")  # fmt: skip
    sc = load_scenario(path)
    assert sc.dispatch.districts == str(tmp_path.resolve() / "beats.geojson")
    model = PoliceModel(sc, network=helsinki_network)
    west = helsinki_network.lon < 24.945
    assert (model.node_district[west] == 0).all() and (model.node_district[~west] == 1).all()
