"""Optimal posts (`policetwin.experiments.posts`) on hand-built lines with known optima, checked against
hand calculation and brute force; the written scenario; bad inputs; and the default city.

The line has 11 nodes, 100 s per edge. Demand (hotspots of 1 m, so exactly one node each): cluster A =
nodes 1, 2, 3 with weight 2 each, cluster B = nodes 8, 9, 10 with weight 1 each (total 9). Stations at
nodes 0 and 10, one unit each. With a 100 s standard a post at node 2 reaches all of A, one at node 9
all of B; the weighted median of the line is node 3.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from conftest import STEP_DEG, make_line_network

from policetwin.errors import PoliceTwinError
from policetwin.experiments.posts import PostsError, optimize_posts, posts_scenario_yaml
from policetwin.maps import Snapper, build_network
from policetwin.scenarios import Scenario, scenario_from_text

A, B = {1: 2.0, 2: 2.0, 3: 2.0}, {8: 1.0, 9: 1.0, 10: 1.0}
DEMAND = {**A, **B}
TOTAL = sum(DEMAND.values())


def scenario(stations=(0, 10), demand=None, count=2, **extra) -> Scenario:
    nodes = demand or DEMAND
    spots = [{"lon": n * STEP_DEG, "lat": 0.0, "radius_m": 1.0, "weight": w} for n, w in nodes.items()]
    return Scenario.model_validate({
        "name": "posts-test", "duration": "1h", "map": "line",
        "stations": [{"name": f"S{n}", "lon": n * STEP_DEG, "lat": 0.0} for n in stations],
        "units": {"count": count},
        "demand": {"rate_per_hour": 1.0, "background_weight": 0.0, "hotspots": spots, **extra},
    })  # fmt: skip


@pytest.fixture(scope="module")
def line11():
    return make_line_network(11)


def node_of(result) -> list[int]:
    return [round(x / STEP_DEG) for x in result.lon]


def expected_coverage(alloc: dict[int, int], q: float, standard_s: float = 100.0) -> float:
    """Daskin's expected coverage of units at line nodes (travel 100 s per edge), as a share."""
    total = 0.0
    for node, w in DEMAND.items():
        n = sum(k for post, k in alloc.items() if 100.0 * abs(post - node) <= standard_s)
        total += w * (1.0 - q**n)
    return total / TOTAL


def test_mclp_covers_the_heavier_cluster_then_both(line11):
    one = optimize_posts(scenario(), network=line11, units=1, standard_s=100, method="mclp")
    assert (node_of(one), one.counts.tolist()) == ([2], [1])
    assert one.coverage_after == pytest.approx(6 / 9, rel=1e-12)
    two = optimize_posts(scenario(), network=line11, units=2, standard_s="100s", method="mclp")
    assert (node_of(two), two.counts.tolist()) == ([2, 9], [1, 1])
    assert two.coverage_after == pytest.approx(1.0, rel=1e-12)
    assert two.objective == pytest.approx(1.0, rel=1e-9)


def test_pmedian_picks_the_weighted_median_not_the_covering_post(line11):
    one = optimize_posts(scenario(), network=line11, units=1, standard_s=100, method="pmedian")
    assert node_of(one) == [3]  # cost 2400 / 9 s; node 2 costs 2500 / 9 s
    assert one.mean_time_after_s == pytest.approx(2400 / 9, rel=1e-12)
    assert one.objective == pytest.approx(2400 / 9, rel=1e-9)
    assert one.coverage_after == pytest.approx(4 / 9, rel=1e-12)  # nodes 2 and 3 within 100 s of node 3
    two = optimize_posts(scenario(), network=line11, units=2, standard_s=100, method="pmedian")
    assert node_of(two) == [2, 9]
    assert two.mean_time_after_s == pytest.approx(600 / 9, rel=1e-12)


def test_coverage_before_and_after_are_exact(line11):
    """Before: one unit at node 0 (reaches node 1: weight 2) and one at node 10 (nodes 9, 10: weight 2)."""
    result = optimize_posts(scenario(), network=line11, units=2, standard_s=100, method="mexclp", busy=0.3)
    assert result.coverage_before == pytest.approx(4 / 9, rel=1e-12)
    assert result.expected_before == pytest.approx(4 / 9 * 0.7, rel=1e-12)
    # nearest unit: nodes 1, 2, 3 at 100, 200, 300 s (weight 2 each); nodes 8, 9, 10 at 200, 100, 0 s
    assert result.mean_time_before_s == pytest.approx(1500 / 9, rel=1e-12)
    assert result.coverage_after == pytest.approx(1.0, rel=1e-12)
    assert result.expected_after == pytest.approx(0.7, rel=1e-12)
    assert result.expected_after == pytest.approx(expected_coverage({2: 1, 9: 1}, 0.3), rel=1e-12)
    assert result.mean_time_after_s == pytest.approx(600 / 9, rel=1e-12)


