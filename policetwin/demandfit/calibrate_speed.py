"""Travel-speed factors from CAD records: observed travel times (en route -> on scene) against the road
network's predictions from the unit's recorded position to the incident (both snapped to nodes).

A scenario's ``travel.speed_factor`` f makes travel take (network time) / f, so the overall factor is
sum(predicted) / sum(observed) (ratio of totals). Per road class and hour band, observed times are
regressed on the predicted seconds spent on each class, obs = sum_c pred_c / f_c (non-negative least
squares per band); classes with < 5% of the predicted time are pooled as ``other``. Trips whose ratio
observed/predicted is outside [0.2, 5] (a wrong position, a stop on the way) are counted and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from policetwin.maps.network import RoadNetwork
from policetwin.maps.router import MIN_EDGE_TIME_S
from policetwin.maps.snap import Snapper

RATIO_RANGE = (0.2, 5.0)
MIN_CLASS_SHARE = 0.05
DEFAULT_BANDS_H = (0, 6, 10, 16, 20)  # band starts (hours); the last band runs to the first


@dataclass
class SpeedFit:
    """The overall factor, and factors per road class (rows) and hour band (columns; NaN: too few trips)."""

    factor: float
    n_trips: int
    classes: list[str]
    bands: list[str]
    table: np.ndarray  # classes x (bands + all day)
    trips: np.ndarray  # trips per band (+ all day)
    class_share: np.ndarray  # share of predicted time per class
    dropped: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The factor table as text lines."""
        head = f"{'road class':<14}{'share':>7}" + "".join(f"{b:>9}" for b in [*self.bands, "all day"])
        rows = [head, f"{'(trips)':<21}" + "".join(f"{int(n):>9}" for n in self.trips)]
        for i, cls in enumerate(self.classes):
            cells = "".join(f"{v:>9.3f}" if np.isfinite(v) else f"{'-':>9}" for v in self.table[i])
            rows.append(f"{cls:<14}{100 * self.class_share[i]:>6.1f}%{cells}")
        return rows


def band_labels(bands_h: tuple[int, ...]) -> list[str]:
    """``00-06``-style labels of hour bands given by their starts."""
    ends = [*bands_h[1:], bands_h[0] + 24]
    return [f"{a:02d}-{b % 24:02d}" if b != 24 else f"{a:02d}-24" for a, b in zip(bands_h, ends, strict=True)]


def _base_class(highway: str) -> str:
    return highway.removesuffix("_link")


def class_seconds(network: RoadNetwork, edge_time_s: np.ndarray, origin: np.ndarray, dest: np.ndarray,
                  *, chunk: int = 128) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """Seconds each trip's fastest route spends on each road class: (trips x classes, class names)."""
    n = network.n_nodes
    u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
    t = np.maximum(edge_time_s, MIN_EDGE_TIME_S)
    order = np.lexsort((t, v, u))
    first = np.ones(order.size, dtype=bool)
    first[1:] = (u[order][1:] != u[order][:-1]) | (v[order][1:] != v[order][:-1])
    keep = order[first]  # the fastest of parallel edges, like the router
    names, cls = np.unique([_base_class(str(h)) for h in network.highway[keep]], return_inverse=True)
    key = u[keep] * n + v[keep]
    sort = np.argsort(key)
    key, e_time, e_cls = key[sort], t[keep][sort], cls[sort]
    reverse = csr_matrix((t[keep], (v[keep], u[keep])), shape=(n, n))
    out = np.zeros((origin.size, names.size))
    targets = np.unique(dest)
    for lo in range(0, targets.size, chunk):
        block = targets[lo : lo + chunk]
        _, pred = dijkstra(reverse, indices=block, return_predecessors=True)  # pred on reverse = next hop
        row_of = {int(d): i for i, d in enumerate(block)}
        trips = np.flatnonzero(np.isin(dest, block))
        rows = np.array([row_of[int(d)] for d in dest[trips]], dtype=np.int64)
        cur = origin[trips].copy()
        for _ in range(n):
            moving = (cur != dest[trips]) & (cur >= 0)
            if not moving.any():
                break
            nxt = pred[rows[moving], cur[moving]].astype(np.int64)
            ok = nxt >= 0
            idx = np.searchsorted(key, cur[moving][ok] * n + nxt[ok])
            np.add.at(out, (trips[moving][ok], e_cls[idx]), e_time[idx])
            step = np.full(moving.sum(), -1, dtype=np.int64)
            step[ok] = nxt[ok]
            cur[moving] = step
    return out, [str(c) for c in names]


