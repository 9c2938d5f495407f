"""Road networks from OpenStreetMap files, GraphML and osmnx place queries.

- ``.osm.pbf`` / ``.pbf``: read with pyrosm (``get_network(network_type="driving")``);
- ``.osm`` (OSM XML): a streaming reader here, with the same car filter and one-way rules, so clipped
  extracts (ways whose nodes lie outside the file) load too;
- ``.graphml``: osmnx-compatible GraphML (ours or any ``ox.save_graphml`` output);
- places: ``osmnx.graph_from_place`` (needs internet), cached as GraphML.

All of them end in :func:`~policetwin.maps.network.build_network`. Road data (c) OpenStreetMap
contributors, ODbL.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import tempfile
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

from policetwin.errors import MapError
from policetwin.maps.network import RoadNetwork, build_network
from policetwin.maps.simplify import is_strongly_connected, simplify_network
from policetwin.maps.speeds import normalise_highway, parse_maxspeed_kph

EARTH_RADIUS_M = 6_371_009.0  # mean Earth radius, as osmnx uses

# pyrosm's in-memory engine is faster for city extracts and writes nothing; its out-of-core engine
# (bounded memory, but it caches results as GeoParquet under the temp dir) is kept for big files.
_IN_MEMORY_MAX_BYTES = 256 * 1024 * 1024

# One-way rules (as osmnx and pyrosm): these ``oneway`` values make a way one-way along its nodes...
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
# ...these against its nodes...
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})
# ...these say two-way explicitly (overriding the implied one-way of a roundabout)...
_ONEWAY_NO = frozenset({"no", "false", "0"})
# ...and these ``junction`` values imply one-way along the nodes when ``oneway`` is not tagged.
_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})

# The car ("driving") way filter of pyrosm 0.25 (which follows osmnx's "drive"), for OSM XML files.
_EXCLUDED_HIGHWAY = frozenset(
    {
        "abandoned",
        "construction",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
        "bridleway",
        "bus_guideway",
        "busway",
        "corridor",
        "cycleway",
        "elevator",
        "escalator",
        "footway",
        "ladder",
        "path",
        "pedestrian",
        "steps",
        "track",
        "trail",
        "service",
    }
)
_EXCLUDED_SERVICE = frozenset(
    {"emergency_access", "parking", "parking_aisle", "private", "alley", "driveway"}
)
_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")  # most specific first
_CLOSED_ACCESS = frozenset({"no", "private"})

_XML_WAY_TAGS = ("highway", "oneway", "junction", "maxspeed")


# --------------------------------------------------------------------------------------------------
# OSM files
# --------------------------------------------------------------------------------------------------


def load_osm_file(path: Path, *, name: str | None = None, simplify: bool = True) -> RoadNetwork:
    """Car network of an ``.osm.pbf`` / ``.pbf`` (pyrosm) or ``.osm`` XML file.

    One-way streets give one directed edge per segment, others two. With ``simplify`` (the default) the
    largest strongly connected part is then topologically simplified like ``osmnx.simplify_graph``
    (:func:`~policetwin.maps.simplify.simplify_network`: interstitial way nodes are contracted away,
    base travel times between the remaining nodes are unchanged); ``simplify=False`` keeps every way node.
    ``name`` defaults to the file stem (``campo-grande`` for ``campo-grande.osm.pbf``). Raises
    :class:`MapError` (one line, naming the file) for a missing, empty, corrupt or non-OSM file, or one
    without drivable roads.
    """
    path = Path(path)
    if not path.is_file():
        raise MapError(f"map file not found: {path}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise MapError(f"cannot read map file {path}: {exc.strerror or exc}") from exc
    if not head:
        raise MapError(f"cannot read map file {path}: the file is empty")
    lower = path.name.lower()
    looks_xml = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    if looks_xml:
        segments, nodes = _read_osm_xml(path)
        fmt = "OSM XML"
    elif lower.endswith(".pbf"):
        segments, nodes = _read_pbf(path)
        fmt = "OSM PBF"
    elif lower.endswith(".osm"):
        raise MapError(f"cannot read OSM XML file {path}: it is not XML (a .pbf file needs a .pbf name)")
    else:
        raise MapError(f"unsupported map file {path}: use .osm, .osm.pbf or .pbf")
    if segments["u"].size == 0:
        raise MapError(f"{path}: no drivable roads found in this {fmt} file")
    eu, ev, length, highway, maxspeed = _directed_edges(segments)
    network = build_network(
        name=name or _file_stem(path),
        source=f"OpenStreetMap {fmt} file {path.name} (ODbL)",
        node_id=nodes["id"],
        lon=nodes["lon"],
        lat=nodes["lat"],
        edge_u_id=eu,
        edge_v_id=ev,
        length_m=length,
        highway=highway,
        maxspeed_kph=maxspeed,
    )
    if simplify:
        network = simplify_network(network)
        if not is_strongly_connected(network):  # contraction preserves it: this would be a bug
            raise MapError(f"{path}: the simplified road network is not strongly connected")
    return network


def _file_stem(path: Path) -> str:
    name = path.name
    for suffix in (".osm.pbf", ".pbf", ".osm", ".graphml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (vectorised)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _column(frame, name: str) -> np.ndarray:
    """A tag column of a pyrosm frame as an object array (None where missing or absent)."""
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    values = frame[name].to_numpy(dtype=object)
    return np.array([None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in values])


def _read_pbf(path: Path) -> tuple[dict, dict]:
    """Way segments (u, v, length, tags) and nodes of the drivable ways of a PBF, via pyrosm."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pyrosm import OSM
    except ImportError as exc:  # pragma: no cover - pyrosm is a dependency
        raise MapError(f"reading {path.name} needs the Python package pyrosm: pip install pyrosm") from exc
    options = _pyrosm_options(OSM, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = OSM(str(path), **options)
            nodes, edges = osm.get_network(nodes=True, network_type="driving")
    except MemoryError:
        raise
    except Exception as exc:  # pyrosm/protobuf raise many kinds; never leak them
        raise MapError(f"cannot read OSM PBF file {path}: {_one_line(exc)}") from exc
    if nodes is None or edges is None or len(edges) == 0 or len(nodes) == 0:
        raise MapError(f"{path}: no drivable roads found in this OSM PBF file")
    node_table = {
        "id": nodes["id"].to_numpy(dtype=np.int64),
        "lon": nodes["lon"].to_numpy(dtype=float),
        "lat": nodes["lat"].to_numpy(dtype=float),
    }
    u = edges["u"].to_numpy(dtype=np.int64)
    v = edges["v"].to_numpy(dtype=np.int64)
    # NB: ``edges.length`` is GeoPandas' planar length in degrees; the metre column is ``edges["length"]``.
    if "length" in edges.columns:
        length = edges["length"].to_numpy(dtype=float)
    else:
        length = _segment_lengths(u, v, node_table)
    segments = {
        "way_id": edges["id"].to_numpy(dtype=np.int64),
        "u": u,
        "v": v,
        "length": length,
        "highway": _column(edges, "highway"),
        "oneway": _column(edges, "oneway"),
        "junction": _column(edges, "junction"),
        "maxspeed": _column(edges, "maxspeed"),
    }
    return segments, node_table


def _pyrosm_options(osm_class, path: Path) -> dict:
    """Options for ``pyrosm.OSM`` that this pyrosm accepts (``engine``/``progress`` are new in 0.2x)."""
    import inspect

    try:
        accepted = inspect.signature(osm_class).parameters
    except (TypeError, ValueError):  # pragma: no cover - a compiled class without a signature
        return {}
    engine = "in_memory" if path.stat().st_size <= _IN_MEMORY_MAX_BYTES else "out_of_core"
    options = {"engine": engine, "keep_metadata": False, "progress": False}
    return {k: v for k, v in options.items() if k in accepted}


def _segment_lengths(u: np.ndarray, v: np.ndarray, nodes: dict) -> np.ndarray:
    order = np.argsort(nodes["id"])
    ids = nodes["id"][order]
    iu = order[np.clip(np.searchsorted(ids, u), 0, ids.size - 1)]
    iv = order[np.clip(np.searchsorted(ids, v), 0, ids.size - 1)]
    length = haversine_m(nodes["lon"][iu], nodes["lat"][iu], nodes["lon"][iv], nodes["lat"][iv])
    length[(nodes["id"][iu] != u) | (nodes["id"][iv] != v)] = np.nan  # dropped by build_network
    return length


def _multi_value_in(value: str | None, values: frozenset) -> bool:
    """Whether an OSM tag value (maybe ``a;b``) is, or has a part, in ``values``."""
    if value is None:
        return False
    return value in values or (";" in value and any(p.strip() in values for p in value.split(";")))


def is_drivable(tags: dict) -> bool:
    """Whether a way with these tags belongs to the car network (pyrosm's "driving" filter)."""
    if not tags.get("highway"):
        return False
    if _multi_value_in(tags.get("area"), frozenset({"yes"})):
        return False
    if _multi_value_in(tags["highway"], _EXCLUDED_HIGHWAY):
        return False
    if _multi_value_in(tags.get("service"), _EXCLUDED_SERVICE):
        return False
    for key in _ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            return not _multi_value_in(value, _CLOSED_ACCESS)
    return True


def _read_osm_xml(path: Path) -> tuple[dict, dict]:
    """Way segments and nodes of the drivable ways of an OSM XML file (streamed)."""
    import xml.etree.ElementTree as ET

    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    ways: list[tuple[int, list[int], dict]] = []
    try:
        context = ET.iterparse(str(path), events=("start", "end"))
        _, root = next(context)
        if root.tag != "osm":
            raise MapError(f"cannot read OSM XML file {path}: the root element is <{root.tag}>, not <osm>")
        for event, elem in context:
            if event != "end" or elem.tag not in ("node", "way", "relation"):
                continue
            deleted = elem.get("action") == "delete" or elem.get("visible") == "false"
            if elem.tag == "node" and not deleted and elem.get("lat") is not None:
                node_ids.append(int(elem.get("id")))
                lons.append(float(elem.get("lon")))
                lats.append(float(elem.get("lat")))
            elif elem.tag == "way" and not deleted:
                tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                if is_drivable(tags):
                    refs = [int(nd.get("ref")) for nd in elem.iter("nd")]
                    ways.append((int(elem.get("id")), refs, {k: tags.get(k) for k in _XML_WAY_TAGS}))
            root.clear()  # free what has been read
    except MapError:
        raise
    except StopIteration:
        raise MapError(f"cannot read OSM XML file {path}: no XML content") from None
    except (ET.ParseError, ValueError, TypeError) as exc:
        raise MapError(f"cannot read OSM XML file {path}: {_one_line(exc)}") from exc
    except OSError as exc:
        raise MapError(f"cannot read OSM XML file {path}: {exc.strerror or exc}") from exc

    all_ids = np.array(node_ids, dtype=np.int64)
    known = set(node_ids)
    cols: dict[str, list] = {k: [] for k in ("way_id", "u", "v", *_XML_WAY_TAGS)}
    for way_id, refs, tags in ways:
        for a, b in itertools.pairwise(refs):
            if a == b or a not in known or b not in known:  # clipped extract: skip the segment
                continue
            cols["way_id"].append(way_id)
            cols["u"].append(a)
            cols["v"].append(b)
            for k in _XML_WAY_TAGS:
                cols[k].append(tags[k])
    u = np.array(cols["u"], dtype=np.int64)
    v = np.array(cols["v"], dtype=np.int64)
    used = np.isin(all_ids, np.union1d(u, v))
    nodes = {"id": all_ids[used], "lon": np.array(lons)[used], "lat": np.array(lats)[used]}
    segments = {
        "way_id": np.array(cols["way_id"], dtype=np.int64),
        "u": u,
        "v": v,
        "length": _segment_lengths(u, v, nodes) if u.size else np.zeros(0),
        **{k: np.array(cols[k], dtype=object) for k in _XML_WAY_TAGS},
    }
    return segments, nodes


def oneway_direction(oneway: object, junction: object = None) -> int:
    """+1 one-way along the way's nodes, -1 one-way against them, 0 both ways."""
    text = str(oneway).strip().lower() if oneway is not None else ""
    if text in _ONEWAY_FORWARD:
        return 1
    if text in _ONEWAY_REVERSE:
        return -1
    if text in _ONEWAY_NO:
        return 0
    if junction is not None and str(junction).strip().lower() in _ONEWAY_JUNCTIONS:
        return 1
    return 0


def _directed_edges(segments: dict) -> tuple[np.ndarray, ...]:
    """Directed edges (u ids, v ids, length, highway, maxspeed km/h) from way segments."""
    cache: dict = {}
    direction = np.array(
        [
            cache.setdefault(key, oneway_direction(*key))
            for key in zip(segments["oneway"], segments["junction"], strict=True)
        ],
        dtype=np.int8,
    )
    hw_cache: dict = {}
    highway = np.array(
        [hw_cache.setdefault(h, normalise_highway(h)) for h in segments["highway"]], dtype=object
    )
    ms_cache: dict = {}
    maxspeed = np.array(
        [ms_cache.setdefault(m, parse_maxspeed_kph(m)) for m in segments["maxspeed"]], dtype=float
    )
    u, v, length = segments["u"], segments["v"], segments["length"]
    fwd = direction >= 0  # forward edges: one-way along, and two-way
    back = direction <= 0  # backward edges: one-way against, and two-way
    return (
        np.concatenate([u[fwd], v[back]]),
        np.concatenate([v[fwd], u[back]]),
        np.concatenate([length[fwd], length[back]]),
        np.concatenate([highway[fwd], highway[back]]),
        np.concatenate([maxspeed[fwd], maxspeed[back]]),
    )


# --------------------------------------------------------------------------------------------------
# GraphML (osmnx-compatible)
# --------------------------------------------------------------------------------------------------


def network_to_graph(network: RoadNetwork) -> nx.MultiDiGraph:
    """An osmnx-style ``MultiDiGraph`` of ``network``.

    Graph ``crs`` is EPSG:4326; nodes are keyed by OSM id with ``x``=lon, ``y``=lat; edges have ``length``
    (m), ``highway``, ``maxspeed`` (km/h, where known), ``speed_kph`` and ``travel_time`` (s).
    """
    speeds = network.speeds_kph()
    times = network.travel_times_s()
    graph = nx.MultiDiGraph(
        **{**_graph_attrs(network), "simplified": False, "policetwin_synthetic": bool(network.synthetic)}
    )
    ids = network.node_id.tolist()
    graph.add_nodes_from(
        (nid, {"x": lon, "y": lat})
        for nid, lon, lat in zip(ids, network.lon.tolist(), network.lat.tolist(), strict=True)
    )
    edges = []
    for u, v, length, hw, ms, sp, tt in zip(
        network.edge_u.tolist(),
        network.edge_v.tolist(),
        network.length_m.tolist(),
        network.highway.tolist(),
        network.maxspeed_kph.tolist(),
        speeds.tolist(),
        times.tolist(),
        strict=True,
    ):
        data = {"length": length, "highway": str(hw), "speed_kph": sp, "travel_time": tt}
        if math.isfinite(ms):
            data["maxspeed"] = repr(ms)
        edges.append((ids[u], ids[v], data))
    graph.add_edges_from(edges)
    return graph


def save_graphml(network: RoadNetwork, path: Path) -> Path:
    """Write ``network`` as osmnx-compatible GraphML (the graph of :func:`network_to_graph`, all values as
    strings like ``ox.save_graphml``; readable by ``ox.load_graphml`` and ``networkx.read_graphml``).

    Streamed from the arrays (several times faster than ``networkx.write_graphml``) and atomic: written
    to a temporary file in the same folder, then renamed over ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise MapError(f"cannot write GraphML file {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            _write_graphml(network, fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        raise MapError(f"cannot write GraphML file {path}: {exc.strerror or exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _graph_attrs(network: RoadNetwork) -> dict[str, str]:
    return {
        "crs": "EPSG:4326",
        "name": network.name,
        "created_with": "policetwin",
        "simplified": "False",
        "policetwin_source": network.source,
        "policetwin_synthetic": str(bool(network.synthetic)),
        "policetwin_metric_crs": network.crs,
    }


_EDGE_KEYS = ("length", "highway", "maxspeed", "speed_kph", "travel_time")


def _write_graphml(network: RoadNetwork, fh) -> None:
    from xml.sax.saxutils import escape

    graph_attrs = _graph_attrs(network)
    keys = [("graph", k) for k in graph_attrs] + [("node", "x"), ("node", "y")]
    keys += [("edge", k) for k in _EDGE_KEYS]
    kid = {key: f"d{i}" for i, key in enumerate(keys)}
    fh.write(
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
    )
    for (domain, name), key_id in kid.items():
        fh.write(f'  <key id="{key_id}" for="{domain}" attr.name="{name}" attr.type="string" />\n')
    fh.write('  <graph edgedefault="directed">\n')
    kx, ky = kid["node", "x"], kid["node", "y"]
    ids = network.node_id.tolist()
    for nid, lon, lat in zip(ids, network.lon.tolist(), network.lat.tolist(), strict=True):
        fh.write(
            f'    <node id="{nid}"><data key="{kx}">{lon!r}</data><data key="{ky}">{lat!r}</data></node>\n'
        )
    k_len, k_hw, k_ms, k_sp, k_tt = (kid["edge", k] for k in _EDGE_KEYS)
    speeds = network.speeds_kph().tolist()
    times = network.travel_times_s().tolist()
    parallel: dict[tuple[int, int], int] = {}
    for u, v, length, hw, ms, sp, tt in zip(
        network.edge_u.tolist(),
        network.edge_v.tolist(),
        network.length_m.tolist(),
        network.highway.tolist(),
        network.maxspeed_kph.tolist(),
        speeds,
        times,
        strict=True,
    ):
        key = parallel.get((u, v), 0)
        parallel[u, v] = key + 1
        maxspeed = f'<data key="{k_ms}">{ms!r}</data>' if math.isfinite(ms) else ""
        fh.write(
            f'    <edge source="{ids[u]}" target="{ids[v]}" id="{key}"><data key="{k_len}">{length!r}</data>'
            f'<data key="{k_hw}">{escape(str(hw))}</data>{maxspeed}<data key="{k_sp}">{sp!r}</data>'
            f'<data key="{k_tt}">{tt!r}</data></edge>\n'
        )
    for name, value in graph_attrs.items():
        fh.write(f'    <data key="{kid["graph", name]}">{escape(value)}</data>\n')
    fh.write("  </graph>\n</graphml>\n")


def load_graphml(path: Path, *, name: str | None = None) -> RoadNetwork:
    """A :class:`RoadNetwork` from a GraphML file written by :func:`save_graphml` or ``ox.save_graphml``."""
    path = Path(path)
    if not path.is_file():
        raise MapError(f"map file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = nx.read_graphml(path, node_type=str, force_multigraph=True)
    except MemoryError:
        raise
    except Exception as exc:  # ParseError, NetworkXError, KeyError, UnicodeDecodeError, ...
        raise MapError(f"cannot read GraphML file {path}: {_one_line(exc)}") from exc
    return _graph_to_network(graph, path=path, name=name)


def _float(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _graph_to_network(
    graph: nx.MultiDiGraph,
    *,
    path: Path | None = None,
    name: str | None = None,
    source: str | None = None,
) -> RoadNetwork:
    """Convert an osmnx-style graph (in memory or freshly read from GraphML) to a RoadNetwork."""
    where = str(path) if path is not None else "graph"
    if graph.number_of_nodes() == 0 or graph.number_of_edges() == 0:
        raise MapError(f"{where}: no drivable roads found (the graph has no nodes or no edges)")
    keys = list(graph.nodes)
    try:
        ids = np.array([int(k) for k in keys], dtype=np.int64)
    except (TypeError, ValueError):
        ids = np.arange(1, len(keys) + 1, dtype=np.int64)  # not OSM ids: number the nodes
    index = {k: i for i, k in enumerate(keys)}
    data = [graph.nodes[k] for k in keys]
    x = np.array([_float(d.get("x")) for d in data])
    y = np.array([_float(d.get("y")) for d in data])
    crs = str(graph.graph.get("crs", "EPSG:4326"))
    lon, lat = x, y
    if not _is_geographic(crs, where):
        if all("lon" in d and "lat" in d for d in data):  # osmnx project_graph keeps lon/lat
            lon = np.array([_float(d["lon"]) for d in data])
            lat = np.array([_float(d["lat"]) for d in data])
        else:
            from pyproj import Transformer

            lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
            lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if bad.any():
        raise MapError(f"{where}: {int(bad.sum())} nodes lack valid x/y (lon/lat) coordinates")

    us, vs, lengths, highways, maxspeeds = [], [], [], [], []
    both_ways = not graph.is_directed()
    for u, v, d in graph.edges(data=True):
        pairs = ((index[u], index[v]), (index[v], index[u])) if both_ways else ((index[u], index[v]),)
        for a, b in pairs:
            us.append(a)
            vs.append(b)
            lengths.append(_float(d.get("length")))
            highways.append(d.get("highway"))
            maxspeeds.append(d.get("maxspeed"))
    iu, iv = np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64)
    length = np.array(lengths, dtype=float)
    missing = ~np.isfinite(length)
    if missing.any():
        length[missing] = haversine_m(lon[iu[missing]], lat[iu[missing]], lon[iv[missing]], lat[iv[missing]])
    hw_cache: dict = {}
    highway = np.array([hw_cache.setdefault(str(h), normalise_highway(h)) for h in highways], dtype=object)
    ms_cache: dict = {}
    maxspeed = np.array([ms_cache.setdefault(str(m), parse_maxspeed_kph(m)) for m in maxspeeds], dtype=float)

    metric_crs = graph.graph.get("policetwin_metric_crs")
    xy = None
    if metric_crs:
        from pyproj import Transformer

        try:
            mx, my = Transformer.from_crs("EPSG:4326", str(metric_crs), always_xy=True).transform(lon, lat)
            xy = (np.asarray(mx, dtype=float), np.asarray(my, dtype=float), str(metric_crs))
        except Exception:  # an unknown CRS: fall back to UTM
            xy = None
    stored_source = graph.graph.get("policetwin_source")
    if source is None:
        source = str(stored_source) if stored_source else f"GraphML file {path.name if path else 'graph'}"
    if name is None:
        stored_name = graph.graph.get("name") if graph.graph.get("created_with") == "policetwin" else None
        name = str(stored_name) if stored_name else (_file_stem(path) if path else "graph")
    return build_network(
        name=name,
        source=source,
        node_id=ids,
        lon=lon,
        lat=lat,
        edge_u_id=ids[iu],
        edge_v_id=ids[iv],
        length_m=length,
        highway=highway,
        maxspeed_kph=maxspeed,
        synthetic=str(graph.graph.get("policetwin_synthetic", "False")) == "True",
        xy=xy,
    )


def _is_geographic(crs: str, where: str) -> bool:
    if crs.upper() in ("EPSG:4326", "WGS84", "OGC:CRS84"):
        return True
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return bool(CRS.from_user_input(crs).is_geographic)
    except CRSError as exc:
        raise MapError(f"{where}: unknown graph CRS {crs!r}") from exc


# --------------------------------------------------------------------------------------------------
# Places (osmnx, needs internet)
# --------------------------------------------------------------------------------------------------

PLACE_TIMEOUT_S = 20


def place_cache_path(place: str, cache: Path) -> Path:
    """Where the GraphML of a fetched place is cached: ``cache/places/<slug>-<hash>.graphml``."""
    key = " ".join(place.split()).lower()
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    slug = "".join(c if c.isalnum() else "-" for c in key).strip("-")[:60] or "place"
    return Path(cache) / "places" / f"{slug}-{digest}.graphml"


def _offline_message(place: str, exc: BaseException) -> str:
    return (
        f"fetching place {place!r} needs internet "
        f"(OpenStreetMap could not be reached: {_one_line(exc, 100)}); "
        "offline, download an .osm.pbf extract of the area (e.g. from download.geofabrik.de) and run "
        "`policetwin maps import FILE --out city.graphml`"
    )


def fetch_place(place: str, *, cache: Path) -> RoadNetwork:
    """Car network of a named place via ``osmnx.graph_from_place`` (needs internet), cached as GraphML.

    A cached GraphML under ``cache/places`` is used when present (no network access).
    """
    place = place.strip()
    if not place:
        raise MapError("place: needs a name, e.g. 'place:La Serena, Chile'")
    path = place_cache_path(place, cache)
    if path.is_file():
        try:
            return load_graphml(path, name=place)
        except MapError:
            path.unlink(missing_ok=True)  # a corrupt cache entry: fetch again
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import osmnx as ox
    except ImportError as exc:  # pragma: no cover - osmnx is a dependency
        raise MapError("fetching a place needs the Python package osmnx: pip install osmnx") from exc
    settings = ox.settings
    saved = (settings.requests_timeout, settings.cache_folder, settings.log_console)
    settings.requests_timeout = PLACE_TIMEOUT_S
    settings.cache_folder = str(Path(cache) / "osmnx-http")
    settings.log_console = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = ox.graph_from_place(place, network_type="drive")
    except OSError as exc:  # requests' ConnectionError/Timeout are OSErrors, as are socket errors
        raise MapError(_offline_message(place, exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:  # osmnx: InsufficientResponseError, ResponseStatusCodeError, TypeError...
        raise MapError(f"cannot fetch place {place!r} with osmnx: {_one_line(exc)}") from exc
    finally:
        settings.requests_timeout, settings.cache_folder, settings.log_console = saved
    network = _graph_to_network(
        graph,
        name=place,
        source=f"OpenStreetMap via osmnx graph_from_place({place!r}, network_type='drive') (ODbL)",
    )
    with contextlib.suppress(MapError):  # the cache is a convenience; an unwritable one must not fail
        save_graphml(network, path)
    return network
