"""Sense and command: report delays and sensors (t_occur -> t_call), the dispatcher desk (flat command
or a desk with its decision time), turn-out and emergency speed factors, and the assignments table.

Event-log tests in SimPy style on the hand-built line 0 - 1 - 2 - 3 - 4 (every edge 100 s, the station
at node 0), plus generated-demand checks for the sensing stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_calls import run_calls

from policetwin.maps import RoadNetwork
from policetwin.scenarios import Scenario
from policetwin.sim.run import simulate

FIXED = {"dist": "fixed", "mean": 60}
KINDS = [
    {"name": "p1", "priority": 1, "share": 1, "on_scene": FIXED, "units": 1, "target": 600},
    {"name": "p3", "priority": 3, "share": 1, "on_scene": FIXED, "units": 1, "target": 600},
]
P1, P3 = 0, 1


def scenario(**extra) -> Scenario:
    data = {
        "name": "command-test", "duration": "1h", "map": "line",
        "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}], "units": {"count": 1},
        "demand": {"rate_per_hour": 1.0, "profile": "flat", "kinds": KINDS},
        "call_handling": {"takers": 50, "handling": {"dist": "fixed", "mean": 0}},
        "outputs": {"report": False},
    }  # fmt: skip
    for key, value in extra.items():
        section, _, field = key.partition("__")
        if field:
            data[section] = {**data.get(section, {}), field: value}
        else:
            data[key] = value
    return Scenario.model_validate(data)


def times(incidents: pd.DataFrame, *cols: str) -> list[tuple]:
    return [tuple(row) for row in incidents[list(cols)].itertuples(index=False)]


# ------------------------------------------------------------------------------------------ command
def test_flat_command_has_no_desk_stage(line_network):
    incidents, _, _, _ = run_calls(scenario(), line_network, [(10, P1, 2, 100)])
    assert times(incidents, "t_ready", "t_desk", "t_decided", "t_dispatch", "t_enroute") == [(10.0,) * 5]


def test_dispatcher_desk_takes_the_most_urgent_call_first(line_network):
    """One dispatcher, 60 s per decision. Calls at t=0 (P3), t=10 (P3), t=20 (P1): the desk works on
    the first P3 until 60, then takes the P1 (waiting since 20) before the second P3."""
    sc = scenario(call_handling__dispatchers=1, call_handling__decision=FIXED, units={"count": 3})
    calls = [(0, P3, 1, 10), (10, P3, 1, 10), (20, P1, 1, 10)]
    incidents, _, _, _ = run_calls(sc, line_network, calls)
    assert times(incidents, "t_ready", "t_desk", "t_decided", "t_dispatch") == [
        (0.0, 0.0, 60.0, 60.0),
        (10.0, 120.0, 180.0, 180.0),
        (20.0, 60.0, 120.0, 120.0),
    ]


def test_turnout_applies_to_units_at_their_station_only(line_network):
    """Turn-out 45 s. Call 0 at t=0 to node 2: rolling at 45, there at 245, clear at 345. Call 1 at
    t=350 to node 4 while the unit drives home (at node 2 since 345, next node 1 at 445): no turn-out,
    it turns at node 1 (445) and drives 1 -> 4 (300 s): there at 745."""
    sc = scenario(travel__turnout={"dist": "fixed", "mean": 45})
    incidents, assignments, _, _ = run_calls(sc, line_network, [(0, P1, 2, 100), (350, P1, 4, 100)])
    assert times(incidents, "t_dispatch", "t_enroute", "t_arrive", "t_clear") == [
        (0.0, 45.0, 245.0, 345.0),
        (350.0, 350.0, 745.0, 845.0),
    ]
    assert times(
        assignments, "incident_id", "t_assigned", "t_enroute", "t_arrive", "t_released", "result"
    ) == [
        (0, 0.0, 45.0, 245.0, 345.0, "completed"),
        (1, 350.0, 350.0, 745.0, 845.0, "completed"),
    ]


def test_emergency_speed_factor_by_priority(line_network):
    """P1 at speed factor 2: node 4 (400 s) in 200 s; P3 keeps 400 s; driving home is never faster."""
    sc = scenario(travel__priority_speed_factor={1: 2.0}, units={"count": 2})
    incidents, _, _, model = run_calls(sc, line_network, [(0, P1, 4, 100), (0, P3, 4, 100)])
    assert times(incidents, "t_dispatch", "t_arrive") == [(0.0, 200.0), (0.0, 400.0)]
    units = model.recorder.units_frame(model.unit_names)
    returning = units[units["state"] == "returning"]
    assert sorted((returning["t_end"] - returning["t_start"]).tolist()) == [400.0, 400.0]


def test_priority_speed_factor_keys_survive_the_resolved_yaml():
    from policetwin.scenarios import scenario_from_text, scenario_to_yaml

    sc = scenario(travel__priority_speed_factor={1: 1.5, 2: 1.2})
    again = scenario_from_text(scenario_to_yaml(sc), "resolved.yaml")
    assert again.travel.priority_speed_factor == {1: 1.5, 2: 1.2}


def test_two_units_for_one_call_are_two_assignments(line_network):
    """A call needing 2 units: both sent at once; the later one arrives after the work ended and is
    released on arrival."""
    kinds = [{**KINDS[0], "units": 2}, KINDS[1]]
    sc = scenario(
        units={"per_station": {"S": 2}}, demand={"rate_per_hour": 1.0, "profile": "flat", "kinds": kinds}
    )
    incidents, assignments, _, _ = run_calls(sc, line_network, [(0, P1, 1, 50)])
    assert incidents["n_units"].tolist() == [2]
    assert times(assignments, "unit_id", "t_arrive", "t_released", "result") == [
        ("S-1", 100.0, 150.0, "completed"),
        ("S-2", 100.0, 150.0, "completed"),
    ]


# -------------------------------------------------------------------------------------------- sense
def sense_run(helsinki_network: RoadNetwork, **extra):
    sc = Scenario.model_validate({
        "name": "sense", "seed": 5, "duration": "24h", "map": "helsinki",
        "stations": [{"name": "S", "lon": 24.94, "lat": 60.17}], "units": {"count": 6},
        "demand": {"rate_per_hour": 20, "profile": "flat", "kinds": [
            {"name": "k", "priority": 1, "share": 1, "on_scene": FIXED, "target": 600, **extra.pop("kind", {})}]},
        "outputs": {"report": False}, **extra,
    })  # fmt: skip
    return simulate(sc, network=helsinki_network)


def test_report_delay_moves_the_call_after_the_incident(helsinki_network):
    base = sense_run(helsinki_network).incidents
    delayed = sense_run(helsinki_network, kind={"report_delay": {"dist": "fixed", "mean": 120}}).incidents
    np.testing.assert_allclose(delayed["t_call"] - delayed["t_occur"], 120.0)
    np.testing.assert_array_equal(np.sort(delayed["t_occur"]), np.sort(base["t_occur"]))  # same incidents
    assert (delayed["detected_by"] == "citizen").all()


def test_sensors_detect_covered_incidents_earlier(helsinki_network):
    """Citizens call after 10 min; sensors cover every node, detect 70% after 30 s. Detected calls come
    30 s after the incident, the others 600 s; the detected share is 70% within 4 standard errors."""
    res = sense_run(helsinki_network, kind={"report_delay": {"dist": "fixed", "mean": 600}},
                    sensing={"node_share": 1.0, "detection_probability": 0.7,
                             "delay": {"dist": "fixed", "mean": 30}})  # fmt: skip
    inc = res.incidents
    know = (inc["t_call"] - inc["t_occur"]).to_numpy()
    sensor = (inc["detected_by"] == "sensor").to_numpy()
    np.testing.assert_allclose(know[sensor], 30.0)
    np.testing.assert_allclose(know[~sensor], 600.0)
    n = len(inc)
    assert abs(sensor.mean() - 0.7) < 4 * np.sqrt(0.7 * 0.3 / n)
    assert res.summary["detected_by"]["sensor"]["count"] == sensor.sum()
    assert res.summary["priorities"]["1"]["time_to_know_mean_s"] == pytest.approx(know.mean())


def test_sensor_points_cover_only_nearby_nodes(helsinki_network):
    res = sense_run(helsinki_network, sensing={"sensors": [{"lon": 24.9414, "lat": 60.1710, "radius_m": 150}],
                                               "delay": {"dist": "fixed", "mean": 0}},
                    kind={"report_delay": {"dist": "fixed", "mean": 60}})  # fmt: skip
    inc = res.incidents
    from policetwin.maps import Snapper

    near = Snapper(helsinki_network).within(24.9414, 60.1710, 150)
    near_ids = set(helsinki_network.node_id[near].tolist())
    sensor = inc["detected_by"] == "sensor"
    assert sensor.any() and (~sensor).any()
    assert set(inc.loc[sensor, "node"]) <= near_ids
    assert not set(inc.loc[~sensor, "node"]) & near_ids  # detection probability 1: every covered one


def test_sensing_off_changes_nothing(helsinki_network):
    a = sense_run(helsinki_network).incidents
    assert (a["t_occur"] == a["t_call"]).all() and (a["detected_by"] == "citizen").all()


def test_sensor_outside_the_map_is_bad_input(tmp_path):
    from typer.testing import CliRunner

    from policetwin.cli import app

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nduration: 1h\nmap: helsinki\nstations: [{name: A, lon: 24.94, lat: 60.17}]\n"
        "units: {count: 1}\ndemand: {rate_per_hour: 1}\nsensing:\n  sensors:\n"
        "    - {lon: 24.94, lat: 60.17}\n    - {lon: 25.5, lat: 60.5, radius_m: 200}\n"
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:10: sensing.sensors.1: sensor at (25.5, 60.5) is ")
    assert "covers no road within its 200 m" in result.stderr


# ---------------------------------------------------------------------------------- calls that need no car
def kinds_with(**extra) -> dict:
    return {"rate_per_hour": 1.0, "profile": "flat", "kinds": [{**KINDS[0], **extra}, KINDS[1]]}


def test_calls_resolved_by_phone_get_no_unit(line_network):
    sc = scenario(demand=kinds_with(phone_share=1.0))
    incidents, assignments, _, _ = run_calls(
        sc, line_network, [(0, P1, 2, 100), (5, P3, 2, 100)], handling_s=30, plans=True
    )
    assert incidents["outcome"].tolist() == ["phone", "served"]
    assert times(incidents.iloc[:1], "t_ready", "t_clear") == [(30.0, 30.0)]
    assert incidents["t_dispatch"].isna().tolist() == [True, False]
    assert assignments["incident_id"].tolist() == [1]


def test_duplicate_calls_are_answered_linked_and_never_dispatched(line_network):
    sc = scenario(
        demand=kinds_with(duplicates={"share": 1.0, "delay": {"dist": "fixed", "mean": 30}}),
        call_handling={"takers": 5, "handling": {"dist": "fixed", "mean": 5}},
    )  # duplicates' handling
    incidents, assignments, _, _ = run_calls(
        sc, line_network, [(0, P1, 2, 100), (10, P3, 3, 100)], handling_s=5, plans=True
    )
    assert times(incidents, "t_call", "outcome", "linked_to") == [
        (0.0, "served", pd.NA), (10.0, "served", pd.NA), (30.0, "duplicate", 0)]  # fmt: skip
    assert times(incidents.iloc[2:], "t_answer", "t_ready", "t_clear") == [(30.0, 35.0, 35.0)]
    assert incidents.loc[2, ["t_dispatch", "t_arrive"]].isna().all()
    assert sorted(assignments["incident_id"]) == [0, 1]


def test_callers_hang_up_when_nobody_answers(line_network):
    """One call-taker, 100 s per call; patience 50 s. The call at t=10 is still waiting at 60: it is
    abandoned (never answered, logged). The call at t=120 is answered at once."""
    sc = scenario(call_handling={"takers": 1, "handling": {"dist": "fixed", "mean": 0}},
                  demand=kinds_with(patience={"dist": "fixed", "mean": 50}))  # fmt: skip
    incidents, _, _, _ = run_calls(sc, line_network, [(0, P1, 1, 10), (10, P1, 1, 10), (120, P1, 1, 10)],
                               handling_s=100, plans=True)  # fmt: skip
    assert incidents["outcome"].tolist() == ["served", "abandoned", "served"]
    assert incidents["t_answer"].tolist()[0] == 0.0 and np.isnan(incidents["t_answer"][1])
    assert incidents["t_answer"].tolist()[2] == 120.0
    assert incidents["t_clear"].tolist()[1] == 60.0  # the caller hung up 50 s after calling


def test_units_still_turning_out_when_the_work_ends_are_stood_down(line_network):
    """Turn-out 100 s. Call 0 at node 1 needs 2 units: S-1 and S-2 turn out (rolling at 100), arrive at
    200, work until 210. Call 1 at node 1 (t=205) needs 2: S-3 (at the station) turns out until 305;
    S-1, freed at 210 at node 1, takes the call's second place and is there at once, so the work
    (10 s) ends at 220 while S-3 still turns out: it is stood down (cancelled) at its station."""
    kinds = [{**KINDS[0], "units": 2}, KINDS[1]]
    sc = scenario(units={"count": 3}, travel__turnout={"dist": "fixed", "mean": 100},
                  demand={"rate_per_hour": 1.0, "profile": "flat", "kinds": kinds})  # fmt: skip
    incidents, assignments, _, model = run_calls(sc, line_network, [(0, P1, 1, 10), (205, P1, 1, 10)])
    got = [tuple(None if pd.isna(v) else v for v in row) for row in assignments[
        ["incident_id", "unit_id", "t_enroute", "t_arrive", "t_released", "result"]].itertuples(index=False)]  # fmt: skip
    assert got == [
        (0, "S-1", 100.0, 200.0, 210.0, "completed"),
        (0, "S-2", 100.0, 200.0, 210.0, "completed"),
        (1, "S-3", 305.0, None, 220.0, "cancelled"),
        (1, "S-1", 210.0, 210.0, 220.0, "completed"),
    ]
    assert times(incidents, "t_dispatch", "t_enroute", "t_arrive", "t_clear") == [
        (0.0, 100.0, 200.0, 210.0), (205.0, 210.0, 210.0, 220.0)]  # fmt: skip
    units = model.recorder.units_frame(model.unit_names)
    s3 = units[units["unit_id"] == "S-3"]
    assert s3["state"].tolist() == ["idle", "enroute", "idle"]  # back at the station at once
