"""What-if claims are statistical: the bundled coquimbo-whatif-nearest against coquimbo-whatif-preempt
(pre-emption) and coquimbo-whatif-posts (optimised posts), same officers, unit-hours and calls, run with
common random numbers over 10 replications; the paired difference in priority-1 compliance has a 95%
confidence interval that excludes 0.

Common random numbers: the seed fixes the calls (times, places, kinds, on-scene times) through their
own random streams, so both policies face exactly the same incidents in each replication and the
paired difference removes that variance.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from policetwin.scenarios import load_scenario
from policetwin.sim.run import simulate

REPLICATIONS = 10


def p1_compliance(name: str, seed: int, network) -> tuple[float, np.ndarray]:
    result = simulate(load_scenario(name, ["outputs.report=false", "outputs.units_log=false"]), seed=seed,
                      network=network)  # fmt: skip
    inc = result.incidents
    return result.summary["priorities"]["1"]["within_target"], np.sort(inc["t_occur"].to_numpy())


@pytest.mark.parametrize("better", ["coquimbo-whatif-preempt", "coquimbo-whatif-posts"])
def test_p1_compliance_rises_without_more_officers(coquimbo_network, better: str):
    """Pre-emption (dispatch), or units waiting at optimised posts (deployment): same officers, same calls."""
    diffs = []
    for seed in range(1, REPLICATIONS + 1):
        nearest, calls_a = p1_compliance("coquimbo-whatif-nearest", seed, coquimbo_network)
        improved, calls_b = p1_compliance(better, seed, coquimbo_network)
        np.testing.assert_array_equal(calls_a, calls_b)  # common random numbers: the same incidents
        diffs.append(improved - nearest)
    diffs = np.array(diffs)
    half = stats.t.ppf(0.975, REPLICATIONS - 1) * diffs.std(ddof=1) / np.sqrt(REPLICATIONS)
    low, high = diffs.mean() - half, diffs.mean() + half
    assert low > 0, f"P1 compliance gain {diffs.mean():.3f}, 95% CI [{low:.3f}, {high:.3f}] includes 0"


def test_the_posts_variant_has_the_same_officers_and_calls():
    a, b = load_scenario("coquimbo-whatif-nearest"), load_scenario("coquimbo-whatif-posts")
    assert a.units.count == b.units.count and a.demand == b.demand and a.duration == b.duration
    assert all(g.idle == "post" and g.shift is None for g in b.units.groups)


def test_the_pair_has_the_same_officers_and_calls():
    a, b = load_scenario("coquimbo-whatif-nearest"), load_scenario("coquimbo-whatif-preempt")
    assert (
        a.units == b.units and a.demand == b.demand and a.stations == b.stations and a.duration == b.duration
    )
    assert (a.dispatch.policy, b.dispatch.policy) == ("nearest", "priority_preempt")
