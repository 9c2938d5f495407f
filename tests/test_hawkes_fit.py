"""Hawkes: EM recovers Mohler et al. (2011)-style parameters from a simulated process, and the generator
keeps ``rate_per_hour`` as the long-run total rate (background = rate x (1 - branching ratio))."""

from __future__ import annotations

import numpy as np

from policetwin.scenarios.schema import Demand, Distribution
from policetwin.sim.hawkes import HawkesDemand
from policetwin.verify.hawkes import DAY_S, TRUE, poisson_fit, recovery_fit


def test_em_recovers_branching_ratio_and_trigger_time() -> None:
    """Branching ratio 0.2, 1/omega = 10 days, sigma 100 m, background 5/day over 4 years in 10 km x 10 km
    (~9,000 events): recovered branching within +-0.05, 1/omega within +-30%, sigma within +-25%,
    background within +-10% (KDE background, bandwidth 800 m, on the data's square)."""
    assert TRUE == {"branching": 0.2, "trigger_days": 10.0, "sd_m": 100.0, "mu_per_day": 5.0}
    fit = recovery_fit(days=4 * 365.0, seed=3)  # policetwin.verify.hawkes: simulate_plane + fit_plane
    assert abs(fit.branching_ratio - 0.2) < 0.05, fit
    assert abs(fit.trigger_time_s / DAY_S - 10.0) < 3.0, fit
    assert abs(fit.trigger_sd_m - 100.0) < 25.0, fit
    assert abs(fit.mu_per_s * DAY_S - 5.0) < 0.5, fit


def test_em_finds_no_branching_in_a_poisson_process() -> None:
    fit = poisson_fit(days=2 * 365.0, seed=4)  # 5/day, no triggering, 10 km x 10 km
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
