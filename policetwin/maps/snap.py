"""Snap lon/lat points to the nearest network node (KD-tree on projected coordinates)."""

from __future__ import annotations

import numpy as np
from pyproj import Transformer
from scipy.spatial import cKDTree

from policetwin.maps.network import RoadNetwork


class Snapper:
    """Nearest-node lookup for a network; distances in metres."""

    def __init__(self, network: RoadNetwork) -> None:
        self.network = network
        self._tree = cKDTree(np.column_stack([network.x, network.y]))
        self._to_metric = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project lon/lat to the network's metric CRS."""
        x, y = self._to_metric.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(node indices, distance in m) of the nearest node to each point."""
        x, y = self.to_xy(np.atleast_1d(lon), np.atleast_1d(lat))
        dist, idx = self._tree.query(np.column_stack([x, y]))
        return idx.astype(np.int64), dist

    def within(self, lon: float, lat: float, radius_m: float) -> np.ndarray:
        """Indices of nodes within ``radius_m`` of a point."""
        x, y = self.to_xy(np.array([lon]), np.array([lat]))
        return np.asarray(self._tree.query_ball_point([x[0], y[0]], r=radius_m), dtype=np.int64)
