"""Load diagnostics (研判): offered load per stage before a run, queue growth after it.

Figures are checked exactly against hand computations on scenarios with fixed distributions, a flat or
hand-made profile, and instant travel or a line network whose edges take exactly 100 s.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from yaml_text import line_of

from policetwin.cli import app
from policetwin.maps import RoadNetwork, Snapper
from policetwin.scenarios import load_scenario
from policetwin.scenarios.schema import Scenario
from policetwin.sim.checks import check_on_map
from policetwin.sim.load import (
    hour_label,
    offered_load,
    queue_growing,
    queue_growth_warnings,
    run_hours,
    stage_loads,
)
from policetwin.sim.run import simulate

#: A flat, instant-travel scenario on the small Helsinki map: 12 calls/h, 120 s handling, 2 takers,
#: one kind with 30 min on scene and one unit, 10 units.
KIND = {"name": "call", "priority": 2, "share": 1.0, "units": 1, "target": 600.0,
        "on_scene": {"dist": "fixed", "mean": 1800.0}}  # fmt: skip
BASE: dict = {
    "name": "load",
    "duration": 10 * 3600.0,
    "map": "helsinki",
    "stations": [{"name": "Central", "lon": 24.9458, "lat": 60.1699}],
    "units": {"count": 10},
    "demand": {
        "rate_per_hour": 12.0,
        "profile": "flat",
        "kinds": [KIND],
    },
    "call_handling": {"takers": 2, "handling": {"dist": "fixed", "mean": 120.0}},
    "travel": {"mode": "instant"},
}


def scenario(**changes: object) -> Scenario:
    """BASE with dotted-path changes (``demand__rate_per_hour=30`` sets demand.rate_per_hour)."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return Scenario.model_validate(data)


def loads(sc: Scenario, network: RoadNetwork, **kwargs) -> tuple[dict, list[str]]:
    return offered_load(sc, network=network, snapper=Snapper(network), filename="s.yaml", **kwargs)


# --- offered load before the run ----------------------------------------------------------------------


def test_takers_and_units_load_flat_instant(helsinki_network: RoadNetwork) -> None:
    figures, warnings = loads(scenario(), helsinki_network)
    assert set(figures) == {"takers", "units"}  # no dispatcher desk
    takers, units = figures["takers"], figures["units"]
    assert takers["offered_load_peak"] == pytest.approx(12 / 3600 * 120 / 2)  # 0.2
    assert takers["offered_load_mean"] == pytest.approx(0.2)
    assert takers["servers"] == 2 and units["servers"] == 10
    assert units["offered_load_mean"] == pytest.approx(12 / 3600 * 1800 / 10)  # 0.6
    assert units["offered_load_peak"] == pytest.approx(0.6)
    assert units["travel_s"] == 0.0 and units["work_per_call_s"] == pytest.approx(1800.0)
    assert takers["peak_hour"] == "Mon 00:00-01:00"
    assert warnings == []
    json.dumps(figures)  # plain numbers: ready for summary.json


def test_phone_share_duplicates_desk_and_turnout(helsinki_network: RoadNetwork) -> None:
    """Shares 3:1 are normalised to 0.75/0.25; phone calls need no desk and no unit; duplicates need a
    taker only; every unit sent also turns out."""
    kinds = [
        {"name": "fight", "priority": 1, "share": 3.0, "units": 2, "target": 600.0, "phone_share": 0.2,
         "duplicates": {"share": 0.5}, "on_scene": {"dist": "fixed", "mean": 2400.0}},
        {"name": "noise", "priority": 3, "share": 1.0, "units": 1, "target": 3600.0,
         "on_scene": {"dist": "exponential", "mean": 1200.0}},
    ]  # fmt: skip
    sc = scenario(demand__kinds=kinds, units__count=20, call_handling__dispatchers=2,
                  call_handling__decision={"dist": "lognormal", "mean": 30.0, "sd": 10.0},
                  travel__turnout={"dist": "fixed", "mean": 60.0})  # fmt: skip
    figures, _ = loads(sc, helsinki_network)
    rate = 12 / 3600
    assert figures["takers"]["offered_load_mean"] == pytest.approx(rate * (1 + 0.75 * 0.5) * 120 / 2)
    sent = 0.75 * 0.8 + 0.25  # calls not resolved by phone
    assert figures["dispatchers"]["offered_load_mean"] == pytest.approx(rate * sent * 30 / 2)
    assert figures["dispatchers"]["servers"] == 2
    unit_s = 0.75 * 0.8 * 2 * (2400 + 60) + 0.25 * 1 * (1200 + 60)
    assert figures["units"]["offered_load_mean"] == pytest.approx(rate * unit_s / 20)
    assert figures["units"]["work_per_call_s"] == pytest.approx(unit_s)


