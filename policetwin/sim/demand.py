"""Demand generators: when, where and what calls for service arrive.

A generator returns a :class:`CallBatch` (arrays sorted by call time) before the run starts; the
engine consumes it, and other modules (crowds, replay) may add calls while it runs. Random draws
come from two streams: ``demand`` (times, places, kinds) and ``service`` (handling and on-scene
times), so policy changes never shift which calls arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from policetwin.clock import week_offset_s
from policetwin.errors import ScenarioError
from policetwin.maps.snap import Snapper
from policetwin.scenarios.schema import Demand, Distribution, Scenario

#: Default relative call rate by hour of day (00-23), typical of police calls for service: a trough
#: before dawn and a peak in the evening. Weekends (Fri/Sat nights) get a night-time uplift.
DAILY_PROFILE = np.array([
    0.95, 0.80, 0.70, 0.55, 0.45, 0.40, 0.45, 0.60, 0.80, 0.95, 1.05, 1.10,
    1.15, 1.15, 1.15, 1.20, 1.25, 1.35, 1.40, 1.40, 1.35, 1.30, 1.20, 1.10,
])  # fmt: skip
WEEKEND_NIGHT_UPLIFT = 1.3


def hour_of_week_profile(profile: str | list[float]) -> np.ndarray:
    """168 multipliers (Monday 00:00 first) normalised to mean 1, so ``rate_per_hour`` is the mean rate."""
    if profile == "flat":
        week = np.ones(168)
    elif profile == "default":
        week = np.tile(DAILY_PROFILE, 7)
        for day in (4, 5):  # Friday and Saturday evenings into the next early morning
            start = day * 24 + 20
            week[start : start + 8] *= WEEKEND_NIGHT_UPLIFT
    else:
        values = np.asarray(profile, dtype=float)
        week = np.tile(values, 7) if values.size == 24 else values
    return week / week.mean()


def sample_durations(dist: Distribution, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` durations (s) from a scenario distribution block."""
    if dist.dist == "fixed":
        return np.full(size, dist.mean)
    if dist.dist == "exponential":
        return rng.exponential(dist.mean, size)
    sigma2 = np.log1p((dist.sd / dist.mean) ** 2)  # lognormal with the given mean and sd
    return rng.lognormal(np.log(dist.mean) - sigma2 / 2, np.sqrt(sigma2), size)


class Draws:
    """Durations from a scenario distribution, drawn in blocks from their own random stream."""

    def __init__(self, dist, rng: np.random.Generator, *, block: int = 4096) -> None:
        self.dist, self.rng, self.block = dist, rng, block
        self._values: list[float] = []

    def next(self) -> float:
        """The next duration (s)."""
        if not self._values:
            self._values = sample_durations(self.dist, self.block, self.rng).tolist()[::-1]
        return self._values.pop()


@dataclass(frozen=True)
class CallBatch:
    """Calls sorted by call time: when, which kind (index into ``demand.kinds``), where (node index).

    ``t_occur`` (when the incident happened; default: the call time) and ``detected_by`` (0 citizen,
    1 sensor) are filled by :func:`policetwin.sim.sensing.report`.
    """

    t_call: np.ndarray
    kind: np.ndarray
    node: np.ndarray
    handling_s: np.ndarray
    on_scene_s: np.ndarray
    source: str = "generated"
    t_occur: np.ndarray | None = None
    detected_by: np.ndarray | None = None
    #: Set by :func:`policetwin.sim.callers.callers` when a kind has phone resolution, duplicate calls or
    #: caller patience: planned outcome (index into ``OUTCOMES``: served, phone, duplicate), the index of
    #: the call a duplicate repeats (-1), and how long each caller waits for a call-taker (inf: forever).
    outcome: np.ndarray | None = None
    linked: np.ndarray | None = None
    patience_s: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.t_call.size)


class DemandGenerator(Protocol):
    """Anything that can produce the calls of a run (Poisson now; Hawkes and replay later)."""

    def generate(self, *, duration_s: float, demand_rng: np.random.Generator,
                 service_rng: np.random.Generator) -> CallBatch: ...  # fmt: skip


