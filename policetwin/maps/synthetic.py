"""A generated grid-like city for scale tests. SYNTHETIC: not a real place, never for real analysis.

About ``n_nodes`` intersections on a roughly square grid of ~120 m blocks (jittered), every 8th street
an arterial (``primary``, 50 km/h), the others ``residential`` (class fallback speed); about 15% of the
residential streets are one-way, alternating in direction; a few street segments are removed. Metric
x/y are centred on the origin of a transverse Mercator CRS at lon 0, lat 0, so lon/lat are near (0, 0)
(in the Gulf of Guinea). Deterministic for a seed.
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import Transformer

from policetwin.errors import MapError
from policetwin.maps.network import RoadNetwork, build_network

SYNTHETIC_CRS = "+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
BLOCK_M = 120.0
JITTER_M = 12.0  # standard deviation of the node position jitter
ARTERIAL_EVERY = 8
ARTERIAL_KPH = 50.0
ONEWAY_SHARE = 0.15
REMOVED_SHARE = 0.01  # share of residential street segments removed


def synthetic_city(*, n_nodes: int, seed: int = 0) -> RoadNetwork:
    """A SYNTHETIC grid city of about ``n_nodes`` nodes (ids 1..n), deterministic for ``seed``."""
    if n_nodes < 4:
        raise MapError(f"a synthetic city needs at least 4 nodes, got {n_nodes}")
    rng = np.random.default_rng(seed)
    cols = max(2, round(math.sqrt(n_nodes)))
    rows = max(2, round(n_nodes / cols))
    n = rows * cols
    node_id = np.arange(1, n + 1, dtype=np.int64)  # row-major: node (r, c) has index r*cols + c
    r_idx, c_idx = np.divmod(np.arange(n), cols)
    jitter = np.clip(rng.normal(0.0, JITTER_M, size=(2, n)), -3 * JITTER_M, 3 * JITTER_M)
    x = (c_idx - (cols - 1) / 2) * BLOCK_M + jitter[0]
    y = (r_idx - (rows - 1) / 2) * BLOCK_M + jitter[1]

    # Streets: rows (east-west) 0..rows-1, then columns (north-south) 0..cols-1.
    n_streets = rows + cols
    street_pos = np.concatenate([np.arange(rows), np.arange(cols)])
    arterial = street_pos % ARTERIAL_EVERY == 0
    residential = np.flatnonzero(~arterial)
    oneway_streets = np.sort(
        rng.choice(residential, size=round(ONEWAY_SHARE * residential.size), replace=False)
    )
    direction = np.zeros(n_streets, dtype=np.int8)  # 0 two-way, +1 along increasing index, -1 against
    direction[oneway_streets] = np.where(np.arange(oneway_streets.size) % 2 == 0, 1, -1)

    # Segments between neighbouring intersections, with the street each lies on.
    grid = np.arange(n).reshape(rows, cols)
    seg_a = np.concatenate([grid[:, :-1].ravel(), grid[:-1, :].ravel()])
    seg_b = np.concatenate([grid[:, 1:].ravel(), grid[1:, :].ravel()])
    seg_street = np.concatenate(
        [np.repeat(np.arange(rows), cols - 1), rows + np.tile(np.arange(cols), rows - 1)]
    )
    removable = np.flatnonzero(~arterial[seg_street])
    removed = rng.choice(removable, size=round(REMOVED_SHARE * removable.size), replace=False)
    keep = np.ones(seg_a.size, dtype=bool)
    keep[removed] = False
    seg_a, seg_b, seg_street = seg_a[keep], seg_b[keep], seg_street[keep]

    seg_dir = direction[seg_street]
    fwd = seg_dir >= 0
    back = seg_dir <= 0
    eu = np.concatenate([seg_a[fwd], seg_b[back]])
    ev = np.concatenate([seg_b[fwd], seg_a[back]])
    street = np.concatenate([seg_street[fwd], seg_street[back]])
    length = np.hypot(x[eu] - x[ev], y[eu] - y[ev])
    is_arterial = arterial[street]
    highway = np.where(is_arterial, "primary", "residential").astype(object)
    maxspeed = np.where(is_arterial, ARTERIAL_KPH, np.nan)

    lon, lat = Transformer.from_crs(SYNTHETIC_CRS, "EPSG:4326", always_xy=True).transform(x, y)
    network = build_network(
        name=f"synthetic-{n_nodes}",
        source=(
            f"SYNTHETIC grid city ({rows}x{cols} intersections, ~{BLOCK_M:.0f} m blocks, seed {seed}): "
            "generated for scale tests, not a real place"
        ),
        node_id=node_id,
        lon=np.asarray(lon, dtype=float),
        lat=np.asarray(lat, dtype=float),
        edge_u_id=node_id[eu],
        edge_v_id=node_id[ev],
        length_m=length,
        highway=highway,
        maxspeed_kph=maxspeed,
        synthetic=True,
        xy=(x, y, SYNTHETIC_CRS),
    )
    network.stats.update({"seed": int(seed), "grid": [int(rows), int(cols)]})
    return network
