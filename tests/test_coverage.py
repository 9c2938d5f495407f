"""Coverage maps: multi-source travel times, shares, GIS layers and the figure (policetwin.sim.coverage)."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from policetwin.errors import PoliceTwinError
from policetwin.maps import Router, build_network
from policetwin.sim import coverage
from policetwin.sim.coverage import (
    band_labels,
    coverage_area,
    coverage_edges,
    coverage_figure,
    coverage_share,
    coverage_times,
    write_coverage,
)

#: Every edge of the conftest line network takes exactly 100 s (conftest.LINE_EDGE_S).
LINE_EDGE_S = 100.0
#: On the 5-node line a 4-minute standard gives bands of 2 minutes: 120 s and 240 s.
STANDARD_S = 240.0
COLUMNS = ["u", "v", "highway", "length_m", "time_s", "covered", "band", "geometry"]


def one_way_ring():
    """A one-way ring 0 -> 1 -> 2 -> 3 -> 0 (ids 10..13), 100 s per edge: "from" and "to" differ."""
    ids = np.array([10, 11, 12, 13], dtype=np.int64)
    return build_network(
        name="ring",
        source="hand-built one-way ring",
        node_id=ids,
        lon=np.array([0.0, 0.009, 0.009, 0.0]),
        lat=np.array([0.0, 0.0, 0.009, 0.009]),
        edge_u_id=ids,
        edge_v_id=np.roll(ids, -1),
        length_m=np.full(4, 1000.0),
        highway=np.full(4, "residential", dtype=object),
        maxspeed_kph=np.full(4, 36.0),
    )


def test_times_from_one_source_grow_by_edge(line_network):
    times = coverage_times(line_network, sources=np.array([0]))
    np.testing.assert_array_equal(times, LINE_EDGE_S * np.arange(5))


def test_two_sources_give_the_nearest(line_network):
    times = coverage_times(line_network, sources=np.array([0, 4]))
    np.testing.assert_array_equal(times, [0.0, 100.0, 200.0, 100.0, 0.0])
    np.testing.assert_array_equal(coverage_times(line_network, sources=np.array([4, 0, 4])), times)


def test_one_dijkstra_call_for_many_sources(line_network, monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs.get("indices"))
        return real(*args, **kwargs)

    real = coverage.dijkstra
    monkeypatch.setattr(coverage, "dijkstra", counting)
    coverage_times(line_network, sources=np.array([0, 2, 4]))
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [0, 2, 4])


def test_travel_times_and_router_options(line_network):
    doubled = coverage_times(
        line_network, sources=np.array([0]), travel_times_s=2 * line_network.travel_times_s()
    )
    np.testing.assert_array_equal(doubled, 2 * LINE_EDGE_S * np.arange(5))
    router = Router(
        line_network.n_nodes, line_network.edge_u, line_network.edge_v, 3 * line_network.travel_times_s()
    )
    np.testing.assert_array_equal(coverage_times(line_network, sources=np.array([0]), router=router),
                                  3 * LINE_EDGE_S * np.arange(5))  # fmt: skip


def test_one_way_streets_count_from_the_source():
    net = one_way_ring()
    router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())
    src = int(np.flatnonzero(net.node_id == 10)[0])
    order = np.argsort(net.node_id)  # nodes 10, 11, 12, 13
    from_src = coverage_times(net, sources=np.array([src]))
    np.testing.assert_array_equal(from_src[order], [0.0, 100.0, 200.0, 300.0])
    np.testing.assert_array_equal(router.times_to(src)[order], [0.0, 300.0, 200.0, 100.0])  # the other way


def test_bad_sources_and_options_are_refused(line_network):
    with pytest.raises(PoliceTwinError, match="at least one source"):
        coverage_times(line_network, sources=np.array([], dtype=np.int64))
    with pytest.raises(PoliceTwinError, match=r"out of range 0\.\.4"):
        coverage_times(line_network, sources=np.array([5]))
    router = Router(
        line_network.n_nodes, line_network.edge_u, line_network.edge_v, line_network.travel_times_s()
    )
    with pytest.raises(PoliceTwinError, match="not both"):
        coverage_times(line_network, sources=np.array([0]), router=router, travel_times_s=np.ones(8))


def test_share_within_the_standard():
    times = LINE_EDGE_S * np.arange(5)
    assert coverage_share(times, standard_s=150.0) == 0.4
    assert coverage_share(times, standard_s=100.0) == 0.4  # the standard itself counts as reached
    assert coverage_share(times, standard_s=99.0) == 0.2
    assert coverage_share(times, standard_s=150.0, weights=np.array([1.0, 1.0, 0.0, 0.0, 2.0])) == 0.5
    assert coverage_share(np.array([0.0, np.inf]), standard_s=1e9) == 0.5  # unreachable is never covered
    with pytest.raises(PoliceTwinError, match="shape"):
        coverage_share(times, standard_s=150.0, weights=np.ones(3))


def test_band_labels():
    assert band_labels(480.0) == ("0-4 min", "4-8 min", "8 min+")
    assert band_labels(600.0) == ("0-5 min", "5-10 min", "10 min+")
    assert band_labels(420.0) == ("0-3.5 min", "3.5-7 min", "7 min+")


def test_edges_exact_on_the_line(line_network):
    times = coverage_times(line_network, sources=np.array([0]))
    gdf = coverage_edges(line_network, times, standard_s=STANDARD_S).sort_values("u", ignore_index=True)
    assert list(gdf.columns) == COLUMNS
    assert gdf.crs.to_epsg() == 4326
    assert len(gdf) == 4  # one row per two-way street segment, not per direction
    assert gdf["u"].tolist() == [100, 101, 102, 103] and gdf["v"].tolist() == [101, 102, 103, 104]
    assert gdf["time_s"].tolist() == [100.0, 200.0, 300.0, 400.0]  # the later end
    assert gdf["covered"].tolist() == [True, True, False, False]
    assert gdf["band"].tolist() == ["0-2 min", "2-4 min", "4 min+", "4 min+"]
    first = np.asarray(gdf.geometry.iloc[0].coords)
    np.testing.assert_allclose(first, [[0.0, 0.0], [0.009, 0.0]])
    on_the_edge = coverage_edges(line_network, times, standard_s=200.0)
    assert on_the_edge["covered"].sum() == 2  # both ends within 200 s, inclusive


def test_area_reaches(line_network):
    times = coverage_times(line_network, sources=np.array([0]))
    area = coverage_area(line_network, times, standard_s=STANDARD_S, buffer_m=50.0)
    assert area["reach"].tolist() == ["0-2 min", "0-4 min"] and area.crs.to_epsg() == 4326
    # a ~1002 m segment buffered by 50 m (+ caps): ~0.107 km², two segments ~0.207 km²
    assert area["area_km2"].tolist() == pytest.approx([0.107, 0.207], abs=0.003)
    nodes = shapely.points(line_network.lon, line_network.lat)
    inside = [shapely.contains(geom, nodes).tolist() for geom in area.geometry]
    assert inside == [[True, True, False, False, False], [True, True, True, False, False]]
    nothing = coverage_area(line_network, times + 1e6, standard_s=STANDARD_S)
    assert nothing["area_km2"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name", ["cov.geojson", "cov.gpkg", "COV.GeoJSON"])
def test_write_and_read_back(line_network, tmp_path, name):
    times = coverage_times(line_network, sources=np.array([0]))
    gdf = coverage_edges(line_network, times, standard_s=STANDARD_S)
    path = tmp_path / "sub" / name
    write_coverage(gdf, path)
    back = gpd.read_file(path)
    assert back.crs.to_epsg() == 4326
    assert len(back) == 4
    assert list(back.columns) == COLUMNS
    assert back.sort_values("u")["band"].tolist() == ["0-2 min", "2-4 min", "4 min+", "4 min+"]
    assert back["covered"].dtype == bool
    assert sorted(p.name for p in path.parent.iterdir()) == [name]  # no temporary files left
    write_coverage(gdf.iloc[:1], path)  # replaced, not appended
    assert len(gpd.read_file(path)) == 1


def test_gpkg_holds_segments_and_area(line_network, tmp_path):
    times = coverage_times(line_network, sources=np.array([0]))
    layers = {
        "segments": coverage_edges(line_network, times, standard_s=STANDARD_S),
        "area": coverage_area(line_network, times, standard_s=STANDARD_S),
    }
    path = tmp_path / "cov.gpkg"
    write_coverage(layers, path)
    assert sorted(pyogrio.list_layers(path)[:, 0].tolist()) == ["area", "segments"]
    area = gpd.read_file(path, layer="area")
    assert area.crs.to_epsg() == 4326 and area["reach"].tolist() == ["0-2 min", "0-4 min"]
    with pytest.raises(PoliceTwinError, match=r"GeoJSON file holds one layer; use \.gpkg"):
        write_coverage(layers, tmp_path / "cov.geojson")
    assert not (tmp_path / "cov.geojson").exists()


@pytest.mark.parametrize("name", ["cov.shp", "cov.json", "cov"])
def test_bad_extension_refused(line_network, tmp_path, name):
    gdf = coverage_edges(line_network, np.zeros(5), standard_s=STANDARD_S)
    with pytest.raises(PoliceTwinError, match=r"unknown extension .*; use \.geojson \(GeoJSON\) or \.gpkg"):
        write_coverage(gdf, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_figure_traces_and_offline(line_network):
    times = coverage_times(line_network, sources=np.array([0]))
    fig = coverage_figure(line_network, times, standard_s=STANDARD_S, sources_lonlat=[(0.0, 0.0)],
                          source_names=["HQ <b>"])  # fmt: skip
    assert [t.name for t in fig.data] == ["0-2 min", "2-4 min", "4 min+", "stations/posts"]
    assert [sum(x is not None for x in t.x) for t in fig.data[:3]] == [2, 2, 4]  # 2 points per segment
    assert list(fig.data[3].text) == ["HQ &lt;b&gt;"]
    assert "60.0% of road nodes reached within 4 min" in fig.layout.title.text
    assert fig.layout.yaxis.scaleanchor == "x"
    text = fig.to_json()
    assert "http" not in text and "mapbox" not in text and "map_style" not in text
    weighted = coverage_figure(line_network, times, standard_s=STANDARD_S, sources_lonlat=np.array([[0.0, 0.0]]),
                               weights=np.array([1.0, 0, 0, 0, 1.0]))  # fmt: skip
    assert "50.0% of demand" in weighted.layout.title.text


def test_figure_thins_big_networks(line_network):
    times = coverage_times(line_network, sources=np.array([0]))
    fig = coverage_figure(
        line_network, times, standard_s=STANDARD_S, sources_lonlat=[(0.0, 0.0)], max_segments=2
    )
    assert sum(sum(x is not None for x in t.x) for t in fig.data[:3]) == 4  # 2 of 4 segments drawn
    assert "2 of 4 street segments" in fig.layout.title.text


def test_helsinki_fast_and_consistent(helsinki_network):
    net = helsinki_network
    sources = np.array([0, net.n_nodes // 2, net.n_nodes - 1])
    router = Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        times = coverage_times(net, sources=sources)
        share = coverage_share(times, standard_s=180.0)
        gdf = coverage_edges(net, times, standard_s=180.0)
        coverage_figure(
            net, times, standard_s=180.0, sources_lonlat=np.column_stack([net.lon, net.lat])[sources]
        )
        best = min(best, time.perf_counter() - start)
    assert best < 0.5
    expected = np.min([router.times_from(int(s)) for s in sources], axis=0)
    np.testing.assert_allclose(times, expected, rtol=1e-5)
    assert np.isfinite(times).all() and 0.0 < share < 1.0
    assert gdf["covered"].to_numpy().tolist() == (gdf["time_s"] <= 180.0).tolist()


def test_maps_coverage_command_line(tmp_path):
    import geopandas as gpd
    from typer.testing import CliRunner

    from policetwin.cli import app

    runner = CliRunner()
    out = tmp_path / "cov.gpkg"
    result = runner.invoke(app, ["maps", "coverage", "helsinki", "--standard", "3min", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout and "street segments within 3min" in result.stdout
    streets = gpd.read_file(out, layer="streets")
    assert streets.crs.to_epsg() == 4326 and streets["covered"].any()
    assert len(gpd.read_file(out, layer="areas")) >= 1
    again = runner.invoke(app, ["maps", "coverage", "helsinki", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    bad = runner.invoke(
        app, ["maps", "coverage", "helsinki", "--standard", "soon", "--out", str(tmp_path / "x.geojson")]
    )
    assert bad.exit_code == 2 and "--standard" in bad.stderr
