"""Nearest-unit dispatch against Larson's exact hypercube queueing model (Larson & Odoni, "Urban
Operations Research", ch. 5; Larson 1974), shared by ``tests/test_hypercube.py`` and ``policetwin verify``.

The model: N units with fixed homes, calls from J atoms as Poisson streams, exponential service (rate mu),
each call gets the first available unit of its atom's preference list, FCFS queue when all are busy.
:func:`solve_hypercube` solves its CTMC exactly (2^N busy sets plus a truncated queue tail). The engine
runs the same rules on real Helsinki roads (:func:`hypercube_scenario`); the test module's docstring gives
the pilot study behind ``PILOT_SD`` and the measured travel bias (the en-route share, < 0.0025).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from policetwin.maps import RoadNetwork, load_map
from policetwin.scenarios import Scenario
from policetwin.sim.run import RunResult, simulate
from policetwin.verify.record import CheckResult, Figure

HOUR_S = 3600.0
#: Agreement required between simulated and exact workloads (absolute).
TOL = 0.015
N_BATCHES = 20
K_SE = 4.0
#: Queue tail kept by the exact solver (waiting calls); the truncated mass is ~rho^200 < 1e-50.
MAX_QUEUE = 200
#: Smallest gap (s) between consecutive units of an atom's preference list: the lists are not ties.
MIN_PREFERENCE_GAP_S = 2.0
#: SD of one run's estimates over 12 seeds (pilot study, module docstring), largest over units (and
#: atoms), rounded up. Measured at the cases' run lengths: measure again when changing a case.
PILOT_SD = {
    "textbook": {"workload": 0.0030, "dispatch": 0.0035},
    "cyclic": {"workload": 0.0025, "dispatch": 0.0040},
}


# ------------------------------------------------------------------ the exact model
@dataclass(frozen=True)
class Hypercube:
    """Stationary figures of the infinite-line-capacity hypercube model."""

    workloads: np.ndarray  # fraction of time each unit is busy
    p_all_busy: float  # probability that all units are busy (= a call has to wait, by PASTA)
    dispatch: np.ndarray  # [atom, unit]: probability that a call from the atom is served by the unit
    pi_states: np.ndarray  # stationary probability of each busy set with nobody waiting (bit n = unit n)
    pi_queue: np.ndarray  # stationary probability of k = 1, 2, ... waiting calls (all units busy)


def first_free(pref: tuple[int, ...], busy_mask: int) -> int:
    """The first unit of a preference list that is free in ``busy_mask`` (-1: all busy)."""
    return next((unit for unit in pref if not busy_mask >> unit & 1), -1)


def solve_hypercube(
    prefs: list[tuple[int, ...]], rates: list[float], *, mu: float = 1.0, max_queue: int = MAX_QUEUE
) -> Hypercube:
    """Exact hypercube model: CTMC on busy sets (bit n of a state = unit n busy) plus a queue tail.

    Index s < 2^N: busy set s, nobody waiting; index 2^N + k - 1: all busy and k calls waiting.
    A call from atom j in busy set s goes to ``first_free(prefs[j], s)``; in the full set it waits.
    A unit that finishes with calls waiting takes the first of them (the state moves down the tail).
    """
    n_units = len(prefs[0])
    assert all(sorted(p) == list(range(n_units)) for p in prefs), "every list ranks every unit once"
    n_sets = 2**n_units
    full = n_sets - 1
    lam = float(sum(rates))
    size = n_sets + max_queue
    q = np.zeros((size, size))
    for s in range(n_sets):
        for unit in range(n_units):
            if s >> unit & 1:
                q[s, s & ~(1 << unit)] += mu  # unit finishes, nobody waiting: it becomes free
        if s == full:
            q[s, n_sets] += lam  # first waiting call
            continue
        for pref, rate in zip(prefs, rates, strict=True):
            q[s, s | 1 << first_free(pref, s)] += rate
    for k in range(1, max_queue + 1):
        i = n_sets + k - 1
        q[i, full if k == 1 else i - 1] += n_units * mu  # any unit finishes and takes the head of the queue
        if k < max_queue:
            q[i, i + 1] += lam
    q -= np.diag(q.sum(axis=1))
    a = q.T.copy()
    a[-1, :] = 1.0  # pi Q = 0 has rank size - 1: replace one balance equation by sum(pi) = 1
    b = np.zeros(size)
    b[-1] = 1.0
    pi = np.linalg.solve(a, b)
    pi_states, pi_queue = pi[:n_sets], pi[n_sets:]
    p_queue = float(pi_queue.sum())
    sets = np.arange(n_sets)
    workloads = np.array([pi_states[(sets >> n) & 1 == 1].sum() + p_queue for n in range(n_units)])
    p_all_busy = float(pi_states[full]) + p_queue
    dispatch = np.full((len(prefs), n_units), p_all_busy / n_units)  # waiting calls: whoever frees first
    for j, pref in enumerate(prefs):
        for s in range(full):
            dispatch[j, first_free(pref, s)] += pi_states[s]
    return Hypercube(workloads, p_all_busy, dispatch, pi_states, pi_queue)


# ------------------------------------------------------------------ the engine cases
@dataclass(frozen=True)
class Case:
    """Posts (unit homes) and atoms as OSM node ids of the bundled Helsinki map, atom rates in calls
    per hour (= per mean on-scene time) and the preference lists the engine must produce (0-based)."""

    name: str
    posts: tuple[int, ...]
    atoms: tuple[int, ...]
    rates: tuple[float, ...]
    prefs: tuple[tuple[int, ...], ...]
    hours: float
    seed: int


#: Larson & Odoni §5.4.3: 3 units, 10 atoms, lambda = 1.5, mu = 1. Atoms with the same preference list
#: merge into one Poisson stream without changing the model, so four streams carry it: unit 1's primary
#: area (rate 0.75, half the city) splits into atoms 1-2 (backup unit 2) and atom 4 (backup unit 3);
#: unit 1 is the first backup of area 2 (rate 0.35) and area 3 (0.40). Here: post 1 in the middle,
#: posts 2 and 3 on either side; the atoms of areas 2 and 3 are at their posts.
TEXTBOOK = Case(
    name="textbook",
    posts=(288883181, 1380991237, 3401767829),
    atoms=(336197271, 25345669, 1380991237, 3401767829),
    rates=(0.50, 0.25, 0.35, 0.40),
    prefs=((0, 1, 2), (0, 2, 1), (1, 0, 2), (2, 0, 1)),
    hours=80_000,
    seed=21,
)
#: Our own case: cyclic backups (atom 1: units 1, 2, 3; atom 2: 2, 3, 1; atom 3: 3, 1, 2), unequal
#: rates (rho = 1.6 / 3 = 0.53), atoms between the posts (4-11 s from their first unit). Unit 2, the
#: first backup of the busiest atom, ends up busier than its own atom's 0.4 suggests.
CYCLIC = Case(
    name="cyclic",
    posts=(336197271, 175882281, 1380323657),
    atoms=(1371624247, 313959167, 266181433),
    rates=(1.0, 0.4, 0.2),
    prefs=((0, 1, 2), (1, 2, 0), (2, 0, 1)),
    hours=80_000,
    seed=22,
)


def node_index(network: RoadNetwork, osm_id: int) -> int:
    """Index of an OSM node id in the network (it must occur exactly once)."""
    (hits,) = np.nonzero(network.node_id == osm_id)
    if hits.size != 1:
        raise ValueError(f"OSM node {osm_id} is not (once) in the map {network.name!r}")
    return int(hits[0])


def hypercube_scenario(
    case: Case, network: RoadNetwork, *, hours: float | None = None, seed: int | None = None
) -> Scenario:
    """One unit per post, one road node per atom, exponential on-scene time (mean 1 h), no call-taker
    delay, fast but real travel on the roads."""
    lonlat = [
        (float(network.lon[i]), float(network.lat[i])) for i in (node_index(network, n) for n in case.posts)
    ]
    spots = [
        (float(network.lon[i]), float(network.lat[i])) for i in (node_index(network, n) for n in case.atoms)
    ]
    return Scenario.model_validate({
        "name": f"hypercube-{case.name}",
        "seed": case.seed if seed is None else seed,
        "duration": (case.hours if hours is None else hours) * HOUR_S,
        "map": "helsinki",
        "stations": [{"name": f"Post{k + 1}", "lon": lon, "lat": lat} for k, (lon, lat) in enumerate(lonlat)],
        "units": {"per_station": {f"Post{k + 1}": 1 for k in range(len(case.posts))}},
        "demand": {
            "rate_per_hour": sum(case.rates),
            "profile": "flat",
            "background_weight": 0,
            "hotspots": [{"lon": lon, "lat": lat, "radius_m": 1, "weight": rate}
                         for (lon, lat), rate in zip(spots, case.rates, strict=True)],
            "kinds": [{"name": "call", "priority": 1, "share": 1, "units": 1, "target": 600,
                       "on_scene": {"dist": "exponential", "mean": HOUR_S}}],
        },
        "call_handling": {"takers": 1000, "handling": {"dist": "fixed", "mean": 0}},
        "travel": {"mode": "network", "speed_factor": 10},
        "outputs": {"report": False},
    })  # fmt: skip


def batch_shares(starts: np.ndarray, ends: np.ndarray, horizon: float) -> np.ndarray:
    """Share of each of ``N_BATCHES`` equal batches of [0, horizon) covered by the intervals."""
    edges = np.linspace(0.0, horizon, N_BATCHES + 1)
    overlap = np.minimum(ends[:, None], edges[None, 1:]) - np.maximum(starts[:, None], edges[None, :-1])
    return np.clip(overlap, 0.0, None).sum(axis=0) / np.diff(edges)


def estimate(batches: np.ndarray) -> tuple[float, float]:
    """(mean, batch-means SE) of per-batch values (equal batches)."""
    return float(batches.mean()), float(batches.std(ddof=1) / math.sqrt(batches.size))


def unit_shares(result: RunResult, states: tuple[str, ...], horizon: float) -> list[tuple[float, float]]:
    """Per unit (model order): (share of [0, horizon) in ``states``, batch-means SE)."""
    units = result.units
    rows = units[units["state"].astype(str).isin(states)]
    out = []
    for name in result.model.unit_names:
        mine = rows[rows["unit_id"] == name]
        out.append(estimate(batch_shares(mine["t_start"].to_numpy(), mine["t_end"].to_numpy(), horizon)))
    return out


def dispatch_shares(result: RunResult, case: Case, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """[atom, unit]: share of the atom's calls (ready before ``horizon``) whose unit was that unit, and
    its batch-means SE (calls batched by ready time)."""
    inc = result.incidents
    inc = inc[inc["t_ready"] < horizon]
    unit = inc["first_unit"].map({name: k for k, name in enumerate(result.model.unit_names)}).to_numpy()
    batch = np.minimum((inc["t_ready"].to_numpy() / horizon * N_BATCHES).astype(int), N_BATCHES - 1)
    node = inc["node"].to_numpy()
    shares = np.zeros((len(case.atoms), len(case.posts)))
    ses = np.zeros_like(shares)
    for j, atom in enumerate(case.atoms):
        mine = node == atom
        for n in range(len(case.posts)):
            hit = (unit[mine] == n).astype(float)
            per_batch = np.array([hit[batch[mine] == b].mean() for b in range(N_BATCHES)])
            shares[j, n] = hit.mean()
            ses[j, n] = per_batch.std(ddof=1) / math.sqrt(N_BATCHES)
    return shares, ses


def off_list_share(result: RunResult, case: Case) -> tuple[float, int]:
    """Of the calls dispatched on arrival, the share not sent to the first available unit of their
    atom's preference list (availability from the unit log just before the dispatch), and their count."""
    inc = result.incidents
    now = inc[inc["t_dispatch"] == inc["t_ready"]]
    t = now["t_dispatch"].to_numpy()
    names = result.model.unit_names
    available = np.zeros((len(names), t.size), dtype=bool)
    units = result.units
    for k, name in enumerate(names):
        mine = units[units["unit_id"] == name].sort_values("t_start")
        ends = mine["t_end"].to_numpy()
        before = np.minimum(np.searchsorted(ends, t, side="left"), ends.size - 1)  # t_start < t <= t_end
        available[k] = np.isin(mine["state"].astype(str).to_numpy()[before], ["idle", "returning"])
    atom_of = {node: j for j, node in enumerate(case.atoms)}
    atom = now["node"].map(atom_of).to_numpy()
    sent = now["first_unit"].map({name: k for k, name in enumerate(names)}).to_numpy()
    expected = np.array([next(n for n in case.prefs[a] if available[n, i]) for i, a in enumerate(atom)])
    return float((expected != sent).mean()), int(t.size)


