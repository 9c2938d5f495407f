"""Space-time Hawkes (ETAS-type) fit by expectation-maximisation, after Mohler et al. (2011).

Intensity: ``λ(t, x) = μ ν(t) g(x) + Σ_{t_j < t} θ ω e^{-ω (t - t_j)} N(x - x_j; σ²)`` with ν the hour-of-week
profile (mean 1), g a planar KDE density (both re-estimated from the background weights each iteration),
θ the branching ratio (expected offspring per event), 1/ω the mean trigger delay and σ the trigger spread.
Scalable by space-time neighbour lists: triggering is truncated at ``max_dt_s`` and ``max_dr_m`` (the
kernels are renormalised inside, and ω, σ are fitted as truncated maximum-likelihood estimates), pairs found
with a ``cKDTree`` on scaled (x, y, t) under the max-norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.spatial import cKDTree

from policetwin.demandfit.profile import SMOOTH, hour_of_week, hours_observed
from policetwin.demandfit.space import Grid, density


@dataclass(frozen=True)
class HawkesFit:
    """Fitted parameters (rates per second, lengths in metres) and how the fit went."""

    mu_per_s: float  # background events per second (mean over the week)
    branching_ratio: float
    trigger_time_s: float  # 1/ω: mean delay of a triggered event
    trigger_sd_m: float  # σ: spread of a triggered event around its parent
    max_dt_s: float
    max_dr_m: float
    loglik: float
    iterations: int
    n_pairs: int
    converged: bool


def neighbour_pairs(t_s: np.ndarray, x: np.ndarray, y: np.ndarray, *, max_dt_s: float,
                    max_dr_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(parent, child, dt_s, dr²) for pairs with 0 < dt <= max_dt_s and dr <= max_dr_m."""
    pts = np.column_stack([x / max_dr_m, y / max_dr_m, t_s / max_dt_s])
    pairs = cKDTree(pts).query_pairs(r=1.0, p=np.inf, output_type="ndarray")
    if pairs.size == 0:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty.astype(np.int64), empty, empty
    a, b = pairs[:, 0], pairs[:, 1]
    swap = t_s[a] > t_s[b]
    parent, child = np.where(swap, b, a), np.where(swap, a, b)
    dt = t_s[child] - t_s[parent]
    dr2 = (x[child] - x[parent]) ** 2 + (y[child] - y[parent]) ** 2
    keep = (dt > 0) & (dt <= max_dt_s) & (dr2 <= max_dr_m**2)
    return parent[keep], child[keep], dt[keep], dr2[keep]


def truncated_exp_rate(mean: float, cut: float) -> float:
    """Rate λ of an exponential truncated to [0, cut] whose mean is ``mean`` (the truncated MLE)."""
    if mean >= cut / 2 * 0.999:
        return 1e-3 / cut  # flat: as slow as allowed

    def gap(lam: float) -> float:
        return 1 / lam - cut / np.expm1(min(lam * cut, 700.0)) - mean

    if gap(1e4 / cut) > 0:  # mean below what the bracket allows (coincident events): fastest allowed
        return 1e4 / cut
    return float(brentq(gap, 1e-3 / cut, 1e4 / cut))


def fit_hawkes(
    t_s: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    since_s: float,
    until_s: float,
    grid: Grid,
    bandwidth_m: float,
    max_dt_s: float = 60 * 86400.0,
    max_dr_m: float = 500.0,
    iterations: int = 60,
    tol: float = 1e-6,
    init: tuple[float, float, float] = (0.2, 86400.0, 100.0),
    min_sd_m: float | None = None,
) -> HawkesFit:
    """EM for the model in the module docstring; ``init`` is (branching ratio, 1/ω in s, σ in m).

    σ is kept >= ``min_sd_m`` (default: the background bandwidth): triggering sharper than the background's
    spatial resolution would explain repeats at one address (data snapped to intersections) as
    self-excitation however they are spread in time.
    """
    min_sd_m = bandwidth_m if min_sd_m is None else min_sd_m
    order = np.argsort(t_s, kind="stable")
    t_s, x, y = t_s[order], x[order], y[order]
    n = t_s.size
    span_s = until_s - since_s
    _parent, child, dt, dr2 = neighbour_pairs(t_s, x, y, max_dt_s=max_dt_s, max_dr_m=max_dr_m)
    theta, omega, sigma = init[0], 1.0 / init[1], init[2]
    how = hour_of_week(t_s)
    seen = np.maximum(hours_observed(since_s, until_s), 1.0)
    flat = grid.flat(x, y)
    p_bg = np.full(n, 1.0 - theta)
    remaining = np.minimum(until_s - t_s, max_dt_s)  # time left in the window for each event's offspring
    loglik, it, converged = -np.inf, 0, False
    for it in range(1, iterations + 1):  # noqa: B007
        rate = np.bincount(how, weights=p_bg, minlength=168) / seen
        nu = np.convolve(np.r_[rate[-1], rate, rate[0]], SMOOTH, mode="valid")
        nu = nu / max(nu.mean(), 1e-300)
        g = density(grid.counts(x, y, p_bg), grid, bandwidth_m).ravel()[flat]
        mu = p_bg.sum() / span_s
        bg = mu * nu[how] * g
        zt = -np.expm1(-omega * max_dt_s)
        zs = -np.expm1(-(max_dr_m**2) / (2 * sigma**2))
        k = (
            theta
            * omega
            * np.exp(-omega * dt)
            / zt
            * np.exp(-dr2 / (2 * sigma**2))
            / (2 * np.pi * sigma**2 * zs)
        )
        lam = bg + np.bincount(child, weights=k, minlength=n)
        compensator = mu * span_s + theta * float(np.sum(-np.expm1(-omega * remaining)) / zt)
        new_ll = float(np.sum(np.log(lam)) - compensator)
        p_bg = bg / lam
        p_tr = k / lam[child]
        s = p_tr.sum()
        if s <= 1e-9:
            theta = 0.0
            loglik = new_ll
            converged = True
            break
        omega = truncated_exp_rate(float(np.dot(p_tr, dt) / s), max_dt_s)
        sigma = float(np.sqrt(1.0 / (2.0 * truncated_exp_rate(float(np.dot(p_tr, dr2) / s), max_dr_m**2))))
        sigma = max(sigma, min_sd_m)
        zt = -np.expm1(-omega * max_dt_s)
        theta = float(s / (np.sum(-np.expm1(-omega * remaining)) / zt))
        theta = min(theta, 0.99)
        if abs(new_ll - loglik) <= tol * abs(new_ll):
            loglik, converged = new_ll, True
            break
        loglik = new_ll
    return HawkesFit(mu_per_s=float(p_bg.sum() / span_s), branching_ratio=float(theta),
                     trigger_time_s=float(1 / omega), trigger_sd_m=float(sigma), max_dt_s=max_dt_s,
                     max_dr_m=max_dr_m, loglik=loglik, iterations=it, n_pairs=int(dt.size),
                     converged=converged)  # fmt: skip
