"""The compiled checkpoint lookups against a plain reference (where a touring unit is at time t)."""

import numpy as np

from policetwin.sim.checkpoints import Checkpoints
from policetwin.sim.patrol_kernels import CURSOR_STEPS


def reference_eta(row, nodes, times, t0, now):
    """Next node and seconds to it, by a binary search over the tour (waiting at a node: leave from it)."""
    rel = now - t0
    at = max(int(np.searchsorted(times, rel, side="right")) - 1, 0)
    if at + 1 >= nodes.size or times[at] >= rel or nodes[at + 1] == nodes[at]:
        return float(row[nodes[at]])
    return float(row[nodes[at + 1]]) + float(times[at + 1] - rel)


def test_touring_etas_equal_a_binary_search_at_every_step_size():
    rng = np.random.default_rng(7)
    n_nodes, n_units, width = 50, 6, 64
    row = rng.uniform(0, 900, n_nodes).astype(np.float32)
    cp = Checkpoints(n_units, width=width, horizon_s=86400.0)
    tours = {}
    for u in range(n_units):
        n = int(rng.integers(2, width - 1))
        nodes = rng.integers(0, n_nodes, n)
        nodes[5:7] = nodes[4]  # waiting at a node (a dwell): the same node twice in a row
        times = np.cumsum(rng.uniform(0.0, 30.0, n))
        times[0] = 0.0
        t0 = float(rng.uniform(0, 100))
        cp.set_tour(u, nodes, times, 1.0, t0=t0)
        tours[u] = (nodes, times, t0)
    units = np.arange(n_units)
    now, steps_seen = 0.0, set()
    for _ in range(300):  # small steps (the cursor walks) and big jumps (binary search)
        before = cp.cursor.copy()
        now += float(rng.choice([0.5, 3.0, 40.0, 400.0]))
        got = cp.etas(row, units, now)
        steps_seen.update((cp.cursor - before).tolist())
        want = [reference_eta(row, *tours[u], now) for u in units.tolist()]
        np.testing.assert_array_equal(got, want)
    assert max(steps_seen) > CURSOR_STEPS  # both ways of finding the checkpoint were used
    assert any(0 < s <= CURSOR_STEPS for s in steps_seen)


def test_road_etas_time_waiting_and_touring_units_and_bound_the_others():
    row = np.arange(10, dtype=np.float32) * 10.0
    home_rows = np.arange(30, dtype=float).reshape(3, 10)
    cp = Checkpoints(3, width=8, horizon_s=86400.0)
    cp.set_tour(1, np.array([4, 5, 6]), np.array([0.0, 10.0, 20.0]), 1.0, t0=100.0)
    cp.set_trip(2, 7, 100.0, 0.5)
    returning = np.array([False, True, True])
    eta, plain, bound = cp.road_etas(row, home_rows, np.array([2, 0, 1]), returning, np.arange(3), 3, 105.0)
    assert eta[0] == home_rows[2, 3]  # waiting at home: the home's row
    assert eta[1] == 50.0 + 5.0  # touring: next node 5 in 5 s
    assert eta[2] == np.inf and plain.tolist() == [2]
    assert bound.tolist() == [70.0 - 5.0 * 0.5]  # from the trip's origin, less what was driven since
