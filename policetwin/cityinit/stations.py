"""Police stations for a new city: from OSM (``amenity=police``), from the user's file, or placed.

Stations more than :data:`MAX_SNAP_M` from the nearest road node would fail validation (they lie outside
the map), so OSM stations that far are left out and said so; a user's file with such stations is an
error. Placement uses the posts optimiser (:func:`~policetwin.experiments.posts.optimize_posts`, p-median
on travel time from the station to the call) with a coarser aggregation than ``optimize posts`` so a city
of ~15k nodes is placed in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from policetwin.cityinit.pois import Pois
from policetwin.errors import PoliceTwinError
from policetwin.maps import RoadNetwork, Snapper

#: Stations farther than this from the nearest road node are outside the map (validation's limit is 2 km).
MAX_SNAP_M = 1500.0
#: OSM police objects closer than this are one station (a building and its entrance node, say).
MERGE_M = 150.0
#: Street kilometres per placed station (Coquimbo–La Serena: 1,440 km and 5 stations).
KM_PER_STATION = 300.0
MAX_PLACED = 12


class CityInitError(PoliceTwinError, ValueError):
    """``policetwin init`` cannot build a scenario from these inputs (exit 2)."""


def unique_names(names: list[str]) -> list[str]:
    """Names made unique (``Centro``, ``Centro-2``, ...) and non-empty."""
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = " ".join(str(raw or "").split()) or f"Station-{i + 1}"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def osm_stations(pois: Pois, snapper: Snapper) -> tuple[list[dict], list[str]]:
    """Stations from the ``police`` POIs (merged when within :data:`MERGE_M`), and notes on those left out."""
    police = pois.subset(pois.category == "police")
    if police.lon.size == 0:
        return [], []
    x, y = snapper.to_xy(police.lon, police.lat)
    keep: list[int] = []
    for i in range(police.lon.size):
        if all(np.hypot(x[i] - x[j], y[i] - y[j]) > MERGE_M for j in keep):
            keep.append(i)
    _, dist = snapper.nearest(police.lon[keep], police.lat[keep])
    inside = [i for i, d in zip(keep, dist, strict=True) if d <= MAX_SNAP_M]
    notes = []
    if len(inside) < len(keep):
        notes.append(f"{len(keep) - len(inside)} OSM police station(s) lie over {MAX_SNAP_M / 1000:g} km from "
                     "the road network (outside the map) and were left out")  # fmt: skip
    names = unique_names([police.name[i] or f"Police-{k + 1}" for k, i in enumerate(inside)])
    return [{"name": n, "lon": float(police.lon[i]), "lat": float(police.lat[i])}
            for n, i in zip(names, inside, strict=True)], notes  # fmt: skip


def file_stations(path: Path, snapper: Snapper) -> list[dict]:
    """Stations from a GeoJSON/GeoPackage/shapefile (points, or areas at a point inside) or a CSV with
    ``lon``/``lat`` columns; a ``name`` column names them. CityInitError for unreadable or off-map ones."""
    path = Path(path)
    if not path.is_file():
        raise CityInitError(f"--stations {path}: file not found")
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            frame = pd.read_csv(path)
            cols = {c.lower().strip(): c for c in frame.columns}
            lon_c = next((cols[c] for c in ("lon", "longitude", "lng", "x") if c in cols), None)
            lat_c = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
            if lon_c is None or lat_c is None:
                raise CityInitError(
                    f"--stations {path}: needs lon and lat columns (found {list(frame.columns)})"
                )
            lon, lat = frame[lon_c].to_numpy(float), frame[lat_c].to_numpy(float)
            names = frame[cols["name"]].tolist() if "name" in cols else [None] * len(frame)
        else:
            import geopandas as gpd

            frame = gpd.read_file(path)
            if frame.crs is not None:
                frame = frame.to_crs("EPSG:4326")
            points = frame.geometry.representative_point()
            lon, lat = points.x.to_numpy(float), points.y.to_numpy(float)
            names = frame["name"].tolist() if "name" in frame.columns else [None] * len(frame)
    except CityInitError:
        raise
    except Exception as exc:  # pyogrio/pandas raise many kinds
        raise CityInitError(f"--stations {path}: cannot read it: {type(exc).__name__}: {exc}") from None
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.all() or lon.size == 0:
        raise CityInitError(f"--stations {path}: {lon.size} rows, {int((~ok).sum())} without coordinates; "
                            "give at least one station with lon/lat")  # fmt: skip
    _, dist = snapper.nearest(lon, lat)
    far = np.flatnonzero(dist > MAX_SNAP_M)
    if far.size:
        raise CityInitError(f"--stations {path}: {far.size} station(s) lie over {MAX_SNAP_M / 1000:g} km from the "
                            f"road network (row {int(far[0]) + 1}: {dist[far[0]] / 1000:.1f} km); is the file "
                            "in this city and in lon/lat (or with its CRS)?")  # fmt: skip
    names = unique_names([n if isinstance(n, str) else None for n in names])
    return [{"name": n, "lon": float(a), "lat": float(b)} for n, a, b in zip(names, lon, lat, strict=True)]


def placed_count(network: RoadNetwork) -> int:
    """How many stations to place: one per :data:`KM_PER_STATION` street km, 1 to :data:`MAX_PLACED`."""
    return int(np.clip(round(network.street_km() / KM_PER_STATION), 1, MAX_PLACED))


def place_stations(draft, *, network: RoadNetwork, count: int, standard_s: float) -> tuple[list[dict], float]:
    """``count`` stations by p-median on travel time for the demand of ``draft`` (a Scenario with one
    provisional station), and the share of demand they reach within ``standard_s``."""
    from policetwin.experiments.posts import optimize_posts

    result = optimize_posts(draft, network=network, units=count, standard_s=standard_s, method="pmedian",
                            candidates=100, demand_cells=200, filename="init")  # fmt: skip
    stations = [{"name": f"Station-{i + 1}", "lon": float(a), "lat": float(b)}
                for i, (a, b) in enumerate(zip(result.lon, result.lat, strict=True))]  # fmt: skip
    return stations, result.coverage_after
