"""The contraction-hierarchy backend (big maps) against scipy's Dijkstra, and in the engine.

Tolerance: CCH weights are whole milliseconds (each edge's road seconds rounded), so a CCH time may
differ from the float Dijkstra by up to 0.5 ms per edge of the path; the dense rows compared with are
float32 (relative 1e-5 more). Checked on the bundled Coquimbo map, the Campo Grande extract (shared
data) and a 100k-node synthetic city: sampled pairs, many-to-one queries and "which source first".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policetwin.maps import load_map
from policetwin.maps.cch import MS_PER_S, ContractionHierarchy
from policetwin.maps.router import Router
from policetwin.scenarios import load_scenario
from policetwin.sim.model import PoliceModel

CAMPO_GRANDE = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "campo-grande.osm.pbf"
HALF_MS = 0.5 / MS_PER_S


def _tolerance(exact: float, edges: int) -> float:
    return HALF_MS * max(edges, 1) + 1e-5 * exact + 1e-6


def _routers(net) -> tuple[Router, Router]:
    times = net.travel_times_s()
    scipy_router = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0, hierarchy=False)
    cch_router = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0, hierarchy=True,
                        lon=net.lon, lat=net.lat)  # fmt: skip
    return scipy_router, cch_router


@pytest.fixture(scope="module", params=["coquimbo", "campo-grande", "synthetic:100000:1"])
def routers(request, tmp_path_factory):
    spec = request.param
    if spec == "campo-grande":
        if not CAMPO_GRANDE.is_file():
            pytest.skip("../shared/data/osm/campo-grande.osm.pbf is absent")
        spec = str(CAMPO_GRANDE)
    net = load_map(spec, use_cache=False)
    scipy_router, cch_router = _routers(net)
    assert scipy_router.backend == "dijkstra" and cch_router.backend == "cch"
    return net, scipy_router, cch_router.hierarchy


def test_sampled_pairs_equal_scipy(routers):
    net, scipy_router, cch = routers
    rng = np.random.default_rng(7)
    targets = rng.integers(net.n_nodes, size=12)
    checked = 0
    for target in targets.tolist():
        row = scipy_router.times_to(target).astype(float)
        for source in rng.integers(net.n_nodes, size=25).tolist():
            got = cch.time(source, target)
            if not np.isfinite(row[source]):
                assert got == np.inf  # unreachable both ways (one-way dead ends)
                continue
            path = cch.path(source, target)
            assert path[0] == source and path[-1] == target
            assert abs(got - row[source]) <= _tolerance(row[source], len(path) - 1)
            checked += 1
    assert checked > 200


def test_many_to_one_and_the_first_to_arrive_equal_scipy(routers):
    net, scipy_router, cch = routers
    rng = np.random.default_rng(11)
    for target in rng.integers(net.n_nodes, size=8).tolist():
        row = scipy_router.times_to(target).astype(float)
        sources = rng.integers(net.n_nodes, size=40)
        sources[5] = sources[9]  # a node shared by two units
        got = cch.times_to(sources, target)
        finite = np.isfinite(row[sources])
        assert np.array_equal(np.isfinite(got), finite)
        slack = HALF_MS * 2000 + 1e-5 * row[sources][finite]  # (path lengths here stay below 2000 edges)
        assert np.all(np.abs(got[finite] - row[sources][finite]) <= slack)
        offsets = rng.uniform(0.0, 30.0, size=sources.size)
        best, k = cch.nearest(sources, offsets, target)
        exact = row[sources] + offsets
        assert k >= 0 and abs(best - exact.min()) <= HALF_MS * 2000 + 1e-5 * exact.min()
        assert exact[k] <= exact.min() + 2 * (HALF_MS * 2000) + 1e-4 * exact.min()  # the winner, up to ties


def test_a_hand_built_one_way_graph_gives_exact_times():
    # 0 -> 1 -> 2 one way, 2 -> 0 direct and slow, parallel edges 0 -> 1 (the faster one counts)
    u = np.array([0, 1, 2, 0])
    v = np.array([1, 2, 0, 1])
    t = np.array([10.0, 20.0, 100.0, 7.5])
    router = Router(3, u, v, t, dense_max_bytes=0, hierarchy=True)
    cch = router.hierarchy
    assert cch.time(0, 2) == pytest.approx(27.5)
    assert cch.time(2, 1) == pytest.approx(107.5)  # no way back along the one-way street
    assert cch.path(2, 1) == [2, 0, 1]
    assert router.travel_time(1, 0) == pytest.approx(120.0)
    assert cch.nearest(np.array([2, 0]), np.array([0.0, 50.0]), 1) == (pytest.approx(57.5), 1)


def test_recustomizing_with_other_times_changes_the_answers():
    u, v = np.array([0, 1, 0]), np.array([1, 2, 2])
    router = Router(3, u, v, np.array([10.0, 10.0, 30.0]), dense_max_bytes=0, hierarchy=True)
    cch = router.hierarchy
    assert cch.time(0, 2) == pytest.approx(20.0)
    cch.customize(np.array([10.0, 10.0, 30.0])[np.argsort(np.lexsort((v, u)))] * 2.0)  # rush hour
    assert cch.time(0, 2) == pytest.approx(40.0)


def test_a_router_of_other_times_re_customizes_the_same_hierarchy(coquimbo_network):
    """Time-of-day travel per road class on a big map: a router of the same roads with other times
    shares the preprocessing (only a new customization) and answers like scipy on those times."""
    net = coquimbo_network
    times = net.travel_times_s()
    base = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0, hierarchy=True,
                  lon=net.lon, lat=net.lat)  # fmt: skip
    slower = np.where(net.highway == "primary", 2.0, 1.0) * times
    rush = Router(net.n_nodes, net.edge_u, net.edge_v, slower, dense_max_bytes=0, hierarchy=True, like=base)
    assert rush.hierarchy.cch is base.hierarchy.cch and rush.hierarchy.metric is not base.hierarchy.metric
    exact = Router(net.n_nodes, net.edge_u, net.edge_v, slower, dense_max_bytes=0, hierarchy=False)
    rng = np.random.default_rng(3)
    for source, target in rng.integers(net.n_nodes, size=(60, 2)).tolist():
        want = float(exact.times_to(target)[source])
        if np.isfinite(want):
            assert abs(rush.hierarchy.time(source, target) - want) <= _tolerance(want, 2000)


def test_the_node_order_is_cached_for_big_maps(tmp_path, monkeypatch):
    net = load_map("synthetic:20000:1", use_cache=False)
    times = net.travel_times_s()
    scipy_router = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0)
    first = ContractionHierarchy(scipy_router.forward, lon=net.lon, lat=net.lat, cache=tmp_path)
    files = list(tmp_path.glob("cch-order-*.npy"))
    assert len(files) == 1
    again = ContractionHierarchy(scipy_router.forward, lon=net.lon, lat=net.lat, cache=tmp_path)
    assert again.time(5, 19_000) == first.time(5, 19_000)
    files[0].write_bytes(b"not an array")  # a damaged cache is recomputed, never trusted
    third = ContractionHierarchy(scipy_router.forward, lon=net.lon, lat=net.lat, cache=tmp_path)
    assert third.time(5, 19_000) == first.time(5, 19_000)


def test_dispatch_on_the_default_scenario_is_the_same_with_the_hierarchy(coquimbo_network):
    """Dispatch on the big-map path (forced: no dense rows; the nearest moving unit by an early-stopping
    search, several by CCH queries) against dense rows: the same unit for every call."""
    scenario = load_scenario("coquimbo", ["outputs.report=false"])
    net = coquimbo_network
    dense = PoliceModel(scenario, network=net)
    times = net.travel_times_s()
    router = Router(net.n_nodes, net.edge_u, net.edge_v, times, dense_max_bytes=0, hierarchy=True,
                    lon=net.lon, lat=net.lat)  # fmt: skip
    cch = PoliceModel(scenario, network=net, router=router)
    assert cch.router.backend == "cch" and dense.router.backend == "dense-rows"
    dense.run()
    cch.run()
    a, b = dense.recorder, cch.recorder
    assert len(a.a_unit) > 200
    assert list(a.a_incident) == list(b.a_incident)
    assert list(a.a_unit) == list(b.a_unit)
    assert cch.etas._nearest_search().queries > 50  # moving units were timed on the big-map path


ROUTING_SCENARIO = """\
name: r
duration: 2h
map: MAP
stations:
  - {name: A, lon: 0.0, lat: 0.0}
  - {name: B, lon: 0.02, lat: 0.02}
