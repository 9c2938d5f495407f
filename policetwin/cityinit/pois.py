"""Points of interest from an OSM extract: police stations and the places that draw calls for service.

The map loaders read roads only, so ``init`` reads the few POI tags it needs here: ``.osm.pbf`` files with
pyrosm's ``get_pois`` (a fraction of a second on a city extract), OSM XML with a streaming reader. Ways and
areas count at the mean of their nodes. Categories and their demand weights (a starting assumption, printed
by ``init``): nightlife 3 (bars, pubs, nightclubs), transit 2 (stations, bus stations, bus stops), shops 1,
food 1 (restaurants, fast food, cafés), money 1 (banks, ATMs, fuel); ``amenity=police`` gives stations.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policetwin.errors import MapError
from policetwin.maps.io_util import one_line

#: Relative demand weight of one POI of each category (an assumption, not a calibration).
CATEGORY_WEIGHTS = {"nightlife": 3.0, "transit": 2.0, "shops": 1.0, "food": 1.0, "money": 1.0}
_AMENITY = {
    **dict.fromkeys(("bar", "pub", "nightclub", "biergarten", "casino", "stripclub"), "nightlife"),
    **dict.fromkeys(("restaurant", "fast_food", "cafe", "food_court"), "food"),
    **dict.fromkeys(("bank", "atm", "fuel", "bureau_de_change", "money_transfer"), "money"),
    "bus_station": "transit",
    "police": "police",
}
_PYROSM_FILTER = {
    "amenity": sorted(_AMENITY),
    "shop": True,
    "public_transport": ["station"],
    "railway": ["station", "halt"],
    "highway": ["bus_stop"],
}


@dataclass(frozen=True)
class Pois:
    """POIs as flat arrays: lon, lat, category (``police`` or a key of :data:`CATEGORY_WEIGHTS`), name."""

    lon: np.ndarray
    lat: np.ndarray
    category: np.ndarray
    name: np.ndarray
    source: str

    @classmethod
    def empty(cls, source: str) -> Pois:
        """No POIs (roads-only sources: the bundled Coquimbo file, GraphML, places)."""
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=object), np.zeros(0, dtype=object), source)

    def counts(self) -> dict[str, int]:
        """Number of POIs per category."""
        cats, n = np.unique(self.category.astype(str), return_counts=True)
        return {str(c): int(k) for c, k in zip(cats, n, strict=True)}

    def subset(self, mask: np.ndarray) -> Pois:
        """The POIs where ``mask`` is true."""
        return Pois(self.lon[mask], self.lat[mask], self.category[mask], self.name[mask], self.source)


def categorise(tags: dict) -> str | None:
    """The category of an OSM object from its tags, or None if it is not one of ours."""
    amenity = tags.get("amenity")
    if amenity in _AMENITY:
        return _AMENITY[amenity]
    if tags.get("shop"):
        return "shops"
    if (
        tags.get("public_transport") == "station"
        or tags.get("railway") in ("station", "halt")
        or tags.get("highway") == "bus_stop"
    ):
        return "transit"
    return None


def read_pois(path: Path) -> Pois:
    """POIs of an ``.osm.pbf``/``.pbf`` (pyrosm) or ``.osm`` XML file; MapError if it cannot be read."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return _read_xml(path)
    return _read_pbf(path)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _read_pbf(path: Path) -> Pois:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pyrosm import OSM

            frame = OSM(str(path)).get_pois(custom_filter=_PYROSM_FILTER)
    except MemoryError:
        raise
    except Exception as exc:  # pyrosm raises many kinds for odd files
        raise MapError(f"cannot read points of interest from {path.name}: {one_line(exc)}") from exc
    if frame is None or len(frame) == 0:
        return Pois.empty(f"{path.name} (no points of interest)")
    cols = [c for c in ("amenity", "shop", "public_transport", "railway", "highway") if c in frame.columns]
    records = frame[cols].to_dict("records")
    cats = np.array([categorise({k: _text(v) for k, v in r.items()}) for r in records], dtype=object)
    points = frame.geometry.representative_point()
    names = frame["name"] if "name" in frame.columns else [None] * len(frame)
    keep = np.array([c is not None for c in cats]) & ~points.is_empty.to_numpy()
    return Pois(
        lon=points.x.to_numpy(dtype=float)[keep],
        lat=points.y.to_numpy(dtype=float)[keep],
        category=cats[keep],
        name=np.array([_text(n) for n in names], dtype=object)[keep],
        source=path.name,
    )


def _read_xml(path: Path) -> Pois:
    """Stream an OSM XML file: tagged nodes, and ways at the mean of their nodes."""
    import xml.etree.ElementTree as ET

    coords: dict[int, tuple[float, float]] = {}
    found: list[tuple[float, float, str, str | None]] = []
    try:
        context = ET.iterparse(str(path), events=("end",))
        for _, elem in context:
            if elem.tag == "node" and elem.get("lat") is not None:
                lon, lat = float(elem.get("lon")), float(elem.get("lat"))
                coords[int(elem.get("id"))] = (lon, lat)
                tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                cat = categorise(tags) if tags else None
                if cat:
                    found.append((lon, lat, cat, tags.get("name")))
                elem.clear()
            elif elem.tag == "way":
                tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                cat = categorise(tags)
                pts = [coords[r] for r in (int(nd.get("ref")) for nd in elem.iter("nd")) if r in coords]
                if cat and pts:
                    found.append((*np.mean(pts, axis=0).tolist(), cat, tags.get("name")))
                elem.clear()
    except (ET.ParseError, ValueError, TypeError, OSError) as exc:
        raise MapError(f"cannot read points of interest from {path.name}: {one_line(exc)}") from exc
    if not found:
        return Pois.empty(f"{path.name} (no points of interest)")
    lon, lat, cat, name = zip(*found, strict=True)
    return Pois(np.array(lon), np.array(lat), np.array(cat, dtype=object), np.array(name, dtype=object),
                path.name)  # fmt: skip
