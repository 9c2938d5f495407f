"""Calls that need no car: callers who hang up while waiting (``patience``), duplicate calls about an
incident already known (``duplicates``), and calls resolved at triage by phone (``phone_share``).

:func:`callers` adds these plans to a batch of calls before the run, from its own random stream, so
switching them on never changes which incidents happen. All are off by default.
"""

from __future__ import annotations

import numpy as np

from policetwin.scenarios.schema import Scenario
from policetwin.sim.demand import CallBatch, sample_durations
from policetwin.sim.recorder import OUTCOMES

PHONE, DUPLICATE = OUTCOMES.index("phone"), OUTCOMES.index("duplicate")


def callers(batch: CallBatch, scenario: Scenario, rng: np.random.Generator) -> CallBatch:
    """``batch`` with duplicate calls added (sorted by call time) and outcome, link and patience plans."""
    kinds = scenario.demand.kinds
    if all(k.phone_share == 0 and k.duplicates is None and k.patience is None for k in kinds):
        return batch
    n = len(batch)
    kind, t_call = batch.kind, batch.t_call
    outcome = np.zeros(n, dtype=np.int8)
    for k, spec in enumerate(kinds):
        if spec.phone_share:
            mask = kind == k
            outcome[mask] = np.where(rng.random(int(mask.sum())) < spec.phone_share, PHONE, 0)
    originals, delays = [], []
    for k, spec in enumerate(kinds):
        if spec.duplicates is not None:
            idx = np.flatnonzero((kind == k) & (rng.random(n) < spec.duplicates.share))
            originals.append(idx)
            delays.append(sample_durations(spec.duplicates.delay, idx.size, rng))
    dup = np.concatenate(originals) if originals else np.zeros(0, dtype=np.int64)
    m = dup.size
    handling = scenario.call_handling.handling
    cols = {
        "t_call": np.concatenate([t_call, t_call[dup] + (np.concatenate(delays) if m else 0.0)]),
        "kind": np.concatenate([kind, kind[dup]]),
        "node": np.concatenate([batch.node, batch.node[dup]]),
        "handling_s": np.concatenate([batch.handling_s, sample_durations(handling, m, rng)]),
        "on_scene_s": np.concatenate([batch.on_scene_s, np.zeros(m)]),
        "t_occur": np.concatenate([batch.t_occur if batch.t_occur is not None else t_call, (batch.t_occur if batch.t_occur is not None else t_call)[dup]]),
        "detected_by": np.concatenate([
            batch.detected_by if batch.detected_by is not None else np.zeros(n, np.int8), np.zeros(m, np.int8)]),
        "outcome": np.concatenate([outcome, np.full(m, DUPLICATE, dtype=np.int8)]),
        "linked": np.concatenate([np.full(n, -1, dtype=np.int64), dup]),
    }  # fmt: skip
    patience = np.full(n + m, np.inf)
    for k, spec in enumerate(kinds):
        if spec.patience is not None:
            mask = cols["kind"] == k
            patience[mask] = sample_durations(spec.patience, int(mask.sum()), rng)
    cols["patience_s"] = patience
    order = np.argsort(cols["t_call"], kind="stable")  # a duplicate never comes before its original
    rank = np.empty(n + m, dtype=np.int64)
    rank[order] = np.arange(n + m)
    out = {name: col[order] for name, col in cols.items()}
    out["linked"] = np.where(out["linked"] >= 0, rank[np.maximum(out["linked"], 0)], -1)
    return CallBatch(source=batch.source, **out)