def test_network_travel_nearest_station_speed_factors(line_network: RoadNetwork) -> None:
    """Line 0-1-2-3-4, 100 s per edge, demand even over the 5 nodes. One station at node 0: mean travel
    (0+100+200+300+400)/5 = 200 s; stations at both ends: (0+100+200+100+0)/5 = 80 s."""
    at_node = [{"name": f"S{i}", "lon": i * 0.009, "lat": 0.0} for i in (0, 4)]
    one = scenario(map="line", stations=at_node[:1], travel={"mode": "network"})
    figures, _ = loads(one, line_network)
    assert figures["units"]["travel_s"] == pytest.approx(200.0, abs=1e-3)
    assert figures["units"]["work_per_call_s"] == pytest.approx(1800.0 + 200.0, abs=1e-3)
    both = scenario(map="line", stations=at_node, travel={"mode": "network"})
    assert loads(both, line_network)[0]["units"]["travel_s"] == pytest.approx(80.0, abs=1e-3)
    faster = scenario(map="line", stations=at_node[:1], travel={"mode": "network", "speed_factor": 2.0})
    assert loads(faster, line_network)[0]["units"]["travel_s"] == pytest.approx(100.0, abs=1e-3)
    # emergency driving for priority 2 (BASE's kind): travel to the call takes 200 / 2 = 100 s
    urgent = scenario(map="line", stations=at_node[:1],
                      travel={"mode": "network", "priority_speed_factor": {2: 2.0}})  # fmt: skip
    figures, _ = loads(urgent, line_network)
    assert figures["units"]["travel_s"] == pytest.approx(200.0, abs=1e-3)  # at normal speed
    assert figures["units"]["offered_load_mean"] == pytest.approx(12 / 3600 * (1800 + 100) / 10, rel=1e-6)


def test_hotspot_weights_move_the_mean_travel(line_network: RoadNetwork) -> None:
    """All demand in a tiny hotspot at node 3 (background 0): travel = 300 s from node 0."""
    sc = scenario(map="line", stations=[{"name": "S0", "lon": 0.0, "lat": 0.0}], travel={"mode": "network"},
                  demand__background_weight=0.0,
                  demand__hotspots=[{"lon": 3 * 0.009, "lat": 0.0, "radius_m": 10.0}])  # fmt: skip
    assert loads(sc, line_network)[0]["units"]["travel_s"] == pytest.approx(300.0, abs=1e-3)


def test_peak_and_mean_follow_the_profile_and_the_start(helsinki_network: RoadNetwork) -> None:
    """A daily profile of 1s with 3 at 20:00 (normalised: 24/26 and 72/26). The run Fri 19:30 - 22:30 covers
    half of 19:00, all of 20:00 and 21:00, half of 22:00: mean multiplier (12 + 72 + 24 + 12) / 26 / 3."""
    profile = [1.0] * 24
    profile[20] = 3.0
    sc = scenario(start="Fri 19:30", duration=3 * 3600.0, demand__profile=profile)
    figures, _ = loads(sc, helsinki_network)
    base = 12 / 3600 * 120 / 2
    assert figures["takers"]["offered_load_peak"] == pytest.approx(base * 72 / 26)
    assert figures["takers"]["offered_load_mean"] == pytest.approx(base * 120 / 78)
    assert figures["takers"]["peak_hour"] == figures["units"]["peak_hour"] == "Fri 20:00-21:00"
    assert figures["units"]["calls_per_hour_peak"] == pytest.approx(12 * 72 / 26)
    # the same run starting at 21:00 never sees the 20:00 peak
    later = stage_loads(
        scenario(start="Fri 21:00", duration=3 * 3600.0, demand__profile=profile), travel_s=0.0
    )
    assert later["takers"]["offered_load_peak"] == pytest.approx(base * 24 / 26)
    assert later["takers"]["peak_hour"] == "Fri 21:00-22:00"


