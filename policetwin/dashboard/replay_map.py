"""The static map geometry of a replay: roads (compact polylines for the browser), districts,
stations, posts, hotspots and the map's extent, from a run directory's Parquet and JSON files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from policetwin.dashboard.rundata import RunData

#: Degrees per integer unit of the road coordinates sent to the browser (~1 m).
COORD_SCALE = 1e-5
_MAJOR = {
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
}


def node_table(run: RunData) -> pd.DataFrame | None:
    """``nodes.parquet`` indexed by node id (None if the run has none)."""
    if not run.has("nodes.parquet"):
        return None

    def load() -> pd.DataFrame:
        nodes = run.table("nodes.parquet", cache=False)
        return nodes.drop_duplicates("node").set_index("node")

    return run.memo("nodes", load)


def stations(run: RunData) -> list[tuple[str, float, float]]:
    """(name, lon, lat) of the scenario's stations."""
    out = []
    for st in run.scenario.get("stations") or []:
        if isinstance(st, dict) and _finite(st.get("lon")) and _finite(st.get("lat")):
            out.append((str(st.get("name", "")), float(st["lon"]), float(st["lat"])))
    return out


def posts(run: RunData) -> list[tuple[str, float, float]]:
    """(group name, lon, lat) of the posts of every unit group."""
    out = []
    groups = (run.scenario.get("units") or {}).get("groups") or []
    for g in groups if isinstance(groups, list) else []:
        for p in (g.get("posts") or []) if isinstance(g, dict) else []:
            if isinstance(p, dict) and _finite(p.get("lon")) and _finite(p.get("lat")):
                out.append((str(g.get("name", "")), float(p["lon"]), float(p["lat"])))
    return out