def brute_force(units: int, q: float) -> tuple[dict[int, int], float, float]:
    """Best allocation of ``units`` over the 11 nodes (several per node allowed), its value and the runner-up's."""
    values = {}
    for combo in itertools.combinations_with_replacement(range(11), units):
        alloc = {n: combo.count(n) for n in set(combo)}
        values[tuple(sorted(alloc.items()))] = expected_coverage(alloc, q)
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    return dict(ranked[0][0]), ranked[0][1], ranked[1][1]


@pytest.mark.parametrize(
    ("units", "q", "alloc"),
    [(2, 0.0, {2: 1, 9: 1}), (2, 0.4, {2: 1, 9: 1}), (2, 0.6, {2: 2}), (3, 0.6, {2: 2, 9: 1})],
)
def test_mexclp_matches_brute_force(line11, units, q, alloc):
    """With q > 0.5 a second unit on A (6 (1 - q^2)) beats one on B (6 (1 - q) + 3 (1 - q))."""
    best, value, runner_up = brute_force(units, q)
    assert best == alloc
    if q > 0:
        assert value > runner_up + 1e-6  # a unique optimum (q = 0: nodes 8 and 10 tie with 9 for B)
    result = optimize_posts(scenario(), network=line11, units=units, standard_s=100, method="mexclp", busy=q)
    got = dict(zip(node_of(result), result.counts.tolist(), strict=True))
    assert result.expected_after == pytest.approx(value, rel=1e-9)
    assert result.objective == pytest.approx(value, rel=1e-6)
    if q > 0:
        assert got == alloc
    assert result.units == units


def one_way_loop():
    """0 -> 1 -> 2 -> 3 -> 4 one way, 100 s each, and 4 -> 0 back in 1000 s."""
    ids = np.arange(5, dtype=np.int64)
    u, v = np.array([0, 1, 2, 3, 4]), np.array([1, 2, 3, 4, 0])
    return build_network(
        name="loop", source="hand-built one-way loop", node_id=ids, lon=ids * STEP_DEG, lat=np.zeros(5),
        edge_u_id=u, edge_v_id=v, length_m=np.array([1000.0, 1000, 1000, 1000, 10_000]),
        highway=np.full(5, "residential", dtype=object), maxspeed_kph=np.full(5, 36.0),
    )  # fmt: skip


@pytest.mark.parametrize("method", ["mclp", "pmedian", "mexclp"])
def test_travel_goes_from_the_post_to_the_call_on_one_way_streets(method):
    """Calls at nodes 2 and 3: from node 2 both are within 100 s; from node 3, node 2 is 1300 s away
    (the other way round, a post at 3 would reach both)."""
    sc = scenario(stations=(0,), demand={2: 1.0, 3: 1.0}, count=1)
    result = optimize_posts(sc, network=one_way_loop(), units=1, standard_s=100, method=method)
    assert node_of(result) == [2]
    assert result.coverage_after == pytest.approx(1.0, rel=1e-12)
    assert result.coverage_before == 0.0  # node 0 reaches node 1 only


