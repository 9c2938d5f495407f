"""Event police as unit groups of the run's scenario: the city's units, fewer those drawn to the event,
then one group per ``event.police`` entry, waiting at posts placed by role.

Why a rewritten scenario: every part of the engine (fleet, shifts, dispatch, outputs) already handles
unit groups with posts, so event officers are dispatched by the same dispatcher as everyone else.
Posts: ``gate_post`` at the gates (in turn), ``ring_patrol`` spread along the inside of a ring
(:data:`PATROL_INSET_M` in), ``vehicle`` spread around the outermost ring (:data:`VEHICLE_OUTSET_M`
out). Posts snap to the road network like any other post; officers on foot walk to crowd calls on the
walk network at the crowd's pace (:mod:`policetwin.event.foot`), anywhere else they go by road. Idle
ring patrols walk their group's posts in turn (:mod:`policetwin.event.foot_round`): crowd calls are
timed from where the round has taken them.
Units given by ``count`` or ``per_station`` become one group per station (same stations and order;
their names lose the zero padding). Event groups are named ``event-<name>`` and have the capability
``event`` (dispatch keeps them for crowd calls, see :mod:`policetwin.sim.event_glue`).
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

from policetwin.event.geometry import local_to_xy, ring_shapes, venue_centre, venue_shape
from policetwin.scenarios.event_ops import city_unit_counts
from policetwin.scenarios.schema import Scenario
from policetwin.scenarios.units import Units

PATROL_INSET_M = 25.0
VEHICLE_OUTSET_M = 150.0
EVENT_CAPABILITY = "event"
EVENT_PREFIX = "event-"


def _to_lonlat(lon0: float, lat0: float):
    proj = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
    back = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
    return lambda x, y: back.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def _spread(shape: shapely.Geometry, count: int) -> list[tuple[float, float]]:
    """``count`` points evenly spaced along a shape's outer boundary (metres)."""
    line = shape.exterior if hasattr(shape, "exterior") else shape.boundary
    fractions = (np.arange(count) + 0.5) / count
    return [(p.x, p.y) for p in (line.interpolate(f, normalized=True) for f in fractions)]


def post_lonlats(scenario: Scenario, group) -> list[dict]:
    """Where the officers of one ``event.police`` group wait (``[{lon, lat}]``)."""
    event = scenario.event
    if group.role == "gate_post":
        return [{"lon": g.lon, "lat": g.lat} for g in event.gates]
    lon0, lat0 = venue_centre(event.venue)
    to_xy = local_to_xy(lon0, lat0)
    shapes = ring_shapes(event.rings, venue_shape(event.venue, to_xy), to_xy)
    names = [r.name for r in event.rings]
    if group.role == "ring_patrol":
        ring = shapes[names.index(group.ring)] if group.ring else shapes[-1]
        inset = ring.buffer(-PATROL_INSET_M)
        shape = inset if not inset.is_empty and inset.geom_type == "Polygon" else ring
    else:
        shape = (shapes[names.index(group.ring)] if group.ring else shapes[0]).buffer(VEHICLE_OUTSET_M)
    points = _spread(shape, min(group.count, 24))
    lon, lat = _to_lonlat(lon0, lat0)([p[0] for p in points], [p[1] for p in points])
    return [{"lon": round(float(a), 6), "lat": round(float(b), 6)} for a, b in zip(lon, lat, strict=True)]


def _nearest_station(scenario: Scenario) -> str:
    lon0, lat0 = venue_centre(scenario.event.venue)
    to_xy = local_to_xy(lon0, lat0)
    x, y = to_xy(np.array([s.lon for s in scenario.stations]), np.array([s.lat for s in scenario.stations]))
    return scenario.stations[int(np.argmin(x**2 + y**2))].name


def with_event_units(scenario: Scenario) -> Scenario:
    """The scenario as run: city units less those drawn to the event, plus the event's groups (at the
    end, so city units keep their order). Without ``event.police`` the scenario itself."""
    event = scenario.event
    if event is None or not event.police:
        return scenario
    names = [s.name for s in scenario.stations]
    what, counts = city_unit_counts(scenario.units, names)
    taken = dict.fromkeys(counts, 0)
    for group in event.police:
        if group.drawn_from is not None:
            taken[group.drawn_from] += group.count
    if what == "group":
        city = [
            {**g.model_dump(mode="json"), "count": g.count - taken[g.name]} for g in scenario.units.groups
        ]
        station_of = {g.name: g.station for g in scenario.units.groups}
    else:
        city = [{"name": name, "count": counts[name] - taken[name], "station": name}
                for name in names if counts[name] - taken[name] > 0]  # fmt: skip
        station_of = {name: name for name in names}
    near = _nearest_station(scenario)
    extra = [{"name": f"{EVENT_PREFIX}{g.name}", "count": g.count, "idle": "post",
              "station": station_of[g.drawn_from] if g.drawn_from else near,
              "posts": post_lonlats(scenario, g), "capabilities": [EVENT_CAPABILITY, g.role]}
             for g in event.police]  # fmt: skip
    units = Units.model_validate({"groups": city + extra})
    return scenario.model_copy(update={"units": units})


def event_unit_mask(scenario: Scenario, n_units: int) -> np.ndarray:
    """Which of the run's units (in order) belong to the event's groups."""
    groups = scenario.units.groups or []
    mask = np.concatenate([np.full(g.count, EVENT_CAPABILITY in g.capabilities and g.name.startswith(EVENT_PREFIX))
                           for g in groups]) if groups else np.zeros(0, dtype=bool)  # fmt: skip
    return mask if mask.size == n_units else np.zeros(n_units, dtype=bool)
