"""Replay data: where every unit is and which incidents are open at time t, served to the browser one
time window (chunk) at a time, and the static map geometry in :mod:`policetwin.dashboard.replay_map`.

Unit positions are *keyframes* (t, lon, lat) per unit with linear interpolation in between — exactly the
semantics of ``trips.parquet`` (a unit waits at ``route[0]`` until ``route_t[0]``, moves linearly between
consecutive route nodes, a trip cut short ends at an interpolated point at ``t_end``; between trips a unit
stays where it was). The browser interpolates (assets/replay.js, :func:`positions_at` is the reference).
Runs without ``trips.parquet`` get an approximation from ``units.parquet``: straight lines between the
unit's home and its calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from policetwin.dashboard.replay_map import incident_frame, node_table, stations
from policetwin.dashboard.rundata import RunData, RunDirError, _short

#: Unit states in code order (units.parquet ``state``); anything else is code ``len(STATES)``.
STATES = ("idle", "patrol", "enroute", "onscene", "returning", "off_shift", "meal_break", "self_initiated")
STATE_COLOURS = (
    "#7f8c8d",  # idle
    "#2e86de",  # patrol
    "#e67e22",  # enroute
    "#c0392b",  # onscene
    "#27ae60",  # returning
    "#d0d3d4",  # off_shift
    "#8e44ad",  # meal_break
    "#16a085",  # self_initiated
    "#000000",  # other
)
PRIORITY_COLOURS = {1: "#d62728", 2: "#ff7f0e", 3: "#e6c229"}
OTHER_PRIORITY_COLOUR = "#8c564b"
#: Seconds of simulated time per chunk sent to the browser.
CHUNK_S = 3600.0
#: At most this many incidents per chunk (most urgent first): a 1M-call run never floods the browser.
MAX_INCIDENTS_PER_CHUNK = 20_000


@dataclass(frozen=True)
class Tracks:
    """Keyframes and state changes of every unit, concatenated; unit i owns ``kf_off[i]:kf_off[i+1]``."""

    unit_ids: tuple[str, ...]
    kf_off: np.ndarray
    kf_t: np.ndarray
    kf_lon: np.ndarray
    kf_lat: np.ndarray
    st_off: np.ndarray
    st_t: np.ndarray
    st_code: np.ndarray
    approximate: bool


def state_codes(states: pd.Series) -> np.ndarray:
    """Integer state codes (index in :data:`STATES`, unknown states ``len(STATES)``)."""
    lookup = {s: i for i, s in enumerate(STATES)}
    return np.array([lookup.get(str(s), len(STATES)) for s in states], dtype=np.int16)


def _home_positions(run: RunData, unit_ids: list[str]) -> dict[str, tuple[float, float]]:
    """A unit's home: the station (or group station) its id starts with; longest name wins."""
    places = {name: (lon, lat) for name, lon, lat in stations(run)}
    groups = (run.scenario.get("units") or {}).get("groups") or []
    for g in groups if isinstance(groups, list) else []:
        if isinstance(g, dict) and g.get("station") in places:
            places.setdefault(str(g.get("name")), places[g["station"]])
    names = sorted(places, key=len, reverse=True)
    homes = {}
    for uid in unit_ids:
        match = next((n for n in names if uid.startswith(n)), None)
        if match is not None:
            homes[uid] = places[match]
    return homes


def tracks(run: RunData) -> Tracks:
    """Unit tracks of a run (cached): from ``trips.parquet`` + ``nodes.parquet``, else approximate."""
    return run.memo("tracks", lambda: _build_tracks(run))


def approximate(run: RunData) -> bool:
    """Whether the tracks are approximate (no ``trips.parquet`` or ``nodes.parquet``), without building them."""
    return not (run.has("trips.parquet") and run.has("nodes.parquet"))


