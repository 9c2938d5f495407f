"""Districts: network Voronoi by travel time from the stations, and GeoJSON polygon districts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import LINE_EDGE_M, LINE_SPEED_KPH, STEP_DEG, make_line_network

from policetwin.errors import ScenarioError
from policetwin.maps import RoadNetwork, Router, build_network
from policetwin.sim.districts import (
    MAX_DISTRICTS_BYTES,
    district_table,
    polygon_districts,
    voronoi_districts,
)


def _router(net: RoadNetwork) -> Router:
    return Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s())


def _rows_from(net: RoadNetwork, stations: list[int]) -> np.ndarray:
    router = _router(net)
    return np.vstack([router.times_from(s) for s in stations])


# --- network Voronoi -------------------------------------------------------------------------------


def test_line_splits_at_the_middle() -> None:
    net = make_line_network(6)  # stations at both ends: 0, 1, 2 | 3, 4, 5
    got = voronoi_districts(_rows_from(net, [0, 5]))
    assert got.dtype == np.int32
    assert got.tolist() == [0, 0, 0, 1, 1, 1]


def test_tie_goes_to_the_lower_station_index() -> None:
    net = make_line_network(5)  # node 2 is 200 s from both ends
    rows = _rows_from(net, [0, 4])
    assert rows[0, 2] == rows[1, 2] == 200.0
    assert voronoi_districts(rows).tolist() == [0, 0, 0, 1, 1]
    # same stations listed the other way round: the tie follows the index, not the node
    assert voronoi_districts(rows[::-1]).tolist() == [1, 1, 0, 0, 0]


def _one_way_ring() -> RoadNetwork:
    """Four nodes on a one-way ring 0 -> 1 -> 2 -> 3 -> 0, 100 s per edge."""
    ids = np.array([10, 11, 12, 13], dtype=np.int64)
    lon = np.array([0.0, 1.0, 1.0, 0.0]) * STEP_DEG
    lat = np.array([0.0, 0.0, 1.0, 1.0]) * STEP_DEG
    u, v = ids, np.roll(ids, -1)
    return build_network(
        name="ring",
        source="hand-built one-way ring",
        node_id=ids,
        lon=lon,
        lat=lat,
        edge_u_id=u,
        edge_v_id=v,
        length_m=np.full(4, LINE_EDGE_M),
        highway=np.full(4, "residential", dtype=object),
        maxspeed_kph=np.full(4, LINE_SPEED_KPH),
    )


def test_one_way_streets_use_the_time_from_the_station() -> None:
    net = _one_way_ring()
    assert net.n_nodes == 4 and net.n_edges == 4
    router = _router(net)
    stations = [0, 2]
    from_rows = np.vstack([router.times_from(s) for s in stations])
    to_rows = np.vstack([router.times_to(s) for s in stations])
    # node 1: station 0 drives there in 100 s, station 2 needs 300 s; node 3 the other way round
    assert from_rows[:, 1].tolist() == [100.0, 300.0]
    assert from_rows[:, 3].tolist() == [300.0, 100.0]
    assert voronoi_districts(from_rows).tolist() == [0, 0, 1, 1]
    # the reverse rule (time back to the station) would give the opposite districts
    assert voronoi_districts(to_rows).tolist() == [0, 1, 1, 0]


def test_unreachable_nodes_get_minus_one() -> None:
    router = Router(3, np.array([0, 1]), np.array([1, 0]), np.array([100.0, 100.0]))  # node 2 is cut off
    rows = np.vstack([router.times_from(0), router.times_from(1)])
    assert np.isinf(rows[:, 2]).all()
    assert voronoi_districts(rows).tolist() == [0, 1, -1]
    assert voronoi_districts(np.array([[np.nan, 5.0], [np.inf, 7.0]])).tolist() == [-1, 0]
    assert voronoi_districts(np.empty((0, 3))).tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="2-D"):
        voronoi_districts(np.zeros(3))


def test_district_table_counts_nodes_per_station() -> None:
    table = district_table(np.array([0, 0, 2, -1, 2, 2]), ["A", "B", "C"])
    assert table == {"A": 2, "B": 0, "C": 3}


# --- GeoJSON polygons on Helsinki ------------------------------------------------------------------


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> list:
    return [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]


def _feature(rings: list, station: str | None = None, *, key: str = "station") -> dict:
    props = None if station is None else {key: station}
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": rings}}


def _write(tmp_path: Path, data: object, *, name: str = "districts.geojson", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding=encoding)
    return path


def _collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


class Split:
    """Helsinki cut by a meridian between two node longitudes; station 0 'East', station 1 'West'."""

    def __init__(self, net: RoadNetwork) -> None:
        lons = np.unique(net.lon)
        k = int(np.searchsorted(lons, np.median(net.lon)))
        self.lon = float((lons[k - 1] + lons[k]) / 2)
        self.west = net.lon < self.lon
        assert 20 < self.west.sum() < net.n_nodes - 20
        east_node = int(np.argmin(np.abs(net.lon - np.quantile(net.lon, 0.8))))
        west_node = int(np.argmin(np.abs(net.lon - np.quantile(net.lon, 0.2))))
        self.names = ["East", "West"]
        self.nodes = np.array([east_node, west_node])
        lon0, self.lat0, lon1, self.lat1 = net.bbox()
        self.west_box = _box(lon0 - 0.01, self.lat0 - 0.01, self.lon, self.lat1 + 0.01)
        self.east_box = _box(self.lon, self.lat0 - 0.01, lon1 + 0.01, self.lat1 + 0.01)


@pytest.fixture
def split(helsinki_network: RoadNetwork) -> Split:
    return Split(helsinki_network)


def _districts(path: Path, net: RoadNetwork, split: Split, **kw: object) -> np.ndarray:
    return polygon_districts(path, network=net, station_names=split.names, station_nodes=split.nodes, **kw)


def test_named_polygons_split_west_and_east(tmp_path, helsinki_network, split) -> None:
    path = _write(tmp_path, _collection(_feature(split.west_box, "West"), _feature(split.east_box, "East")))
    got = _districts(path, helsinki_network, split)
    assert got.dtype == np.int32 and got.shape == (helsinki_network.n_nodes,)
    assert (got[split.west] == 1).all()
    assert (got[~split.west] == 0).all()
    assert district_table(got, split.names) == {
        "East": int((~split.west).sum()),
        "West": int(split.west.sum()),
    }


def test_bom_custom_field_and_multipolygon(tmp_path, helsinki_network, split) -> None:
    multi = {"type": "MultiPolygon", "coordinates": [split.east_box, _box(0, 0, 1, 1)]}
    east = {"type": "Feature", "properties": {"beat": "East"}, "geometry": multi}
    data = _collection(_feature(split.west_box, "West", key="beat"), east)
    path = _write(tmp_path, data, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    got = _districts(path, helsinki_network, split, field="beat")
    assert (got == np.where(split.west, 1, 0)).all()


def test_unnamed_polygon_takes_the_station_inside(tmp_path, helsinki_network, split) -> None:
    unnamed = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": split.west_box}}
    path = _write(tmp_path, _collection(unnamed, _feature(split.east_box)))  # second: properties null
    got = _districts(path, helsinki_network, split)
    assert (got == np.where(split.west, 1, 0)).all()


def test_uncovered_nodes_fall_back_or_get_minus_one(tmp_path, helsinki_network, split) -> None:
    path = _write(tmp_path, _collection(_feature(split.west_box, "West")))
    bare = _districts(path, helsinki_network, split)
    assert (bare[split.west] == 1).all() and (bare[~split.west] == -1).all()
    vor = voronoi_districts(_rows_from(helsinki_network, split.nodes.tolist()))
    assert set(vor[~split.west].tolist()) == {0, 1}  # the fallback is visibly used, not a constant
    got = _districts(path, helsinki_network, split, fallback=vor)
    assert (got[split.west] == 1).all()
    assert (got[~split.west] == vor[~split.west]).all()


def test_overlapping_polygons_first_feature_wins(tmp_path, helsinki_network, split) -> None:
    everything = _box(20, 55, 30, 65)
    path = _write(tmp_path, _collection(_feature(split.west_box, "West"), _feature(everything, "East")))
    got = _districts(path, helsinki_network, split)
    assert (got == np.where(split.west, 1, 0)).all()


# --- errors ----------------------------------------------------------------------------------------


def _problems(path: Path, net: RoadNetwork, split: Split, **kw: object) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        _districts(path, net, split, filename="city.yaml", **kw)
    assert all(p.startswith("city.yaml:0: dispatch.districts: ") for p in info.value.problems)
    return info.value.problems


def test_missing_file_and_directory(tmp_path, helsinki_network, split) -> None:
    (problem,) = _problems(tmp_path / "nowhere.geojson", helsinki_network, split)
    assert "districts file not found" in problem and "nowhere.geojson" in problem
    (problem,) = _problems(tmp_path, helsinki_network, split)
    assert "is not a file" in problem


def test_file_over_20_mb_is_refused_before_reading(tmp_path, helsinki_network, split) -> None:
    path = tmp_path / "huge.geojson"
    with path.open("wb") as f:
        f.truncate(MAX_DISTRICTS_BYTES + 1)  # sparse: nothing is really written
    (problem,) = _problems(path, helsinki_network, split)
    assert "over 20 MB are refused" in problem
    with path.open("wb") as f:
        f.truncate(MAX_DISTRICTS_BYTES)  # exactly at the limit: read, then rejected as not JSON
    (problem,) = _problems(path, helsinki_network, split)
    assert "not valid JSON" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"type": "FeatureCollection", "features": [}',
            "is not valid JSON: Expecting value (line 1, column 44)",
        ),
        ("", "is not valid JSON: Expecting value (line 1, column 1)"),
        ('{"type": "FeatureCollection", "features": [], "x": NaN}', "NaN is not valid JSON"),
        ('{"type": "FeatureCollection", "type": "Feature"}', "key 'type' written twice"),
        ("[1, 2]", "is not GeoJSON: expected a FeatureCollection, got 'list'"),
        ('{"type": "Feature"}', "is not GeoJSON: expected a FeatureCollection, got 'Feature'"),
        ('{"type": "FeatureCollection", "features": []}', "'features' must be a non-empty list"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_not_json_or_not_geojson(tmp_path, helsinki_network, split, text, expected) -> None:
    (problem,) = _problems(_write(tmp_path, text), helsinki_network, split)
    assert expected in problem


def test_not_utf8(tmp_path, helsinki_network, split) -> None:
    path = tmp_path / "latin1.geojson"
    path.write_bytes(b'{"type": "FeatureCollection",\n "name": "Ume\xe5"}')
    (problem,) = _problems(path, helsinki_network, split)
    assert "is not UTF-8 text (bad byte on line 2)" in problem


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        (
            {"type": "Point", "coordinates": [24.94, 60.17]},
            "feature 0 is not a polygon (geometry type 'Point'",
        ),
        (None, "feature 0 is not a polygon (geometry type None"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}, "feature 0: malformed Polygon coordinates"),
        ({"type": "Polygon", "coordinates": []}, "feature 0: empty Polygon"),
        ({"type": "Polygon", "coordinates": _box(385000, 6670000, 386000, 6671000)}, "not lon/lat degrees"),
        (
            {"type": "Polygon", "coordinates": [[[24, 60], [25, 61], [25, 60], [24, 61], [24, 60]]]},
            "feature 0: invalid Polygon (Self-intersection",
        ),
    ],
)
def test_feature_that_is_not_a_usable_polygon(tmp_path, helsinki_network, split, geometry, expected) -> None:
    feature = {"type": "Feature", "properties": {"station": "West"}, "geometry": geometry}
    (problem,) = _problems(_write(tmp_path, _collection(feature)), helsinki_network, split)
    assert expected in problem


def test_unknown_station_suggests_the_nearest_name(tmp_path, helsinki_network, split) -> None:
    path = _write(tmp_path, _collection(_feature(split.west_box, "Wset"), _feature(split.east_box, "Zzz")))
    first, second = _problems(path, helsinki_network, split)  # all problems at once
    assert "feature 0: properties.station names unknown station 'Wset' (did you mean 'West'?)" in first
    assert "feature 1: properties.station names unknown station 'Zzz'; stations: East, West" in second


def test_station_name_must_be_text(tmp_path, helsinki_network, split) -> None:
    path = _write(tmp_path, _collection(_feature(split.west_box, 3)))  # type: ignore[arg-type]
    (problem,) = _problems(path, helsinki_network, split)
    assert "properties.station must be a station name (text), got 3" in problem


def test_unnamed_polygon_needs_exactly_one_station(tmp_path, helsinki_network, split) -> None:
    everything = _box(20, 55, 30, 65)
    path = _write(tmp_path, _collection(_feature(everything)))
    (problem,) = _problems(path, helsinki_network, split)
    assert "feature 0 has no properties.station and contains 2 stations (East, West)" in problem
    lon, lat = split.lon, split.lat0
    empty_corner = _box(lon - 1e-6, lat - 0.01, lon + 1e-6, lat - 0.005)  # in no station's reach
    path = _write(tmp_path, _collection(_feature(split.west_box, "West"), _feature(empty_corner)))
    (problem,) = _problems(path, helsinki_network, split)
    assert "feature 1 has no properties.station and contains no station; name its station" in problem


def test_polygons_covering_no_station(tmp_path, helsinki_network, split) -> None:
    coquimbo = _box(-71.35, -30.0, -71.2, -29.85)
    path = _write(tmp_path, _collection(_feature(coquimbo, "West"), _feature(coquimbo, "East")))
    (problem,) = _problems(path, helsinki_network, split)
    assert "whose polygons cover no station" in problem
    assert "lon -71.3500..-71.2000" in problem and "map: lon 24.93" in problem


def test_programming_errors_are_value_errors(tmp_path, helsinki_network, split) -> None:
    path = _write(tmp_path, _collection(_feature(split.west_box, "West")))
    with pytest.raises(ValueError, match="station names"):
        polygon_districts(path, network=helsinki_network, station_names=["A"], station_nodes=split.nodes)
    with pytest.raises(ValueError, match="one entry per node"):
        _districts(path, helsinki_network, split, fallback=np.zeros(3, dtype=np.int32))
