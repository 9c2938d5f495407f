"""GIS layers of a run directory, for QGIS/ArcGIS: GeoPackage (one file, several layers) or GeoJSON (a
folder, one ``LAYER.geojson`` per layer, since a GeoJSON file holds one layer). All layers are WGS84.

Layers (empty ones are left out and listed in the notes):

- ``incidents``: points with every column of ``incidents.parquet`` (stage times ``t_*`` in seconds from the
  run's start) and ``response_s`` (arrival minus call);
- ``trips``: unit movements as lines through their route's road nodes (``trips.parquet`` + ``nodes.parquet``);
- ``stations`` and ``posts``: points from the resolved ``scenario.yaml``;
- ``districts``: the stations' districts (``nodes.parquet``'s ``district``) as polygons: Voronoi cells of the
  road nodes merged per district, clipped to the road network's hull;
- ``coverage``: the area within half the most urgent target and within it from the stations and posts
  (:func:`~policetwin.sim.coverage.coverage_area`; needs the run's map, which is loaded again).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policetwin.errors import PoliceTwinError

FORMATS = ("gpkg", "geojson")
CRS = "EPSG:4326"


class ExportError(PoliceTwinError, ValueError):
    """The run directory or the output cannot be used (exit 2)."""


@dataclass
class Export:
    """The layers built from a run (name -> GeoDataFrame) and notes on what was left out."""

    layers: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read(run_dir: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(run_dir / name)
    except Exception as exc:  # pyarrow raises several kinds for corrupt files
        raise ExportError(f"{run_dir}: cannot read {name}: {type(exc).__name__}: {exc}") from None


def check_run_dir(run_dir: Path) -> Path:
    """The run directory, or ExportError saying what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: not a directory; give a run directory (written by policetwin run)")
    missing = [
        f for f in ("summary.json", "incidents.parquet", "nodes.parquet") if not (run_dir / f).is_file()
    ]
    if missing:
        raise ExportError(f"{run_dir}: not a run directory (missing {', '.join(missing)})")
    return run_dir


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns GDAL writes: strings as object, nullable integers as floats."""
    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        elif pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_integer_dtype(dtype):
            out[col] = out[col].astype("float64")
    return out


def incidents_layer(run_dir: Path):
    """Incident points with their stage times and response."""
    import geopandas as gpd

    inc = _plain(_read(run_dir, "incidents.parquet"))
    if "t_arrive" in inc and "t_call" in inc:
        inc["response_s"] = inc["t_arrive"] - inc["t_call"]
    return gpd.GeoDataFrame(inc, geometry=gpd.points_from_xy(inc["lon"], inc["lat"]), crs=CRS)


def trips_layer(run_dir: Path, nodes: pd.DataFrame):
    """Unit trips as lines through their route nodes (a trip that stays put: a zero-length line)."""
    import geopandas as gpd
    import shapely

    trips = _read(run_dir, "trips.parquet")
    index = pd.Index(nodes["node"].to_numpy())
    lonlat = nodes[["lon", "lat"]].to_numpy(float)
    routes = trips["route"].tolist()
    lengths = np.array([len(r) for r in routes], dtype=np.int64)
    flat = np.concatenate(routes).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    pos = index.get_indexer(flat)
    if (pos < 0).any():
        raise ExportError(
            f"{run_dir}: trips.parquet names {int((pos < 0).sum())} road nodes missing from nodes.parquet"
        )
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    keep = lengths > 0
    # a line needs two points: a trip that stays put repeats its only node
    take = [
        np.arange(s, s + n) if n > 1 else np.array([s, s])
        for s, n in zip(starts[keep], lengths[keep], strict=True)
    ]
    counts = np.array([t.size for t in take], dtype=np.int64)
    geoms = (shapely.linestrings(lonlat[pos[np.concatenate(take)]], indices=np.repeat(np.arange(counts.size), counts))
             if take else [])  # fmt: skip
    cols = [c for c in trips.columns if c not in ("route", "route_t")]
    frame = _plain(trips[cols]).assign(n_nodes=lengths)
    return gpd.GeoDataFrame(frame[keep].reset_index(drop=True), geometry=list(geoms), crs=CRS)


def _scenario(run_dir: Path) -> dict:
    import yaml

    path = run_dir / "scenario.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ExportError(f"{run_dir}: cannot read scenario.yaml: {exc}") from None
    return data if isinstance(data, dict) else {}


def places_layers(scenario: dict):
    """(stations, posts) point layers from the resolved scenario."""
    import geopandas as gpd

    stations = [{"name": str(s.get("name")), "lon": float(s["lon"]), "lat": float(s["lat"])}
                for s in scenario.get("stations") or [] if isinstance(s, dict)]  # fmt: skip
    posts = []
    for g in (scenario.get("units") or {}).get("groups") or []:
        for j, p in enumerate(g.get("posts") or []):
            posts.append({"group": str(g.get("name")), "post": j + 1, "station": g.get("station"),
                          "lon": float(p["lon"]), "lat": float(p["lat"])})  # fmt: skip

    def points(rows: list[dict]):
        frame = pd.DataFrame(rows)
        if frame.empty:
            return None
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=CRS)

    return points(stations), points(posts)


def districts_layer(nodes: pd.DataFrame):
    """District polygons: Voronoi cells of the road nodes (in a metric CRS) merged per district."""
    import geopandas as gpd
    import shapely

    pts = gpd.GeoSeries(gpd.points_from_xy(nodes["lon"], nodes["lat"]), crs=CRS)
    metric = pts.estimate_utm_crs()
    xy = pts.to_crs(metric)
    points = shapely.get_coordinates(xy.values)
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(points)), 100.0)
    cells = np.asarray(
        shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=hull))
    )
    cells = shapely.intersection(cells, hull)
    # each cell takes the district of the node inside it (robust to GEOS merging duplicate points)
    node_i, cell_i = shapely.STRtree(cells).query(xy.values, predicate="intersects")
    names = nodes["district"].astype(object).fillna("").to_numpy()
    district = np.full(cells.size, "", dtype=object)
    district[cell_i] = names[node_i]
    rows = []
    for name in sorted(set(district.tolist()) - {""}):
        mine = cells[district == name]
        area = shapely.coverage_union_all(mine)
        rows.append({"district": name, "nodes": int(mine.size), "area_km2": round(area.area / 1e6, 3),
                     "geometry": area})  # fmt: skip
    if not rows:
        return None
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=metric).to_crs(CRS)


def coverage_layer(run_dir: Path, scenario: dict, stations, posts):
    """Reach polygons from the stations and posts within the most urgent target (needs the map)."""
    from policetwin.maps import Router, Snapper, load_map
    from policetwin.sim.coverage import coverage_area, coverage_times

    network = load_map(str(scenario["map"]), base_dir=run_dir)
    travel = scenario.get("travel") or {}
    edge_s = network.travel_times_s(overrides_kph=travel.get("speeds_kph") or None,
                                    speed_factor=float(travel.get("speed_factor", 1.0)))  # fmt: skip
    places = pd.concat([p[["lon", "lat"]] for p in (stations, posts) if p is not None])
    nodes, _ = Snapper(network).nearest(places["lon"].to_numpy(), places["lat"].to_numpy())
    router = Router(network.n_nodes, network.edge_u, network.edge_v, edge_s, dense_max_bytes=0)
    from policetwin.durations import parse_duration

    targets = [parse_duration(k["target"]) if isinstance(k.get("target"), str) else float(k["target"])
               for k in (scenario.get("demand") or {}).get("kinds") or []]  # fmt: skip
    standard_s = min(targets) if targets else 600.0
    times = coverage_times(network, sources=nodes, router=router)
    return coverage_area(network, times, standard_s=standard_s)


def build_export(run_dir: Path) -> Export:
    """Every layer of a run directory (see the module docstring)."""
    run_dir = check_run_dir(run_dir)
    result = Export()
    nodes = _read(run_dir, "nodes.parquet")
    result.layers["incidents"] = incidents_layer(run_dir)
    if (run_dir / "trips.parquet").is_file():
        result.layers["trips"] = trips_layer(run_dir, nodes)
    else:
        result.notes.append("no trips.parquet (outputs.trips was false): no trips layer")
    scenario = _scenario(run_dir)
    stations, posts = places_layers(scenario)
    for name, layer in (("stations", stations), ("posts", posts), ("districts", districts_layer(nodes))):
        if layer is None:
            result.notes.append(f"no {name} in this run: no {name} layer")
        else:
            result.layers[name] = layer
    if (
        stations is not None
        and scenario.get("map")
        and (scenario.get("travel") or {}).get("mode") != "instant"
    ):
        from policetwin.errors import MapError

        try:
            result.layers["coverage"] = coverage_layer(run_dir, scenario, stations, posts)
        except MapError as exc:
            result.notes.append(f"coverage layer left out: the run's map cannot be loaded ({exc})")
    return result


def default_out(run_dir: Path, fmt: str) -> Path:
    """Beside the run directory (never inside it, which holds only the run's own files):
    ``runs/x.gpkg`` or the folder ``runs/x-geojson/``."""
    run_dir = Path(run_dir).absolute()
    return run_dir.with_name(f"{run_dir.name}.gpkg" if fmt == "gpkg" else f"{run_dir.name}-geojson")


def write_export(export: Export, out: Path, *, fmt: str, overwrite: bool = False) -> list[Path]:
    """Write the layers atomically (a temporary file or folder beside ``out``, then renamed); an existing
    output is replaced only with ``overwrite`` (in a folder, only the layer files are replaced)."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: use gpkg or geojson")
    out = Path(out).absolute()
    if out.exists() and not overwrite:
        raise ExportError(f"--out {out}: exists; add --overwrite to replace it")
    if fmt == "gpkg" and out.is_dir():
        raise ExportError(f"--out {out}: is a directory; give a .gpkg file name")
    if fmt == "geojson" and out.exists() and not out.is_dir():
        raise ExportError(
            f"--out {out}: GeoJSON export writes a folder (one file per layer); give a folder name"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.tmp-", dir=out.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        if fmt == "gpkg":
            file = tmp / out.name
            for name, layer in export.layers.items():
                layer.to_file(file, driver="GPKG", layer=name, engine="pyogrio")
            os.chmod(file, 0o644)
            os.replace(file, out)
            return [out]
        written = []
        for name, layer in export.layers.items():
            layer.to_file(tmp / f"{name}.geojson", driver="GeoJSON", engine="pyogrio",
                          layer_options={"COORDINATE_PRECISION": 6})  # fmt: skip
        if not out.exists():
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)  # the temporary folder becomes the output
            tmp.mkdir()  # for TemporaryDirectory's clean-up
            return sorted(out.iterdir())
        for file in sorted(tmp.iterdir()):
            os.replace(file, out / file.name)
            written.append(out / file.name)
        return written


def layer_rows(export: Export) -> dict[str, int]:
    """Rows per layer, for the command's printout."""
    return {name: len(layer) for name, layer in export.layers.items()}