def check_hypercube(
    *, hours: float | None = None, cases: tuple[Case, ...] = (TEXTBOOK, CYCLIC), network=None
) -> CheckResult:
    """Each unit's workload (busy share) in the engine against the exact hypercube model.

    Tolerance: ``TOL`` (0.015 absolute) at the full run length; a shorter run widens it to
    4 x the pilot SD scaled to its length plus the en-route bias bound (0.0025), never below ``TOL``.
    """
    start = time.perf_counter()
    network = network if network is not None else load_map("helsinki")
    rows, notes = [], []
    for case in cases:
        run_hours = case.hours if hours is None else hours
        scenario = hypercube_scenario(case, network, hours=run_hours)
        result = simulate(scenario, network=network)
        exact = solve_hypercube(list(case.prefs), list(case.rates))
        busy = unit_shares(result, ("enroute", "onscene"), scenario.duration)
        sd = PILOT_SD[case.name]["workload"] * math.sqrt(case.hours / run_hours)
        tol = max(TOL, K_SE * sd + 0.0025)
        for n, (est, batch_se) in enumerate(busy):
            rows.append(Figure(f"workload unit {n + 1}, {case.name}", float(exact.workloads[n]), est, tol,
                               se=max(batch_se, sd), rule="0.015 abs." if tol == TOL else "4 SD + 0.0025"))  # fmt: skip
        notes.append(f"{case.name}: {run_hours:,.0f} h, {len(result.incidents):,} calls, seed {case.seed}")
    note = "3 units on Helsinki roads, exponential 1 h on scene; " + "; ".join(notes) + "."
    return CheckResult("hypercube", "Hypercube workloads", rows, note, time.perf_counter() - start)
