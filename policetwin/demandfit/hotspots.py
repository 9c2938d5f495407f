"""Forecast-driven hotspot patrol (``units.groups[].forecast``): a ``demand predict`` forecast's top cells,
snapped to the nodes of the group's beat, become the group's hotspots (instead of the demand weights).

Defaults: the latest origin in the file, and the method ``hawkes`` if the file has it, else
``prospective``, else ``kde`` (the methods that weigh recent incidents first). A cell counts only if a
beat node lies within one cell size of its centre; cells that snap to a node already taken are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

#: Default method order: the first one the forecast holds.
PREFERRED = ("hawkes", "prospective", "kde")


def _meta(path: Path) -> dict:
    """The forecast's ``policetwin`` metadata (ValueError when the file is not a forecast)."""
    import json

    import pyarrow.parquet as pq

    try:
        meta = json.loads(pq.read_schema(path).metadata[b"policetwin"])
        if "grid" not in meta:
            raise KeyError("grid")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{path}: not a forecast written by `policetwin demand predict` ({type(exc).__name__})"
        ) from None
    return meta


def _select(path: Path, method: str | None, origin: str | None):
    """Rows of one origin and method: (frame, method, origin); ValueError naming what the file has."""
    import pandas as pd

    meta = _meta(path)
    frame = pd.read_parquet(path, columns=["origin", "method", "cell", "score"])
    methods = list(dict.fromkeys(frame["method"].astype(str)))
    chosen = method or next((m for m in PREFERRED if m in methods), methods[0] if methods else None)
    if chosen not in methods:
        raise ValueError(f"forecast {path.name} has no method {chosen!r}; it has: {', '.join(methods)}")
    origins = frame["origin"].drop_duplicates().sort_values()
    if origin is None:
        when = origins.iloc[-1]
    else:
        try:
            when = pd.Timestamp(origin)
        except ValueError:
            raise ValueError(f"forecast origin {origin!r}: use an ISO date such as 2019-01-07") from None
        if when not in set(origins):
            have = ", ".join(str(o.date()) for o in origins.iloc[:5]) + (" ..." if len(origins) > 5 else "")
            raise ValueError(f"forecast {path.name} has no origin {origin}; origins: {have}")
    rows = frame[(frame["method"] == chosen) & (frame["origin"] == when)]
    return rows, meta, chosen, when


def check_forecast(file: str, *, method: str | None, origin: str | None) -> str | None:
    """A message when the file is missing, not a forecast, or lacks the method or origin; else None."""
    path = Path(file).expanduser()
    if not path.is_file():
        return f"forecast file not found: {file} (write one with `policetwin demand predict`)"
    try:
        _select(path, method, origin)
    except ValueError as exc:
        return str(exc)
    return None


def forecast_nodes(file: str, *, method: str | None, origin: str | None, snapper, beat_nodes: np.ndarray,
                   count: int) -> np.ndarray:  # fmt: skip
    """Up to ``count`` beat nodes under the forecast's top cells, best first (see the module docstring)."""
    from policetwin.demandfit.space import Grid, Projection

    rows, meta, _, _ = _select(Path(file).expanduser(), method, origin)
    grid, proj = Grid(*meta["grid"]), Projection(meta["lon0"], meta["lat0"])
    order = np.argsort(-rows["score"].to_numpy(dtype=float), kind="stable")
    cells = rows["cell"].to_numpy(dtype=np.int64)[order]
    i, j = cells // grid.ny, cells % grid.ny
    lon, lat = proj.to_lonlat(grid.x0 + (i + 0.5) * grid.cell_m, grid.y0 + (j + 0.5) * grid.cell_m)
    x, y = snapper.to_xy(lon, lat)
    net = snapper.network
    tree = cKDTree(np.column_stack([net.x[beat_nodes], net.y[beat_nodes]]))
    dist, idx = tree.query(np.column_stack([x, y]))
    picks: list[int] = []
    for d, k in zip(dist.tolist(), idx.tolist(), strict=True):
        node = int(beat_nodes[k])
        if d <= grid.cell_m and node not in picks:
            picks.append(node)
            if len(picks) == count:
                break
    return np.asarray(picks, dtype=np.int64)
