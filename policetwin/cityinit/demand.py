"""A starting demand surface for a new city, from what the map offers (or from past incidents).

The scenario schema places calls by a background spread evenly over road nodes (after simplification the
nodes are intersections, so denser street grids draw more calls: a stand-in for road length and
population) plus hotspots. ``init`` turns POIs into hotspots: a weighted k-means of the POIs
(:data:`~policetwin.cityinit.pois.CATEGORY_WEIGHTS`), each cluster a hotspot with a radius from its spread
and a weight from its POIs. With many POIs they carry :data:`POI_SHARE` of the calls; with few, less.

``--incidents`` (a CSV with lon/lat columns) replaces the POIs by the incidents themselves: hotspots from a
k-means of the incidents inside the map (a coarse kernel density), the background keeping
:data:`INCIDENT_BACKGROUND_SHARE`; if the file has dates with hours and enough rows, the hour-of-week
profile is fitted too (smoothed counts per hour of the week).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policetwin.cityinit.pois import CATEGORY_WEIGHTS, Pois
from policetwin.cityinit.stations import CityInitError
from policetwin.maps import RoadNetwork, Snapper

#: Share of calls drawn to POI hotspots when the map has at least :data:`POI_FULL` weighted POIs.
POI_SHARE = 0.5
POI_FULL = 60.0
MAX_HOTSPOTS = 12
#: Share of calls left to the even background when hotspots come from past incidents.
INCIDENT_BACKGROUND_SHARE = 0.2
#: Calls for service per hour per street km (Coquimbo–La Serena's 18/h on 1,440 km): an assumption.
CALLS_PER_HOUR_PER_KM = 0.0125
#: Fewest dated incidents to fit an hour-of-week profile from (about 6 per hour of the week).
MIN_PROFILE_ROWS = 1000


@dataclass
class DemandPlan:
    """The demand block's ingredients and a line saying where each came from."""

    rate_per_hour: float
    hotspots: list[dict]
    background_weight: float
    profile: str | list[float] = "default"
    notes: list[str] = field(default_factory=list)
    surface: str = ""


def default_rate_per_hour(network: RoadNetwork) -> float:
    """Calls per hour from street length (:data:`CALLS_PER_HOUR_PER_KM`), at least 1."""
    return float(max(1.0, round(network.street_km() * CALLS_PER_HOUR_PER_KM, 1)))


def _hotspots(xy: np.ndarray, w: np.ndarray, k: int, snapper: Snapper) -> tuple[list[dict], np.ndarray]:
    """A weighted k-means of points (metric ``xy``): hotspot centres (lon/lat), radii, and cluster weights."""
    from pyproj import Transformer
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=3, random_state=0).fit(xy, sample_weight=w)
    to_wgs84 = Transformer.from_crs(snapper.network.crs, "EPSG:4326", always_xy=True)
    spots, weights = [], []
    for c in range(k):
        mine = km.labels_ == c
        if not mine.any() or w[mine].sum() <= 0:
            continue
        centre = km.cluster_centers_[c]
        spread = np.sqrt(np.average(((xy[mine] - centre) ** 2).sum(axis=1), weights=w[mine]))
        lon, lat = to_wgs84.transform(centre[0], centre[1])
        spots.append({"lon": round(float(lon), 5), "lat": round(float(lat), 5),
                      "radius_m": float(np.clip(round(1.5 * spread, -1), 300.0, 1500.0))})  # fmt: skip
        weights.append(float(w[mine].sum()))
    return spots, np.array(weights)


def _on_map(lon: np.ndarray, lat: np.ndarray, snapper: Snapper, limit_m: float = 500.0) -> np.ndarray:
    _, dist = snapper.nearest(lon, lat)
    return dist <= limit_m