def test_written_scenario_validates_with_one_group_per_post(line11):
    base = scenario()
    result = optimize_posts(base, network=line11, units=3, standard_s=100, method="mexclp", busy=0.6)
    text = posts_scenario_yaml(base, result)
    written = scenario_from_text(text, "posts.yaml")
    groups = [(g.name, g.count, g.station, g.idle, [(p.lon, p.lat) for p in g.posts]) for g in written.units.groups]  # fmt: skip
    assert groups == [
        ("post-1", 2, "S0", "post", [(2 * STEP_DEG, 0.0)]),
        ("post-2", 1, "S10", "post", [(9 * STEP_DEG, 0.0)]),
    ]
    assert written.units.count == 3
    assert written.name == "posts-test-posts-mexclp"
    assert written.demand == base.demand and written.stations == base.stations
    nodes, dist = Snapper(line11).nearest([2 * STEP_DEG, 9 * STEP_DEG], [0.0, 0.0])
    assert nodes.tolist() == [2, 9] and dist.max() < 1e-6
    # optimising the written scenario again starts from where the posts put the units
    again = optimize_posts(written, network=line11, units=3, standard_s=100, method="mexclp", busy=0.6)
    assert again.coverage_before == pytest.approx(result.coverage_after, rel=1e-12)
    assert again.expected_before == pytest.approx(result.expected_after, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "mclp", "units": 12}, "--units 12 is more than the 11 candidate posts; mclp puts one"),
        ({"method": "pmedian", "units": 12}, "--units 12 is more than the 11 candidate posts; pmedian"),
        ({"method": "mexclp", "units": 0}, "--units must be at least 1, got 0"),
        ({"method": "lscp"}, "unknown method 'lscp'; use one of mclp, pmedian, mexclp"),
        ({"standard_s": 0}, "--standard must be a positive duration, got 0 s"),
        ({"standard_s": -60.0}, "--standard must be a positive duration, got -60 s"),
        ({"standard_s": "8 parsecs"}, "--standard: cannot parse duration '8 parsecs'"),
        ({"method": "mexclp", "busy": 1.0}, "0 <= busy < 1, got 1"),
        ({"candidates": 0}, "--candidates must be at least 1, got 0"),
    ],
)
def test_bad_inputs_say_what_is_wrong(line11, kwargs, message):
    args = {"units": 2, "standard_s": 100, "method": "mclp", **kwargs}
    with pytest.raises(PostsError) as err:
        optimize_posts(scenario(), network=line11, **args)
    assert message in str(err.value)
    assert isinstance(err.value, PoliceTwinError)


def test_more_units_than_candidates_is_fine_for_mexclp(line11):
    result = optimize_posts(scenario(), network=line11, units=12, standard_s=100, method="mexclp", busy=0.5)
    assert result.units == 12 and result.counts.max() > 1


def test_zero_demand_and_required_capabilities_are_refused(line11):
    base = scenario()
    empty = base.model_copy(update={"demand": base.demand.model_copy(update={"background_weight": 0.0,
                                                                             "hotspots": []})})  # fmt: skip
    with pytest.raises(PostsError, match="demand weights are all zero"):
        optimize_posts(empty, network=line11, units=1, standard_s=100, method="mclp")
    kind = base.demand.kinds[0].model_copy(update={"require": "k9"})
    needy = base.model_copy(update={"demand": base.demand.model_copy(update={"kinds": [kind]})})
    with pytest.raises(PostsError, match=r"demand kinds require capabilities \(k9\)"):
        optimize_posts(needy, network=line11, units=1, standard_s=100, method="mclp")


def test_default_city_24_units_8min(coquimbo_network):
    """The bundled default: aggregated to 200 candidates and 600 demand cells; MCLP and MEXCLP."""
    from policetwin.scenarios import load_scenario

    base = load_scenario("coquimbo")
    for method in ("mclp", "mexclp"):
        started = time.perf_counter()
        result = optimize_posts(base, network=coquimbo_network, units=24, standard_s="8min", method=method)
        elapsed = time.perf_counter() - started
        assert elapsed < 60, f"{method} took {elapsed:.1f} s"
        assert result.units == 24 and result.n_candidates <= 200 and result.n_demand == 600
        assert result.coverage_after > result.coverage_before > 0.5
        assert result.expected_after > result.expected_before
        written = scenario_from_text(posts_scenario_yaml(base, result), "posts.yaml")
        assert written.units.count == 24
        assert {g.station for g in written.units.groups} <= {s.name for s in base.stations}
        snapped = Snapper(coquimbo_network).nearest(result.lon, result.lat)[0]
        assert snapped.tolist() == result.nodes.tolist()


def test_optimize_posts_command_line(tmp_path):
    from typer.testing import CliRunner

    from policetwin.cli import app

    out = tmp_path / "opt.yaml"
    runner = CliRunner()
    args = ["optimize", "posts", "helsinki", "--units", "4", "--standard", "3min", "--method", "mclp"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "before (the scenario)" in result.stdout and f"wrote {out}" in result.stdout
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    again = runner.invoke(app, [*args, "--out", str(out)])
    assert again.exit_code == 2 and "exists; add --overwrite" in again.stderr
    bad = runner.invoke(app, [*args[:3], "--units", "100000", "--method", "pmedian"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