def test_run_hours_and_labels() -> None:
    hours, seconds = run_hours("Sun 23:30", 2 * 3600.0)
    assert hours.tolist() == [167, 168, 169] and seconds.tolist() == [1800.0, 3600.0, 1800.0]
    assert hour_label("Sun 23:30", 167) == "Sun 23:00-24:00"
    assert hour_label("Sun 23:30", 168) == "Mon 00:00-01:00"  # the next week
    assert hour_label("2026-12-31T20:00:00", 3 * 24 + 20) == "Thu 2026-12-31 20:00-21:00"
    assert hour_label("2026-12-31T20:00:00", 4 * 24) == "Fri 2027-01-01 00:00-01:00"


def test_warning_at_the_peak_and_loudly_on_average(helsinki_network: RoadNetwork) -> None:
    profile = [1.0] * 24
    profile[20] = 3.0  # peak multiplier 72/26
    # takers 0.4 at multiplier 1 -> 1.11 at the peak; mean over Fri 18:00-22:00 (1+1+3+1)/4 * 24/26
    sc = scenario(
        start="Fri 18:00",
        duration=4 * 3600.0,
        demand__profile=profile,
        call_handling__takers=1,
        units__count=30,
    )  # units: 0.2 at multiplier 1, 0.55 at the peak
    figures, warnings = loads(sc, helsinki_network)
    assert figures["takers"]["offered_load_peak"] == pytest.approx(0.4 * 72 / 26)
    assert figures["takers"]["offered_load_mean"] == pytest.approx(0.4 * 6 / 4 * 24 / 26)  # 0.55
    assert warnings == [
        "s.yaml:0: call_handling.takers: warning: call-takers are 111% loaded at the peak hour "
        "(Fri 20:00-21:00): queues will build at the peak"
    ]
    # flat and exactly 100% on average: the loud warning (one per stage), for units too
    flat = scenario(demand__rate_per_hour=30.0, call_handling__takers=1, units__count=15)
    figures, warnings = loads(flat, helsinki_network)
    assert figures["takers"]["offered_load_mean"] == pytest.approx(1.0)
    assert figures["units"]["offered_load_mean"] == pytest.approx(1.0)
    assert warnings == [
        "s.yaml:0: call_handling.takers: warning: call-takers are 100% loaded on average over the run: "
        "queues grow without bound (add call-takers or lower the rate)",
        "s.yaml:0: units.count: warning: units are 100% loaded on average over the run: queues grow "
        "without bound (add units or lower the rate)",
    ]
    desk = scenario(call_handling__dispatchers=1, call_handling__decision={"dist": "fixed", "mean": 330.0})
    assert loads(desk, helsinki_network)[1] == [  # 12/h x 330 s = 1.1
        "s.yaml:0: call_handling.dispatchers: warning: dispatchers are 110% loaded on average over the run: "
        "queues grow without bound (add dispatchers or lower the rate)"
    ]


def test_thresholds_are_strict_at_90_percent_and_inclusive_at_100(helsinki_network: RoadNetwork) -> None:
    def takers_only(rate: float) -> Scenario:  # enough units to keep them out of it
        return scenario(demand__rate_per_hour=rate, call_handling__takers=1, units__count=100)

    assert loads(takers_only(27.0), helsinki_network)[1] == []  # 27 x 120 / 3600 = 0.9 exactly
    (warning,) = loads(takers_only(27.1), helsinki_network)[1]
    assert "call-takers are 90% loaded at the peak hour (Mon 00:00-01:00)" in warning
    (warning,) = loads(takers_only(29.9), helsinki_network)[1]
    assert "at the peak hour" in warning and "on average" not in warning