units: {count: 6}
demand: {rate_per_hour: 30}
travel:
  routing: ROUTING
  congestion: CONGESTION
outputs: {report: false, trips: false}
start: Mon 07:00
"""


def _routing_run(tmp_path: Path, routing: str, map_spec: str = "synthetic:2500:1", congestion: str = "null"):
    from typer.testing import CliRunner

    from policetwin.cli import app

    path = tmp_path / f"{routing}.yaml"
    text = (
        ROUTING_SCENARIO.replace("MAP", map_spec)
        .replace("ROUTING", routing)
        .replace("CONGESTION", congestion)
    )
    path.write_text(text, encoding="utf-8")
    out = tmp_path / f"run-{routing}"
    return CliRunner().invoke(app, ["run", str(path), "--out", str(out)]), out


@pytest.mark.parametrize(
    ("routing", "congestion"),
    [("auto", "null"), ("cch", "null"), ("dijkstra", "null"), ("cch", "weekday-peaks"),
     ("cch", "{primary: weekday-peaks}")],
)  # fmt: skip
def test_travel_routing_chooses_the_backend_and_the_runs_agree(tmp_path, routing, congestion):
    """Every backend sends the same units to the same calls, with rush-hour congestion too (dense rows
    scaled against hierarchy queries; per road class, the weighted hours' routers query the hierarchy
    whatever the backend)."""
    import json

    import pandas as pd

    result, out = _routing_run(tmp_path, routing, congestion=congestion)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"]["routing"] == {"auto": "dense-rows"}.get(routing, routing)
    assert 50 < summary["engine"]["peak_rss_mb"] < 100_000  # this process's peak, in MB
    if routing != "auto":  # the same units sent to the same calls as with dense rows
        base, _ = _routing_run(tmp_path, "auto", congestion=congestion)
        assert base.exit_code == 0
        cols = ["incident_id", "unit_id"]
        a = pd.read_parquet(tmp_path / "run-auto" / "assignments.parquet")[cols]
        b = pd.read_parquet(out / "assignments.parquet")[cols]
        assert len(a) > 20 and a.equals(b)


def test_dense_rows_asked_for_a_map_too_big_for_them_is_a_clear_error(tmp_path):
    result, out = _routing_run(tmp_path, "dense-rows", map_spec="synthetic:30000:1")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "dense-rows.yaml:10: travel.routing: dense rows of the map" in text
    assert "allowed here: auto, cch, dijkstra" in text
    assert not out.exists()
    bad, _ = _routing_run(tmp_path, "fastest")
    assert bad.exit_code == 2 and "travel.routing" in bad.output


def test_prepare_routing_caches_the_node_order_the_runs_then_use(tmp_path, monkeypatch):
    """`maps import` does the one slow step of a big map once: the hierarchy's node order, cached; a
    run's router then builds its hierarchy from the cache without ordering again."""
    import routingkit_cch

    from policetwin.maps.router import prepare_routing

    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path))
    net = load_map("synthetic:30000:1", use_cache=False)
    assert prepare_routing(net) == "cch"
    assert len(list((tmp_path / "maps").glob("cch-order-*.npy"))) == 1

    def no_ordering(*_args, **_kwargs):
        raise AssertionError("the node order was computed again")

    monkeypatch.setattr(routingkit_cch, "compute_order_inertial", no_ordering)
    router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s(), lon=net.lon, lat=net.lat)
    assert router.backend == "cch" and router.hierarchy.time(0, 29_000) > 0
    assert prepare_routing(load_map("coquimbo")) == "dense-rows"
