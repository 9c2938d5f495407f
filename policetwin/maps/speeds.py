"""Road speeds: OSM ``maxspeed`` where tagged, fallbacks by road class, scenario overrides."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

#: Fallback free-flow car speeds (km/h) by OSM ``highway`` class, used where ``maxspeed`` is missing.
FALLBACK_SPEED_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 45.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 45.0,
    "tertiary_link": 35.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 15.0,
    "service": 20.0,
    "road": 30.0,
}
DEFAULT_SPEED_KPH = 30.0

_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def parse_maxspeed_kph(value: object) -> float:
    """Parse an OSM ``maxspeed`` tag to km/h (``"50"``, ``"30 mph"``, ``"50;60"``); NaN if unusable."""
    if value is None:
        return float("nan")
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else float("nan")
    text = str(value).strip().lower()
    m = _NUMBER.search(text)
    if not m:
        return float("nan")
    speed = float(m.group(1))
    if "mph" in text:
        speed *= 1.609344
    return speed if speed > 0 else float("nan")


def normalise_highway(value: object) -> str:
    """One road-class string per edge (OSM lists like ``['primary', 'secondary']`` take the first)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    text = str(value or "").strip()
    if text.startswith("["):
        text = text.strip("[]").split(",")[0].strip(" '\"")
    return text or "road"


def edge_speeds_kph(
    highway: np.ndarray,
    maxspeed_kph: np.ndarray,
    *,
    overrides_kph: Mapping[str, float] | None = None,
    speed_factor: float = 1.0,
) -> np.ndarray:
    """Speed per edge: ``overrides_kph[class]`` if given, else maxspeed, else the class fallback.

    All multiplied by ``speed_factor`` (for example emergency driving or congestion).
    """
    overrides = dict(overrides_kph or {})
    speeds = np.asarray(maxspeed_kph, dtype=float).copy()
    classes = np.asarray(highway, dtype=object)
    for cls in np.unique(classes):
        mask = classes == cls
        if cls in overrides:
            speeds[mask] = overrides[cls]
        else:
            missing = mask & ~np.isfinite(speeds)
            speeds[missing] = FALLBACK_SPEED_KPH.get(cls, DEFAULT_SPEED_KPH)
    return speeds * float(speed_factor)
