"""Hotspot forecasts and their scores: KDE, prospective (near-repeat weighted) and fitted Hawkes intensity,
for rolling origins, scored by hit rate, PAI and PEI at given area coverage against the uniform baseline
(PAI 1 by construction) and the last-period baseline (last period's counts per cell).

The study area is the cells that held any training incident (the data's footprint): PAI = hit rate / area
share of the study area. Ties in a forecast are broken by expectation (random order among equal cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from policetwin.demandfit.hawkes_em import HawkesFit, fit_hawkes
from policetwin.demandfit.space import Grid, Projection, choose_bandwidth, smooth

METHODS = ("kde", "prospective", "hawkes")
PROSPECTIVE_DAYS = 28.0  # near-repeat weight e^(-age / 28 d) (Bowers et al. 2004 use weeks-scale decay)


@dataclass
class ForecastSetup:
    """Grid, projection and study area shared by all origins and methods."""

    proj: Projection
    grid: Grid
    study: np.ndarray  # flat indices of study cells
    bandwidth_m: float


def setup(lon: np.ndarray, lat: np.ndarray, *, cell_m: float, bandwidth_m: float) -> ForecastSetup:
    """The forecast grid over the training data; study area = cells holding any training incident."""
    proj = Projection.around(lon, lat)
    x, y = proj.to_xy(lon, lat)
    grid = Grid.covering(x, y, cell_m=cell_m, pad_m=cell_m)
    study = np.flatnonzero(grid.counts(x, y).ravel() > 0)
    return ForecastSetup(proj, grid, study, bandwidth_m)


def forecasts(t_s: np.ndarray, x: np.ndarray, y: np.ndarray, fs: ForecastSetup, *, origins_s: list[float],
              horizon_s: float, hawkes: HawkesFit | None, methods=METHODS) -> pd.DataFrame:  # fmt: skip
    """Scores per (origin, method, study cell): expected relative intensity over [origin, origin + horizon)."""
    g, rows = fs.grid, []
    for origin in origins_s:
        past = t_s < origin
        tp, xp, yp = t_s[past], x[past], y[past]
        for method in methods:
            if method == "kde":
                surface = smooth(g.counts(xp, yp), g, fs.bandwidth_m)
            elif method == "prospective":
                w = np.exp(-(origin - tp) / (PROSPECTIVE_DAYS * 86400.0))
                surface = smooth(g.counts(xp, yp, w), g, fs.bandwidth_m)
            elif method == "hawkes" and hawkes is not None:
                surface = hawkes_surface(tp, xp, yp, fs, hawkes, origin_s=origin, horizon_s=horizon_s)
            else:
                continue
            score = surface.ravel()[fs.study]
            rows.append(pd.DataFrame({"origin": np.datetime64(int(origin), "s"), "method": method,
                                      "cell": fs.study.astype(np.int32), "score": score.astype(np.float32)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def hawkes_surface(
    tp, xp, yp, fs: ForecastSetup, h: HawkesFit, *, origin_s: float, horizon_s: float
) -> np.ndarray:
    """Expected events per cell in the horizon: background (KDE of the past) + triggering from past events."""
    g = fs.grid
    past_kde = smooth(g.counts(xp, yp), g, fs.bandwidth_m)
    bg = h.mu_per_s * horizon_s * past_kde / max(past_kde.sum(), 1e-300)
    age = origin_s - tp
    recent = age < h.max_dt_s + horizon_s
    w_tr = h.branching_ratio * (
        np.exp(-age[recent] / h.trigger_time_s) - np.exp(-(age[recent] + horizon_s) / h.trigger_time_s)
    )
    trig = smooth(g.counts(xp[recent], yp[recent], w_tr), g, h.trigger_sd_m) if recent.any() else 0.0
    return bg + trig


def fit_for_forecast(t_s, x, y, fs: ForecastSetup, *, until_s: float) -> HawkesFit:
    """Hawkes parameters from the training data (before ``until_s``), background bandwidth by held-out
    likelihood on a 50 m grid like ``demand fit`` (a coarse background inflates the branching ratio)."""
    months = t_s.astype("datetime64[s]").astype("datetime64[M]")
    uniq, counts = np.unique(months[t_s < until_s], return_counts=True)
    since = float(uniq[counts >= 0.1 * np.quantile(counts, 0.9)][0].astype("datetime64[s]").astype(float))
    train = (t_s < until_s) & (t_s >= since)  # the data's main period (stray old records left out)
    grid = Grid.covering(x[train], y[train], cell_m=50.0)
    bandwidth = choose_bandwidth(x[train], y[train], t_s[train], grid).bandwidth_m  # as `demand fit` does
    return fit_hawkes(t_s[train], x[train], y[train], since_s=since, until_s=until_s, grid=grid,
                      bandwidth_m=bandwidth, max_dt_s=30 * 86400.0, max_dr_m=500.0)  # fmt: skip


def _hits_at(order_score: np.ndarray, counts: np.ndarray, k: float) -> float:
    """Expected hits in the top ``k`` cells by score, ties broken at random (in expectation)."""
    order = np.argsort(-order_score, kind="stable")
    s, c = order_score[order], counts[order]
    kk = int(np.floor(k))
    if kk >= s.size:
        return float(c.sum())
    edge = s[kk] if kk < s.size else s[-1]
    above = s > edge
    tie = s == edge
    take = k - above.sum()
    return float(c[above].sum() + (c[tie].sum() * take / tie.sum() if tie.any() else 0.0))


def score_period(score: np.ndarray, counts: np.ndarray, coverage: list[float]) -> list[dict]:
    """Hit rate, PAI and PEI at each area coverage (fractions) for one forecast and the period's counts."""
    total = counts.sum()
    out = []
    for c in coverage:
        k = c * score.size
        hits = _hits_at(score, counts, k)
        best = _hits_at(counts.astype(float), counts, k)
        hit_rate = hits / total if total else np.nan
        out.append({"coverage": c, "hit_rate": hit_rate, "pai": hit_rate / c if total else np.nan,
                    "pei": hits / best if best else np.nan})  # fmt: skip
    return out


