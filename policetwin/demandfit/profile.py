"""Hour-of-week profile (168 values, smoothed, with a 95% interval per hour), seasonality and category mix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import convolve1d
from scipy.stats import chi2

#: Monday 1970-01-05 00:00: hour-of-week 0 (1970-01-01 was a Thursday).
MONDAY_S = 4 * 86400.0
#: Smoothing across neighbouring hours (circular): keeps the daily shape, damps one-hour noise.
SMOOTH = np.array([0.25, 0.5, 0.25])


def hour_of_week(t_s: np.ndarray) -> np.ndarray:
    """Hour of the week (0 = Monday 00-01) of naive local times in seconds since 1970."""
    return (((t_s - MONDAY_S) // 3600.0) % 168).astype(np.int64)


def hours_observed(since_s: float, until_s: float) -> np.ndarray:
    """How many times each hour of the week occurs in [since_s, until_s) (whole hours)."""
    first = int(np.ceil(since_s / 3600.0))
    last = int(np.floor(until_s / 3600.0))
    hours = np.arange(first, last) * 3600.0
    return np.bincount(hour_of_week(hours), minlength=168).astype(float)


@dataclass(frozen=True)
class Profile:
    """Calls per hour for each hour of the week: smoothed relative profile (mean 1) and 95% CI (relative)."""

    relative: np.ndarray  # 168, mean 1
    lower: np.ndarray
    upper: np.ndarray
    observed: np.ndarray  # unsmoothed relative rate (mean 1)
    rate_per_hour: float


def fit_profile(
    t_s: np.ndarray, since_s: float, until_s: float, *, weights: np.ndarray | None = None
) -> Profile:
    """Hour-of-week rates: counts per hour / occurrences of that hour, smoothed; Garwood 95% CI per hour."""
    counts = np.bincount(hour_of_week(t_s), weights=weights, minlength=168).astype(float)
    seen = np.maximum(hours_observed(since_s, until_s), 1.0)
    rate = counts / seen
    mean = rate.mean() if rate.mean() > 0 else 1.0
    smooth = convolve1d(rate, SMOOTH, mode="wrap")
    lo = np.where(counts > 0, chi2.ppf(0.025, 2 * counts) / 2, 0.0) / seen
    hi = chi2.ppf(0.975, 2 * counts + 2) / 2 / seen
    total_h = max((until_s - since_s) / 3600.0, 1e-9)
    return Profile(smooth / mean, lo / mean, hi / mean, rate / mean, float(counts.sum() / total_h))


def seasonality(t_s: np.ndarray, since_s: float, until_s: float) -> np.ndarray | None:
    """Relative rate per calendar month (12, mean 1) when the data spans at least two full years, else None."""
    if until_s - since_s < 2 * 365 * 86400:
        return None
    months = t_s.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
    counts = np.bincount(months, minlength=12).astype(float)
    days = np.zeros(12)
    span = np.arange(np.datetime64(int(since_s), "s").astype("datetime64[D]"),
                     np.datetime64(int(until_s), "s").astype("datetime64[D]"))  # fmt: skip
    np.add.at(days, span.astype("datetime64[M]").astype(np.int64) % 12, 1.0)
    rate = counts / np.maximum(days, 1.0)
    return rate / rate.mean()


def category_mix(category: np.ndarray) -> dict[str, float]:
    """Share of each category, largest first (ties by name)."""
    names, counts = np.unique(category.astype(str), return_counts=True)
    order = sorted(range(names.size), key=lambda i: (-counts[i], names[i]))
    total = counts.sum()
    return {str(names[i]): float(counts[i] / total) for i in order}


def profile_error(predicted: np.ndarray, observed_counts: np.ndarray) -> float:
    """Mean absolute relative error per hour between a profile (any scale) and observed counts per hour."""
    expect = predicted / predicted.sum() * observed_counts.sum()
    return float(np.mean(np.abs(expect - observed_counts) / np.maximum(observed_counts, 1.0)))
