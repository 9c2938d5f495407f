"""Unavailability on duty: meal breaks and officer-initiated activity (exact event logs on the hand-built
line 0 - 1 - 2 - 3 - 4, every edge 100 s, station at node 0), the renewal law for officer-initiated
activity, shift conservation with breaks, and the saturation index per shift window."""

from __future__ import annotations

import numpy as np
import pytest
from engine_calls import run_calls
from test_shifts import ANY, H, scenario

from policetwin.errors import ScenarioError
from policetwin.scenarios import Scenario
from policetwin.sim.run import simulate

MEAL = {"after": "4h", "duration": {"dist": "fixed", "mean": "30min"}}


def test_a_free_unit_takes_its_meal_break_where_it_is_and_is_not_sent_meanwhile(line_network):
    """Shift 00:00-08:00, break due at 04:00 for 30 min. A call at 04:10 waits for the break's end
    (04:30), then the unit is sent from the station (100 s to node 1)."""
    sc = scenario([{"name": "day", "count": 1, "station": "S", "shift": "00:00-08:00", "meal_break": MEAL}],
                  duration="10h")  # fmt: skip
    incidents, _, log, _ = run_calls(sc, line_network, [(4 * H + 600, ANY, 1, 60)])
    assert ("day-1", "meal_break", 4 * H, 4.5 * H, None) in log
    assert incidents["t_dispatch"].tolist() == [4.5 * H]
    assert incidents["t_arrive"].tolist() == [4.5 * H + 100]
    assert [s for u, s, *_ in log].count("meal_break") == 1


def test_a_busy_unit_takes_its_break_when_it_is_next_free(line_network):
    """A call at 03:55 at node 3 (300 s away, 600 s on scene) keeps the unit busy past 04:00; it clears
    at 03:55 + 900 s and starts its 30 min break there, on scene's node, at once."""
    sc = scenario([{"name": "day", "count": 1, "station": "S", "shift": "00:00-08:00", "meal_break": MEAL}],
                  duration="10h")  # fmt: skip
    clear = 4 * H - 300 + 900
    incidents, _, log, model = run_calls(sc, line_network, [(4 * H - 300, ANY, 3, 600)])
    assert incidents["t_clear"].tolist() == [clear]
    assert ("day-1", "meal_break", clear, clear + 1800, None) in log
    after = next(row for row in log if row[2] == clear + 1800)
    assert after[1] == "returning"  # then free again, driving home from node 3 (300 s)
    assert ("day-1", "idle", clear + 1800 + 300, 8 * H, None) in log
    assert model.unavailability.n_breaks == [1]


def test_a_break_owed_at_shift_end_lapses_and_a_shift_ending_during_a_break_ends_it(line_network):
    """Break due 30 min into a 1 h shift, lasting 1 h: the shift ends during the break (off duty at 01:00,
    no overtime)."""
    meal = {"after": "30min", "duration": {"dist": "fixed", "mean": "1h"}}
    sc = scenario([{"name": "day", "count": 1, "station": "S", "shift": "00:00-01:00", "meal_break": meal}],
                  duration="2h")  # fmt: skip
    _, _, log, model = run_calls(sc, line_network, [(9 * H, ANY, 1, 60)])
    assert ("day-1", "meal_break", 0.5 * H, 1 * H, None) in log
    assert ("day-1", "off_shift", 1 * H, 24 * H, None) in log
    assert model.shifts.overtime_s.tolist() == [0.0]


def test_officer_initiated_activity_follows_the_renewal_law(helsinki_network):
    """Activities start at Poisson(r) moments while the unit is free, each lasting d: with no calls the
    unit alternates free (mean 1/r) and busy (d), so it is busy a share r d / (1 + r d) of the time and
    starts r T / (1 + r d) activities in T. 10 units x 500 h at r = 2/h, d = 15 min: expected 6,667
    activities (sd = sqrt(10 T var/mean^3) = 54 for the sum of 10 renewal counts); the test allows 4 sd, and the busy
    share within 0.01 (its sd is about 0.002)."""
    rate, d = 2.0, 900.0
    sc = Scenario.model_validate({
        "name": "self", "seed": 3, "duration": "500h", "map": "helsinki",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}],
        "units": {"groups": [{"name": "g", "count": 10, "station": "A",
                              "self_initiated": {"rate_per_hour": rate, "duration": {"dist": "fixed", "mean": d}}}]},
        "demand": {"rate_per_hour": 0.0001, "profile": "flat"}, "outputs": {"report": False},
    })  # fmt: skip
    result = simulate(sc, network=helsinki_network)
    units = result.units
    busy = units[units["state"] == "self_initiated"]
    expected = 10 * rate * 500 / (1 + rate * d / 3600)
    assert abs(len(busy) - expected) < 4 * 54
    share = rate * d / 3600 / (1 + rate * d / 3600)
    assert result.summary["groups"]["g"]["self_initiated_s"] / (10 * 500 * H) == pytest.approx(
        share, abs=0.01
    )
    assert np.allclose(busy["t_end"] - busy["t_start"], d)


