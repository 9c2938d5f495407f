"""Unit groups: shifts (windows in the scenario's clock, handover, overtime), capabilities and posts.
Exact event logs on the hand-built line 0 - 1 - 2 - 3 - 4 (every edge 100 s, station at node 0)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_calls import run_calls

from policetwin.scenarios import Scenario, scenario_from_text
from policetwin.scenarios.units import Shift
from policetwin.sim.shifts import duty_windows

H = 3600.0
KINDS = [
    {"name": "any", "priority": 2, "share": 1, "on_scene": {"dist": "fixed", "mean": 60}, "target": 600},
    {"name": "dog", "priority": 1, "share": 1, "on_scene": {"dist": "fixed", "mean": 60}, "target": 600,
     "require": "k9"},
]  # fmt: skip
ANY, DOG = 0, 1


def scenario(groups: list[dict], *, start: str = "Mon 00:00", duration: str = "1d") -> Scenario:
    return Scenario.model_validate({
        "name": "shift-test", "start": start, "duration": duration, "map": "line",
        "stations": [{"name": "S", "lon": 0.0, "lat": 0.0}], "units": {"groups": groups},
        "demand": {"rate_per_hour": 1.0, "profile": "flat",
                   "kinds": KINDS if any("k9" in g.get("capabilities", []) for g in groups) else KINDS[:1]},
        "call_handling": {"takers": 50, "handling": {"dist": "fixed", "mean": 0}}, "outputs": {"report": False},
    })  # fmt: skip


# ------------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize(
    ("shift", "start", "expected"),
    [
        ({"windows": ["07:00-15:00"]}, "Mon 00:00", [(7 * H, 15 * H), (31 * H, 39 * H)]),
        ({"windows": ["23:00-07:00"]}, "Mon 00:00", [(0.0, 7 * H), (23 * H, 31 * H), (47 * H, 55 * H)]),
        ({"windows": ["07:00-15:00", "15:00-23:00"]}, "Mon 00:00", [(7 * H, 23 * H), (31 * H, 47 * H)]),
        ({"windows": ["07:00-15:00"], "handover": 900}, "Mon 00:00", [(7 * H + 900, 15 * H), (31 * H + 900, 39 * H)]),
        ({"windows": ["07:00-15:00"]}, "Mon 08:00", [(0.0, 7 * H), (23 * H, 31 * H), (47 * H, 55 * H)]),
        ({"windows": ["20:00-04:00"], "days": ["Fri"]}, "Thu 00:00", [(44 * H, 52 * H)]),
        ({"windows": ["00:00-24:00"]}, "Wed 12:00", [(0.0, 60 * H)]),
    ],
)  # fmt: skip
def test_duty_windows_follow_the_scenario_clock(shift: dict, start: str, expected: list[tuple[float, float]]):
    windows = duty_windows(Shift.model_validate(shift), start=start, horizon_s=48 * H)
    assert windows == expected


def test_shift_short_form():
    sc = scenario([{"name": "day", "count": 1, "station": "S", "shift": "07:00-15:00"}])
    assert sc.units.groups[0].shift.windows == ["07:00-15:00"]
    assert sc.units.count == 1


# ------------------------------------------------------------------------------------------ engine
def test_no_unit_is_sent_while_off_shift_and_no_call_is_lost(line_network):
    """On duty 00:00-01:00 every day. Call 0 at 10 min is served; call 1 at 01:30 waits for the next
    shift (dispatched at 24:00 from the station, 200 s to node 2)."""
    sc = scenario([{"name": "night", "count": 1, "station": "S", "shift": "00:00-01:00"}], duration="2h")
    incidents, _, log, _ = run_calls(sc, line_network, [(600, ANY, 1, 60), (5400, ANY, 2, 60)])
    assert incidents["t_dispatch"].tolist() == [600.0, 86400.0]
    assert incidents["t_arrive"].tolist() == [700.0, 86600.0]
    assert ("night-1", "off_shift", 3600.0, 86400.0, None) in log


def test_a_unit_busy_at_shift_end_finishes_its_call_with_overtime(line_network):
    """Shift 00:00-01:00; a call at 3500 at node 3 (300 s away, 600 s on scene): the unit clears at
    4400, 800 s after its shift ended, then goes off duty (overtime 800 s)."""
    sc = scenario([{"name": "night", "count": 1, "station": "S", "shift": "00:00-01:00"}], duration="2h")
    incidents, _, log, model = run_calls(sc, line_network, [(3500, ANY, 3, 600)])
    assert incidents["t_clear"].tolist() == [4400.0]
    assert log[-2:] == [
        ("night-1", "onscene", 3800.0, 4400.0, 0),
        ("night-1", "off_shift", 4400.0, 86400.0, None),
    ]
    assert model.shifts.overtime_s.tolist() == [800.0]


def test_capable_units_only(line_network):
    """Two ordinary units and one dog unit at the station. Dog calls wait for the dog unit even while
    ordinary units are free; ordinary calls may take the dog unit when it is the only one free."""
    sc = scenario([{"name": "car", "count": 2, "station": "S"},
                   {"name": "dog", "count": 1, "station": "S", "capabilities": ["k9"]}])  # fmt: skip
    calls = [(0, DOG, 2, 1000), (10, DOG, 1, 60), (20, ANY, 1, 60)]
    incidents, _, _, _ = run_calls(sc, line_network, calls)
    assert incidents["first_unit"].tolist() == ["dog-1", "dog-1", "car-1"]
    assert incidents["t_dispatch"].tolist() == [0.0, 1200.0, 20.0]  # the second dog call waited for the dog


def test_units_wait_at_their_post_and_return_there(line_network):
    """A post at node 3: a call at node 4 is 100 s away; afterwards the unit drives back to node 3."""
    from conftest import STEP_DEG

    sc = scenario(
        [
            {
                "name": "post",
                "count": 1,
                "station": "S",
                "idle": "post",
                "posts": [{"lon": 3 * STEP_DEG, "lat": 0.0}],
            }
        ]
    )
    incidents, _, log, _ = run_calls(sc, line_network, [(0, ANY, 4, 60), (1000, ANY, 0, 60)])
    assert incidents["t_arrive"].tolist() == [100.0, 1300.0]
    assert ("post-1", "returning", 160.0, 260.0, None) in log


def test_shift_plan_is_kept_over_a_busy_week(helsinki_network):
    """Three 8-hour shifts of 3 units each over a week of calls: at no time is an off-duty unit sent, every
    call is served, and at every on-duty change the number of units on duty equals the plan."""
    from policetwin.sim.run import simulate

    groups = [{"name": name, "count": 3, "station": "A", "shift": window, **extra}
              for name, window, extra in (("early", "06:00-14:00", {}), ("late", "14:00-22:00", {}),
                                          ("night", "22:00-06:00", {"capabilities": ["k9"]}))]  # fmt: skip
    sc = Scenario.model_validate({
        "name": "week", "seed": 2, "duration": "7d", "map": "helsinki", "start": "Mon 00:00",
        "stations": [{"name": "A", "lon": 24.934, "lat": 60.169}], "units": {"groups": groups},
        "demand": {"rate_per_hour": 2, "profile": "flat", "kinds": [{**KINDS[0], "on_scene": {"dist": "exponential", "mean": 1800}}]},
        "outputs": {"report": False},
    })  # fmt: skip
    result = simulate(sc, network=helsinki_network)
    units, asg = result.units, result.assignments
    assert result.incidents["t_arrive"].notna().all()
    plan = {g.name: duty_windows(g.shift, start=sc.start, horizon_s=30 * 86400) for g in sc.units.groups}
    for row in asg.itertuples():
        windows = plan[row.unit_id.rsplit("-", 1)[0]]
        assert any(on <= row.t_assigned < off for on, off in windows), row
    off = units[units["state"] == "off_shift"]
    for t in np.arange(0.0, 7 * 86400, 1800.0) + 1.0:
        expected = sum(3 for windows in plan.values() if any(on <= t < o for on, o in windows))
        off_now = ((off["t_start"] <= t) & (off["t_end"] > t)).sum()
        # on duty = planned, plus units still finishing a call from their shift (overtime)
        assert 9 - off_now >= expected
    assert result.summary["groups"]["night"]["saturation_index"] > 0


# ------------------------------------------------------------------------------------------ bad input
BASE = """\
name: g
duration: 1h
map: helsinki
stations: [{name: A, lon: 24.934, lat: 60.169}]
units:
  groups:
    - name: day
      count: 2
      station: A
      shift: 07:00-15:00
