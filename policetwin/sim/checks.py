"""Scenario checks that need the map: problems (stations or hotspots outside it) and warnings
(stations far from any road, speed overrides for road classes the map does not have, stages offered
more work than they can do: :mod:`policetwin.sim.load`).

With an ``event:`` block also the event's map problems (:func:`event_map_check`: venue off the map, no
walk way crossing a ring near a gate, a place far from any walk way) and layout warnings (gates into
dead-end pockets, places not reachable), so that ``validate`` finds them too.

Problems are ``file:0: field.path: message`` lines, warnings ``file:0: field.path: warning: message``; the CLI gives them their YAML line
(:func:`policetwin.scenarios.locate_problems`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policetwin.errors import ScenarioError
from policetwin.maps import RoadNetwork, Snapper
from policetwin.maps.router import DEFAULT_DENSE_MAX_BYTES, Router, default_backend
from policetwin.scenarios.schema import Scenario
from policetwin.sim.demand import node_weights
from policetwin.sim.load import offered_load

#: A station further than this from the nearest road node is "outside the map" (an error).
MAX_SNAP_M = 2000.0
#: A station further than this from the nearest road node is snapped with a warning. Simplified maps
#: keep only junctions as nodes, so a station beside a long street can be ~300 m from its nearest node.
WARN_SNAP_M = 500.0


@dataclass
class MapCheck:
    """What checking a scenario against its map found, the demand weight of each node, and the offered
    load of each stage (:func:`policetwin.sim.load.offered_load`; empty when there are problems)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    station_nodes: np.ndarray | None = None
    post_nodes: dict[int, np.ndarray] = field(default_factory=dict)  # group index -> snapped posts
    weights: np.ndarray | None = None
    load: dict = field(default_factory=dict)


#: Above this many expected calls, writing trips.parquet (on by default) is worth a warning.
TRIPS_WARN_CALLS = 200_000


def check_on_map(
    scenario: Scenario, network: RoadNetwork, snapper: Snapper, *, filename: str, router: Router | None = None
) -> MapCheck:
    """All problems and warnings that need the map to be seen, at once (``router``: the engine's, of the
    open roads, for the offered load's travel times; else one is built)."""
    stations = scenario.stations
    event_problems, event_warnings = event_map_check(scenario, snapper, filename=filename)
    nodes, dist = snapper.nearest([s.lon for s in stations], [s.lat for s in stations])
    check = MapCheck(station_nodes=nodes)
    for i, (s, d) in enumerate(zip(stations, dist, strict=True)):
        where = f"{filename}:0: stations.{i}: "
        at = f"station {s.name!r} at ({s.lon}, {s.lat})"
        if d > MAX_SNAP_M:
            check.problems.append(
                f"{where}{at} is outside the map {network.name!r} (nearest road node {d / 1000:.1f} km away; "
                f"map bbox {network.bbox()})"
            )
        elif d > WARN_SNAP_M:
            check.warnings.append(
                f"{where}warning: {at} is {d:.0f} m from the nearest road node; its units start there"
            )
    present = set(np.unique(network.highway.astype(str)).tolist())
    for cls in scenario.travel.speeds_kph:
        if cls not in present:
            check.warnings.append(
                f"{filename}:0: travel.speeds_kph.{cls}: warning: the map {network.name!r} has no {cls!r} roads; "
                f"this override changes nothing (classes here: {', '.join(sorted(present))})"
            )
    congestion = scenario.travel.congestion
    for cls in congestion if isinstance(congestion, dict) else []:
        if cls != "other" and cls not in present:
            check.warnings.append(
                f"{filename}:0: travel.congestion.{cls}: warning: the map {network.name!r} has no {cls!r} roads; "
                f"these factors change nothing (classes here: {', '.join(sorted(present))})"
            )
    if scenario.travel.routing == "dense-rows" and default_backend(network.n_nodes) != "dense-rows":
        need_gb = network.n_nodes**2 * 4 / 1024**3
        check.problems.append(
            f"{filename}:0: travel.routing: dense rows of the map {network.name!r} ({network.n_nodes:,} nodes) "
            f"would take {need_gb:.1f} GB, more than the {DEFAULT_DENSE_MAX_BYTES / 1024**3:.0f} GB allowed; "
            "allowed here: auto, cch, dijkstra"
        )
    for g, group in enumerate(scenario.units.groups or []):
        if not group.posts:
            continue
        nodes, dist = snapper.nearest([p.lon for p in group.posts], [p.lat for p in group.posts])
        check.post_nodes[g] = nodes
        for j, (p, d) in enumerate(zip(group.posts, dist, strict=True)):
            where = f"{filename}:0: units.groups.{g}.posts.{j}: "
            if d > MAX_SNAP_M:
                check.problems.append(f"{where}post at ({p.lon}, {p.lat}) is outside the map {network.name!r} "
                                      f"(nearest road node {d / 1000:.1f} km away)")  # fmt: skip
            elif d > WARN_SNAP_M:
                check.warnings.append(
                    f"{where}warning: post at ({p.lon}, {p.lat}) is {d:.0f} m from the nearest road node"
                )
    sensors = scenario.sensing.sensors if scenario.sensing else []
    if sensors:
        _, dist = snapper.nearest([p.lon for p in sensors], [p.lat for p in sensors])
        check.problems += [
            f"{filename}:0: sensing.sensors.{i}: sensor at ({p.lon}, {p.lat}) is {d / 1000:.1f} km from the nearest "
            f"road of the map {network.name!r}: it covers no road within its {p.radius_m:g} m"
            for i, (p, d) in enumerate(zip(sensors, dist, strict=True))
            if d > p.radius_m
        ]
    check.problems += event_problems
    check.warnings += event_warnings
    try:
        check.weights = node_weights(scenario.demand, snapper, filename=filename)
    except ScenarioError as exc:
        check.problems.extend(exc.problems)
    if not check.problems:  # the load needs every station and hotspot on the map
        check.load, warnings = offered_load(scenario, network=network, weights=check.weights,
                                            station_nodes=check.station_nodes, router=router,
                                            filename=filename)  # fmt: skip
        check.warnings += warnings
    calls = scenario.demand.rate_per_hour * scenario.duration / 3600.0
    if scenario.outputs.trips and calls > TRIPS_WARN_CALLS:
        check.warnings.append(
            f"{filename}:0: outputs.trips: warning: about {calls:,.0f} calls make about {3 * calls:,.0f} trips: "
            "rebuilding their routes for trips.parquet adds minutes and gigabytes; set outputs.trips: false "
            "unless you will replay this run"
        )
    return check


