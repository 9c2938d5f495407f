"""A large event's data from a run directory (``crowd.parquet``, ``gates.parquet``, ``walk_links.parquet``,
``summary.json`` ``event`` block, ``scenario.yaml`` ``event:``, incidents with ``source`` ``crowd``), made into
small frames for the KPIs page and a compact payload for the replay (drawn in the browser at time t).

Venue, ring and gate geometry come from ``summary.event.geometry`` (written by the run); runs made before
it have venue and rings rebuilt from the scenario (circles and buffers on a local flat approximation).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from policetwin.dashboard.i18n import start_offset_s
from policetwin.dashboard.rundata import RunData

#: Fruin's levels of service, best first, and their colours on the map and in figures.
LOS_LEVELS = ("A", "B", "C", "D", "E", "F")
LOS_COLOURS = ("#2ca02c", "#8bc34a", "#f1c40f", "#ff9800", "#e53935", "#7b1fa2")
#: At most this many time bins go to the browser (longer runs merge bins, keeping the worst level).
MAX_REPLAY_BINS = 360
#: Degrees per integer unit of walk-link coordinates sent to the browser (~1 m).
COORD_SCALE = 1e-5
CROWD_SOURCE = "crowd"


def has_event(run: RunData) -> bool:
    """True if the run has an event (its crowd and gate files)."""
    return run.has("crowd.parquet") and run.has("gates.parquet")


def event_block(run: RunData) -> dict:
    """``summary.json``'s ``event`` block (``{}`` if none)."""
    block = run.summary.get("event")
    return block if isinstance(block, dict) else {}


def _circle(lon: float, lat: float, radius_m: float, n: int = 64) -> list[list[float]]:
    ang = np.linspace(0, 2 * np.pi, n + 1)
    dlat = radius_m / 111_320.0
    dlon = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
    return np.round(np.column_stack([lon + dlon * np.cos(ang), lat + dlat * np.sin(ang)]), 6).tolist()


def geometry(run: RunData) -> dict:
    """``{"venue": [[lon, lat], ...], "rings": [{"name", "outline"}], "gates": [{"name", "ring", "lanes",
    "lon", "lat"}]}`` from the summary, else rebuilt from the scenario (empty lists where unknown)."""

    def load() -> dict:
        geo = event_block(run).get("geometry")
        if isinstance(geo, dict) and isinstance(geo.get("rings"), list):
            return {"venue": geo.get("venue") or [], "rings": geo["rings"], "gates": geo.get("gates") or []}
        spec = run.scenario.get("event") if isinstance(run.scenario.get("event"), dict) else {}
        venue = spec.get("venue") or {}
        out: dict = {"venue": [], "rings": [], "gates": []}
        centre = (venue.get("lon"), venue.get("lat"), float(venue.get("radius_m") or 0.0))
        if isinstance(venue.get("polygon"), list):
            out["venue"] = [[float(x), float(y)] for x, y in venue["polygon"]]
        elif centre[0] is not None and centre[1] is not None:
            out["venue"] = _circle(float(centre[0]), float(centre[1]), centre[2])
        for ring in spec.get("rings") or []:
            if isinstance(ring.get("polygon"), list):
                outline = [[float(x), float(y)] for x, y in ring["polygon"]]
            elif centre[0] is not None and ring.get("buffer_m") is not None:
                outline = _circle(float(centre[0]), float(centre[1]), centre[2] + float(ring["buffer_m"]))
            else:
                continue
            out["rings"].append({"name": str(ring.get("name", "")), "outline": outline})
        out["gates"] = [{"name": str(g.get("name", "")), "ring": str(g.get("ring", "")), "lanes": g.get("lanes"),
                         "lon": float(g["lon"]), "lat": float(g["lat"])}
                        for g in spec.get("gates") or [] if "lon" in g and "lat" in g]  # fmt: skip
        return out

    return run.memo("event_geometry", load)


def event_times(run: RunData) -> tuple[float | None, float | None]:
    """The event's start and end in seconds from the run's start (None if unknown). Clock times ``HH:MM``
    are the first such time at or after the scenario's start, as the schema reads them."""
    spec = run.scenario.get("event") if isinstance(run.scenario.get("event"), dict) else {}
    offset, _ = start_offset_s(run.start)
    out: list[float | None] = []
    for key in ("start", "end"):
        value = spec.get(key)
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value)) if value is not None else None
        if m:
            out.append((int(m[1]) * 3600 + int(m[2]) * 60 - offset % 86400) % 86400)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(float(value))
        else:
            out.append(None)
    return out[0], out[1]


def crowd(run: RunData) -> pd.DataFrame:
    """``crowd.parquet`` (the columns the dashboard uses)."""
    cols = ["t_start_s", "t_end_s", "edge", "people", "density_p_m2", "peak_density_p_m2", "los"]
    frame = run.table("crowd.parquet", columns=cols)
    frame = frame.assign(los=frame["los"].astype(str))
    return frame


def gates(run: RunData) -> pd.DataFrame:
    """``gates.parquet``."""
    return run.table("gates.parquet")


def walk_links(run: RunData) -> pd.DataFrame | None:
    """``walk_links.parquet`` indexed by ``edge`` (None without it)."""
    if not run.has("walk_links.parquet"):
        return None
    return run.table("walk_links.parquet").set_index("edge")


def crowd_incidents(run: RunData) -> pd.DataFrame:
    """Incidents that came from the crowd (``source == "crowd"``), by call time."""
    if not run.has("incidents.parquet"):
        return pd.DataFrame()
    inc = run.table("incidents.parquet")
    if "source" not in inc:
        return inc.iloc[0:0]
    return inc[inc["source"].astype(str) == CROWD_SOURCE].sort_values("t_call")


def bin_grid(frame: pd.DataFrame) -> tuple[float, float, int]:
    """(first bin start, bin length, number of bins) of a table with ``t_start_s`` / ``t_end_s``."""
    starts = np.unique(frame["t_start_s"].to_numpy(float)) if len(frame) else np.zeros(1)
    steps = np.diff(starts)
    bin_s = float(steps.min()) if steps.size and steps.min() > 0 else 60.0
    t0 = float(starts[0])
    end = float(frame["t_end_s"].max()) if len(frame) else t0 + bin_s
    return t0, bin_s, max(1, math.ceil((end - t0) / bin_s - 1e-9))


def los_codes(levels: pd.Series) -> np.ndarray:
    """0-5 for LOS A-F (-1 for anything else)."""
    lookup = {name: i for i, name in enumerate(LOS_LEVELS)}
    return levels.astype(str).map(lookup).fillna(-1).astype(int).to_numpy()
