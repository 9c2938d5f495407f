"""The dispatch queue and the policy registry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from policetwin.sim.dispatch import DispatchQueue
from policetwin.sim.policies import POLICIES, NearestPolicy


def call(row: int, priority: int, t_ready: float, *, needs: bool = True) -> SimpleNamespace:
    return SimpleNamespace(row=row, priority=priority, t_ready=t_ready, still_needs_units=needs)


def test_queue_orders_by_priority_then_time_ready_then_id():
    queue = DispatchQueue()
    for item in (call(0, 3, 10.0), call(1, 1, 50.0), call(2, 1, 20.0), call(3, 2, 5.0), call(4, 1, 20.0)):
        queue.push(item)
    assert [c.row for c in queue] == [2, 4, 1, 3, 0]
    assert queue.peek().row == 2
    assert [queue.pop().row for _ in range(5)] == [2, 4, 1, 3, 0]
    assert queue.pop() is None and queue.peek() is None


def test_queue_drops_calls_that_no_longer_need_units():
    queue = DispatchQueue()
    done = call(0, 1, 0.0)
    queue.push(done)
    queue.push(call(1, 2, 0.0))
    done.still_needs_units = False
    assert [c.row for c in queue] == [1]
    assert queue.pop().row == 1
    assert queue.pop() is None


def test_nearest_policy_picks_the_fastest_units_stably():
    policy = POLICIES["nearest"]()
    assert isinstance(policy, NearestPolicy)
    candidates = np.array([3, 5, 8, 9])
    eta = np.array([120.0, 60.0, 60.0, np.inf])
    one = SimpleNamespace(units_needed=1, assigned=0)
    two = SimpleNamespace(units_needed=3, assigned=1)
    assert policy.select(one, candidates, eta, None) == [1]
    assert policy.select(two, candidates, eta, None) == [1, 2]


def test_every_policy_name_the_schema_allows_has_an_implementation() -> None:
    from policetwin.scenarios.command import BUILTIN_POLICIES

    assert set(BUILTIN_POLICIES) == set(POLICIES)


def test_the_scenario_layer_does_not_import_the_engine() -> None:
    """maps -> scenarios -> sim: validating a scenario must not import policetwin.sim (layering)."""
    import subprocess
    import sys

    code = ("import sys, policetwin.scenarios as s; s.load_scenario('helsinki'); "
            "print(sorted(m for m in sys.modules if m.startswith('policetwin.sim')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