def _build_tracks(run: RunData) -> Tracks:
    log = (
        run.table(
            "units.parquet", columns=["unit_id", "state", "t_start", "t_end", "incident_id"], cache=False
        )
        if run.has("units.parquet")
        else pd.DataFrame({"unit_id": [], "state": [], "t_start": [], "t_end": []})
    )
    log = log.sort_values(["unit_id", "t_start"], kind="stable")
    nodes = node_table(run)
    unit_ids = sorted(set(log.unit_id.astype(str)))
    if not approximate(run):
        try:
            table = pq.read_table(
                run.path / "trips.parquet", columns=["unit_id", "t_start", "t_end", "route", "route_t"]
            )
        except Exception as exc:
            raise RunDirError(
                "err.bad_parquet", path=str(run.path), file="trips.parquet", detail=_short(exc)
            ) from None
        unit_ids = sorted(set(unit_ids) | set(table.column("unit_id").to_pylist()))
        kf = _keyframes_from_trips(table, nodes, unit_ids)
    else:
        kf = _keyframes_from_log(run, log, unit_ids)
    # units that never moved: at home
    homes = _home_positions(run, unit_ids)
    idx = {u: i for i, u in enumerate(unit_ids)}
    present = np.zeros(len(unit_ids), bool)
    present[np.unique(kf[0])] = True
    extra = [(idx[u], 0.0, *homes[u]) for u in unit_ids if not present[idx[u]] and u in homes]
    if extra:
        e = np.array(extra, dtype=float).T
        kf = tuple(
            np.concatenate([a, b]) for a, b in zip(kf, (e[0].astype(np.int64), e[1], e[2], e[3]), strict=True)
        )
    unit, t, lon, lat = kf
    order = np.lexsort((t, unit))
    unit, t, lon, lat = unit[order], t[order], lon[order], lat[order]
    kf_off = np.searchsorted(unit, np.arange(len(unit_ids) + 1))
    codes = state_codes(log.state)
    st_unit = np.array([idx[u] for u in log.unit_id.astype(str)], dtype=np.int64)
    st_order = np.lexsort((log.t_start.to_numpy(), st_unit))
    st_unit = st_unit[st_order]
    st_off = np.searchsorted(st_unit, np.arange(len(unit_ids) + 1))
    return Tracks(
        tuple(unit_ids),
        kf_off,
        t,
        lon,
        lat,
        st_off,
        log.t_start.to_numpy(float)[st_order],
        codes[st_order],
        approximate(run),
    )


def _keyframes_from_trips(table, nodes: pd.DataFrame, unit_ids: list[str]):
    """(unit index, t, lon, lat) arrays from trips: a start point, route points up to t_end, cut point."""
    idx = {u: i for i, u in enumerate(unit_ids)}
    unit = np.array([idx[u] for u in table.column("unit_id").to_pylist()], dtype=np.int64)
    t_start = table.column("t_start").to_numpy().astype(float)
    t_end = table.column("t_end").to_numpy().astype(float)
    route, route_t = table.column("route").combine_chunks(), table.column("route_t").combine_chunks()
    parent = pc.list_parent_indices(route).to_numpy()
    flat_nodes = pc.list_flatten(route).to_numpy(zero_copy_only=False)
    flat_t = pc.list_flatten(route_t).to_numpy(zero_copy_only=False).astype(float)
    where = nodes.index.get_indexer(flat_nodes)
    known = where >= 0
    parent, flat_t, where = parent[known], flat_t[known], where[known]
    lon = nodes.lon.to_numpy(float)[where]
    lat = nodes.lat.to_numpy(float)[where]
    # start: the unit waits at route[0] from t_start
    first = np.ones(parent.size, bool)
    first[1:] = parent[1:] != parent[:-1]
    keep = flat_t <= t_end[parent]
    # cut short: interpolate between the last kept point and the first one past t_end
    prev_kept = np.zeros(parent.size, bool)
    prev_kept[1:] = keep[:-1] & ~keep[1:] & (parent[1:] == parent[:-1])
    j = np.flatnonzero(prev_kept)
    i = j - 1
    span = flat_t[j] - flat_t[i]
    frac = np.where(span > 0, (t_end[parent[j]] - flat_t[i]) / np.where(span > 0, span, 1.0), 1.0)
    cut_lon, cut_lat = lon[i] + frac * (lon[j] - lon[i]), lat[i] + frac * (lat[j] - lat[i])
    parts = (
        (unit[parent[first]], t_start[parent[first]], lon[first], lat[first]),
        (unit[parent[keep]], flat_t[keep], lon[keep], lat[keep]),
        (unit[parent[j]], t_end[parent[j]], cut_lon, cut_lat),
    )
    return tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))


def _keyframes_from_log(run: RunData, log: pd.DataFrame, unit_ids: list[str]):
    """Approximate keyframes from the state log: straight lines home -> call -> home."""
    homes = _home_positions(run, unit_ids)
    where: dict[int, tuple[float, float]] = {}
    if run.has("incidents.parquet") and "incident_id" in log:
        inc = incident_frame(run)
        where = dict(
            zip(inc.incident_id.tolist(), zip(inc.lon.tolist(), inc.lat.tolist(), strict=True), strict=True)
        )
    idx = {u: i for i, u in enumerate(unit_ids)}
    rows: list[tuple[int, float, float, float]] = []
    inc_ids = log["incident_id"] if "incident_id" in log else pd.Series([None] * len(log))
    for uid, state, a, b, inc in zip(log.unit_id.astype(str), log.state.astype(str), log.t_start, log.t_end,
                                     inc_ids, strict=True):  # fmt: skip
        home = homes.get(uid)
        target = where.get(int(inc)) if inc is not None and not pd.isna(inc) else None
        u = idx[uid]
        if not rows or rows[-1][0] != u:
            if home is None and target is None:
                continue
            start = home or target
            rows.append((u, 0.0, *start))  # type: ignore[arg-type]
        pos = rows[-1][2:]
        if state == "enroute" and target is not None:
            rows += [(u, float(a), *pos), (u, float(b), *target)]
        elif state == "onscene" and target is not None:
            rows += [(u, float(a), *target)]
        elif state == "returning" and home is not None:
            rows += [(u, float(a), *pos), (u, float(b), *home)]
    if not rows:
        return (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    arr = np.array(rows, dtype=float)
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3]