def node_weights(demand: Demand, snapper: Snapper, *, filename: str = "scenario") -> np.ndarray:
    """Probability of each node receiving a call: background spread evenly plus hotspot kernels.

    A hotspot's ``weight`` is its share of calls relative to ``background_weight`` (1 by default);
    within the hotspot, nodes get an Epanechnikov kernel weight (1 - (d/r)^2).
    """
    n = snapper.network.n_nodes
    weights = np.full(n, demand.background_weight / n)
    problems = []
    for i, spot in enumerate(demand.hotspots):
        hits = snapper.within(spot.lon, spot.lat, spot.radius_m)
        if hits.size == 0:
            node, dist = snapper.nearest(spot.lon, spot.lat)
            if dist[0] > spot.radius_m + 1000.0:
                problems.append(
                    f"{filename}:0: demand.hotspots.{i}: hotspot at ({spot.lon}, {spot.lat}) is "
                    f"{dist[0] / 1000:.1f} km from the nearest road of the map"
                )
                continue
            hits, kernel = node, np.ones(1)
        else:
            hx, hy = snapper.to_xy(np.array([spot.lon]), np.array([spot.lat]))
            d2 = (snapper.network.x[hits] - hx[0]) ** 2 + (snapper.network.y[hits] - hy[0]) ** 2
            kernel = np.maximum(1.0 - d2 / spot.radius_m**2, 1e-6)
        weights[hits] += spot.weight * kernel / kernel.sum()
    if problems:
        raise ScenarioError(problems)
    return weights / weights.sum()


class PoissonDemand:
    """Non-homogeneous Poisson calls: rate x hour-of-week profile, placed by node weights."""

    def __init__(
        self, demand: Demand, handling: Distribution, weights: np.ndarray, *, week_offset_s: float = 0.0
    ) -> None:
        self.demand = demand
        self.handling = handling
        self.weights = weights
        self.week_offset_s = week_offset_s  # where the run starts in the week (0 = Monday 00:00)
        self.profile = hour_of_week_profile(demand.profile)
        shares = np.array([k.share for k in demand.kinds], dtype=float)
        self.kind_p = shares / shares.sum()

    def generate(
        self, *, duration_s: float, demand_rng: np.random.Generator, service_rng: np.random.Generator
    ) -> CallBatch:
        """All calls in [0, duration_s), sorted by time.

        The rate changes on the clock hour: with a start at 18:30 the first bin is the half hour to
        19:00 at the 18:00 rate. A Monday 00:00 start gives the whole hours from 0 as before.
        """
        first = int(self.week_offset_s // 3600)  # hour of the week the run starts in (0 = Monday 00-01)
        edges = np.arange(first, int(np.ceil((self.week_offset_s + duration_s) / 3600.0)) + 1) * 3600.0
        edges = np.clip(edges - self.week_offset_s, 0.0, duration_s)
        hour_start, hour_len = edges[:-1], np.diff(edges)
        hour_of_week = (first + np.arange(hour_start.size)) % 168
        rate_per_s = self.demand.rate_per_hour / 3600.0 * self.profile[hour_of_week]
        counts = demand_rng.poisson(rate_per_s * hour_len)
        total = int(counts.sum())
        t_call = np.repeat(hour_start, counts) + demand_rng.random(total) * np.repeat(hour_len, counts)
        t_call.sort()
        kind = demand_rng.choice(self.kind_p.size, size=total, p=self.kind_p).astype(np.int16)
        node = demand_rng.choice(self.weights.size, size=total, p=self.weights).astype(np.int64)
        handling_s = sample_durations(self.handling, total, service_rng)
        on_scene_s = np.empty(total)
        for k, spec in enumerate(self.demand.kinds):
            mask = kind == k
            on_scene_s[mask] = sample_durations(spec.on_scene, int(mask.sum()), service_rng)
        return CallBatch(t_call=t_call, kind=kind, node=node, handling_s=handling_s, on_scene_s=on_scene_s)


def make_demand(scenario: Scenario, weights: np.ndarray, *, network=None) -> DemandGenerator:
    """The demand generator a scenario names (``demand.model``, or ``demand.replay``).

    Hawkes and replay need the road network (to place calls); without ``network`` the scenario's map is
    loaded (cached). Poisson is unchanged, so old scenarios keep byte-identical logs.
    """
    offset_s = week_offset_s(scenario.start)
    if scenario.demand.replay is not None or scenario.demand.model == "hawkes":
        from policetwin.maps.load import load_map

        network = network if network is not None else load_map(scenario.map)
        if scenario.demand.replay is not None:
            from policetwin.sim.replay_calls import ReplayDemand

            return ReplayDemand(scenario, network)
        from policetwin.sim.hawkes import HawkesDemand

        handling = scenario.call_handling.handling
        return HawkesDemand(scenario.demand, handling, weights, network, week_offset_s=offset_s)
    return PoissonDemand(scenario.demand, scenario.call_handling.handling, weights, week_offset_s=offset_s)
