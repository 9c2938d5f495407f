"""Hawkes parameter recovery, shared by ``tests/test_hawkes_fit.py`` and ``policetwin verify``: the EM fit
(policetwin.demandfit.hawkes_em, after Mohler et al. 2011) recovers the parameters of a process simulated by
the demand generator's own cascade (branching ratio 0.2, mean trigger delay 10 days, trigger SD 100 m,
background 5/day over 4 years in 10 km x 10 km, ~9 000 events), and finds no branching in a Poisson process.
"""

from __future__ import annotations

import time

import numpy as np

from policetwin.demandfit.hawkes_em import HawkesFit, fit_hawkes
from policetwin.demandfit.space import Grid
from policetwin.sim.hawkes import cascade
from policetwin.verify.record import CheckResult, Figure

DAY_S = 86400.0
SIDE_M = 10_000.0
#: The recovery case: true parameters and the tolerances the tests assert.
TRUE = {"branching": 0.2, "trigger_days": 10.0, "sd_m": 100.0, "mu_per_day": 5.0}
TOLERANCE = {"branching": 0.05, "trigger_days": 3.0, "sd_m": 25.0, "mu_per_day": 0.5}
POISSON_MAX_BRANCHING = 0.03


def simulate_plane(*, mu_per_day: float, branching: float, trigger_days: float, sd_m: float, days: float,
                   side_m: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """A homogeneous background in a square plus triggered events (sorted by time)."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(mu_per_day * days)
    t, x, y, _, _ = cascade(rng.random(n) * days * DAY_S, rng.random(n) * side_m, rng.random(n) * side_m,
                            np.zeros(n, dtype=np.int64), branching=branching, trigger_time_s=trigger_days * DAY_S,
                            sd_m=sd_m, horizon_s=days * DAY_S, rng=rng)  # fmt: skip
    order = np.argsort(t)
    return t[order], x[order], y[order]


def fit_plane(t: np.ndarray, x: np.ndarray, y: np.ndarray, *, days: float, max_dt_days: float) -> HawkesFit:
    """EM fit on the data's own square (KDE background, bandwidth 800 m, triggering within 600 m)."""
    grid = Grid.covering(x, y, cell_m=100.0, pad_m=0.0)  # the data's square: no background mass lost at edges
    return fit_hawkes(t, x, y, since_s=0.0, until_s=days * DAY_S, grid=grid, bandwidth_m=800.0,
                      max_dt_s=max_dt_days * DAY_S, max_dr_m=600.0, min_sd_m=5.0)  # fmt: skip


def recovery_fit(*, days: float = 4 * 365.0, seed: int = 3) -> HawkesFit:
    """Simulate the recovery case and fit it."""
    t, x, y = simulate_plane(mu_per_day=TRUE["mu_per_day"], branching=TRUE["branching"],
                             trigger_days=TRUE["trigger_days"], sd_m=TRUE["sd_m"], days=days, side_m=SIDE_M,
                             seed=seed)  # fmt: skip
    return fit_plane(t, x, y, days=days, max_dt_days=80.0)


def poisson_fit(*, days: float = 2 * 365.0, seed: int = 4) -> HawkesFit:
    """A Poisson process (branching 0) and its fit."""
    t, x, y = simulate_plane(mu_per_day=TRUE["mu_per_day"], branching=0.0, trigger_days=TRUE["trigger_days"],
                             sd_m=TRUE["sd_m"], days=days, side_m=SIDE_M, seed=seed)  # fmt: skip
    return fit_plane(t, x, y, days=days, max_dt_days=60.0)


def check_hawkes() -> CheckResult:
    """Recovered parameters within the tests' tolerances, and no branching found in a Poisson process."""
    start = time.perf_counter()
    fit = recovery_fit()
    got = {"branching": fit.branching_ratio, "trigger_days": fit.trigger_time_s / DAY_S,
           "sd_m": fit.trigger_sd_m, "mu_per_day": fit.mu_per_s * DAY_S}  # fmt: skip
    labels = {"branching": ("branching ratio", ""), "trigger_days": ("mean trigger delay", "days"),
              "sd_m": ("trigger SD", "m"), "mu_per_day": ("background rate", "1/day")}  # fmt: skip
    rows = [
        Figure(labels[k][0], TRUE[k], float(got[k]), TOLERANCE[k], unit=labels[k][1], rule="abs.")
        for k in TRUE
    ]
    rows.append(Figure("branching ratio, Poisson process", 0.0, poisson_fit().branching_ratio,
                       POISSON_MAX_BRANCHING, rule="abs."))  # fmt: skip
    note = (
        "Simulated with the generator's cascade (seed 3; Poisson: seed 4), fitted by EM (Mohler et al. 2011)."
    )
    return CheckResult("hawkes", "Hawkes parameter recovery", rows, note, time.perf_counter() - start)