def positions_at(tr: Tracks, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, state code) of every unit at ``t_s`` (NaN where a unit has no position). The reference
    for the browser's interpolation in assets/replay.js."""
    n = len(tr.unit_ids)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    code = np.zeros(n, np.int16)
    for u in range(n):
        a, b = tr.kf_off[u], tr.kf_off[u + 1]
        if b > a:
            ts = tr.kf_t[a:b]
            i = int(np.searchsorted(ts, t_s, side="right")) - 1
            if i < 0:
                lon[u], lat[u] = tr.kf_lon[a], tr.kf_lat[a]
            elif i + 1 < b - a and ts[i + 1] > ts[i]:
                f = (t_s - ts[i]) / (ts[i + 1] - ts[i])
                lon[u] = tr.kf_lon[a + i] + f * (tr.kf_lon[a + i + 1] - tr.kf_lon[a + i])
                lat[u] = tr.kf_lat[a + i] + f * (tr.kf_lat[a + i + 1] - tr.kf_lat[a + i])
            else:
                lon[u], lat[u] = tr.kf_lon[a + i], tr.kf_lat[a + i]
        c, d = tr.st_off[u], tr.st_off[u + 1]
        if d > c:
            j = int(np.searchsorted(tr.st_t[c:d], t_s, side="right")) - 1
            code[u] = tr.st_code[c + max(j, 0)]
    return lon, lat, code


def chunk(run: RunData, index: int) -> dict:
    """The replay data of chunk ``index`` (``[index, index + 1) * CHUNK_S``): per unit the keyframes and
    state changes that cover the window, and the incidents open during it (at most
    :data:`MAX_INCIDENTS_PER_CHUNK`, most urgent first). JSON-ready lists, rounded (0.1 s, ~1 m)."""
    t0, t1 = index * CHUNK_S, (index + 1) * CHUNK_S
    tr = tracks(run)
    kt, kl, kb, st = [], [], [], []
    for u in range(len(tr.unit_ids)):
        a, b = int(tr.kf_off[u]), int(tr.kf_off[u + 1])
        ts = tr.kf_t[a:b]
        lo = max(int(np.searchsorted(ts, t0, side="right")) - 1, 0)
        hi = min(int(np.searchsorted(ts, t1, side="left")) + 1, b - a)
        sl = slice(a + lo, a + hi)
        kt.append(np.round(tr.kf_t[sl], 1).tolist())
        kl.append(np.round(tr.kf_lon[sl], 6).tolist())
        kb.append(np.round(tr.kf_lat[sl], 6).tolist())
        c, d = int(tr.st_off[u]), int(tr.st_off[u + 1])
        sts = tr.st_t[c:d]
        lo = max(int(np.searchsorted(sts, t0, side="right")) - 1, 0)
        hi = int(np.searchsorted(sts, t1, side="left"))
        st.append([np.round(sts[lo:hi], 1).tolist(), tr.st_code[c + lo : c + hi].tolist()])
    data: dict = {
        "t0": t0,
        "t1": t1,
        "units": {"ids": list(tr.unit_ids), "t": kt, "lon": kl, "lat": kb, "st": st},
    }
    data["incidents"] = incident_window(run, t0, t1)
    return data


def incident_window(run: RunData, t0: float, t1: float, cap: int = MAX_INCIDENTS_PER_CHUNK) -> dict:
    """Incidents open at some time in ``[t0, t1)``: called before t1, not cleared before t0."""
    if not run.has("incidents.parquet"):
        return {"id": [], "p": [], "lon": [], "lat": [], "tc": [], "tx": [], "k": [], "kinds": [], "total": 0}
    inc = incident_frame(run)
    tc = inc.t_call.to_numpy()
    hi = int(np.searchsorted(tc, t1, side="left"))
    head = inc.iloc[:hi]
    tx = head.t_clear.to_numpy()
    sel = head[~(tx < t0)]
    total = len(sel)
    if total > cap:
        sel = sel.sort_values(["priority", "t_call"], kind="stable").head(cap)
    clear = sel.t_clear.to_numpy(float)
    clear = np.where(np.isfinite(clear), clear, 1e12)
    return {
        "id": sel.incident_id.astype(np.int64).tolist(),
        "p": sel.priority.astype(np.int64).tolist(),
        "lon": np.round(sel.lon.to_numpy(float), 6).tolist(),
        "lat": np.round(sel.lat.to_numpy(float), 6).tolist(),
        "tc": np.round(sel.t_call.to_numpy(float), 1).tolist(),
        "tx": np.round(clear, 1).tolist(),
        "k": sel.kind.cat.codes.astype(int).tolist(),
        "kinds": [str(k) for k in inc.kind.cat.categories],
        "total": total,
    }
