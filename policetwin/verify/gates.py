"""Screening gates (policetwin.event.gates) against Erlang C (M/M/c), shared by ``tests/test_event_gates.py``
(whose docstring gives the set-up and measured values) and ``policetwin verify``.

A shared queue of 4 lanes, Poisson arrivals 0.5 p/s, exponential screening of mean 6 s (a = 3); and 10 lanes
fed by walkers through the crowd (a = 7.5). SE: batch means (20 batches by arrival time); pass within 4 SE.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from policetwin.event.crowd import INSIDE, Crowd
from policetwin.event.gates import Gate
from policetwin.scenarios.base import Distribution
from policetwin.verify.crowd import corridor
from policetwin.verify.queueing import erlang_c
from policetwin.verify.record import CheckResult, within_se

LANES, LAM_P_S, MEAN_S = 4, 0.5, 6.0
K_SE, N_BATCHES = 4.0, 20
CROWD_LANES, CROWD_LAM_P_S = 10, 1.25


def batch_se(t: np.ndarray, x: np.ndarray) -> float:
    """Batch-means standard error of the mean of x, batching by time t over [0, max t]."""
    batch = np.minimum((t / t.max() * N_BATCHES).astype(int), N_BATCHES - 1)
    means = np.array([x[batch == b].mean() for b in range(N_BATCHES)])
    return float(means.std(ddof=1) / math.sqrt(N_BATCHES))


def run_gate(queue: str, n: int = 300_000, seed: int = 11) -> dict[str, np.ndarray]:
    """``n`` Poisson arrivals through a 4-lane gate (``queue``: shared or per_lane); the gate's records."""
    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1 / LAM_P_S, n))
    gate = Gate(name="g", lanes=LANES, screening=Distribution(dist="exponential", mean=MEAN_S),
                rng=np.random.default_rng(seed + 1), queue=queue)  # fmt: skip
    for chunk in np.array_split(np.arange(n), 400):  # joined in batches, as the crowd's steps do
        gate.join(chunk, arrivals[chunk])
    pids, done = gate.release(np.inf)
    if not (np.array_equal(np.sort(pids), np.arange(n)) and np.all(np.diff(done) >= 0)):
        raise RuntimeError("the gate did not release everyone, in order")
    return gate.records()


def gate_crowd_run(
    *, n: int = 30_000, on_step: Callable[[Crowd, Gate], None] | None = None
) -> tuple[Crowd, Gate, np.ndarray]:
    """Poisson departures 20 m before a 10-lane gate, screened people walk 10 m to the venue:
    (crowd, gate, departure times s). ``on_step`` is called after every crowd step."""
    net = corridor(2, [20.0, 10.0], [4.0, 4.0])
    crowd = Crowd(net, n_people=n, rng=np.random.default_rng(21), free_speed_mps=1.34)
    venue = crowd.add_target([2], arrive=INSIDE)
    gate = Gate(name="g", lanes=CROWD_LANES, screening=Distribution(dist="exponential", mean=MEAN_S),
                rng=np.random.default_rng(22))  # fmt: skip
    crowd.add_gate(gate, edge=2)  # link 1, walked from node 1 to node 2
    depart = np.cumsum(np.random.default_rng(23).exponential(1 / CROWD_LAM_P_S, n))
    crowd.depart(np.arange(n), node=np.zeros(n, dtype=np.int64), at_s=depart, target=venue)
    while (crowd.state != INSIDE).any():
        crowd.step()
        if on_step is not None:
            on_step(crowd, gate)
    return crowd, gate, depart


def wait_figures(rec: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """(estimate, batch SE) of P(wait) and the mean wait (s) of a gate's records."""
    wait = rec["t_start"] - rec["t_arrive"]
    waited = (wait > 1e-9).astype(float)
    return {"p_wait": (float(waited.mean()), batch_se(rec["t_arrive"], waited)),
            "wq_s": (float(wait.mean()), batch_se(rec["t_arrive"], wait))}  # fmt: skip


def check_gates(*, n_people: int = 300_000, n_crowd: int = 30_000) -> CheckResult:
    """Gate P(wait) and mean wait against Erlang C: alone (4 lanes) and fed through the crowd (10 lanes)."""
    start = time.perf_counter()
    rows = []
    cases = (
        (f"{LANES} lanes", run_gate("shared", n=n_people), erlang_c(LANES, LAM_P_S, 1 / MEAN_S)),
        (f"{CROWD_LANES} lanes via crowd", gate_crowd_run(n=n_crowd)[1].records(),
         erlang_c(CROWD_LANES, CROWD_LAM_P_S, 1 / MEAN_S)),
    )  # fmt: skip
    for label, rec, (p_exact, wq_exact) in cases:
        got = wait_figures(rec)
        rows.append(within_se(f"gate P(wait), {label}", theory=p_exact, simulated=got["p_wait"][0],
                              se=got["p_wait"][1], k_se=K_SE))  # fmt: skip
        rows.append(within_se(f"gate mean wait, {label}", theory=wq_exact, simulated=got["wq_s"][0],
                              se=got["wq_s"][1], k_se=K_SE, unit="s"))  # fmt: skip
    note = (f"Exponential screening, mean {MEAN_S:g} s, utilisation 0.75; {n_people:,} people at the "
            f"4-lane gate, {n_crowd:,} walkers to the 10-lane gate.")  # fmt: skip
    return CheckResult("gates", "Gate M/M/c (Erlang C)", rows, note, time.perf_counter() - start)
