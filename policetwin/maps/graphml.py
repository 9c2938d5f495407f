"""osmnx-compatible GraphML: write a :class:`RoadNetwork`, read ours or any ``ox.save_graphml`` output.

Also converts in-memory osmnx-style graphs (as from ``osmnx.graph_from_place``) to a RoadNetwork.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

from policetwin.errors import MapError
from policetwin.maps.io_util import file_stem, haversine_m, one_line
from policetwin.maps.network import RoadNetwork, build_network
from policetwin.maps.speeds import normalise_highway, parse_maxspeed_kph


def network_to_graph(network: RoadNetwork) -> nx.MultiDiGraph:
    """An osmnx-style ``MultiDiGraph`` of ``network``.

    Graph ``crs`` is EPSG:4326; nodes are keyed by OSM id with ``x``=lon, ``y``=lat; edges have ``length``
    (m), ``highway``, ``maxspeed`` (km/h, where known), ``speed_kph`` and ``travel_time`` (s).
    """
    graph = nx.MultiDiGraph(
        **{**_graph_attrs(network), "simplified": False, "policetwin_synthetic": bool(network.synthetic)}
    )
    ids = network.node_id.tolist()
    graph.add_nodes_from(
        (nid, {"x": lon, "y": lat})
        for nid, lon, lat in zip(ids, network.lon.tolist(), network.lat.tolist(), strict=True)
    )
    edges = []
    for u, v, length, hw, ms, sp, tt in _edge_rows(network):
        data = {"length": length, "highway": hw, "speed_kph": sp, "travel_time": tt}
        if math.isfinite(ms):
            data["maxspeed"] = repr(ms)
        edges.append((ids[u], ids[v], data))
    graph.add_edges_from(edges)
    return graph


def _edge_rows(network: RoadNetwork):
    """(tail, head, length m, highway, maxspeed km/h or NaN, speed km/h, travel time s) per edge."""
    return zip(
        network.edge_u.tolist(),
        network.edge_v.tolist(),
        network.length_m.tolist(),
        [str(hw) for hw in network.highway.tolist()],
        network.maxspeed_kph.tolist(),
        network.speeds_kph().tolist(),
        network.travel_times_s().tolist(),
        strict=True,
    )


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
    parallel: dict[tuple[int, int], int] = {}
    for u, v, length, hw, ms, sp, tt in _edge_rows(network):
        key = parallel.get((u, v), 0)
        parallel[u, v] = key + 1
        maxspeed = f'<data key="{k_ms}">{ms!r}</data>' if math.isfinite(ms) else ""
        fh.write(
            f'    <edge source="{ids[u]}" target="{ids[v]}" id="{key}"><data key="{k_len}">{length!r}</data>'
            f'<data key="{k_hw}">{escape(hw)}</data>{maxspeed}<data key="{k_sp}">{sp!r}</data>'
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
        raise MapError(f"cannot read GraphML file {path}: {one_line(exc)}") from exc
    return graph_to_network(graph, path=path, name=name)


def _float(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def graph_to_network(
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
        name = str(stored_name) if stored_name else (file_stem(path) if path else "graph")
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