def test_on_duty_units_equal_the_shift_plan_and_breaks_are_on_duty(helsinki_network):
    """Shift conservation with breaks: at every moment the units not off shift equal the plan (two groups,
    06-14 and 14-22), every on-duty unit has one 30 min break per shift, and no unit is sent while on
    a break or off shift."""
    groups = [{"name": "early", "count": 3, "station": "A", "shift": "06:00-14:00", "meal_break": MEAL,
               "self_initiated": {"rate_per_hour": 0.5, "duration": {"dist": "exponential", "mean": 600}}},
              {"name": "late", "count": 2, "station": "A", "shift": "14:00-22:00", "meal_break": MEAL}]  # fmt: skip
    sc = Scenario.model_validate({
        "name": "plan", "seed": 9, "start": "Mon 00:00", "duration": "3d", "map": "helsinki",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}], "units": {"groups": groups},
        "demand": {"rate_per_hour": 1.5, "profile": "flat"}, "outputs": {"report": False},
    })  # fmt: skip
    result = simulate(sc, network=helsinki_network)
    units, asg = result.units, result.assignments
    for t in np.arange(0, 72 * H, 997.0):
        on = units[(units["t_start"] <= t) & (units["t_end"] > t) & (units["state"] != "off_shift")]
        hour = (t / H) % 24
        planned = 3 * (6 <= hour < 14) + 2 * (14 <= hour < 22)
        overtime = on[on["state"].isin(["enroute", "onscene", "self_initiated"])]
        assert len(on) - len(overtime) <= planned <= len(on), t
    breaks = units[units["state"] == "meal_break"]
    assert len(breaks) == 3 * 3 + 3 * 2  # one per unit and shift, three days
    for row in asg.itertuples():
        mine = units[(units["unit_id"] == row.unit_id) & (units["t_start"] <= row.t_assigned)
                     & (units["t_end"] > row.t_assigned)]  # fmt: skip
        assert not mine["state"].isin(["meal_break", "self_initiated", "off_shift"]).any()
    early = result.summary["groups"]["early"]
    assert early["meal_break_s"] == pytest.approx(9 * 1800)
    assert set(early["shifts"]) == {"06:00-14:00"}


def test_saturation_index_per_shift_window_matches_the_unit_log(helsinki_network):
    """The per-window saturation index is the time en route or on scene within the window's spans over
    the on-duty time within them, recomputed here from units.parquet by clipping intervals."""
    groups = [
        {"name": "all", "count": 4, "station": "A", "shift": {"windows": ["06:00-18:00", "18:00-06:00"]}}
    ]
    sc = Scenario.model_validate({
        "name": "sat", "seed": 2, "start": "Mon 00:00", "duration": "2d", "map": "helsinki",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}], "units": {"groups": groups},
        "demand": {"rate_per_hour": 2.0, "profile": "default"}, "outputs": {"report": False},
    })  # fmt: skip
    result = simulate(sc, network=helsinki_network)
    units = result.units
    shifts = result.summary["groups"]["all"]["shifts"]
    for window, spans in {"06:00-18:00": [(6 * H, 18 * H), (30 * H, 42 * H)],
                          "18:00-06:00": [(0, 6 * H), (18 * H, 30 * H), (42 * H, 48 * H)]}.items():  # fmt: skip
        on_call = duty = 0.0
        for a, b in spans:
            span = (units["t_end"].clip(a, b) - units["t_start"].clip(a, b)).to_numpy()
            on_call += span[units["state"].isin(["enroute", "onscene"]).to_numpy()].sum()
            duty += 4 * (b - a) - span[(units["state"] == "off_shift").to_numpy()].sum()
        assert shifts[window]["saturation_index"] == pytest.approx(on_call / duty, rel=1e-9)
    assert shifts["06:00-18:00"]["saturation_index"] != shifts["18:00-06:00"]["saturation_index"]