demand:
  rate_per_hour: 1
  kinds:
    - {name: k, priority: 1, share: 1, on_scene: {dist: fixed, mean: 60}, target: 10min}
"""


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("shift: 07:00-15:00", "shift: 25:00-07:00", "units.groups.0.shift.windows.0", "cannot read shift window"),
        ("station: A", "station: B", "units.groups.0.station", "no station is named 'B'"),
        ("    - {name: k,", "    - {require: dogs, name: k,", "demand.kinds.0.require", "no unit has capability 'dogs'"),
        ("  groups:", "  per_station: {A: 2}\n  groups:", "units", "not both"),
        ("  groups:", "  count: 3\n  groups:", "units", "groups adds up to 2 units but count is 3"),
        ("      shift: 07:00-15:00", "      shift: 07:00-15:00\n      posts: [{lon: 24.94, lat: 60.17}]",
         "units.groups.0.posts", "idle is station"),
        ("      shift: 07:00-15:00", "      shift: {windows: [07:00-15:00], days: [Funday]}",
         "units.groups.0.shift.days", "unknown weekday"),
    ],
    ids=["bad-window", "unknown-station", "unknown-capability", "two-forms", "count-mismatch", "posts-without-post",
         "bad-day"],
)  # fmt: skip
def test_bad_groups_name_their_field(old: str, new: str, field: str, fragment: str):
    from policetwin.errors import ScenarioError

    text = BASE.replace(old, new, 1)
    assert text != BASE
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "g.yaml")
    problems = info.value.problems
    assert any(f": {field}: " in p and fragment in p for p in problems), problems


def test_posts_off_the_map_are_bad_input(tmp_path):
    from typer.testing import CliRunner

    from policetwin.cli import app

    path = tmp_path / "g.yaml"
    path.write_text(
        BASE.replace("      shift: 07:00-15:00", "      idle: post\n      posts: [{lon: 25.5, lat: 60.5}]")
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:11: units.groups.0.posts.0: post at (25.5, 60.5) is outside the map" in result.stderr


def test_time_shares_of_units_never_on_duty_are_none_not_nan():
    """A group whose shift does not start within a short run has no on-duty time: no share (JSON-safe),
    not 0/0 (coquimbo-shifts run for 2 h used to end in an internal error)."""
    import pandas as pd

    from policetwin.sim.metrics import unit_time_shares

    units = pd.DataFrame({"t_start": [0.0, 0.0], "t_end": [7200.0, 7200.0], "state": ["off_shift"] * 2})
    shares = unit_time_shares(units, n_units=2, horizon_s=7200.0)
    assert shares == {"count": 2, "utilisation": None, "saturation_index": None}