def test_check_on_map_carries_the_load_and_its_warnings(helsinki_network: RoadNetwork) -> None:
    snapper = Snapper(helsinki_network)
    check = check_on_map(scenario(units__count=5), helsinki_network, snapper, filename="s.yaml")
    assert check.problems == []
    assert check.load["units"]["offered_load_mean"] == pytest.approx(1.2)
    assert check.warnings == ["s.yaml:0: units.count: warning: units are 120% loaded on average over the "
                              "run: queues grow without bound (add units or lower the rate)"]  # fmt: skip
    outside = scenario(stations=[{"name": "Far", "lon": 25.5, "lat": 60.5}])
    check = check_on_map(outside, helsinki_network, snapper, filename="s.yaml")
    assert check.problems and check.load == {}  # no load figures for a scenario with problems


@pytest.mark.parametrize(
    "name",
    [
        "coquimbo",
        "helsinki",
        "coquimbo-whatif-nearest",
        "coquimbo-whatif-preempt",
        "coquimbo-desk",
        "coquimbo-flat-command",
    ],
)  # fmt: skip
def test_bundled_scenarios_give_no_load_warning(name: str, request: pytest.FixtureRequest) -> None:
    sc = load_scenario(name)
    network = request.getfixturevalue(f"{sc.map}_network")  # the bundled maps, loaded once
    check = check_on_map(sc, network, Snapper(network), filename=name)
    assert check.problems == []
    assert check.load["units"]["offered_load_mean"] < 0.9  # far from the loud warning in any case
    assert check.warnings == []


# --- the CLI ------------------------------------------------------------------------------------------

OVERLOADED = """\
name: overloaded
duration: 2h
map: helsinki
stations:
  - name: Central
    lon: 24.9458
    lat: 60.1699
units:
  count: 2
demand:
  rate_per_hour: 12
  profile: flat
  kinds:
    - name: call
      priority: 2
      share: 1
      on_scene: {dist: fixed, mean: 15min}
      target: 10min
call_handling:
  takers: 1
  handling: {dist: fixed, mean: 280s}
travel:
  mode: instant
outputs:
  report: false
"""


def test_validate_prints_load_warnings_on_their_yaml_lines(tmp_path: Path) -> None:
    path = tmp_path / "over.yaml"
    path.write_text(OVERLOADED)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert warnings == [  # takers 12 x 280 / 3600 = 0.93 (peak = mean); units 12 x 900 / 3600 / 2 = 1.5
        f"{path}:{line_of(OVERLOADED, '  takers: 1')}: call_handling.takers: warning: call-takers are 93% "
        "loaded at the peak hour (Mon 00:00-01:00): queues will build at the peak",
        f"{path}:{line_of(OVERLOADED, '  count: 2')}: units.count: warning: units are 150% loaded on average "
        "over the run: queues grow without bound (add units or lower the rate)",
    ]
    assert "ok (overloaded" in result.stdout
    fixed = CliRunner().invoke(app, ["validate", str(path), "--set", "units.count=4", "--set",
                                     "call_handling.takers=2"])  # fmt: skip
    assert fixed.exit_code == 0 and fixed.stderr.strip() == "", fixed.output


def test_run_keeps_load_warnings_in_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "over.yaml"
    path.write_text(OVERLOADED)
    out = tmp_path / "runs" / "x"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    line = line_of(OVERLOADED, "  count: 2")
    assert any(w.startswith(f"{path}:{line}: units.count: warning: units are 150% loaded") for w in
               summary["warnings"]), summary["warnings"]  # fmt: skip


# --- queue growth after the run -----------------------------------------------------------------------

D = 10_000.0


def incidents(taker_wait: np.ndarray, unit_wait: np.ndarray, t_call: np.ndarray) -> pd.DataFrame:
    """An incident log with the columns the helper reads (60 s handling, no desk)."""
    t_answer = t_call + taker_wait
    t_ready = t_answer + 60.0
    return pd.DataFrame({"t_call": t_call, "t_answer": t_answer, "t_ready": t_ready, "t_desk": t_ready,
                         "t_decided": t_ready, "t_dispatch": t_ready + unit_wait})  # fmt: skip


