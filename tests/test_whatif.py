"""What-if claims are statistical: the bundled pair coquimbo-whatif-nearest / coquimbo-whatif-preempt
(same officers, unit-hours and calls) run with common random numbers over 10 replications; the paired
difference in priority-1 compliance has a 95% confidence interval that excludes 0.

Common random numbers: the seed fixes the calls (times, places, kinds, on-scene times) through their
own random streams, so both policies face exactly the same incidents in each replication and the
paired difference removes that variance.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from policetwin.scenarios import load_scenario
from policetwin.sim.run import simulate

REPLICATIONS = 10


def p1_compliance(name: str, seed: int, network) -> tuple[float, np.ndarray]:
    result = simulate(load_scenario(name, ["outputs.report=false", "outputs.units_log=false"]), seed=seed,
                      network=network)  # fmt: skip
    inc = result.incidents
    return result.summary["priorities"]["1"]["within_target"], np.sort(inc["t_occur"].to_numpy())


def test_preemption_raises_p1_compliance_without_more_officers(coquimbo_network):
    diffs = []
    for seed in range(1, REPLICATIONS + 1):
        nearest, calls_a = p1_compliance("coquimbo-whatif-nearest", seed, coquimbo_network)
        preempt, calls_b = p1_compliance("coquimbo-whatif-preempt", seed, coquimbo_network)
        np.testing.assert_array_equal(calls_a, calls_b)  # common random numbers: the same incidents
        diffs.append(preempt - nearest)
    diffs = np.array(diffs)
    half = stats.t.ppf(0.975, REPLICATIONS - 1) * diffs.std(ddof=1) / np.sqrt(REPLICATIONS)
    low, high = diffs.mean() - half, diffs.mean() + half
    assert low > 0, f"P1 compliance gain {diffs.mean():.3f}, 95% CI [{low:.3f}, {high:.3f}] includes 0"


def test_the_pair_has_the_same_officers_and_calls():
    a, b = load_scenario("coquimbo-whatif-nearest"), load_scenario("coquimbo-whatif-preempt")
    assert (
        a.units == b.units and a.demand == b.demand and a.stations == b.stations and a.duration == b.duration
    )
    assert (a.dispatch.policy, b.dispatch.policy) == ("nearest", "priority_preempt")
