"""OSM way-tag rules shared by the PBF and XML readers: the car filter and one-way directions.

The car ("driving") filter follows pyrosm 0.25 (itself after osmnx's "drive"); the one-way rules follow
osmnx and pyrosm. :func:`directed_edges` turns tagged way segments into directed road edges.
"""

from __future__ import annotations

import numpy as np

from policetwin.maps.speeds import normalise_highway, parse_maxspeed_kph

# One-way rules (as osmnx and pyrosm): these ``oneway`` values make a way one-way along its nodes...
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
# ...these against its nodes...
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})
# ...these say two-way explicitly (overriding the implied one-way of a roundabout)...
_ONEWAY_NO = frozenset({"no", "false", "0"})
# ...and these ``junction`` values imply one-way along the nodes when ``oneway`` is not tagged.
_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})

# The car ("driving") way filter of pyrosm 0.25 (which follows osmnx's "drive"), for OSM XML files.
_EXCLUDED_HIGHWAY = frozenset(
    {
        "abandoned",
        "construction",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
        "bridleway",
        "bus_guideway",
        "busway",
        "corridor",
        "cycleway",
        "elevator",
        "escalator",
        "footway",
        "ladder",
        "path",
        "pedestrian",
        "steps",
        "track",
        "trail",
        "service",
    }
)
_EXCLUDED_SERVICE = frozenset(
    {"emergency_access", "parking", "parking_aisle", "private", "alley", "driveway"}
)
_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")  # most specific first
_CLOSED_ACCESS = frozenset({"no", "private"})


def _multi_value_in(value: str | None, values: frozenset) -> bool:
    """Whether an OSM tag value (maybe ``a;b``) is, or has a part, in ``values``."""
    if value is None:
        return False
    return value in values or (";" in value and any(p.strip() in values for p in value.split(";")))


def is_drivable(tags: dict) -> bool:
    """Whether a way with these tags belongs to the car network (pyrosm's "driving" filter)."""
    if not tags.get("highway"):
        return False
    if _multi_value_in(tags.get("area"), frozenset({"yes"})):
        return False
    if _multi_value_in(tags["highway"], _EXCLUDED_HIGHWAY):
        return False
    if _multi_value_in(tags.get("service"), _EXCLUDED_SERVICE):
        return False
    for key in _ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            return not _multi_value_in(value, _CLOSED_ACCESS)
    return True


def oneway_direction(oneway: object, junction: object = None) -> int:
    """+1 one-way along the way's nodes, -1 one-way against them, 0 both ways."""
    text = str(oneway).strip().lower() if oneway is not None else ""
    if text in _ONEWAY_FORWARD:
        return 1
    if text in _ONEWAY_REVERSE:
        return -1
    if text in _ONEWAY_NO:
        return 0
    if junction is not None and str(junction).strip().lower() in _ONEWAY_JUNCTIONS:
        return 1
    return 0


def directed_edges(segments: dict) -> tuple[np.ndarray, ...]:
    """Directed edges (u ids, v ids, length, highway, maxspeed km/h) from way segments."""
    cache: dict = {}
    direction = np.array(
        [
            cache.setdefault(key, oneway_direction(*key))
            for key in zip(segments["oneway"], segments["junction"], strict=True)
        ],
        dtype=np.int8,
    )
    hw_cache: dict = {}
    highway = np.array(
        [hw_cache.setdefault(h, normalise_highway(h)) for h in segments["highway"]], dtype=object
    )
    ms_cache: dict = {}
    maxspeed = np.array(
        [ms_cache.setdefault(m, parse_maxspeed_kph(m)) for m in segments["maxspeed"]], dtype=float
    )
    u, v, length = segments["u"], segments["v"], segments["length"]
    fwd = direction >= 0  # forward edges: one-way along, and two-way
    back = direction <= 0  # backward edges: one-way against, and two-way
    return (
        np.concatenate([u[fwd], v[back]]),
        np.concatenate([v[fwd], u[back]]),
        np.concatenate([length[fwd], length[back]]),
        np.concatenate([highway[fwd], highway[back]]),
        np.concatenate([maxspeed[fwd], maxspeed[back]]),
    )