def test_queue_growth_fires_on_a_growing_queue_only(rng: np.random.Generator) -> None:
    t = np.arange(0.0, D, 10.0)  # a call every 10 s
    stable = rng.exponential(60.0, t.size)
    growing = incidents(taker_wait=0.5 * t, unit_wait=stable, t_call=t)  # steady overload from an empty start
    (warning,) = queue_growth_warnings(growing, duration_s=D, filename="s.yaml")
    assert warning.startswith("s.yaml:0: call_handling.takers: warning: the queue for a call-taker was still "
                              "growing at the end of the run: ")  # fmt: skip
    assert "(add call-takers or lower the rate)" in warning
    # calls arriving 9000-9990 s wait half that (79.1 min); in the middle fifth 4000-5990 s (41.6 min)
    assert "; mean wait 79.1 min against 41.6 min;" in warning
    growing.loc[::7, "t_answer"] = np.nan  # callers who hung up: left out, the rest still shows the growth
    (warning,) = queue_growth_warnings(growing, duration_s=D, filename="s.yaml")
    assert "call_handling.takers" in warning
    # units: nothing waits until 90% of the run, then the queue builds
    late = incidents(taker_wait=0 * t, unit_wait=np.where(t > 0.9 * D, 2.0 * (t - 0.9 * D), 0.0), t_call=t)
    (warning,) = queue_growth_warnings(late, duration_s=D, filename="s.yaml")
    assert warning.startswith("s.yaml:0: units.count: warning: the queue for a unit was still growing")
    # waits starting (t_call + 60 s) in the last tenth: t_call 8940-9990 s, 106 calls, 2 x (10 + ... + 990) s
    assert f"; mean wait {2 * 49_500 / 106 / 60:.1f} min against 0.0 min;" in warning


def test_queue_growing_rule() -> None:
    """Mean number waiting per tenth of the run, and in its middle fifth."""
    assert queue_growing(np.arange(10.0), middle=4.5)  # a steady rise
    assert not queue_growing(np.arange(10.0) / 10, middle=0.45)  # rising, but under 2 more calls waiting
    zigzag = np.array([5.0, 8.0, 4.0, 9.0, 5.0, 7.0, 4.0, 8.0, 6.0, 9.0])
    assert not queue_growing(zigzag, middle=6.0)  # the end is high, the queue is not rising
    assert queue_growing(np.array([0.0] * 9 + [5.0]), middle=0.0)  # built in the last tenth only
    assert not queue_growing(np.array([9.0] + [1.0] * 8 + [4.9]), middle=1.0)  # under 3 x 1 + 2
    assert queue_growing(np.array([9.0] + [1.0] * 8 + [5.0]), middle=1.0)  # the warm-up tenth is ignored


def test_queue_growth_is_quiet_on_stable_queues(rng: np.random.Generator) -> None:
    t = np.sort(rng.uniform(0.0, D, 1000))
    short = incidents(
        taker_wait=rng.exponential(30.0, t.size), unit_wait=rng.exponential(60.0, t.size), t_call=t
    )
    assert queue_growth_warnings(short, duration_s=D, filename="s.yaml") == []
    # a long but stable queue (~60 calls always waiting for a unit) is not growing
    long = incidents(taker_wait=np.zeros(t.size), unit_wait=rng.exponential(600.0, t.size), t_call=t)
    assert queue_growth_warnings(long, duration_s=D, filename="s.yaml") == []
    # calls that never waited to the end (phone, hung up) are left out, not an error
    long.loc[::7, ["t_answer", "t_dispatch"]] = np.nan
    assert queue_growth_warnings(long, duration_s=D, filename="s.yaml") == []
    assert queue_growth_warnings(long.iloc[:0], duration_s=D, filename="s.yaml") == []


def test_queue_growth_on_simulated_runs() -> None:
    """M/M/3 with instant travel: at load 0.5 (bundled mmc-erlang) the queue is stable; at 4/3 it grows."""
    healthy = load_scenario("mmc-erlang").model_copy(update={"duration": 2000 * 3600.0})
    result = simulate(healthy)
    assert queue_growth_warnings(result.incidents, duration_s=healthy.duration, filename="m.yaml") == []
    demand = healthy.demand.model_copy(update={"rate_per_hour": 4.0})
    overloaded = healthy.model_copy(update={"duration": 300 * 3600.0, "demand": demand})
    result = simulate(overloaded)
    (warning,) = queue_growth_warnings(result.incidents, duration_s=overloaded.duration, filename="m.yaml")
    assert warning.startswith("m.yaml:0: units.count: warning: the queue for a unit was still growing")
