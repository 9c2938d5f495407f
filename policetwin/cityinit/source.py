"""What ``init SOURCE`` names, and loading it: a bundled city, an OSM or GraphML file, or a place.

The road network comes from the maps layer (:func:`~policetwin.maps.load_map`, which keeps the largest
strongly connected part and counts what it dropped); the POIs from :mod:`.pois` where the source holds
them. The map spec written into the scenario is the bundled name, the file's absolute path (so the
scenario runs from any working directory) or ``place:NAME`` (cached as GraphML after the first fetch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policetwin.cityinit.pois import Pois, read_pois
from policetwin.errors import MapError
from policetwin.maps import RoadNetwork, load_map
from policetwin.maps.bundled import BUNDLED_CITIES

_MAP_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".graphml")


@dataclass(frozen=True)
class CitySource:
    """A resolved SOURCE: its kind, the scenario's ``map:`` spec, the file (if any) and a short name."""

    kind: str  # bundled | pbf | osm | graphml | place
    spec: str
    path: Path | None
    name: str


def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return "-".join(p for p in slug.split("-") if p)[:40] or "city"


def resolve_source(source: str) -> CitySource:
    """Classify SOURCE; MapError for a file that is missing, a directory or not an OSM/GraphML file."""
    text = source.strip()
    if not text:
        raise MapError("SOURCE is empty: give a bundled city, an .osm/.osm.pbf/.graphml file or a place name")
    if text in BUNDLED_CITIES:
        return CitySource("bundled", text, None, text)
    if text.startswith("place:"):
        place = text[6:].strip()
        if not place:
            raise MapError("place: needs a name, e.g. 'place:La Serena, Chile'")
        return CitySource("place", f"place:{place}", None, _slug(place.split(",")[0]))
    path = Path(text).expanduser()
    lower = path.name.lower()
    looks_like_file = lower.endswith(_MAP_SUFFIXES) or "/" in text or path.suffix != ""
    if path.is_dir():
        raise MapError(f"{path} is a directory; give a map file (.osm, .osm.pbf, .pbf or .graphml) inside it")
    if path.is_file():
        kind = next((k for s, k in zip(_MAP_SUFFIXES, ("pbf", "pbf", "osm", "graphml"), strict=True)
                     if lower.endswith(s)), None)  # fmt: skip
        if kind is None:
            raise MapError(f"{path.name} is not an OpenStreetMap file: use .osm, .osm.pbf, .pbf or .graphml "
                           f"(or a bundled city: {', '.join(BUNDLED_CITIES)})")  # fmt: skip
        stem = lower
        for suffix in _MAP_SUFFIXES:
            stem = stem.removesuffix(suffix)
        return CitySource(kind, str(path.resolve()), path.resolve(), _slug(stem))
    if looks_like_file:
        raise MapError(f"map file not found: {path} (or use a bundled city: {', '.join(BUNDLED_CITIES)})")
    return CitySource("place", f"place:{text}", None, _slug(text.split(",")[0]))


def load_source(src: CitySource) -> tuple[RoadNetwork, Pois]:
    """The road network and the POIs of a resolved source (MapError with a one-line reason)."""
    try:
        network = load_map(src.spec)
    except MapError as exc:
        if src.kind != "place" or "needs internet" not in str(exc):
            raise
        msg = f"{exc}; then `policetwin init EXTRACT.osm.pbf --out ...` works offline"
        raise MapError(msg) from None
    if src.kind in ("pbf", "osm"):
        return network, read_pois(src.path)
    if src.kind == "bundled" and src.spec == "helsinki":
        from policetwin.maps.bundled import helsinki_pbf_path

        return network, read_pois(helsinki_pbf_path())
    why = {
        "bundled": "the bundled source holds roads only",
        "graphml": "a GraphML file holds roads only",
        "place": "places are fetched as roads only",
    }[src.kind]
    return network, Pois.empty(why)
