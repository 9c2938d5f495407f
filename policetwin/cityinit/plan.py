"""``policetwin init``: from a map source to a runnable scenario plan, with the reasoning kept as text.

Steps: load and check the network (the maps layer keeps the largest strongly connected part and counts
what it drops), read POIs, build the demand surface (:mod:`.demand`), find or place stations
(:mod:`.stations`), measure coverage within :data:`STANDARD_S` from the stations, and suggest a unit
count: the most of (a) Erlang C at the peak hour's offered load (:func:`~policetwin.sim.load.offered_load`:
calls x unit busy time per call, travel from the nearest station included) for P(wait) <=
:data:`MAX_P_WAIT`; (b) the places a greedy cover needs to reach :data:`COVERAGE_TARGET` of demand within
the standard; (c) one unit per station; (d) the most units one incident kind needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policetwin.cityinit.demand import CALLS_PER_HOUR_PER_KM, DemandPlan, incident_demand, poi_demand
from policetwin.cityinit.source import CitySource, load_source, resolve_source
from policetwin.cityinit.stations import file_stations, osm_stations, place_stations, placed_count
from policetwin.maps import RoadNetwork, Snapper

STANDARD_S = 480.0  # the 8-minute response standard of the summary and of the coverage target
COVERAGE_TARGET = 0.9
MAX_P_WAIT = 0.1
GREEDY_CANDIDATES = 150

#: The incident kinds written into a new city's scenario (the bundled Coquimbo ones; illustrative).
KINDS = [
    {"name": "violent", "priority": 1, "share": 0.15, "units": 2, "target": "10min",
     "on_scene": {"dist": "lognormal", "mean": "45min", "sd": "20min"}},
    {"name": "property", "priority": 2, "share": 0.45, "units": 1, "target": "20min",
     "on_scene": {"dist": "lognormal", "mean": "30min", "sd": "15min"}},
    {"name": "disorder", "priority": 3, "share": 0.40, "units": 1, "target": "60min",
     "on_scene": {"dist": "exponential", "mean": "20min"}},
]  # fmt: skip
HANDLING = {"dist": "lognormal", "mean": "90s", "sd": "40s"}


@dataclass
class CityPlan:
    """Everything ``init`` decided, with the reasons (``reasoning``) and the city summary (``summary``)."""

    source: CitySource
    network: RoadNetwork
    name: str
    stations: list[dict]
    station_origin: str
    demand: DemandPlan
    units: int
    takers: int
    reasoning: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def scenario_data(self, *, duration: str = "24h") -> dict:
        """The scenario as plain data (what the writer prints, with comments)."""
        demand: dict = {"rate_per_hour": self.demand.rate_per_hour, "profile": self.demand.profile,
                        "background_weight": self.demand.background_weight}  # fmt: skip
        if self.demand.hotspots:
            demand["hotspots"] = self.demand.hotspots
        demand["kinds"] = KINDS
        return {
            "name": self.name, "seed": 42, "duration": duration, "map": self.source.spec,
            "stations": self.stations, "units": {"count": self.units}, "demand": demand,
            "call_handling": {"takers": self.takers, "handling": HANDLING},
            "dispatch": {"policy": "nearest"}, "travel": {"mode": "network", "speed_factor": 1.0},
        }  # fmt: skip


def _scenario(data: dict):
    from policetwin.scenarios import Scenario

    return Scenario.model_validate(data)


def area_km2(network: RoadNetwork) -> float:
    """Area of the convex hull of the road nodes (km²)."""
    import shapely

    return float(shapely.convex_hull(shapely.multipoints(np.column_stack([network.x, network.y]))).area / 1e6)


def erlang_units(offered: float, *, max_p_wait: float = MAX_P_WAIT) -> int:
    """Fewest servers with P(wait) <= ``max_p_wait`` in M/M/c at ``offered`` Erlangs (Erlang C)."""
    from policetwin.experiments.staffing import erlang_c

    c = max(1, int(np.floor(offered)) + 1)
    while erlang_c(c, offered) > max_p_wait:
        c += 1
    return c


def greedy_cover(
    network: RoadNetwork, weights: np.ndarray, *, standard_s: float, target: float
) -> tuple[int, float]:
    """Places a greedy maximal cover needs (among demand-weighted k-means candidates) to reach ``target``
    of demand within ``standard_s``, and the share reached (less than target if the map cannot)."""
    from scipy.sparse.csgraph import dijkstra

    from policetwin.experiments.posts import _cluster
    from policetwin.maps import Router

    xy = np.column_stack([network.x, network.y])
    k = min(GREEDY_CANDIDATES, network.n_nodes)
    cand = np.arange(network.n_nodes) if network.n_nodes <= k else _cluster(xy, weights, k, heaviest=False)[0]
    router = Router(
        network.n_nodes, network.edge_u, network.edge_v, network.travel_times_s(), dense_max_bytes=0
    )
    near = dijkstra(router.forward, directed=True, indices=cand, limit=standard_s) <= standard_s
    covered = np.zeros(network.n_nodes, dtype=bool)
    reach = float(weights[near.any(axis=0)].sum())
    goal = min(target, reach) - 1e-9
    places, share = 0, 0.0
    while share < goal:
        gain = near[:, ~covered] @ weights[~covered]
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        covered |= near[best]
        places, share = places + 1, float(weights[covered].sum())
    return places, share


def plan_city(
    source: str,
    *,
    units: int | None = None,
    stations_file: Path | None = None,
    incidents_file: Path | None = None,
    name: str | None = None,
) -> CityPlan:
    """Load SOURCE and decide stations, demand and units (see the module docstring). Raises MapError or
    CityInitError (both exit 2 in the CLI) on bad input."""
    from policetwin.sim.coverage import coverage_share, coverage_times
    from policetwin.sim.demand import node_weights
    from policetwin.sim.load import offered_load

    started = time.perf_counter()
    src = resolve_source(source)
    network, pois = load_source(src)
    load_s = time.perf_counter() - started
    snapper = Snapper(network)
    notes: list[str] = []
    demand = poi_demand(pois, network, snapper)
    if incidents_file is not None:
        from policetwin.cityinit.fitted import fitted_demand

        demand = fitted_demand(incidents_file, network, snapper) or incident_demand(
            incidents_file, network, snapper
        )
    scenario_name = name or src.name
    centre = int(np.argmin(np.hypot(network.x - np.median(network.x), network.y - np.median(network.y))))
    draft = {"name": scenario_name, "duration": "24h", "map": src.spec, "units": {"count": 2},
             "stations": [{"name": "draft", "lon": float(network.lon[centre]), "lat": float(network.lat[centre])}],
             "demand": {"rate_per_hour": demand.rate_per_hour, "hotspots": demand.hotspots,
                        "background_weight": demand.background_weight, "kinds": KINDS}}  # fmt: skip
    if stations_file is not None:
        stations, origin = file_stations(stations_file, snapper), f"from {Path(stations_file).name}"
    else:
        stations, dropped = osm_stations(pois, snapper)
        notes += dropped
        origin = "from OpenStreetMap (amenity=police)"
        if not stations:
            count = placed_count(network)
            why = "no amenity=police on the map" if pois.lon.size else f"no points of interest: {pois.source}"
            stations, _ = place_stations(
                _scenario(draft), network=network, count=count, standard_s=STANDARD_S
            )
            origin = (
                f"PLACED by p-median on travel time ({why}): {count} "
                "station(s), one per ~300 street km; replace them with the real ones (--stations FILE)"
            )
    draft["stations"] = stations
    sc = _scenario(draft)
    weights = node_weights(sc.demand, snapper, filename="init")
    station_nodes, _ = snapper.nearest([s["lon"] for s in stations], [s["lat"] for s in stations])
    times = coverage_times(network, sources=station_nodes)
    share8 = coverage_share(times, standard_s=STANDARD_S, weights=weights)
    loads, _ = offered_load(sc, network=network, weights=weights, station_nodes=station_nodes)
    u = loads["units"]
    peak_offered = u["calls_per_hour_peak"] / 3600.0 * u["work_per_call_s"]
    by_load = erlang_units(peak_offered)
    by_cover, cover_share = greedy_cover(network, weights, standard_s=STANDARD_S, target=COVERAGE_TARGET)
    need_kind = max(k["units"] for k in KINDS)
    suggested = max(by_load, by_cover, len(stations), need_kind)
    t = loads["takers"]
    takers = max(2, erlang_units(t["calls_per_hour_peak"] / 3600.0 * t["work_per_call_s"]))
    reasoning = [
        f"calls: {demand.rate_per_hour:g}/h on average (ASSUMPTION: {CALLS_PER_HOUR_PER_KM:g} calls/h per street "
        f"km), {u['calls_per_hour_peak']:.1f}/h at the run's peak hour ({u['peak_hour']}, "
        f"{'default' if demand.profile == 'default' else 'fitted'} profile)",
        f"unit work per call: {u['work_per_call_s'] / 60:.1f} min (on scene x units per kind, plus "
        f"{u['travel_s'] / 60:.1f} min mean travel from the nearest station)",
        f"offered load at the peak: {peak_offered:.1f} Erlangs -> {by_load} units keep P(wait for a unit) "
        f"<= {MAX_P_WAIT:.0%} (Erlang C)",
        f"coverage: {by_cover} well-placed unit(s) reach {cover_share:.0%} of demand within "
        f"{STANDARD_S / 60:g} min (target {COVERAGE_TARGET:.0%}, greedy cover)",
        f"at least one unit per station ({len(stations)}) and {need_kind} for a violent call",
    ]
    if units is not None:
        reasoning.append(f"suggested {suggested} units; using --units {units}")
        if units < need_kind:
            from policetwin.cityinit.stations import CityInitError

            raise CityInitError(f"--units {units}: the incident kind 'violent' needs {need_kind} units")
    else:
        reasoning.append(f"suggested: {suggested} units (the most of the above)")
    hull = area_km2(network)
    info = network.info()
    summary = {
        "city": scenario_name, "source": network.source, "area_km2": round(hull, 1),
        "street_km": info["street_km"], "nodes": info["nodes"], "edges": info["edges"],
        "nodes_dropped_not_strongly_connected": info.get("nodes_dropped_not_strongly_connected", 0),
        "nodes_read": info.get("nodes_read"), "edges_dropped": info.get("edges_dropped_missing_nodes_or_loops", 0), "stations": len(stations), "stations_origin": origin,
        "demand_within_8min": round(share8, 4), "units": units or suggested, "load_s": round(load_s, 2),
    }  # fmt: skip
    return CityPlan(src, network, scenario_name, stations, origin, demand, units or suggested, takers,
                    reasoning=reasoning, notes=notes + demand.notes, summary=summary)  # fmt: skip
