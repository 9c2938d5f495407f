"""Districts (police beats): the station whose area each road node lies in, for dispatch policies.

Two sources, both giving an int32 array over the network's nodes (station index, or -1 for none):
- :func:`voronoi_districts`: a network Voronoi by travel time FROM each station (units drive from the
  station to the call, which on one-way streets differs from the time back);
- :func:`polygon_districts`: a GeoJSON file of polygons drawn by planners, each naming its station.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from policetwin.errors import ScenarioError
from policetwin.maps.network import RoadNetwork

#: District files larger than this are refused before reading (a city's beats take a few MB at most).
MAX_DISTRICTS_BYTES = 20 * 1024 * 1024
POLYGON_TYPES = ("Polygon", "MultiPolygon")


class _Problem(Exception):
    """A problem with the districts file; the message becomes one ScenarioError line."""


def voronoi_districts(station_rows_s: np.ndarray) -> np.ndarray:
    """District of every node: the station that reaches it first (rows: time FROM each station, s).

    Ties go to the lower station index (deterministic); nodes no station reaches (inf/NaN) get -1.
    """
    rows = np.asarray(station_rows_s, dtype=float)
    if rows.ndim != 2:
        raise ValueError(f"station rows must be 2-D (stations x nodes), got shape {rows.shape}")
    if rows.shape[0] == 0:
        return np.full(rows.shape[1], -1, dtype=np.int32)
    rows = np.where(np.isnan(rows), np.inf, rows)
    best = rows.argmin(axis=0)  # the first minimum: the lower station index wins a tie
    best[~np.isfinite(rows.min(axis=0))] = -1
    return best.astype(np.int32)


def polygon_districts(
    path: Path,
    *,
    network: RoadNetwork,
    station_names: list[str],
    station_nodes: np.ndarray,
    field: str = "station",
    fallback: np.ndarray | None = None,
    filename: str = "scenario",
) -> np.ndarray:
    """District of every node from a GeoJSON FeatureCollection of (Multi)Polygons in lon/lat (WGS84).

    Each feature names its station in ``properties[field]``; a feature without one belongs to the one
    station whose snapped node (``station_nodes``) lies inside it. A node on a polygon's border counts
    as inside; where polygons overlap, the first feature in the file wins. Nodes outside every polygon
    get ``fallback[node]`` (e.g. the :func:`voronoi_districts` array), or -1 without a fallback.
    Problems raise :class:`ScenarioError`, one ``{filename}:0: dispatch.districts: ...`` line each.
    """
    station_nodes = np.asarray(station_nodes, dtype=np.int64)
    if station_nodes.shape != (len(station_names),):
        raise ValueError(
            f"{len(station_names)} station names but station_nodes has shape {station_nodes.shape}"
        )
    if fallback is not None and np.shape(fallback) != (network.n_nodes,):
        raise ValueError(
            f"fallback must have one entry per node ({network.n_nodes}), got {np.shape(fallback)}"
        )
    prefix = f"{filename}:0: dispatch.districts: "
    try:
        features = _read_features(Path(path))
    except _Problem as exc:
        raise ScenarioError([prefix + str(exc)]) from None
    st_lon, st_lat = network.lon[station_nodes], network.lat[station_nodes]
    geoms: list = []
    owners: list[int] = []
    problems: list[str] = []
    covered = np.zeros(len(station_names), dtype=bool)
    for i, feature in enumerate(features):
        try:
            geom, name = _polygon(feature, i, field)
            inside = shapely.intersects_xy(geom, st_lon, st_lat)
            owners.append(_owner(name, inside, i, field, station_names))
        except _Problem as exc:
            problems.append(prefix + str(exc))
            continue
        covered |= inside
        geoms.append(geom)
    if problems:
        raise ScenarioError(problems)
    if not covered.any():
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        lon0, lat0, lon1, lat1 = network.bbox()
        raise ScenarioError([
            f"{prefix}districts file {path}, whose polygons cover no station, does not fit this map "
            f"(polygons: lon {x0:.4f}..{x1:.4f}, lat {y0:.4f}..{y1:.4f}; "
            f"map: lon {lon0:.4f}..{lon1:.4f}, lat {lat0:.4f}..{lat1:.4f})"
        ])  # fmt: skip
    lon, lat = network.lon, network.lat
    out = np.full(network.n_nodes, -1, dtype=np.int32)
    for geom, owner in zip(geoms, owners, strict=True):
        x0, y0, x1, y1 = geom.bounds  # vectorised test of the free nodes in the polygon's bbox only
        cand = np.flatnonzero((out < 0) & (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        shapely.prepare(geom)
        out[cand[shapely.intersects_xy(geom, lon[cand], lat[cand])]] = owner
    if fallback is not None:
        free = out < 0
        out[free] = np.asarray(fallback)[free]
    return out


def district_table(districts: np.ndarray, station_names: list[str]) -> dict[str, int]:
    """Nodes per station's district, in station order (for reports); nodes with no district are left out."""
    d = np.asarray(districts)
    counts = np.bincount(d[d >= 0], minlength=len(station_names))
    return {name: int(counts[i]) for i, name in enumerate(station_names)}


