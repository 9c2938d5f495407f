"""Streets closed to vehicles for a while (``event.interventions`` ``close_roads`` / ``open_roads``).

The router holds one set of travel times, so each state of the timed closures (which are in force) has
its own :class:`~policetwin.maps.router.Router`, built when first needed, with its own cached rows; at
each change the model's router and the ETAs (:meth:`policetwin.sim.eta.Etas.use_router`) switch to it.
As with time-of-day congestion (:mod:`policetwin.sim.congestion`), a trip is timed on the network of
its departure: a call dispatched while a closure holds is timed (and arrives) on the closed network, one
dispatched before it on the open one, even when it is still driving when the closure starts. Where a
unit is on its way (re-dispatch, ``trips.parquet``) is read on the network in force when asked.
``event.road_closures`` (whole run) are in every state. Patrol tours keep the network of the start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from policetwin.event.geometry import ring_shapes, venue_shape
from policetwin.maps.router import Router
from policetwin.scenarios.event import event_time_s

if TYPE_CHECKING:
    from policetwin.maps.network import RoadNetwork
    from policetwin.scenarios.schema import Scenario
    from policetwin.sim.model import PoliceModel

ROAD_ACTIONS = ("close_roads", "open_roads")


def closure_areas(scenario: Scenario, network: RoadNetwork, closures: list) -> list[shapely.Geometry]:
    """The area (road CRS metres) of each closure: a ring's by name, or a circle around lon/lat."""
    from pyproj import Transformer

    event = scenario.event
    fwd = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)

    def to_xy(lon, lat):
        x, y = fwd.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    rings = dict(zip([r.name for r in event.rings], ring_shapes(event.rings, venue_shape(event.venue, to_xy), to_xy),
                     strict=True))  # fmt: skip
    areas = []
    for closure in closures:
        if closure.ring is not None:
            areas.append(rings[closure.ring])
        else:
            x, y = to_xy([closure.lon], [closure.lat])
            areas.append(shapely.Point(float(x[0]), float(y[0])).buffer(closure.radius_m))
    return areas


def slowed_times(
    network: RoadNetwork, times_s: np.ndarray, areas: list[shapely.Geometry], speeds_kph: list[float]
) -> np.ndarray:
    """``times_s`` with every road edge with an end inside an area driven at that area's speed (if slower)."""
    times = np.asarray(times_s, dtype=float).copy()
    for area, speed_kph in zip(areas, speeds_kph, strict=True):
        inside = np.asarray(shapely.contains_xy(area, network.x, network.y))
        hit = inside[network.edge_u] | inside[network.edge_v]
        times[hit] = np.maximum(times[hit], network.length_m[hit] / (speed_kph / 3.6))
    return times


def closure_states(interventions: list, *, scenario_start: str) -> list[tuple[float, frozenset[int]]]:
    """(time s, interventions ``close_roads`` in force from then) at each change, in time order:
    ``open_roads`` ends every timed closure made before it."""
    steps = sorted((event_time_s(step.at, scenario_start), i) for i, step in enumerate(interventions)
                   if step.action in ROAD_ACTIONS)  # fmt: skip
    states, active = [], frozenset()
    for t_s, i in steps:
        active = active | {i} if interventions[i].action == "close_roads" else frozenset()
        states.append((t_s, active))
    return states


class TimedRoads:
    """Switches the model's router as timed closures start and end (see the module docstring)."""

    def __init__(self, model: PoliceModel, *, base_times_s: np.ndarray) -> None:
        scenario = model.scenario
        self.model = model
        steps = scenario.event.interventions
        self.states = closure_states(steps, scenario_start=scenario.start)
        closes = sorted({i for _, active in self.states for i in active})
        self.areas = dict(
            zip(closes, closure_areas(scenario, model.network, [steps[i] for i in closes]), strict=True)
        )
        self.speeds = {i: steps[i].speed_kph for i in closes}
        self.base_times_s = base_times_s  # the whole run's times (road_closures included)
        self.routers: dict[frozenset[int], Router] = {frozenset(): model.router}
        self.edges: dict[frozenset[int], int] = {frozenset(): 0}  # edges slowed by the timed closures
        self.log: list[dict] = []

    def router(self, active: frozenset[int]) -> Router:
        """The router with the closures ``active`` (built once)."""
        hit = self.routers.get(active)
        if hit is None:
            net = self.model.network
            keys = sorted(active)
            times = slowed_times(
                net, self.base_times_s, [self.areas[i] for i in keys], [self.speeds[i] for i in keys]
            )
            hit = self.routers[active] = Router(
                net.n_nodes, net.edge_u, net.edge_v, times, lon=net.lon, lat=net.lat, like=self.model.router
            )
            self.edges[active] = int(np.sum(times > self.base_times_s))
        return hit

    def switch(self, active: frozenset[int]) -> None:
        """From now on trips depart on the network with ``active`` closures."""
        router = self.router(active)
        self.model.router = router
        self.model.etas.use_router(router)
        self.log.append(
            {"at_s": float(self.model.env.now), "closures": sorted(active), "edges": self.edges[active]}
        )

    def process(self, env):
        """A simpy process: each change at its time."""
        for t_s, active in self.states:
            if t_s > env.now:
                yield env.timeout(t_s - env.now)
            self.switch(active)
