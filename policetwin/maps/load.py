"""One entry point for every map source, with an on-disk cache of compiled networks.

A map spec is one string:
- a bundled city name: ``coquimbo`` (default) or ``helsinki``;
- a file: ``.osm``, ``.osm.pbf``/``.pbf`` or ``.graphml``;
- ``place:Name, Country``: fetched with osmnx (needs internet), cached as GraphML;
- ``synthetic:N`` or ``synthetic:N:SEED``: a generated grid-like city of about N nodes (scale tests only).

Compiled networks are cached as ``.npz`` (no pickle) under ``$POLICETWIN_CACHE`` or ``~/.cache/policetwin``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from policetwin.errors import MapError
from policetwin.maps.bundled import BUNDLED_CITIES, helsinki_pbf_path, load_coquimbo
from policetwin.maps.io_util import write_npz_cache
from policetwin.maps.network import RoadNetwork

CACHE_FORMAT = 2
_ARRAYS = ("node_id", "lon", "lat", "x", "y", "edge_u", "edge_v", "length_m", "maxspeed_kph")


def cache_dir() -> Path:
    """Directory for cached maps (``$POLICETWIN_CACHE`` or ``~/.cache/policetwin``)."""
    root = os.environ.get("POLICETWIN_CACHE") or Path.home() / ".cache" / "policetwin"
    return Path(root) / "maps"


def describe_spec(spec: str) -> str:
    """What kind of source a spec names: ``bundled``, ``file``, ``place`` or ``synthetic``."""
    if spec in BUNDLED_CITIES:
        return "bundled"
    if spec.startswith("place:"):
        return "place"
    if spec.startswith("synthetic:"):
        return "synthetic"
    return "file"


def check_spec(spec: str, *, base_dir: Path | None = None) -> str | None:
    """A one-line problem with a map spec that can be seen without loading it, or None."""
    kind = describe_spec(spec)
    if kind == "file":
        path = resolve_path(spec, base_dir)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:  # e.g. a name longer than the file system allows
            shown = spec if len(spec) <= 80 else f"{spec[:60]}...{spec[-12:]} ({len(spec)} characters)"
            return f"map file {shown} cannot be used: {exc.strerror or exc}"
        if is_dir:
            return f"{path} is a directory; give a map file (.osm, .osm.pbf, .pbf or .graphml) inside it"
        if not is_file:
            return f"map file not found: {path} (or use a bundled city: {', '.join(BUNDLED_CITIES)})"
        if not _file_kind(path):
            return f"unsupported map file {path.name}: use .osm, .osm.pbf, .pbf or .graphml"
    if kind == "synthetic":
        try:
            _parse_synthetic(spec)
        except MapError as exc:
            return str(exc)
    if kind == "place" and not spec[6:].strip():
        return "place: needs a name, e.g. 'place:La Serena, Chile'"
    return None


def resolve_path(spec: str, base_dir: Path | None) -> Path:
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None and not exists_safely(path):
        path = base_dir / path
    return path


def exists_safely(path: Path) -> bool:
    """``path.exists()`` that answers False, not OSError, for names the file system cannot hold."""
    try:
        return path.exists()
    except OSError:
        return False


def _file_kind(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, kind in ((".osm.pbf", "pbf"), (".pbf", "pbf"), (".osm", "osm"), (".graphml", "graphml")):
        if name.endswith(suffix):
            return kind
    return None


def _parse_synthetic(spec: str) -> tuple[int, int]:
    parts = spec.split(":")[1:]
    try:
        n_nodes = int(parts[0])
        seed = int(parts[1]) if len(parts) > 1 else 0
    except (ValueError, IndexError):
        n_nodes, seed = -1, 0
    if n_nodes < 4 or len(parts) > 2:
        raise MapError(f"bad synthetic map spec {spec!r}: use synthetic:N or synthetic:N:SEED with N >= 4")
    return n_nodes, seed


def load_map(spec: str = "coquimbo", *, base_dir: Path | None = None, use_cache: bool = True) -> RoadNetwork:
    """Load (or fetch, or generate) the road network a spec names; compiled results are cached."""
    problem = check_spec(spec, base_dir=base_dir)
    if problem:
        raise MapError(problem)
    kind = describe_spec(spec)
    key = _cache_key(spec, kind, base_dir)
    cached = cache_dir() / f"{key}.npz"
    if use_cache and cached.is_file():
        try:
            return _read_npz(cached)
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)
    network = _load_uncached(spec, kind, base_dir)
    if use_cache:
        _write_npz(network, cached)
    return network


def _load_uncached(spec: str, kind: str, base_dir: Path | None) -> RoadNetwork:
    if kind == "bundled" and spec == "coquimbo":
        return load_coquimbo()
    if kind == "synthetic":
        from policetwin.maps.synthetic import synthetic_city

        n_nodes, seed = _parse_synthetic(spec)
        return synthetic_city(n_nodes=n_nodes, seed=seed)
    from policetwin.maps import osmfile

    if kind == "bundled":
        return osmfile.load_osm_file(helsinki_pbf_path(), name="helsinki")
    if kind == "place":
        return osmfile.fetch_place(spec[6:].strip(), cache=cache_dir())
    path = resolve_path(spec, base_dir)
    if _file_kind(path) == "graphml":
        return osmfile.load_graphml(path)
    return osmfile.load_osm_file(path)


def _cache_key(spec: str, kind: str, base_dir: Path | None) -> str:
    from policetwin import __version__

    ident: dict = {"spec": spec, "format": CACHE_FORMAT, "version": __version__}
    if kind == "file":
        path = resolve_path(spec, base_dir).resolve()
        stat = path.stat()
        ident.update(path=str(path), size=stat.st_size, mtime=stat.st_mtime_ns)
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() else "_" for c in spec)[-40:]
    return f"{safe}-{digest}"


def _write_npz(network: RoadNetwork, path: Path) -> None:
    meta = {
        "name": network.name,
        "source": network.source,
        "crs": network.crs,
        "synthetic": network.synthetic,
        "stats": network.stats,
    }
    arrays = {k: getattr(network, k) for k in _ARRAYS}
    write_npz_cache(path, arrays, meta=meta, highway=network.highway)


def _read_npz(path: Path) -> RoadNetwork:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in _ARRAYS}
        highway = data["highway"].astype(object)
    return RoadNetwork(
        name=meta["name"],
        source=meta["source"],
        crs=meta["crs"],
        synthetic=meta["synthetic"],
        stats=meta["stats"],
        highway=highway,
        **arrays,
    )
