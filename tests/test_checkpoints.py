"""The compiled checkpoint lookups against a plain reference (where a touring unit is at time t)."""

import numpy as np

from policetwin.sim.checkpoints import Checkpoints
from policetwin.sim.patrol_kernels import CURSOR_STEPS
from policetwin.sim.tours import Routes, draw_tour


def reference_eta(row, nodes, times, rel):
    """Next node and seconds to it, by a binary search over the whole tour's route (the legs' routes one
    after another; waiting at a node: leave from it)."""
    at = max(int(np.searchsorted(times, rel, side="right")) - 1, 0)
    if at + 1 >= nodes.size or times[at] >= rel or nodes[at + 1] == nodes[at]:
        return float(row[nodes[at]])
    return float(row[nodes[at + 1]]) + float(times[at + 1] - rel)


def random_routes(rng, n_nodes, m):
    """Routes between m waypoints through random nodes (some edges of no length: equal times)."""

    def path(origin, dest):
        if origin == dest:
            return [origin], [0.0]
        inner = rng.integers(0, n_nodes, int(rng.integers(0, 12))).tolist()
        steps = rng.choice([0.0, 3.0, 11.0], size=len(inner) + 1)
        return [origin, *inner, dest], np.concatenate(([0.0], np.cumsum(steps))).tolist()

    return Routes(rng.choice(n_nodes, m, replace=False), path)


def whole_route(routes, tour):
    """The tour's nodes and times, leg after leg, from the routes (not from the checkpoints)."""
    index = {n: i for i, n in enumerate(routes.waypoints.tolist())}
    nodes, times = [], []
    for o, d, depart in zip(tour.origin.tolist(), tour.dest.tolist(), tour.depart, strict=True):
        p = index[o] * routes.waypoints.size + index[d]
        span = slice(routes.offset[p], routes.offset[p] + routes.length[p])
        nodes.append(routes.nodes[span])
        times.append(depart + routes.reached[span] / tour.rate)
    return np.concatenate(nodes), np.concatenate(times)


def test_touring_etas_equal_a_binary_search_over_the_whole_route():
    rng = np.random.default_rng(7)
    n_nodes, n_units, m = 60, 6, 5
    routes = random_routes(rng, n_nodes, m)
    row = rng.uniform(0, 900, n_nodes).astype(np.float32)
    cp = Checkpoints(n_units, width=128, horizon_s=86400.0)
    whole, before = {}, 0
    for u in range(n_units):
        for _ in range(2):  # a second tour over the first (shorter or longer) in the same slots
            stays = rng.choice([0.0, 20.0], size=40)
            tour = draw_tour(routes, int(rng.integers(m)), 1 + rng.integers(m - 1, size=int(rng.integers(3, 40))),
                             rate=float(rng.choice([0.5, 1.0])), checkpoints=cp, unit=u,
                             dwell=lambda k, s=stays: s[:k])  # fmt: skip
        tour.t0 = float(rng.uniform(0, 100))
        cp.set_tour(u, end=tour.end, rate=tour.rate, t0=tour.t0)
        whole[u] = (*whole_route(routes, tour), tour.t0)
        before = max(before, whole[u][1].size)
    assert before > 60  # tours long enough for the binary search
    units = np.arange(n_units)
    now, steps_seen = 0.0, set()
    for _ in range(400):  # small steps (the cursor walks) and big jumps (binary search)
        cursor = cp.cursor.copy()
        now += float(rng.choice([0.5, 3.0, 40.0, 300.0]))
        got = cp.etas(row, units, now)
        steps_seen.update((cp.cursor - cursor).tolist())
        want = [reference_eta(row, nodes, times, now - t0) for nodes, times, t0 in whole.values()]
        np.testing.assert_array_equal(got, want)
    assert now > max(times[-1] + t0 for _, times, t0 in whole.values())  # past every tour's end too
    assert max(steps_seen) > CURSOR_STEPS and any(0 < s <= CURSOR_STEPS for s in steps_seen)


def test_road_etas_time_waiting_and_touring_units_and_bound_the_others():
    routes = Routes(np.array([4, 6]), lambda o, d: ([o], [0.0]) if o == d else ([o, 5, d], [0.0, 10.0, 20.0]))
    row = np.arange(10, dtype=np.float32) * 10.0
    home_rows = np.arange(30, dtype=float).reshape(3, 10)
    cp = Checkpoints(3, width=16, horizon_s=86400.0)
    tour = draw_tour(routes, 0, np.ones(4, dtype=np.int64), rate=1.0, checkpoints=cp, unit=1)
    cp.set_tour(1, end=tour.end, rate=1.0, t0=100.0)
    cp.trips.set(2, 7, 100.0, 0.5, -1)  # a plain trip: left node 7 at 100 s, at half speed
    cp.set_trip(2)
    returning = np.array([False, True, True])
    eta, plain, bound = cp.road_etas(row, home_rows, np.array([2, 0, 1]), returning, np.arange(3), 3, 105.0)
    assert eta[0] == home_rows[2, 3]  # waiting at home: the home's row
    assert eta[1] == 50.0 + 5.0  # touring: next node 5 in 5 s
    assert eta[2] == np.inf and plain.tolist() == [2]
    assert bound.tolist() == [70.0 - 5.0 * 0.5]  # from the trip's origin, less what was driven since


def test_only_the_nearest_groups_are_timed_when_only_the_nearest_unit_matters():
    routes = Routes(np.array([4, 6]), lambda o, d: ([o], [0.0]) if o == d else ([o, 5, d], [0.0, 10.0, 20.0]))
    row = np.arange(10, dtype=np.float32) * 10.0
    cp = Checkpoints(2, width=16, horizon_s=86400.0)
    for u in range(2):
        tour = draw_tour(routes, 0, np.ones(4, dtype=np.int64), rate=1.0, checkpoints=cp, unit=u)
        cp.set_tour(u, end=tour.end, rate=1.0, t0=100.0)
    # unit 0's group is near (bound 40 s), unit 1's far (bound 500 s): the nearest is unit 0 at 55 s
    cp.use_bounds(np.array([0, 1]), np.array([np.full(10, 40.0), np.full(10, 500.0)]))
    args = (
        row,
        np.zeros((1, 10)),
        np.zeros(2, dtype=np.int64),
        np.ones(2, dtype=bool),
        np.arange(2),
        3,
        105.0,
    )
    assert cp.road_etas(*args)[0].tolist() == [55.0, 55.0]  # all timed
    assert cp.road_etas(*args, prune_s=1.0)[0].tolist() == [55.0, np.inf]  # the far group left out
    assert cp.road_etas(*args, prune_s=500.0)[0].tolist() == [55.0, 55.0]  # within the slack: timed
