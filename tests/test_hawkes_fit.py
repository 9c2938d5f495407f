"""Hawkes: EM recovers Mohler et al. (2011)-style parameters from a simulated process, and the generator
keeps ``rate_per_hour`` as the long-run total rate (background = rate x (1 - branching ratio))."""

from __future__ import annotations

import numpy as np

from policetwin.demandfit.hawkes_em import fit_hawkes
from policetwin.demandfit.space import Grid
from policetwin.scenarios.schema import Demand, Distribution
from policetwin.sim.hawkes import HawkesDemand, cascade

DAY_S = 86400.0


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


def test_em_recovers_branching_ratio_and_trigger_time() -> None:
    """Branching ratio 0.2, 1/omega = 10 days, sigma 100 m, background 5/day over 4 years in 10 km x 10 km
    (~9,000 events): recovered branching within +-0.05, 1/omega within +-30%, sigma within +-25%,
    background within +-10% (KDE background, bandwidth 800 m, on the data's square)."""
    t, x, y = simulate_plane(mu_per_day=5.0, branching=0.2, trigger_days=10.0, sd_m=100.0, days=4 * 365.0,
                             side_m=10_000.0, seed=3)  # fmt: skip
    grid = Grid.covering(x, y, cell_m=100.0, pad_m=0.0)  # the data's square: no background mass lost at edges
    fit = fit_hawkes(t, x, y, since_s=0.0, until_s=4 * 365 * DAY_S, grid=grid, bandwidth_m=800.0,
                     max_dt_s=80 * DAY_S, max_dr_m=600.0, min_sd_m=5.0)  # fmt: skip
    assert abs(fit.branching_ratio - 0.2) < 0.05, fit
    assert abs(fit.trigger_time_s / DAY_S - 10.0) < 3.0, fit
    assert abs(fit.trigger_sd_m - 100.0) < 25.0, fit
    assert abs(fit.mu_per_s * DAY_S - 5.0) < 0.5, fit


def test_em_finds_no_branching_in_a_poisson_process() -> None:
    t, x, y = simulate_plane(mu_per_day=5.0, branching=0.0, trigger_days=10.0, sd_m=100.0, days=2 * 365.0,
                             side_m=10_000.0, seed=4)  # fmt: skip
    fit = fit_hawkes(t, x, y, since_s=0.0, until_s=2 * 365 * DAY_S, grid=Grid.covering(x, y, cell_m=100.0, pad_m=0.0),
                     bandwidth_m=800.0, max_dt_s=60 * DAY_S, max_dr_m=600.0, min_sd_m=5.0)  # fmt: skip
    assert fit.branching_ratio < 0.03, fit


class _Net:
    """The two node arrays the generator uses."""

    def __init__(self) -> None:
        g = np.arange(0.0, 5000.0, 100.0)
        self.x, self.y = (a.ravel() for a in np.meshgrid(g, g))


def test_generator_keeps_the_long_run_total_rate() -> None:
    """Rate 20/h over 20 days with branching 0.5: about 9,600 calls (+-5%), source 'hawkes', clustered."""
    demand = Demand.model_validate({"rate_per_hour": 20.0, "profile": "flat", "model": "hawkes",
                                    "hawkes": {"branching_ratio": 0.5, "trigger_time": "1h", "trigger_sd_m": 100.0}})  # fmt: skip
    net = _Net()
    gen = HawkesDemand(
        demand, Distribution(dist="fixed", mean=60.0), np.full(net.x.size, 1 / net.x.size), net
    )
    batch = gen.generate(duration_s=20 * DAY_S, demand_rng=np.random.default_rng(1),
                         service_rng=np.random.default_rng(2))  # fmt: skip
    assert abs(len(batch) / (20 * 24 * 20.0) - 1) < 0.05
    assert batch.source == "hawkes" and np.all(np.diff(batch.t_call) >= 0)
    counts = np.bincount((batch.t_call // (6 * 3600)).astype(int))
    assert counts.var() / counts.mean() > 1.5  # overdispersed: a Poisson process gives 1
    again = gen.generate(duration_s=20 * DAY_S, demand_rng=np.random.default_rng(1),
                         service_rng=np.random.default_rng(2))  # fmt: skip
    assert np.array_equal(again.t_call, batch.t_call) and np.array_equal(again.node, batch.node)