def test_a_patrolling_unit_goes_off_duty_when_its_shift_ends(helsinki_network):
    groups = [{"name": "p", "count": 2, "station": "A", "shift": "00:00-02:00", "idle": "random_beat"}]
    sc = Scenario.model_validate({
        "name": "off", "seed": 1, "duration": "4h", "map": "helsinki",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}], "units": {"groups": groups},
        "demand": {"rate_per_hour": 0.0001, "profile": "flat"}, "outputs": {"report": False},
    })  # fmt: skip
    units = simulate(sc, network=helsinki_network).units
    late = units[units["t_end"] > 2 * H + 1]
    assert set(late["state"]) == {"off_shift"}


@pytest.mark.parametrize(
    ("group", "field", "fragment"),
    [
        ({"meal_break": MEAL}, "meal_break", "give the group a shift"),
        ({"shift": "06:00-10:00", "meal_break": MEAL}, "meal_break.after", "shorter than the longest window"),
        ({"self_initiated": {"rate_per_hour": -1, "duration": {"dist": "fixed", "mean": 60}}},
         "self_initiated.rate_per_hour", "greater than 0"),
    ],
)  # fmt: skip
def test_bad_breaks_are_bad_input(tmp_path, group: dict, field: str, fragment: str):
    import json

    from policetwin.scenarios import load_scenario

    base = {"name": "bad", "duration": "1h", "map": "line", "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}],
            "units": {"groups": [{"name": "g", "count": 1, "station": "S", **group}]},
            "demand": {"rate_per_hour": 1.0}}  # fmt: skip
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(base, indent=1), encoding="utf-8")  # JSON is YAML
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"units.groups.0.{field}" in text and fragment in text and "bad.yaml:" in text


# ------------------------------------------------------------------------------------------ patrol coverage
def _hotspot_patrol(duration: str) -> Scenario:
    """One unit at node 0 patrolling its beat's top 2 demand nodes: node 4 (a demand hotspot) and node 0
    (ties broken by index), at road speed (100 s per edge); the beat is the whole line (4 segments)."""
    return Scenario.model_validate({
        "name": "cover", "duration": duration, "map": "line",
        "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}],
        "units": {"groups": [{"name": "p", "count": 1, "station": "S", "idle": "hotspot", "hotspots": 2,
                              "speed_factor": 1.0, "dwell": {"dist": "fixed", "mean": 600}}]},
        "demand": {"rate_per_hour": 1.0, "profile": "flat",
                   "hotspots": [{"lon": 0.036, "lat": 0.0, "radius_m": 300, "weight": 5.0}], "kinds": KINDS},
        "call_handling": {"takers": 5, "handling": {"dist": "fixed", "mean": 0}}, "outputs": {"report": False},
    })  # fmt: skip


KINDS = [{"name": "any", "priority": 2, "share": 1, "on_scene": {"dist": "fixed", "mean": 60}, "target": 600}]


def test_patrol_coverage_counts_the_beat_streets_driven(line_network):
    """Leg 0 -> 4 (0..400 s) passes all 4 segments; the next leg departs after the run: coverage 1."""
    _, _, log, model = run_calls(_hotspot_patrol("1000s"), line_network, [(5000.0, ANY, 2, 60)])
    assert ("p-1", "patrol", 0.0, 5000.0, None) in log
    figures = model.patrol_coverage.figures()["p"]
    assert figures["coverage_mean"] == pytest.approx(1.0)
    assert figures["shifts"] == {"00:00-24:00": {"coverage_mean": pytest.approx(1.0), "instances": 1}}
    assert figures["beat_km"] == pytest.approx(4 * line_network.length_m[0] / 1000, rel=1e-6)


def test_a_patrol_leg_cut_by_a_call_counts_only_the_streets_finished(line_network):
    """A call at 150 s at node 0 finds the unit halfway along edge 1 -> 2 of its first leg: only segment
    0-1 was finished (a quarter of the beat); it then works 2000 s on scene, past the run's end."""
    _, _, _, model = run_calls(_hotspot_patrol("1000s"), line_network, [(150.0, ANY, 0, 2000)])
    assert model.patrol_coverage.figures()["p"]["coverage_mean"] == pytest.approx(0.25)
