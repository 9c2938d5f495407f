"""Coverage maps: the streets reachable within a response standard from the places units wait.

One multi-source Dijkstra on the forward graph gives, for every node, the fastest time FROM the
nearest station or post (travel runs from the post to the call, so one-way streets count). Nodes and
segments are then banded by half the standard (green / amber / grey), exported as a GIS layer
(GeoJSON or GeoPackage, WGS84) and drawn as a plain lon/lat plotly map like the report's
:func:`~policetwin.sim.report_figures.map_figure` (no tiles, no WebGL map).
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import plotly.graph_objects as go
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from policetwin.errors import PoliceTwinError
from policetwin.maps import RoadNetwork, Router
from policetwin.sim.report_figures import MINOR_HIGHWAYS, TEMPLATE, _with_gaps

BAND_COLOURS = ("#2ca02c", "#ff9f1c", "#b0b0b0")  # within half the standard, within it, beyond
DRIVERS = {".geojson": "GeoJSON", ".gpkg": "GPKG"}


def coverage_times(
    network: RoadNetwork,
    *,
    sources: np.ndarray,
    router: Router | None = None,
    travel_times_s: np.ndarray | None = None,
) -> np.ndarray:
    """Seconds from the nearest of ``sources`` (node indices) to every node; ``inf`` if unreachable.

    Uses ``router``'s graph when given (the run's speeds), else ``travel_times_s`` per edge, else the
    network's free-flow times. One Dijkstra call, whatever the number of sources."""
    src = np.unique(np.asarray(sources, dtype=np.int64).ravel())
    if src.size == 0:
        raise PoliceTwinError("coverage needs at least one source node (a station or post)")
    if src[0] < 0 or src[-1] >= network.n_nodes:
        raise PoliceTwinError(f"coverage source node index out of range 0..{network.n_nodes - 1}")
    if router is not None and travel_times_s is not None:
        raise PoliceTwinError("coverage_times takes a router or travel_times_s, not both")
    if router is None:
        edge_s = network.travel_times_s() if travel_times_s is None else np.asarray(travel_times_s, float)
        router = Router(network.n_nodes, network.edge_u, network.edge_v, edge_s, dense_max_bytes=0)
    return np.asarray(dijkstra(router.forward, directed=True, indices=src, min_only=True), dtype=float)


def coverage_share(times_s: np.ndarray, *, standard_s: float, weights: np.ndarray | None = None) -> float:
    """Share of nodes (or of demand ``weights`` per node) reached within ``standard_s``."""
    times_s = np.asarray(times_s, dtype=float)
    covered = times_s <= standard_s
    if weights is None:
        return float(covered.mean()) if covered.size else 0.0
    weights = np.asarray(weights, dtype=float)
    if weights.shape != times_s.shape:
        raise PoliceTwinError(f"coverage weights have shape {weights.shape}, times {times_s.shape}")
    total = float(weights.sum())
    return float(weights[covered].sum() / total) if total > 0 else 0.0


def band_labels(standard_s: float) -> tuple[str, str, str]:
    """Labels of the three bands, e.g. ``("0-4 min", "4-8 min", "8 min+")`` for an 8-minute standard."""
    half, full = f"{round(standard_s / 120.0, 1):g}", f"{round(standard_s / 60.0, 1):g}"
    return f"0-{half} min", f"{half}-{full} min", f"{full} min+"


