"""``optimize staffing``: the queueing start (Erlang C), the plan as unit groups, the simulation search on
an M/M/c scenario (instant travel: the found staffing equals Erlang C's answer) and bad input (exit 2)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.experiments.staffing import (
    StaffingError,
    erlang_c,
    parse_target,
    periods_of,
    plan_scenario,
)
from policetwin.experiments.staffing_search import optimize_staffing
from policetwin.scenarios import Scenario, load_scenario
from policetwin.sim.run import load_scenario_map

# M/M/c: 24 calls/h, exponential 15 min on scene (a = 6 Erlangs), instant travel, no handling time
MMC = {
    "name": "mmc-staffing",
    "seed": 3,
    "duration": "240h",
    "map": "helsinki",
    "stations": [{"name": "Central", "lon": 24.9458, "lat": 60.1699}],
    "units": {"count": 3},
    "demand": {"rate_per_hour": 24, "profile": "flat", "kinds": [
        {"name": "call", "priority": 1, "share": 1, "on_scene": {"dist": "exponential", "mean": "15min"},
         "units": 1, "target": "10min"}]},
    "call_handling": {"takers": 50, "handling": {"dist": "fixed", "mean": "0s"}},
    "travel": {"mode": "instant"},
    "outputs": {"report": False},
}  # fmt: skip


def _erlang_c_sum(c: int, a: float) -> float:
    """P(wait) of M/M/c by the textbook sum (independent of the module's Erlang B recursion)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def _erlang_answer(a: float, mu_per_s: float, share: float, within_s: float) -> int:
    c = math.floor(a) + 1
    while 1 - _erlang_c_sum(c, a) * math.exp(-(c - a) * mu_per_s * within_s) < share:
        c += 1
    return c


@pytest.fixture(scope="module")
def mmc_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("staffing") / "mmc.yaml"
    path.write_text(yaml.safe_dump(MMC, sort_keys=False))
    return path


def test_erlang_c_matches_larson_odoni_and_the_sum():
    assert erlang_c(3, 1.5) == pytest.approx(9 / 38)
    for c, a in ((7, 6.0), (10, 9.0), (30, 25.5)):
        assert erlang_c(c, a) == pytest.approx(_erlang_c_sum(c, a), rel=1e-12)
    assert erlang_c(5, 5.0) == 1.0


def test_parse_target():
    sc = Scenario.model_validate(yaml.safe_load(yaml.safe_dump(MMC)))
    t = parse_target("priority 1: 90% within 10min", sc)
    assert (t.priority, t.share, t.within_s) == (1, 0.9, 600.0)
    assert parse_target("P1:85.5%   within 90s", sc).share == pytest.approx(0.855)
    for bad, words in (("90% in 10 min", "cannot read"), ("priority 2: 90% within 10min", "unknown priority 2"),
                       ("priority 1: 100% within 10min", "below 100%"), ("priority 1: 90% within soon", "soon")):  # fmt: skip
        with pytest.raises(StaffingError, match=words):
            parse_target(bad, sc)


def test_mmc_staffing_equals_erlang_c(mmc_file):
    """Three 8 h shifts of an M/M/c queue (flat demand): the approximation and the simulation search
    both give Erlang C's fewest units for 80% of calls waiting at most 2 min (9 units: 86.9%; 8: 72.7%)."""
    sc = load_scenario(mmc_file)
    network = load_scenario_map(sc, filename=str(mmc_file))
    expected = _erlang_answer(6.0, 1 / 900, 0.8, 120.0)
    assert expected == 9
    target = parse_target("priority 1: 80% within 2min", sc)
    result = optimize_staffing(sc, network=network, target=target, per="shift", replications=3,
                               filename=str(mmc_file), workers=1)  # fmt: skip
    assert result.approx == [expected] * 3
    assert result.counts == [expected] * 3 and result.met
    assert [p.window for p in result.periods] == ["06:00-14:00", "14:00-22:00", "22:00-06:00"]
    assert result.unit_hours == 3 * 8 * expected
    assert all(result.evaluation.meets(target))
    assert result.simulations == 3 * 4  # the plan, then one unit fewer in each period: all miss


def test_plan_keeps_the_shift_groups_proportions_and_the_specialists():
    sc = load_scenario("coquimbo-shifts")
    periods, fixed = periods_of(sc, "shift")
    assert [p.window for p in periods] == ["06:00-14:00", "14:00-22:00", "22:00-06:00"]
    assert [g["name"] for g in fixed] == ["k9", "traffic"]
    data = plan_scenario(sc, periods, [12, 12, 5], fixed, per="shift")
    groups = {g["name"]: g for g in data["units"]["groups"]}
    assert [groups[n]["count"] for n in ("early-centro", "early-beat", "early-hotspot")] == [5, 4, 3]
    assert groups["night"]["count"] == 5 and groups["night"]["shift"]["handover"] == 900.0
    assert groups["early-centro"]["meal_break"] is not None and groups["k9"]["capabilities"] == ["k9"]
    assert Scenario.model_validate(data).units.count == 12 + 12 + 5 + 2
    hourly, _ = periods_of(sc, "hour")
    data = plan_scenario(sc, hourly, [3] * 24, fixed, per="hour")
    plan = Scenario.model_validate(data)  # meal breaks and handovers dropped: they need longer windows
    assert plan.units.count == 3 * 24 + 2
    assert {g.shift.windows[0] for g in plan.units.groups if g.shift} == {p.window for p in hourly}


def _cli(*args: str):
    return CliRunner().invoke(app, ["optimize", "staffing", *args])


def test_cli_prints_the_plan_and_writes_a_scenario(mmc_file, tmp_path):
    out = tmp_path / "plan.yaml"
    result = _cli(str(mmc_file), "--target", "priority 1: 80% within 2min", "--per", "shift",
                  "--replications", "3", "--workers", "1", "--out", str(out), "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unit-hours per day: 216" in result.output and "95% CI over 3 replications" in result.output
    plan = load_scenario(out)
    assert [(g.count, g.shift.windows) for g in plan.units.groups] == [
        (9, ["06:00-14:00"]), (9, ["14:00-22:00"]), (9, ["22:00-06:00"])]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "most calls fast"], "cannot read it"),
        (["--target", "priority 3: 90% within 10min"], "unknown priority 3; the scenario's demand kinds have priorities 1"),
        (["--target", "priority 1: 90% within 10min", "--per", "week"], "--per 'week': use shift or hour"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(mmc_file, args, message):
    result = _cli(str(mmc_file), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