def score_forecast(
    fc: pd.DataFrame, t_s, x, y, grid: Grid, *, horizon_s: float, coverage: list[float]
) -> pd.DataFrame:
    """Scores per origin and method, plus the uniform and last-period baselines."""
    flat_all = grid.flat(x, y)
    rows = []
    for origin, group in fc.groupby("origin", sort=True):
        o = float(pd.Timestamp(origin).value / 1e9)
        study = group["cell"].to_numpy()[group["method"].to_numpy() == group["method"].iloc[0]]
        pos = np.full(grid.nx * grid.ny, -1, dtype=np.int64)
        pos[study] = np.arange(study.size)

        def cell_counts(lo: float, hi: float, pos=pos, n=study.size) -> np.ndarray:
            sel = pos[flat_all[(t_s >= lo) & (t_s < hi)]]
            counts = np.bincount(sel[sel >= 0], minlength=n).astype(float)
            return counts, int((sel < 0).sum())

        counts, outside = cell_counts(o, o + horizon_s)
        counts_all = counts.sum() + outside  # incidents outside the study area are misses
        last, _ = cell_counts(o - horizon_s, o)
        pieces = {m: g["score"].to_numpy(dtype=float) for m, g in group.groupby("method", sort=False)}
        pieces["last_period"] = last
        for method, score in pieces.items():
            for r in score_period(score, counts, coverage):
                scale = counts.sum() / counts_all if counts_all else np.nan
                rows.append({"origin": origin, "method": method, **r, "hit_rate": r["hit_rate"] * scale,
                             "pai": r["pai"] * scale, "events": int(counts_all)})  # fmt: skip
        for c in coverage:
            share = counts.sum() / counts_all if counts_all else np.nan
            rows.append({"origin": origin, "method": "uniform", "coverage": c, "hit_rate": c * share, "pai": share,
                         "pei": np.nan, "events": int(counts_all)})  # fmt: skip
    return pd.DataFrame(rows)
