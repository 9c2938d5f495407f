"""Road networks from OpenStreetMap files: the PBF reader and :func:`load_osm_file`.

- ``.osm.pbf`` / ``.pbf``: read here with pyrosm (``get_network(network_type="driving")``);
- ``.osm`` (OSM XML): :mod:`policetwin.maps.osm_xml`, a streaming reader with the same car filter and
  one-way rules (:mod:`policetwin.maps.osm_tags`), so clipped extracts (ways whose nodes lie outside the
  file) load too;
- ``.graphml``: osmnx-compatible GraphML (ours or any ``ox.save_graphml`` output), in
  :mod:`policetwin.maps.graphml`;
- places: ``osmnx.graph_from_place`` (needs internet), cached as GraphML, in :mod:`policetwin.maps.place`.

All of them end in :func:`~policetwin.maps.network.build_network`. Road data (c) OpenStreetMap
contributors, ODbL. The GraphML and place functions are re-exported here for existing callers.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from policetwin.errors import MapError
from policetwin.maps.graphml import load_graphml, network_to_graph, save_graphml
from policetwin.maps.io_util import file_stem, one_line, segment_lengths
from policetwin.maps.network import RoadNetwork, build_network
from policetwin.maps.osm_tags import directed_edges
from policetwin.maps.osm_xml import read_osm_xml
from policetwin.maps.place import fetch_place, place_cache_path
from policetwin.maps.simplify import is_strongly_connected, simplify_network

__all__ = [
    "fetch_place",
    "load_graphml",
    "load_osm_file",
    "network_to_graph",
    "place_cache_path",
    "save_graphml",
]

# pyrosm's in-memory engine is faster for city extracts and writes nothing; its out-of-core engine
# (bounded memory, but it caches results as GeoParquet under the temp dir) is kept for big files.
_IN_MEMORY_MAX_BYTES = 256 * 1024 * 1024


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
        segments, nodes = read_osm_xml(path)
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
    eu, ev, length, highway, maxspeed = directed_edges(segments)
    network = build_network(
        name=name or file_stem(path),
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
        raise MapError(f"cannot read OSM PBF file {path}: {one_line(exc)}") from exc
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
        length = segment_lengths(u, v, node_table)
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
