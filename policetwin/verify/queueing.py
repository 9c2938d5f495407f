"""Erlang C (M/M/c) against the engine: c units, Poisson calls, exponential on-scene time, instant travel
and no handling, so a call's wait for a unit is the M/M/c queueing delay (Larson & Odoni's 3-unit case).

Shared by ``tests/test_validation.py`` (long runs, strict per-run checks) and ``policetwin verify``.
Statistics: each figure is a mean over calls; SE = max(batch-means SE over 20 batches by ready time, the
SD over seeds measured in the tests' pilot study, scaled to the run length); pass within 4 SE.
"""

from __future__ import annotations

import math
import time

import numpy as np

from policetwin.verify.record import CheckResult, within_se

HOUR_S = 3600.0
N_BATCHES = 20
K_SE = 4.0
#: The full run (tests/test_validation.py, c = 3): 48 000 h, ~72k calls.
FULL_HOURS = 48_000.0
#: SD of one 48 000 h run's estimate over seeds (pilot study in tests/test_validation.py).
PILOT_SD_C3 = {"p_wait": 0.0035, "wq_h": 0.0057, "p_wait_gt_1_over_cmu_minus_lam": 0.0029}


def erlang_c(c: int, lam: float, mu: float) -> tuple[float, float]:
    """(P(wait > 0), mean wait Wq) of an M/M/c queue with arrival rate ``lam`` and service rate ``mu``."""
    a = lam / mu
    rho = a / c
    if not rho < 1:
        raise ValueError(f"unstable queue: rho = {rho:.3g} >= 1")
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait, p_wait / (c * mu - lam)


def batch_estimate(
    t: np.ndarray, x: np.ndarray, horizon: float, n_batches: int = N_BATCHES
) -> tuple[float, float]:
    """(mean of x, batch-means standard error), batching by time t over [0, horizon)."""
    batch = np.minimum((t / horizon * n_batches).astype(int), n_batches - 1)
    means = np.array([x[batch == b].mean() for b in range(n_batches)])
    return float(x.mean()), float(means.std(ddof=1) / math.sqrt(n_batches))


def mmc_scenario(*, c: int, lam_per_h: float, mean_service_h: float, hours: float, seed: int):
    """Poisson calls (flat profile), exponential on-scene time, c units, zero handling, instant travel."""
    from policetwin.scenarios import Scenario

    return Scenario.model_validate({
        "name": f"mmc-{c}",
        "seed": seed,
        "duration": hours * HOUR_S,
        "map": "helsinki",
        "stations": [{"name": "Central", "lon": 24.9458, "lat": 60.1699}],
        "units": {"count": c},
        "demand": {
            "rate_per_hour": lam_per_h,
            "profile": "flat",
            "kinds": [{"name": "call", "priority": 1, "share": 1, "units": 1, "target": 600,
                       "on_scene": {"dist": "exponential", "mean": mean_service_h * HOUR_S}}],
        },
        "call_handling": {"takers": 50, "handling": {"dist": "fixed", "mean": "0s"}},
        "travel": {"mode": "instant"},
        "outputs": {"report": False},
    })  # fmt: skip


def mmc_waits_h(result) -> tuple[np.ndarray, np.ndarray]:
    """(ready times in s, waits for a unit in h) of every call of a run."""
    inc = result.incidents
    return inc["t_ready"].to_numpy(), (inc["t_dispatch"] - inc["t_ready"]).to_numpy() / HOUR_S


def mmc_figures(
    result, *, c: int, lam: float, mu: float, horizon_s: float
) -> dict[str, tuple[float, float, float]]:
    """Per figure (P(wait), Wq in h, P(W > 1/(c mu - lam))): (estimate, Erlang C value, batch SE)."""
    p_theory, wq_theory = erlang_c(c, lam, mu)
    t_ready, wait_h = mmc_waits_h(result)
    tail_t = 1.0 / (c * mu - lam)  # P(W > t) = C exp(-(c mu - lam) t): C / e at this t
    checks = {
        "p_wait": (wait_h > 0, p_theory),
        "wq_h": (wait_h, wq_theory),
        "p_wait_gt_1_over_cmu_minus_lam": (wait_h > tail_t, p_theory / math.e),
    }
    out = {}
    for name, (values, theory) in checks.items():
        est, batch_se = batch_estimate(t_ready, np.asarray(values, dtype=float), horizon_s)
        out[name] = (est, theory, batch_se)
    return out


def check_erlang_c(*, hours: float = FULL_HOURS, seed: int = 3, network=None) -> CheckResult:
    """The engine as M/M/3 (lambda = 1.5/h, mu = 1/h, instant travel) against Erlang C."""
    from policetwin.maps import load_map
    from policetwin.sim.run import simulate

    start = time.perf_counter()
    network = network if network is not None else load_map("helsinki")
    scenario = mmc_scenario(c=3, lam_per_h=1.5, mean_service_h=1.0, hours=hours, seed=seed)
    result = simulate(scenario, network=network)
    figures = mmc_figures(result, c=3, lam=1.5, mu=1.0, horizon_s=scenario.duration)
    scale = math.sqrt(FULL_HOURS / hours)  # the pilot SD at this run length
    labels = {"p_wait": ("P(wait), M/M/3", ""), "wq_h": ("mean wait Wq, M/M/3", "h"),
              "p_wait_gt_1_over_cmu_minus_lam": ("P(wait > 1/(c mu - lam)), M/M/3", "")}  # fmt: skip
    rows = []
    for name, (est, theory, batch_se) in figures.items():
        se = max(batch_se, PILOT_SD_C3[name] * scale)
        rows.append(
            within_se(labels[name][0], theory=theory, simulated=est, se=se, k_se=K_SE, unit=labels[name][1])
        )
    note = (f"c = 3 units, lambda = 1.5/h, mean on scene 1 h, instant travel, {hours:,.0f} h "
            f"({len(result.incidents):,} calls, seed {seed}); SE = max(batch-means SE, pilot SD).")  # fmt: skip
    return CheckResult("erlang_c", "Erlang C (M/M/c)", rows, note, time.perf_counter() - start)
