"""The road network as flat numpy arrays: nodes (OSM ids, lon/lat, metric x/y) and directed edges.

Every loader (bundled city, OSM file, GraphML, osmnx place, synthetic) ends in :func:`build_network`,
which keeps the largest strongly connected component and projects to a metric (UTM) CRS, so the
rest of the engine never sees a graph library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from policetwin.errors import MapError
from policetwin.maps.speeds import edge_speeds_kph


@dataclass(frozen=True, kw_only=True, eq=False)
class RoadNetwork:
    """A directed road network; node arrays are indexed 0..n-1, edges refer to those indices."""

    name: str
    source: str
    node_id: np.ndarray  # int64, OSM node ids (or synthetic ids)
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray  # metres in ``crs``
    y: np.ndarray
    crs: str
    edge_u: np.ndarray  # int32 index of the tail node
    edge_v: np.ndarray  # int32 index of the head node
    length_m: np.ndarray
    highway: np.ndarray  # object array of OSM highway classes
    maxspeed_kph: np.ndarray  # NaN where not tagged
    synthetic: bool = False
    stats: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.node_id.size)

    @property
    def n_edges(self) -> int:
        return int(self.edge_u.size)

    def speeds_kph(self, *, overrides_kph: dict | None = None, speed_factor: float = 1.0) -> np.ndarray:
        """Car speed per edge (maxspeed, class fallbacks, overrides, factor)."""
        return edge_speeds_kph(
            self.highway, self.maxspeed_kph, overrides_kph=overrides_kph, speed_factor=speed_factor
        )

    def travel_times_s(self, *, overrides_kph: dict | None = None, speed_factor: float = 1.0) -> np.ndarray:
        """Free-flow travel time per edge in seconds."""
        speeds = self.speeds_kph(overrides_kph=overrides_kph, speed_factor=speed_factor)
        return self.length_m / (speeds / 3.6)

    def bbox(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat)."""
        return (float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max()))

    def street_km(self) -> float:
        """Street length in km, counting each two-way street once."""
        u, v = self.edge_u.astype(np.int64), self.edge_v.astype(np.int64)
        key = np.minimum(u, v) * self.n_nodes + np.maximum(u, v)
        _, first = np.unique(key, return_index=True)
        return float(self.length_m[first].sum() / 1000.0)

    def info(self) -> dict:
        """Summary figures for ``policetwin maps info`` and reports."""
        lon0, lat0, lon1, lat1 = self.bbox()
        return {
            "name": self.name,
            "source": self.source,
            "synthetic": self.synthetic,
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "street_km": round(self.street_km(), 1),
            "bbox": [round(lon0, 5), round(lat0, 5), round(lon1, 5), round(lat1, 5)],
            "crs": self.crs,
            **self.stats,
        }


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The UTM zone CRS that contains (lon, lat)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return CRS.from_epsg(epsg)


def build_network(
    *,
    name: str,
    source: str,
    node_id: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    edge_u_id: np.ndarray,
    edge_v_id: np.ndarray,
    length_m: np.ndarray,
    highway: np.ndarray,
    maxspeed_kph: np.ndarray | None = None,
    synthetic: bool = False,
    xy: tuple[np.ndarray, np.ndarray, str] | None = None,
) -> RoadNetwork:
    """Assemble a :class:`RoadNetwork` from node and directed-edge tables keyed by node id.

    Drops edges whose nodes are missing and self-loops, keeps the largest strongly connected
    component (so every node can reach every other) and projects to UTM unless ``xy`` is given.
    """
    node_id = np.asarray(node_id, dtype=np.int64)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    n_edges_in = len(edge_u_id)
    if node_id.size == 0 or n_edges_in == 0:
        raise MapError(f"{source}: no drivable roads found (0 nodes or 0 edges)")
    order = np.argsort(node_id)
    sorted_ids = node_id[order]
    eu = np.asarray(edge_u_id, dtype=np.int64)
    ev = np.asarray(edge_v_id, dtype=np.int64)
    pu = np.clip(np.searchsorted(sorted_ids, eu), 0, sorted_ids.size - 1)
    pv = np.clip(np.searchsorted(sorted_ids, ev), 0, sorted_ids.size - 1)
    ok = (sorted_ids[pu] == eu) & (sorted_ids[pv] == ev)
    u_idx, v_idx = order[pu], order[pv]
    length_m = np.asarray(length_m, dtype=float)
    ok &= (u_idx != v_idx) & np.isfinite(length_m) & (length_m >= 0)
    dropped_missing = int(n_edges_in - ok.sum())
    u_idx, v_idx, length_m = u_idx[ok], v_idx[ok], length_m[ok]
    highway = np.asarray(highway, dtype=object)[ok]
    maxspeed = (
        np.full(u_idx.size, np.nan) if maxspeed_kph is None else np.asarray(maxspeed_kph, dtype=float)[ok]
    )
    if u_idx.size == 0:
        raise MapError(f"{source}: no usable road edges (all {n_edges_in} refer to missing nodes)")

    n = node_id.size
    adj = coo_matrix((np.ones(u_idx.size), (u_idx, v_idx)), shape=(n, n)).tocsr()
    _, labels = connected_components(adj, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    keep_node = labels == biggest
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    keep_edge = keep_node[u_idx] & keep_node[v_idx]
    if keep_node.sum() < 2:
        raise MapError(f"{source}: the road network has no strongly connected part with 2+ nodes")

    lon_k, lat_k = lon[keep_node], lat[keep_node]
    if xy is not None:
        x_all, y_all, crs_name = xy
        x, y = np.asarray(x_all, dtype=float)[keep_node], np.asarray(y_all, dtype=float)[keep_node]
    else:
        crs = utm_crs_for(float(np.median(lon_k)), float(np.median(lat_k)))
        to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = to_metric.transform(lon_k, lat_k)
        crs_name = crs.to_string()
    stats = {
        "nodes_read": int(n),
        "edges_read": int(n_edges_in),
        "edges_dropped_missing_nodes_or_loops": dropped_missing,
        "nodes_dropped_not_strongly_connected": int(n - keep_node.sum()),
    }
    return RoadNetwork(
        name=name,
        source=source,
        node_id=node_id[keep_node],
        lon=lon_k,
        lat=lat_k,
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        crs=crs_name,
        edge_u=new_index[u_idx[keep_edge]].astype(np.int32),
        edge_v=new_index[v_idx[keep_edge]].astype(np.int32),
        length_m=length_m[keep_edge],
        highway=highway[keep_edge],
        maxspeed_kph=maxspeed[keep_edge],
        synthetic=synthetic,
        stats=stats,
    )
