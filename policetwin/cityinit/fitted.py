"""``init --incidents`` through ``policetwin demand fit`` (:mod:`policetwin.demandfit`): its reader (column
detection, unusable rows counted), main period, hour-of-week profile and KDE hotspots, restricted to the
incidents on the new city's map. The Hawkes part is not fitted here (``demand fit`` does that).

Recorded incidents are usually a fraction of calls for service, so the call rate stays ``init``'s
street-length assumption; the fitted rate of recorded incidents is reported beside it. If the fit module
is missing or fails internally, ``init`` falls back to its own coarse fit (:func:`.demand.incident_demand`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from policetwin.cityinit.demand import DemandPlan, default_rate_per_hour
from policetwin.cityinit.stations import CityInitError
from policetwin.errors import PoliceTwinError
from policetwin.maps import RoadNetwork, Snapper

ON_MAP_M = 1000.0  # as demand fit's "outside the map"
MIN_ROWS = 20


def fitted_demand(path: Path, network: RoadNetwork, snapper: Snapper) -> DemandPlan | None:
    """The demand plan fitted by :mod:`policetwin.demandfit`, or None if that module cannot be used."""
    try:
        from policetwin.demandfit.fit import fit_demand
        from policetwin.demandfit.read import main_period, read_incidents
    except ImportError:
        return None
    path = Path(path)
    if not path.is_file():
        raise CityInitError(f"--incidents {path}: file not found")
    try:
        inc = main_period(read_incidents(path))
        _, dist = snapper.nearest(inc.lon, inc.lat)
        on_map = dist <= ON_MAP_M
        n = int(on_map.sum())
        if n < MIN_ROWS:
            raise CityInitError(f"--incidents {path}: {n} of {len(inc):,} usable incidents lie on this map (need "
                                f"{MIN_ROWS}); is the file for this city, with lon/lat in WGS84?")  # fmt: skip
        mine = inc.subset(on_map)
        lo = float(mine.t_s.min() // 86400 * 86400)
        hi = float(mine.t_s.max() // 86400 * 86400 + 86400)
        fit = fit_demand(mine, since_s=lo, until_s=hi, with_hawkes=False, network=network)
    except PoliceTwinError:
        raise  # bad data: the user's to fix (exit 2)
    except Exception:  # the fit module failing internally: fall back to the coarse fit
        return None
    spots = [{k: s[k] for k in ("lon", "lat", "radius_m", "weight") if k in s} for s in fit.spots]
    profile = [round(float(v), 4) for v in np.asarray(fit.profile.relative, dtype=float)]
    background = float(fit.background_weight) if spots else 1.0
    share = 1.0 - background / (background + sum(s["weight"] for s in spots)) if spots else 0.0
    notes = [
        *mine.report_lines(),
        f"incidents on the map: {n:,} of {len(inc):,} usable rows; {fit.profile.rate_per_hour:.3f} recorded "
        "per hour (recorded incidents are a fraction of calls: the call rate stays the street-length assumption)",
        f"fitted by policetwin demand fit: hour-of-week profile, KDE hotspots (bandwidth "
        f"{fit.bandwidth.bandwidth_m:g} m)",
    ]
    return DemandPlan(default_rate_per_hour(network), spots, round(background, 6), profile=profile, notes=notes,
                      surface=f"{100 * (1 - share):.0f}% background over road intersections, {100 * share:.0f}% in "
                      f"{len(spots)} KDE hotspots fitted by `policetwin demand fit` to {n:,} past incidents")  # fmt: skip