def fit_speed(network: RoadNetwork, *, from_lon: np.ndarray, from_lat: np.ndarray, to_lon: np.ndarray,
              to_lat: np.ndarray, travel_s: np.ndarray, hour: np.ndarray, overrides_kph: dict | None = None,
              bands_h: tuple[int, ...] = DEFAULT_BANDS_H, max_snap_m: float = 250.0,
              min_trips: int = 20) -> SpeedFit:  # fmt: skip
    """Speed factors from observed travel times (s) between recorded positions (see the module docstring)."""
    dropped: dict[str, int] = {}
    ok = (
        np.isfinite(travel_s)
        & np.isfinite(from_lon)
        & np.isfinite(from_lat)
        & np.isfinite(to_lon)
        & np.isfinite(to_lat)
    )
    dropped["no unit position, incident position or travel time"] = int((~ok).sum())
    snapper = Snapper(network)
    a = np.full(travel_s.size, -1, dtype=np.int64)
    b = np.full(travel_s.size, -1, dtype=np.int64)
    da, db = np.full(travel_s.size, np.inf), np.full(travel_s.size, np.inf)
    if ok.any():
        a[ok], da[ok] = snapper.nearest(from_lon[ok], from_lat[ok])
        b[ok], db[ok] = snapper.nearest(to_lon[ok], to_lat[ok])
    far = ok & ((da > max_snap_m) | (db > max_snap_m))
    dropped[f"a position > {max_snap_m:g} m from the map"] = int(far.sum())
    same = ok & ~far & (a == b)
    dropped["unit already at the incident's node"] = int(same.sum())
    use = ok & ~far & ~same & (travel_s > 0)
    dropped["travel time <= 0"] = int((ok & ~far & ~same & ~(travel_s > 0)).sum())
    edge_s = network.travel_times_s(overrides_kph=overrides_kph)
    seconds, names = class_seconds(network, edge_s, a[use], b[use])
    pred = seconds.sum(axis=1)
    ratio = travel_s[use] / np.maximum(pred, 1e-9)
    plausible = (ratio >= RATIO_RANGE[0]) & (ratio <= RATIO_RANGE[1])
    dropped[f"observed/predicted outside {RATIO_RANGE[0]:g}-{RATIO_RANGE[1]:g}"] = int((~plausible).sum())
    seconds, pred, obs = seconds[plausible], pred[plausible], travel_s[use][plausible]
    band_of = np.searchsorted(np.asarray(bands_h), np.asarray(hour)[use][plausible] % 24, side="right") - 1
    band_of[band_of < 0] = len(bands_h) - 1  # before the first start: the last band (wraps midnight)
    if obs.size == 0:
        from policetwin.demandfit.read import DataError

        raise DataError("no CAD row gives a usable travel time (unit position, incident position, en-route "
                        "and arrival times): " + "; ".join(f"{r}: {n:,}" for r, n in dropped.items() if n))  # fmt: skip
    share = seconds.sum(axis=0) / seconds.sum()
    main = share >= MIN_CLASS_SHARE
    columns = [names[i] for i in np.flatnonzero(main)]
    design = seconds[:, main]
    if (~main).any():
        design = np.column_stack([design, seconds[:, ~main].sum(axis=1)])
        columns.append("other")
    col_share = np.append(share[main], share[~main].sum()) if (~main).any() else share[main]
    labels = band_labels(tuple(bands_h))
    table = np.full((len(columns) + 1, len(labels) + 1), np.nan)
    trips = np.zeros(len(labels) + 1, dtype=np.int64)
    for j in range(len(labels) + 1):
        sel = band_of == j if j < len(labels) else np.ones(obs.size, dtype=bool)
        trips[j] = int(sel.sum())
        if trips[j] < min_trips:
            continue
        table[-1, j] = pred[sel].sum() / obs[sel].sum()
        enough = (design[sel] > 0).sum(axis=0) >= min_trips
        if enough.any():
            inv, _ = nnls(design[sel][:, enough], obs[sel])
            with np.errstate(divide="ignore"):
                table[np.flatnonzero(enough), j] = np.where(inv > 0, 1.0 / inv, np.nan)
    dropped = {r: n for r, n in dropped.items() if n}
    return SpeedFit(float(pred.sum() / obs.sum()), int(obs.size), [*columns, "all classes"], labels, table,
                    trips, np.append(col_share, 1.0), dropped)  # fmt: skip
