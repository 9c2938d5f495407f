"""Road networks of named places via ``osmnx.graph_from_place`` (needs internet), cached as GraphML."""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from pathlib import Path

from policetwin.errors import MapError
from policetwin.maps.graphml import graph_to_network, load_graphml, save_graphml
from policetwin.maps.io_util import one_line
from policetwin.maps.network import RoadNetwork

PLACE_TIMEOUT_S = 20


def place_cache_path(place: str, cache: Path) -> Path:
    """Where the GraphML of a fetched place is cached: ``cache/places/<slug>-<hash>.graphml``."""
    key = " ".join(place.split()).lower()
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    slug = "".join(c if c.isalnum() else "-" for c in key).strip("-")[:60] or "place"
    return Path(cache) / "places" / f"{slug}-{digest}.graphml"


def _offline_message(place: str, exc: BaseException) -> str:
    return (
        f"fetching place {place!r} needs internet "
        f"(OpenStreetMap could not be reached: {one_line(exc, 100)}); "
        "offline, download an .osm.pbf extract of the area (e.g. from download.geofabrik.de) and run "
        "`policetwin maps import FILE --out city.graphml`"
    )


def fetch_place(place: str, *, cache: Path) -> RoadNetwork:
    """Car network of a named place via ``osmnx.graph_from_place`` (needs internet), cached as GraphML.

    A cached GraphML under ``cache/places`` is used when present (no network access).
    """
    place = place.strip()
    if not place:
        raise MapError("place: needs a name, e.g. 'place:La Serena, Chile'")
    path = place_cache_path(place, cache)
    if path.is_file():
        try:
            return load_graphml(path, name=place)
        except MapError:
            path.unlink(missing_ok=True)  # a corrupt cache entry: fetch again
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import osmnx as ox
    except ImportError as exc:  # pragma: no cover - osmnx is a dependency
        raise MapError("fetching a place needs the Python package osmnx: pip install osmnx") from exc
    settings = ox.settings
    saved = (settings.requests_timeout, settings.cache_folder, settings.log_console)
    settings.requests_timeout = PLACE_TIMEOUT_S
    settings.cache_folder = str(Path(cache) / "osmnx-http")
    settings.log_console = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = ox.graph_from_place(place, network_type="drive")
    except OSError as exc:  # requests' ConnectionError/Timeout are OSErrors, as are socket errors
        raise MapError(_offline_message(place, exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:  # osmnx: InsufficientResponseError, ResponseStatusCodeError, TypeError...
        raise MapError(f"cannot fetch place {place!r} with osmnx: {one_line(exc)}") from exc
    finally:
        settings.requests_timeout, settings.cache_folder, settings.log_console = saved
    network = graph_to_network(
        graph,
        name=place,
        source=f"OpenStreetMap via osmnx graph_from_place({place!r}, network_type='drive') (ODbL)",
    )
    with contextlib.suppress(MapError):  # the cache is a convenience; an unwritable one must not fail
        save_graphml(network, path)
    return network
