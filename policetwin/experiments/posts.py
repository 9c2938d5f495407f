"""Where should the units wait? Optimal posts by maximal covering, p-median or expected covering.

``mclp`` (Church & ReVelle 1974) maximises the demand reached within the response standard by one
post per unit; ``pmedian`` (Hakimi 1964) minimises the demand-weighted travel time to the nearest
post; both are PySAL ``spopt`` models. ``mexclp`` (Daskin 1983) counts that a unit is busy with
probability ``busy`` = q: it maximises the expected covered demand
``sum_i w_i sum_k (1 - q) q^(k-1) y_ik`` with ``sum_k y_ik <= sum_j a_ij x_j``, ``sum_j x_j = N``,
``x_j`` integer >= 0 (a post may hold several units) and ``y_ik`` binary, built with PuLP. All three
are solved exactly by CBC. Travel goes FROM the post TO the call on the directed road graph.

Aggregation, so that a city of ~15k nodes solves in seconds: the candidate posts are the scenario's
stations and current posts plus, up to ``candidates`` in all, the road node nearest the centre of
each cluster of a demand-weighted k-means of the node coordinates; the demand is ``demand_cells``
demand-weighted k-means cells of the nodes with demand, each holding its nodes' total weight and
represented by its heaviest node (ties: the one nearest the cell's centre). A small map is not
aggregated (every node is a candidate and a demand point). Coverage before and after is measured on
every node: the demand-weighted share of nodes within ``standard_s`` of the nearest unit's place;
"before" places every unit of the scenario where it waits (its station, or its group's posts in
turn), whatever its shift.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import yaml
from scipy.sparse.csgraph import dijkstra

from policetwin.durations import parse_duration
from policetwin.errors import PoliceTwinError
from policetwin.maps import RoadNetwork, Router, Snapper
from policetwin.scenarios import Scenario, scenario_to_yaml
from policetwin.sim.demand import node_weights
from policetwin.sim.fleet import unit_plans

METHODS = ("mclp", "pmedian", "mexclp")
DEFAULT_DEMAND_CELLS = 600


class PostsError(PoliceTwinError, ValueError):
    """The posts optimisation cannot run with these inputs."""


@dataclass(frozen=True)
class PostsResult:
    """Chosen posts (node index, lon/lat, units there, the station their units belong to) and the
    coverage of the demand within the standard before (the scenario's units) and after (the posts);
    ``expected_*``: the MEXCLP objective (share of demand expected covered by an idle unit, units busy
    with probability ``busy``); ``mean_time_*_s``: demand-weighted travel time from the nearest place."""

    method: str
    standard_s: float
    busy: float
    nodes: np.ndarray
    counts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    stations: list[str]
    coverage_before: float
    coverage_after: float
    expected_before: float
    expected_after: float
    mean_time_before_s: float
    mean_time_after_s: float
    objective: float  # the solver's objective on the aggregated problem
    solve_s: float  # building and solving the model
    wall_s: float
    n_candidates: int
    n_demand: int

    @property
    def units(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        posts = [{"lon": float(x), "lat": float(y), "units": int(k), "station": s}
                 for x, y, k, s in zip(self.lon, self.lat, self.counts, self.stations, strict=True)]  # fmt: skip
        keys = ("method", "standard_s", "busy", "coverage_before", "coverage_after", "expected_before",
                "expected_after", "mean_time_before_s", "mean_time_after_s", "objective", "solve_s",
                "wall_s", "n_candidates", "n_demand")  # fmt: skip
        return {"units": self.units, **{k: getattr(self, k) for k in keys}, "posts": posts}


def _check_inputs(
    scenario: Scenario, units: int, standard_s: float, method: str, busy: float, k: int
) -> None:
    if method not in METHODS:
        raise PostsError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if units < 1:
        raise PostsError(f"--units must be at least 1, got {units}")
    if not np.isfinite(standard_s) or standard_s <= 0:
        raise PostsError(f"--standard must be a positive duration, got {standard_s:g} s")
    if not 0 <= busy < 1:
        raise PostsError(f"--busy is the probability that a unit is busy: 0 <= busy < 1, got {busy:g}")
    if k < 1:
        raise PostsError(f"--candidates must be at least 1, got {k}")
    required = sorted({kind.require for kind in scenario.demand.kinds if kind.require})
    if required:
        raise PostsError(f"demand kinds require capabilities ({', '.join(required)}); posts are optimised "
                         "for interchangeable units: remove the requirements first")  # fmt: skip
    if scenario.demand.background_weight <= 0 and not scenario.demand.hotspots:
        raise PostsError("the scenario's demand weights are all zero (background_weight 0, no hotspots)")


def _cluster(xy: np.ndarray, w: np.ndarray, k: int, *, heaviest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Demand-weighted k-means of the points: (representative point of each cluster, cluster labels);
    the representative is the point nearest the centre, or the heaviest (ties: nearest the centre)."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
        km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(xy, sample_weight=w)
    labels = km.labels_
    dist = np.hypot(*(xy - km.cluster_centers_[labels]).T)
    order = np.lexsort((dist, -w, labels) if heaviest else (dist, labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
    return first, labels


def _current_places(scenario: Scenario, station_nodes: np.ndarray, snapper: Snapper) -> list[int]:
    """The node where each unit of the scenario waits (the engine's own :func:`unit_plans`)."""
    post_nodes = {g: snapper.nearest([p.lon for p in group.posts], [p.lat for p in group.posts])[0]
                  for g, group in enumerate(scenario.units.groups or []) if group.idle == "post"}  # fmt: skip
    return [plan.home_node for plan in unit_plans(scenario, station_nodes, post_nodes)]


def _figures(rows: np.ndarray, counts: np.ndarray, w: np.ndarray, standard_s: float, q: float):
    """(coverage, expected coverage, mean time from the nearest place) of units at ``rows`` of the
    travel-time matrix, ``counts`` units each, over all nodes of weight ``w`` (sums to 1)."""
    near = rows <= standard_s
    nearest = rows.min(axis=0)
    covering = counts @ near
    reached = np.isfinite(nearest)
    mean = float(w @ np.where(reached, nearest, 0.0)) if reached.all() else float("inf")
    return float(w @ (covering > 0)), float(w @ (1.0 - q**covering)), mean


def _solve(method: str, cost: np.ndarray, cw: np.ndarray, units: int, standard_s: float, q: float):
    """(units per candidate, objective) of the aggregated problem; ``cost``: demand x candidates (s)."""
    with warnings.catch_warnings():  # PuLP 3.3 announces 4.0's API (spopt builds with the 3.x one)
        warnings.filterwarnings("ignore", message=r".*PuLP 4\.0", category=DeprecationWarning)
        return _build_and_solve(method, cost, cw, units, standard_s, q)


def _build_and_solve(method: str, cost: np.ndarray, cw: np.ndarray, units: int, standard_s: float, q: float):
    import pulp

    solver = pulp.PULP_CBC_CMD(msg=False, threads=2)
    n_dem, n_cand = cost.shape
    if method in ("mclp", "pmedian"):
        from spopt.locate import MCLP, PMedian

        if method == "mclp":
            model = MCLP.from_cost_matrix(cost, cw, service_radius=standard_s, p_facilities=units)
        else:
            finite = np.isfinite(cost)  # an unreachable pair costs more than any reachable one
            big = 10.0 * (cost[finite].max() if finite.any() else 1.0) + 1.0
            model = PMedian.from_cost_matrix(np.where(finite, cost, big), cw, p_facilities=units)
        model.solve(solver, results=False)
        x = np.array([round(v.value() or 0.0) for v in model.fac_vars], dtype=np.int64)
        return x, float(pulp.value(model.problem.objective))
    prob = pulp.LpProblem("mexclp", pulp.LpMaximize)
    xs = [pulp.LpVariable(f"x_{j}", lowBound=0, upBound=units, cat=pulp.LpInteger) for j in range(n_cand)]
    gain = [(1.0 - q) * q ** (k - 1) for k in range(1, units + 1)]
    gain = [g for g in gain if g > 0]  # q = 0: only the first unit counts
    terms = []
    for i in range(n_dem):
        cover = np.flatnonzero(cost[i] <= standard_s)
        if cover.size == 0:
            continue
        ys = [pulp.LpVariable(f"y_{i}_{k}", cat=pulp.LpBinary) for k in range(len(gain))]
        terms += [(y, cw[i] * g) for y, g in zip(ys, gain, strict=True)]
        prob += pulp.lpSum(ys) <= pulp.LpAffineExpression([(xs[j], 1) for j in cover]), f"cover_{i}"
    prob += pulp.LpAffineExpression(terms)
    prob += pulp.lpSum(xs) == units, "units"
    status = prob.solve(solver)
    if status != pulp.LpStatusOptimal:
        raise PostsError(f"the MEXCLP model was not solved: {pulp.LpStatus[status]}")
    x = np.array([round(v.value() or 0.0) for v in xs], dtype=np.int64)
    return x, float(pulp.value(prob.objective) or 0.0)


def optimize_posts(
    scenario: Scenario,
    *,
    network: RoadNetwork,
    units: int,
    standard_s: float | str,
    method: str,
    busy: float = 0.4,
    candidates: int = 200,
    demand_cells: int = DEFAULT_DEMAND_CELLS,
    filename: str = "scenario",
) -> PostsResult:
    """Place ``units`` units at posts on the scenario's map by ``method`` (see the module docstring).

    ``standard_s``: the response standard (seconds or a duration like ``8min``); ``busy``: the chance
    that a unit is busy (MEXCLP, and the expected coverage figures of every method). Raises
    :class:`PostsError` (or ``ScenarioError`` for hotspots off the map) on bad input.
    """
    started = time.perf_counter()
    try:
        standard_s = parse_duration(standard_s) if isinstance(standard_s, str) else float(standard_s)
    except ValueError as exc:
        raise PostsError(f"--standard: {exc}") from None
    _check_inputs(scenario, units, standard_s, method, busy, candidates)
    snapper = Snapper(network)
    w = node_weights(scenario.demand, snapper, filename=filename)
    if not np.isfinite(w).all() or w.sum() <= 0:
        raise PostsError("the scenario's demand weights are all zero")
    stations = scenario.stations
    station_nodes, _ = snapper.nearest([s.lon for s in stations], [s.lat for s in stations])
    before = _current_places(scenario, station_nodes, snapper)
    fixed = np.unique(np.r_[station_nodes, before])
    xy = np.column_stack([network.x, network.y])
    if network.n_nodes <= candidates:
        cand = np.arange(network.n_nodes)
    else:
        extra, _ = _cluster(xy, w, max(candidates - fixed.size, 1), heaviest=False)
        cand = np.union1d(fixed, extra)
    if method != "mexclp" and units > cand.size:
        raise PostsError(f"--units {units} is more than the {cand.size} candidate posts; {method} puts one unit "
                         "per post: raise --candidates or use mexclp (several units per post)")  # fmt: skip
    router = Router(network.n_nodes, network.edge_u, network.edge_v, dense_max_bytes=0,
                    edge_time_s=network.travel_times_s(overrides_kph=scenario.travel.speeds_kph,
                                                       speed_factor=scenario.travel.speed_factor))  # fmt: skip
    times = dijkstra(router.forward, directed=True, indices=cand)  # candidates x all nodes
    demand = np.flatnonzero(w > 0)
    if demand.size <= demand_cells:
        reps, cw = demand, w[demand]
    else:
        first, labels = _cluster(xy[demand], w[demand], demand_cells, heaviest=True)
        reps, cw = demand[first], np.bincount(labels, weights=w[demand])[labels[first]]
    solve_start = time.perf_counter()
    x, objective = _solve(method, times[:, reps].T, cw, units, standard_s, busy)
    solve_s = time.perf_counter() - solve_start
    row_of = {int(n): r for r, n in enumerate(cand)}
    b_nodes, b_counts = np.unique(before, return_counts=True)
    b_rows = times[[row_of[int(n)] for n in b_nodes]]
    picked = np.flatnonzero(x)
    cov_b, exp_b, mean_b = _figures(b_rows, b_counts, w, standard_s, busy)
    cov_a, exp_a, mean_a = _figures(times[picked], x[picked], w, standard_s, busy)
    st_rows = times[[row_of[int(n)] for n in station_nodes]]
    nodes = cand[picked]
    home = np.argmin(st_rows[:, nodes], axis=0)  # the station that reaches the post first
    return PostsResult(
        method=method, standard_s=standard_s, busy=busy, nodes=nodes, counts=x[picked],
        lon=network.lon[nodes], lat=network.lat[nodes], stations=[stations[i].name for i in home],
        coverage_before=cov_b, coverage_after=cov_a, expected_before=exp_b, expected_after=exp_a,
        mean_time_before_s=mean_b, mean_time_after_s=mean_a, objective=objective, solve_s=solve_s,
        wall_s=time.perf_counter() - started, n_candidates=int(cand.size), n_demand=int(reps.size),
    )  # fmt: skip


def posts_scenario_yaml(scenario: Scenario, result: PostsResult) -> str:
    """The scenario with its units replaced by one group per post (``idle: post``, always on duty,
    belonging to the station that reaches the post first), as YAML text."""
    data = yaml.safe_load(scenario_to_yaml(scenario))
    groups = [
        {"name": f"post-{i + 1}", "count": int(k), "station": station, "idle": "post",
         "posts": [{"lon": float(lon), "lat": float(lat)}]}
        for i, (lon, lat, k, station) in enumerate(zip(result.lon, result.lat, result.counts, result.stations,
                                                       strict=True))
    ]  # fmt: skip
    data["name"] = f"{scenario.name}-posts-{result.method}"
    data["units"] = {"groups": groups}
    head = (f"# {data['name']}: {result.units} units at {len(groups)} posts chosen by {result.method} "
            f"(standard {result.standard_s:g} s); coverage {result.coverage_before:.1%} -> "
            f"{result.coverage_after:.1%}\n")  # fmt: skip
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