def venue_off_map(scenario: Scenario, snapper: Snapper, *, filename: str) -> list[str]:
    """The problem of an event venue farther than :data:`MAX_SNAP_M` from the road map (else none)."""
    from policetwin.event.geometry import venue_centre

    lon, lat = venue_centre(scenario.event.venue)
    _, dist = snapper.nearest([lon], [lat])
    if float(dist[0]) <= MAX_SNAP_M:
        return []
    return [f"{filename}:0: event.venue: the venue is {float(dist[0]) / 1000:.1f} km from the nearest road of "
            "the map: outside the map"]  # fmt: skip


def check_event_on_map(scenario: Scenario, snapper: Snapper, *, filename: str) -> list[str]:
    """Problems placing ``scenario.event`` on its map (the problems of :func:`event_map_check`)."""
    return event_map_check(scenario, snapper, filename=filename)[0]


def event_map_check(scenario: Scenario, snapper: Snapper, *, filename: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) placing ``scenario.event`` on its map, as the run would find them
    (``file:0: event...``). Problems: the venue off the road map, else the layout on the walk network
    (gates with no ring-crossing walk way near them, places far from walk ways). Warnings
    (:mod:`policetwin.event.layout_check`): gates leading into dead-end pockets, origins that cannot reach
    the venue, destinations or safe areas not reachable from it, venue exits too narrow for the crowd.
    Empty without an event. The walk network's map spec is resolved next to ``filename`` (as the CLI
    loads the road map); it is cached, the layout and its checks take ~50 ms."""
    event = scenario.event
    if event is None:
        return [], []
    from policetwin.errors import MapError
    from policetwin.event.layout import build_layout
    from policetwin.event.layout_check import layout_warnings
    from policetwin.event.walknet import load_walk_network

    off_map = venue_off_map(scenario, snapper, filename=filename)
    if off_map:
        return off_map, []
    base_dir = Path(filename).parent if Path(filename).is_file() else None
    try:
        walk = load_walk_network(scenario.map, base_dir=base_dir)
    except MapError as exc:
        return [f"{filename}:0: map: {exc}"], []
    layout = build_layout(event, walk)
    problems = [
        f"{filename}:0: event.{'.'.join(map(str, path))}: {message}" for path, message in layout.problems
    ]
    warnings = [f"{filename}:0: event.{'.'.join(map(str, path))}: warning: {message}"
                for path, message in layout_warnings(event, layout)]  # fmt: skip
    return problems, warnings


def check_dispatch(scenario: Scenario, network: RoadNetwork, check: MapCheck, *, filename: str) -> None:
    """Load what the dispatch block names (a user policy's code, a districts file) so that problems
    with them are bad input found by ``validate``, before any run (ScenarioError)."""
    from policetwin.sim.districts import polygon_districts
    from policetwin.sim.policies import make_policy

    make_policy(scenario.dispatch, filename=filename)
    if scenario.dispatch.districts != "voronoi":
        polygon_districts(Path(scenario.dispatch.districts), network=network, station_nodes=check.station_nodes,
                          station_names=[s.name for s in scenario.stations], filename=filename)  # fmt: skip
