"""Venue and ring shapes in metres: shapely polygons from lon/lat (or buffers around the venue).

Used by the scenario checks (a local azimuthal projection around the venue, before any map is loaded)
and by the layout (the walk network's own CRS), so both see the same shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import shapely
from pyproj import Transformer

ToXY = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def local_to_xy(lon: float, lat: float) -> ToXY:
    """lon/lat -> metres in an azimuthal equidistant projection centred on (lon, lat)."""
    proj = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
    fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)

    def to_xy(lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = fwd.transform(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    return to_xy


def polygon_m(points: Sequence[Sequence[float]], to_xy: ToXY) -> shapely.Polygon:
    """A polygon from ``[[lon, lat], ...]`` in metres (made valid if it self-intersects)."""
    pts = np.asarray(points, dtype=float)
    x, y = to_xy(pts[:, 0], pts[:, 1])
    poly = shapely.Polygon(np.column_stack([x, y]))
    return poly if poly.is_valid else shapely.make_valid(poly).buffer(0)


def venue_shape(venue, to_xy: ToXY) -> shapely.Geometry:
    """The venue (a schema ``Venue``): its polygon, or a circle of ``radius_m`` around its point."""
    if venue.polygon is not None:
        return polygon_m(venue.polygon, to_xy)
    x, y = to_xy(np.array([venue.lon]), np.array([venue.lat]))
    return shapely.Point(float(x[0]), float(y[0])).buffer(venue.radius_m, quad_segs=16)


def ring_shapes(rings, venue: shapely.Geometry, to_xy: ToXY) -> list[shapely.Geometry]:
    """Each ring (schema ``Ring``): its polygon, or the venue buffered by ``buffer_m``."""
    return [polygon_m(r.polygon, to_xy) if r.polygon is not None else venue.buffer(r.buffer_m, quad_segs=16)
            for r in rings]  # fmt: skip


def venue_centre(venue) -> tuple[float, float]:
    """A lon/lat point of the venue (the point, or the polygon's vertex mean) to centre projections."""
    if venue.polygon is not None:
        pts = np.asarray(venue.polygon, dtype=float)
        return float(pts[:, 0].mean()), float(pts[:, 1].mean())
    return float(venue.lon), float(venue.lat)
