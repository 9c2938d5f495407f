"""Validation of screening gates (policetwin.event.gates) against Erlang C (M/M/c), and their tables.

Set-up: c = 4 lanes, Poisson arrivals lam = 0.5 p/s, exponential screening with mean 6 s (mu = 1/6 per
s): offered load a = 3, utilisation 0.75. Exact (Erlang C): P(wait) = 0.5094, Wq = 3.057 s.

Statistical method (as tests/test_validation.py): one long run per case with a fixed seed; the SE of
each mean is the batch-means SE (20 batches by arrival time; batches of ~5 000 people are independent in
practice: the queue relaxes within a few screening times). Pass when |sim - exact| < 4 SE, and each SE
must be below 3% of the exact figure (so the check cannot become vacuous).
Measured (seed 11, 100 000 people): P(wait) 0.5101 (SE 0.0034), Wq 6.15 s (SE 0.07 s).
``per_lane`` with the same arrivals and screening draws (join the shortest line, no jockeying):
Wq 9.4 s, worse than one shared queue (pooling), as queueing theory says it must be.
Through the crowd: people walk 20 m to a 10-lane gate (fixed speed, Poisson departures at 1.25 p/s,
30 000 people; a = 7.5: P(wait) = 0.3066, Wq = 0.736 s) and the gate's P(wait) and mean wait match Erlang C
within 4 batch SEs (measured seed 21-23: P(wait) 0.305, SE 0.011; Wq 0.87 s, SE 0.14 s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from policetwin.event.crowd import EDGE, INSIDE, QUEUE, Crowd
from policetwin.event.gates import Gate, LaneSchedule
from policetwin.event.record import gate_table
from policetwin.scenarios.base import Distribution
from policetwin.verify.gates import (
    CROWD_LAM_P_S,
    CROWD_LANES,
    K_SE,
    LAM_P_S,
    LANES,
    MEAN_S,
    batch_se,
    gate_crowd_run,
    run_gate,
)
from policetwin.verify.queueing import erlang_c

LAM = LAM_P_S
MAX_REL_SE = 0.03


def test_erlang_c_formula():
    p, wq = erlang_c(3, 1.5, 1.0)  # Larson & Odoni
    assert p == pytest.approx(9 / 38) and wq == pytest.approx(0.1579, abs=5e-5)


def test_shared_queue_matches_erlang_c():
    rec = run_gate("shared")
    wait = rec["t_start"] - rec["t_arrive"]
    assert np.all(wait >= -1e-9)
    p_exact, wq_exact = erlang_c(LANES, LAM, 1 / MEAN_S)
    for sim, exact, se in (
        ((wait > 1e-9).mean(), p_exact, batch_se(rec["t_arrive"], (wait > 1e-9).astype(float))),
        (wait.mean(), wq_exact, batch_se(rec["t_arrive"], wait)),
    ):
        assert se < MAX_REL_SE * exact
        assert abs(sim - exact) < K_SE * se, (sim, exact, se)
    # first come, first served: screening starts in arrival order
    order = np.argsort(rec["t_arrive"], kind="stable")
    assert np.all(np.diff(rec["t_start"][order]) >= -1e-9)


def test_per_lane_is_not_better_than_shared():
    shared, per_lane = run_gate("shared", n=100_000), run_gate("per_lane", n=100_000)
    w_shared = (shared["t_start"] - shared["t_arrive"]).mean()
    w_lane = (per_lane["t_start"] - per_lane["t_arrive"]).mean()
    assert w_lane > w_shared * 1.2
    # each lane serves its own line in order
    for lane in range(LANES):
        mine = per_lane["lane"] == lane
        assert np.all(np.diff(per_lane["t_start"][mine]) >= -1e-9)


def test_lane_schedule_and_withdraw():
    sched = LaneSchedule(initial=0, at_s=(100.0, 200.0), open_=(2, 1))
    assert [sched.open_at(t) for t in (0, 100, 150, 250)] == [0, 2, 2, 1]
    assert sched.next_open(1, 0.0) == 100.0 and sched.next_open(1, 250.0) == math.inf
    gate = Gate(name="g", lanes=2, screening=Distribution(dist="fixed", mean=10.0), rng=np.random.default_rng(0),
                schedule=sched)  # fmt: skip
    gate.join(np.arange(5), np.zeros(5))
    rec = gate.records()
    assert list(rec["t_start"]) == [100.0, 100.0, 110.0, 110.0, 120.0]
    gate.join(np.array([5, 6, 7]), np.array([205.0, 205.0, 205.0]))
    assert list(gate.records()["t_start"][5:]) == [205.0, 215.0, 225.0]  # one lane from 200
    out = gate.withdraw(210.0)
    assert sorted(out.tolist()) == [6, 7] and len(gate) == 6
    table = gate_table([gate], start_s=0.0, end_s=240.0, bin_s=60.0)
    assert list(table["lanes_open"]) == [0, 0, 2, 2]  # at the bins' starts
    assert list(table["queue"]) == [5, 0, 0, 0]  # at the bins' ends
    assert list(table["throughput"]) == [0, 4, 1, 1]
    assert table["queue_max"].iloc[0] == 5


def test_gate_through_the_crowd_matches_erlang_c():
    """Poisson departures 20 m before a gate; screened people walk 10 m to the venue."""
    n = 30_000
    lanes, lam = CROWD_LANES, CROWD_LAM_P_S  # 10, 1.25: a = 7.5, utilisation 0.75 again, at a faster pace
    assert (lanes, lam) == (10, 1.25)

    def census_ok(crowd: Crowd, gate: Gate) -> None:
        census = crowd.census()
        assert census.sum() == n
        assert census[QUEUE] == len(gate) and census[EDGE] + census[QUEUE] + census[INSIDE] <= n

    crowd, gate, depart = gate_crowd_run(n=n, on_step=census_ok)
    rec = gate.records()
    wait = rec["t_start"] - rec["t_arrive"]
    # arrival at the gate = departure + 20 m / 1.34 m/s, a little later when the queue on the approach
    # slows the walkers (Weidmann): the arrivals stay (nearly) Poisson
    delay = np.sort(rec["t_arrive"]) - depart
    assert delay.min() >= 20 / 1.34 - 0.01 and np.percentile(delay, 95) < 20 / 1.34 + 0.6
    p_exact, wq_exact = erlang_c(lanes, lam, 1 / MEAN_S)
    waited = (wait > 1e-9).astype(float)
    for sim, exact, se, max_rel_se in (
        (waited.mean(), p_exact, batch_se(rec["t_arrive"], waited), 0.05),
        (wait.mean(), wq_exact, batch_se(rec["t_arrive"], wait), 0.25),  # mean waits are noisy at c = 10
    ):
        assert se < max_rel_se * exact
        assert abs(sim - exact) < K_SE * se, (sim, exact, se)
    assert np.all(crowd.t_inside >= rec["t_done"][np.argsort(rec["pid"])] + 10 / 1.34 - 1.01)