def _read_features(path: Path) -> list:
    """The features of a GeoJSON FeatureCollection, read with json (never eval/unpickle); BOM accepted."""
    if not path.exists():
        raise _Problem(f"districts file not found: {path}")
    if not path.is_file():
        raise _Problem(f"districts path is not a file: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_DISTRICTS_BYTES:
            raise _Problem(f"districts file {path} is {size / 2**20:.1f} MB; files over 20 MB are refused")
        raw = path.read_bytes()
    except OSError as exc:
        raise _Problem(f"cannot read districts file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant, object_pairs_hook=_object)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _Problem(f"districts file {path} is not UTF-8 text (bad byte on line {line})") from None
    except json.JSONDecodeError as exc:
        raise _Problem(
            f"districts file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise _Problem(f"districts file {path} is not valid GeoJSON: nested too deeply") from None
    except _Problem as exc:
        raise _Problem(f"districts file {path}: {exc}") from None
    kind = data.get("type") if isinstance(data, dict) else type(data).__name__
    if kind != "FeatureCollection":
        raise _Problem(f"districts file {path} is not GeoJSON: expected a FeatureCollection, got {kind!r}")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise _Problem(f"districts file {path} is not GeoJSON: 'features' must be a non-empty list")
    return features


def _polygon(feature: object, i: int, field: str) -> tuple:
    """(shapely geometry, station name or None) of feature ``i``, checked."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _Problem(f"feature {i} is not a GeoJSON Feature")
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in POLYGON_TYPES:
        raise _Problem(
            f"feature {i} is not a polygon (geometry type {kind!r}; allowed: Polygon, MultiPolygon)"
        )
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError):
        raise _Problem(f"feature {i}: malformed {kind} coordinates") from None
    if geom.is_empty:
        raise _Problem(f"feature {i}: empty {kind}")
    x0, y0, x1, y1 = geom.bounds
    if max(abs(x0), abs(x1)) > 180 or max(abs(y0), abs(y1)) > 90:
        raise _Problem(
            f"feature {i}: coordinates are not lon/lat degrees (GeoJSON is WGS84; reproject the file)"
        )
    if not geom.is_valid:
        raise _Problem(f"feature {i}: invalid {kind} ({shapely.is_valid_reason(geom)})")
    props = feature.get("properties") or {}
    name = props.get(field) if isinstance(props, dict) else None
    if name is not None and not isinstance(name, str):
        raise _Problem(f"feature {i}: properties.{field} must be a station name (text), got {name!r}")
    return geom, name


def _owner(name: str | None, inside: np.ndarray, i: int, field: str, station_names: list[str]) -> int:
    """Station index of feature ``i``: the one it names, else the single station lying inside it."""
    if name is not None:
        if name in station_names:
            return station_names.index(name)
        close = difflib.get_close_matches(name, station_names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; stations: {', '.join(station_names)}"
        raise _Problem(f"feature {i}: properties.{field} names unknown station {name!r}{hint}")
    found = [station_names[k] for k in np.flatnonzero(inside)]
    if len(found) != 1:
        what = "no station" if not found else f"{len(found)} stations ({', '.join(found)})"
        raise _Problem(f"feature {i} has no properties.{field} and contains {what}; name its station")
    return int(np.flatnonzero(inside)[0])


def _no_constant(token: str) -> None:
    raise _Problem(f"{token} is not valid JSON (numbers must be finite)")


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object; a key written twice is an error (json would keep only the last)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        keys = [k for k, _ in pairs]
        raise _Problem(f"key {next(k for k in keys if keys.count(k) > 1)!r} written twice in one JSON object")
    return obj
