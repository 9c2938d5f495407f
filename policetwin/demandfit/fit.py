"""Fit a demand block from incidents: hour-of-week profile, category mix, planar KDE, Hawkes by EM.

Every output is aggregated (168 rates, shares, KDE blocks of at least 300 m, four Hawkes numbers): no
incident location leaves this module unless the caller asks for the points (``--keep-points``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from policetwin.demandfit.hawkes_em import HawkesFit, fit_hawkes
from policetwin.demandfit.profile import Profile, category_mix, fit_profile, seasonality
from policetwin.demandfit.read import Incidents
from policetwin.demandfit.space import BandwidthChoice, Grid, Projection, choose_bandwidth, hotspots, smooth

CELL_M = 50.0
OUTSIDE_MAP_M = 1000.0  # a row farther than this from every node of --map is outside it


@dataclass
class MapFit:
    """How the data sits on a road map (``--map``)."""

    name: str
    n_nodes: int
    rows_outside: int
    node_weights: np.ndarray  # KDE density at each node, normalised to sum 1 (report only)
    mass_outside: float  # share of the KDE mass farther than OUTSIDE_MAP_M from the map


@dataclass
class DemandFit:
    """Everything ``demand fit`` estimated, in aggregated form."""

    inc: Incidents
    since_s: float
    until_s: float
    profile: Profile
    season: np.ndarray | None
    mix: dict[str, float]
    proj: Projection
    grid: Grid
    bandwidth: BandwidthChoice
    mass: np.ndarray  # KDE mass per grid cell (sums to the number of incidents)
    hawkes: HawkesFit | None
    spots: list[dict] = field(default_factory=list)
    background_weight: float = 1.0
    map_fit: MapFit | None = None
    timings_s: dict[str, float] = field(default_factory=dict)


def jittered_times(inc: Incidents) -> np.ndarray:
    """Times for self-excitation: hour-resolution times spread uniformly within their hour (fixed seed),
    so events reported in one hour are not all simultaneous."""
    if not inc.hour_resolution:
        return inc.t_s
    return inc.t_s + np.random.default_rng(0).random(inc.t_s.size) * 3600.0


def fit_demand(
    inc: Incidents,
    *,
    since_s: float,
    until_s: float,
    with_hawkes: bool = True,
    network=None,
    max_dt_s: float = 30 * 86400.0,
    max_dr_m: float = 500.0,
) -> DemandFit:
    """Fit profile, mix, KDE (bandwidth by held-out likelihood) and, if asked, the Hawkes model."""
    import time

    clock = time.perf_counter()
    timings: dict[str, float] = {}
    profile = fit_profile(inc.t_s, since_s, until_s)
    season = seasonality(inc.t_s, since_s, until_s)
    mix = category_mix(inc.category)
    proj = Projection.around(inc.lon, inc.lat)
    x, y = proj.to_xy(inc.lon, inc.lat)
    grid = Grid.covering(x, y, cell_m=CELL_M)
    timings["profile_mix_s"] = time.perf_counter() - clock
    choice = choose_bandwidth(x, y, inc.t_s, grid)
    mass = smooth(grid.counts(x, y), grid, choice.bandwidth_m)
    timings["kde_s"] = time.perf_counter() - clock - sum(timings.values())
    hawkes = None
    if with_hawkes:
        hawkes = fit_hawkes(jittered_times(inc), x, y, since_s=since_s, until_s=until_s + 3600.0, grid=grid,
                            bandwidth_m=choice.bandwidth_m, max_dt_s=max_dt_s, max_dr_m=max_dr_m)  # fmt: skip
        timings["hawkes_s"] = time.perf_counter() - clock - sum(timings.values())
    result = DemandFit(inc, since_s, until_s, profile, season, mix, proj, grid, choice, mass, hawkes)
    block_m = max(300.0, 2 * choice.bandwidth_m)
    if network is not None:
        result.map_fit, mass = _on_map(result, network, x, y)
    result.spots, result.background_weight = hotspots(mass, grid, proj, block_m=block_m)
    result.timings_s = timings
    return result


def _on_map(fit: DemandFit, network, x: np.ndarray, y: np.ndarray) -> tuple[MapFit, np.ndarray]:
    """Rows outside the map, node weights, and the KDE mass restricted to the map's reach."""
    from scipy.spatial import cKDTree

    from policetwin.maps.snap import Snapper

    snapper = Snapper(network)
    _, dist = snapper.nearest(fit.inc.lon, fit.inc.lat)
    nx_, ny_ = fit.proj.to_xy(network.lon, network.lat)
    cx, cy = fit.grid.centres()
    near, _ = cKDTree(np.column_stack([nx_, ny_])).query(
        np.column_stack([cx, cy]), distance_upper_bound=OUTSIDE_MAP_M
    )
    inside = np.isfinite(near).reshape(fit.mass.shape)
    mass_in = np.where(inside, fit.mass, 0.0)
    node_w = fit.mass.ravel()[fit.grid.flat(nx_, ny_)]
    node_w = node_w / node_w.sum() if node_w.sum() > 0 else np.full(node_w.size, 1.0 / node_w.size)
    share_out = 1.0 - float(mass_in.sum() / max(fit.mass.sum(), 1e-300))
    mf = MapFit(network.name, network.n_nodes, int((dist > OUTSIDE_MAP_M).sum()), node_w, share_out)
    return mf, mass_in if mass_in.sum() > 0 else fit.mass