def poi_demand(pois: Pois, network: RoadNetwork, snapper: Snapper) -> DemandPlan:
    """Hotspots from the POIs (weights per category), or the even background alone without POIs."""
    rate = default_rate_per_hour(network)
    w_cat = np.array([CATEGORY_WEIGHTS.get(str(c), 0.0) for c in pois.category])
    mask = w_cat > 0
    if mask.any():
        mask &= _on_map(pois.lon, pois.lat, snapper) | ~mask
    used = pois.subset(mask)
    w = w_cat[mask]
    counts = ", ".join(f"{n} {c}" for c, n in sorted(used.counts().items())) or "none"
    if w.sum() < 3:
        return DemandPlan(rate, [], 1.0, notes=[f"points of interest on the map: {counts}"],
                          surface="even over road intersections (no usable points of interest on this map)")  # fmt: skip
    x, y = snapper.to_xy(used.lon, used.lat)
    k = int(min(MAX_HOTSPOTS, max(1, len(w) // 4)))
    spots, cw = _hotspots(np.column_stack([x, y]), w, k, snapper)
    share = POI_SHARE * min(1.0, w.sum() / POI_FULL)
    total = share / (1.0 - share)  # hotspot weight relative to the background's 1
    for spot, c in zip(spots, cw, strict=True):
        spot["weight"] = max(round(total * c / cw.sum(), 4), 0.0001)
    return DemandPlan(rate, spots, 1.0, notes=[f"points of interest on the map: {counts}"],
                      surface=f"{100 * (1 - share):.0f}% even over road intersections, {100 * share:.0f}% in "
                      f"{len(spots)} hotspots around points of interest (bars and nightlife x3, transit x2, "
                      "shops, food, banks x1)")  # fmt: skip


def _columns(frame) -> tuple[str, str]:
    cols = {c.lower().strip(): c for c in frame.columns}
    lon = next((cols[c] for c in ("lon", "longitude", "lng", "long", "x") if c in cols), None)
    lat = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
    if lon is None or lat is None:
        raise CityInitError(
            f"--incidents: needs lon and lat columns (found {', '.join(map(str, frame.columns))})"
        )
    return lon, lat


def _week_profile(frame) -> list[float] | None:
    """168 smoothed hour-of-week multipliers (Monday 00:00 first) from a date (and hour) column, or None."""
    import pandas as pd

    cols = {c.lower().strip(): c for c in frame.columns}
    date_c = next((cols[c] for c in ("datetime", "timestamp", "date", "time", "occurred") if c in cols), None)
    if date_c is None or len(frame) < MIN_PROFILE_ROWS:
        return None
    when = pd.to_datetime(frame[date_c], errors="coerce", format="mixed")
    hour = when.dt.hour
    if "hour" in cols:
        given = pd.to_numeric(frame[cols["hour"]], errors="coerce")
        hour = given.where(given.between(0, 23), hour)
    ok = when.notna() & hour.notna()
    if ok.sum() < MIN_PROFILE_ROWS or hour[ok].nunique() < 12:
        return None
    how = (when[ok].dt.dayofweek * 24 + hour[ok]).astype(int).to_numpy()
    counts = np.bincount(how, minlength=168).astype(float)
    smooth = (np.roll(counts, 1) + 2 * counts + np.roll(counts, -1)) / 4.0 + 0.5
    return [round(float(v), 3) for v in smooth / smooth.mean()]


def incident_demand(path: Path, network: RoadNetwork, snapper: Snapper) -> DemandPlan:
    """Hotspots (and, with dates, the hour-of-week profile) from past incidents in a CSV file."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise CityInitError(f"--incidents {path}: file not found")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas raises many kinds
        raise CityInitError(
            f"--incidents {path}: cannot read it as CSV: {type(exc).__name__}: {exc}"
        ) from None
    lon_c, lat_c = _columns(frame)
    lon = pd.to_numeric(frame[lon_c], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame[lat_c], errors="coerce").to_numpy(float)
    lon0, lat0, lon1, lat1 = network.bbox()
    inside = (
        np.isfinite(lon) & np.isfinite(lat) & (lon >= lon0) & (lon <= lon1) & (lat >= lat0) & (lat <= lat1)
    )
    if inside.any():
        inside[inside] = _on_map(lon[inside], lat[inside], snapper)
    n = int(inside.sum())
    if n < 20:
        raise CityInitError(f"--incidents {path}: {n} of {len(frame)} incidents lie on this map (need 20); "
                            "is the file for this city, with lon/lat in WGS84?")  # fmt: skip
    x, y = snapper.to_xy(lon[inside], lat[inside])
    spots, cw = _hotspots(
        np.column_stack([x, y]), np.ones(n), int(min(MAX_HOTSPOTS, max(1, n // 50))), snapper
    )
    total = (1.0 - INCIDENT_BACKGROUND_SHARE) / INCIDENT_BACKGROUND_SHARE
    for spot, c in zip(spots, cw, strict=True):
        spot["weight"] = max(round(total * c / cw.sum(), 4), 0.0001)
    profile = _week_profile(frame[inside])
    notes = [f"incidents: {n} of {len(frame)} rows of {path.name} lie on the map"]
    notes.append("hour-of-week profile fitted from their dates and hours" if profile is not None else
                 "hour-of-week profile: the default (the file has no usable dates or too few rows)")  # fmt: skip
    return DemandPlan(default_rate_per_hour(network), spots, 1.0, profile=profile or "default", notes=notes,
                      surface=f"{100 * INCIDENT_BACKGROUND_SHARE:.0f}% even over road intersections, "
                      f"{100 * (1 - INCIDENT_BACKGROUND_SHARE):.0f}% in {len(spots)} hotspots fitted to "
                      f"{n} past incidents (weighted k-means, a coarse kernel density)")  # fmt: skip
