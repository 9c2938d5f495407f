"""Small helpers shared by the map-file readers and writers (OSM PBF/XML, GraphML, osmnx places)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

EARTH_RADIUS_M = 6_371_009.0  # mean Earth radius, as osmnx uses


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (vectorised)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def segment_lengths(u: np.ndarray, v: np.ndarray, nodes: dict) -> np.ndarray:
    """Haversine length (m) of each segment ``u[i] -> v[i]`` (OSM node ids) over the ``nodes`` table
    (``id``, ``lon``, ``lat``); NaN where an end node is not in the table (dropped by ``build_network``)."""
    order = np.argsort(nodes["id"])
    ids = nodes["id"][order]
    iu = order[np.clip(np.searchsorted(ids, u), 0, ids.size - 1)]
    iv = order[np.clip(np.searchsorted(ids, v), 0, ids.size - 1)]
    length = haversine_m(nodes["lon"][iu], nodes["lat"][iu], nodes["lon"][iv], nodes["lat"][iv])
    length[(nodes["id"][iu] != u) | (nodes["id"][iv] != v)] = np.nan  # dropped by build_network
    return length


def file_stem(path: Path) -> str:
    """The map name of a file: its name without ``.osm.pbf`` / ``.pbf`` / ``.osm`` / ``.graphml``."""
    name = path.name
    for suffix in (".osm.pbf", ".pbf", ".osm", ".graphml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, cut to ``limit`` characters (for :class:`MapError` texts)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_npz_cache(path: Path, arrays: dict[str, np.ndarray], *, meta: dict, highway: np.ndarray) -> None:
    """Write a network cache file atomically: ``arrays``, the ``highway`` tags as strings and ``meta`` as
    JSON (:func:`write_cache_atomic`)."""
    write_cache_atomic(
        path, lambda fh: np.savez(fh, highway=highway.astype(str), meta=np.array(json.dumps(meta)), **arrays)
    )


def write_cache_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a cache file through a temporary file renamed into place (readers never see half a file);
    a cache that cannot be written is simply skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix + ".tmp")
        os.close(fd)
    except OSError:
        return
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