def hotspots(run: RunData) -> list[tuple[float, float, float]]:
    """(lon, lat, radius_m) of the demand hotspots."""
    out = []
    for h in (run.scenario.get("demand") or {}).get("hotspots") or []:
        if isinstance(h, dict) and _finite(h.get("lon")) and _finite(h.get("lat")):
            out.append((float(h["lon"]), float(h["lat"]), float(h.get("radius_m") or 500.0)))
    return out


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def bbox(run: RunData) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of the map (summary), else of the nodes or the incidents."""
    box = (run.summary.get("map") or {}).get("bbox")
    if isinstance(box, list) and len(box) == 4 and all(_finite(v) for v in box):
        return tuple(float(v) for v in box)  # type: ignore[return-value]
    nodes = node_table(run)
    if nodes is not None and len(nodes):
        return (nodes.lon.min(), nodes.lat.min(), nodes.lon.max(), nodes.lat.max())
    pts = [(lon, lat) for _, lon, lat in stations(run)]
    if run.has("incidents.parquet"):
        inc = incident_frame(run)
        pts += list(zip(inc.lon.head(5000), inc.lat.head(5000), strict=True))
    if not pts:
        return (-0.01, -0.01, 0.01, 0.01)
    lons, lats = zip(*pts, strict=True)
    return (min(lons), min(lats), max(lons), max(lats))


def road_lines(run: RunData) -> dict:
    """The street network in a compact form for the browser, sent once per run: per class (``major``,
    ``minor``) the polylines (chains of segments through nodes of degree 2, each segment once) as ``n``
    (points per polyline) and ``d`` (integer coordinates in units of ``scale`` degrees, ~1 m, each point
    given as its difference from the previous one: ``x += d[2i]``, ``y += d[2i+1]``). Empty without
    ``roads.parquet`` and ``nodes.parquet``."""

    def load() -> dict:
        out: dict = {"scale": COORD_SCALE, "major": {"n": [], "d": []}, "minor": {"n": [], "d": []}}
        nodes = node_table(run)
        if nodes is None or not run.has("roads.parquet"):
            return out
        roads = run.table("roads.parquet", cache=False)
        iu, iv = nodes.index.get_indexer(roads.u), nodes.index.get_indexer(roads.v)
        highway = roads["highway"].astype(str).to_numpy() if "highway" in roads else np.full(len(roads), "")
        ok = (iu >= 0) & (iv >= 0) & (iu != iv)
        lo, hi = np.minimum(iu, iv), np.maximum(iu, iv)
        _, first = np.unique(lo[ok] * len(nodes) + hi[ok], return_index=True)  # one segment per node pair
        keep = np.flatnonzero(ok)[first]
        major = np.isin(highway[keep], list(_MAJOR))
        x = np.round(nodes.lon.to_numpy(float) / COORD_SCALE).astype(np.int64)
        y = np.round(nodes.lat.to_numpy(float) / COORD_SCALE).astype(np.int64)
        for name, mask in (("major", major), ("minor", ~major)):
            lines = polylines(lo[keep][mask], hi[keep][mask])
            idx = np.fromiter((i for line in lines for i in line), dtype=np.int64)
            d = np.empty(2 * len(idx), np.int64)
            d[0::2], d[1::2] = np.diff(x[idx], prepend=0), np.diff(y[idx], prepend=0)
            out[name] = {"n": [len(line) for line in lines], "d": d.tolist()}
        return out

    return run.memo("road_lines", load)


def polylines(a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    """The undirected segments ``a[i]-b[i]`` joined into chains through nodes of degree 2 (each segment in
    exactly one chain; a ring without such an end becomes one closed chain)."""
    ends = (a.tolist(), b.tolist())
    touching: dict[int, list[int]] = {}
    for i, (p, q) in enumerate(zip(*ends, strict=True)):
        touching.setdefault(p, []).append(i)
        touching.setdefault(q, []).append(i)
    used = bytearray(len(ends[0]))
    lines = []
    for start in sorted(touching, key=lambda n: len(touching[n]) == 2):  # chain ends first, then rings
        for seg in touching[start]:
            if used[seg]:
                continue
            line, node = [start], start
            while True:
                used[seg] = 1
                node = ends[1][seg] if ends[0][seg] == node else ends[0][seg]
                line.append(node)
                free = [e for e in touching[node] if not used[e]]
                if len(touching[node]) != 2 or not free:
                    break
                seg = free[0]
            lines.append(line)
    return lines


def district_segments(run: RunData) -> dict[str, list]:
    """Road segments whose two ends lie in the same district, per district name (empty without data)."""

    def load() -> dict[str, list]:
        nodes = node_table(run)
        if nodes is None or "district" not in nodes or not run.has("roads.parquet"):
            return {}
        roads = run.table("roads.parquet", columns=["u", "v"], cache=False)
        iu, iv = nodes.index.get_indexer(roads.u), nodes.index.get_indexer(roads.v)
        ok = (iu >= 0) & (iv >= 0)
        iu, iv = iu[ok], iv[ok]
        district = nodes["district"].fillna("").astype(str).to_numpy()
        same = (district[iu] == district[iv]) & (district[iu] != "")
        lon, lat = np.round(nodes.lon.to_numpy(), 5), np.round(nodes.lat.to_numpy(), 5)
        out = {}
        for name in sorted(set(district[iu[same]])):
            sel = same & (district[iu] == name)
            a, b = iu[sel], iv[sel]
            out[name] = np.stack([np.stack([lon[a], lat[a]], 1), np.stack([lon[b], lat[b]], 1)], 1).tolist()
        return out

    return run.memo("districts", load)


def geojson_lines(segments: list) -> dict:
    """A GeoJSON FeatureCollection of one MultiLineString."""
    geometry = {"type": "MultiLineString", "coordinates": segments}
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": geometry}],
    }


def incident_frame(run: RunData) -> pd.DataFrame:
    """The incident columns the map needs, sorted by call time (one cached copy per run)."""

    def load() -> pd.DataFrame:
        cols = ["incident_id", "priority", "t_call", "t_clear", "lon", "lat", "kind"]
        inc = run.table("incidents.parquet", columns=cols, cache=False)
        if "kind" not in inc:
            inc["kind"] = ""
        inc["kind"] = inc["kind"].astype(str).astype("category")
        return inc.sort_values("t_call", kind="stable").reset_index(drop=True)

    return run.memo("incident_frame", load)