def _segments(network: RoadNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(end a, end b, first directed edge) of each undirected street segment, in edge order."""
    u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
    a, b = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(a * network.n_nodes + b, return_index=True)
    first = np.sort(first)
    return a[first], b[first], first


def _band(times_s: np.ndarray, standard_s: float) -> np.ndarray:
    return np.where(times_s <= standard_s / 2.0, 0, np.where(times_s <= standard_s, 1, 2))


def coverage_edges(network: RoadNetwork, times_s: np.ndarray, *, standard_s: float) -> gpd.GeoDataFrame:
    """One row per street segment (EPSG:4326 LineStrings) with ``time_s`` (its later end), ``covered``
    (both ends within the standard) and ``band`` (half-standard bands), ready for QGIS."""
    times_s = np.asarray(times_s, dtype=float)
    a, b, first = _segments(network)
    seg_s = np.maximum(times_s[a], times_s[b])
    coords = np.stack([np.column_stack([network.lon[a], network.lat[a]]),
                       np.column_stack([network.lon[b], network.lat[b]])], axis=1)  # fmt: skip
    labels = np.array(band_labels(standard_s), dtype=object)
    return gpd.GeoDataFrame(
        {
            "u": network.node_id[a],
            "v": network.node_id[b],
            "highway": network.highway[first].astype(str),
            "length_m": network.length_m[first].round(1),
            "time_s": np.where(np.isfinite(seg_s), seg_s.round(1), np.nan),
            "covered": seg_s <= standard_s,
            "band": labels[_band(seg_s, standard_s)],
        },
        geometry=shapely.linestrings(coords),
        crs="EPSG:4326",
    )


def coverage_area(
    network: RoadNetwork, times_s: np.ndarray, *, standard_s: float, buffer_m: float = 50.0
) -> gpd.GeoDataFrame:
    """Isochrone polygons (EPSG:4326): the covered segments buffered by ``buffer_m`` in the metric CRS and
    merged, one row per reach (within half the standard, within the standard) with its area in km²."""
    times_s = np.asarray(times_s, dtype=float)
    a, b, _ = _segments(network)
    seg_s = np.maximum(times_s[a], times_s[b])
    coords = np.stack([np.column_stack([network.x[a], network.y[a]]),
                       np.column_stack([network.x[b], network.y[b]])], axis=1)  # fmt: skip
    buffers = shapely.buffer(shapely.linestrings(coords), buffer_m, quad_segs=2)
    to_wgs84 = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)

    def lonlat(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))

    rows, area, done = [], shapely.Polygon(), np.zeros(seg_s.size, dtype=bool)
    for label, limit_s in zip(band_labels(standard_s)[:2], (standard_s / 2.0, standard_s), strict=True):
        new = (seg_s <= limit_s) & ~done  # the wider reach adds to the narrower one (cheaper union)
        area, done = shapely.union_all(np.append(buffers[new], area)), done | new
        rows.append({"reach": f"0-{label.split('-')[1]}", "max_time_s": float(limit_s),
                     "area_km2": round(area.area / 1e6, 3),
                     "geometry": shapely.transform(area, lonlat)})  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def write_coverage(layers: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame], path: str | Path) -> None:
    """Write a layer (or ``{name: layer}``; GeoPackage only) to ``.geojson`` or ``.gpkg``, atomically:
    into a temporary folder beside ``path``, then renamed over it (a crash never leaves half a file)."""
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise PoliceTwinError(
            f"cannot write coverage to {str(path)!r}: unknown extension {path.suffix or '(none)'!r}; "
            "use .geojson (GeoJSON) or .gpkg (GeoPackage)"
        )
    if isinstance(layers, gpd.GeoDataFrame):
        layers = {"coverage": layers}
    if driver == "GeoJSON" and len(layers) != 1:
        raise PoliceTwinError(f"{str(path)!r}: a GeoJSON file holds one layer; use .gpkg for {len(layers)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.tmp-", dir=path.parent) as tmp_dir:
        tmp = Path(tmp_dir) / path.name
        for name, gdf in layers.items():
            options = {"COORDINATE_PRECISION": 6} if driver == "GeoJSON" else {}  # ~0.1 m, smaller files
            gdf.to_file(tmp, driver=driver, layer=name, engine="pyogrio", layer_options=options)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


def _thin(network: RoadNetwork, first: np.ndarray, max_segments: int) -> tuple[np.ndarray, str]:
    """Positions of the segments to draw (as ``network_segments``: main roads, then an even stride)."""
    keep = np.arange(first.size)
    if first.size <= max_segments:
        return keep, f"all {first.size:,} street segments"
    major = keep[~np.isin(network.highway[first].astype(str), list(MINOR_HIGHWAYS))]
    if 0 < major.size <= max_segments:
        return major, f"{major.size:,} of {first.size:,} street segments (main roads only)"
    pool = major if major.size else keep
    keep = pool[np.unique(np.linspace(0, pool.size - 1, max_segments).round().astype(np.int64))]
    return keep, f"{keep.size:,} of {first.size:,} street segments (deterministic subsample)"


def coverage_figure(
    network: RoadNetwork,
    times_s: np.ndarray,
    *,
    standard_s: float,
    sources_lonlat: Sequence[tuple[float, float]] | np.ndarray,
    source_names: Sequence[str] | None = None,
    weights: np.ndarray | None = None,
    max_segments: int = 40_000,
) -> go.Figure:
    """Streets coloured by band (one trace each), the sources as markers, the covered share in the title.

    A plain SVG lon/lat plot with an equal metric scale, like the report's map (works from file://).
    ``weights`` (demand per node) makes the title's share a share of demand instead of road nodes."""
    times_s = np.asarray(times_s, dtype=float)
    a, b, first = _segments(network)
    keep, note = _thin(network, first, max_segments)
    a, b = a[keep], b[keep]
    band = _band(np.maximum(times_s[a], times_s[b]), standard_s)
    fig = go.Figure()
    for k, (label, colour) in enumerate(zip(band_labels(standard_s), BAND_COLOURS, strict=True)):
        sel = band == k
        xs, ys = np.full(3 * int(sel.sum()), np.nan), np.full(3 * int(sel.sum()), np.nan)
        xs[0::3], xs[1::3] = network.lon[a[sel]], network.lon[b[sel]]
        ys[0::3], ys[1::3] = network.lat[a[sel]], network.lat[b[sel]]
        line = {"color": colour, "width": 1.0 if k == 2 else 1.5}
        trace = go.Scatter(
            x=_with_gaps(xs), y=_with_gaps(ys), mode="lines", name=label, hoverinfo="skip", line=line
        )
        fig.add_trace(trace)
    src = np.asarray(sources_lonlat, dtype=float).reshape(-1, 2)
    names = [html.escape(str(s)) for s in source_names] if source_names is not None else None
    fig.add_trace(go.Scatter(x=src[:, 0].round(5), y=src[:, 1].round(5), mode="markers", text=names,
                             name="stations/posts", hoverinfo="text" if names else "x+y",
                             marker={"size": 14, "color": "#08306b", "opacity": 0.9}))  # fmt: skip
    share = coverage_share(times_s, standard_s=standard_s, weights=weights)
    of = "of demand" if weights is not None else "of road nodes"
    title = (
        f"Coverage: {share:.1%} {of} reached within {standard_s / 60.0:g} min<br>"
        f"<sup>{html.escape(note)}; time from the nearest station/post</sup>"
    )
    mid_lat = float(np.nanmedian(network.lat)) if network.n_nodes else 0.0
    fig.update_layout(
        template=TEMPLATE,
        height=750,
        margin={"l": 40, "r": 0, "t": 60, "b": 30},
        title=title,
        xaxis={"title": "longitude", "showgrid": False, "zeroline": False},
        yaxis={"title": "latitude", "showgrid": False, "zeroline": False, "scaleanchor": "x",
               "scaleratio": 1.0 / max(np.cos(np.radians(mid_lat)), 0.05)},
        legend={"bgcolor": "rgba(255,255,255,0.8)"},
        plot_bgcolor="white",
    )  # fmt: skip
    return fig
