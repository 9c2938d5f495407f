"""Self-exciting (Hawkes) calls: Poisson background calls, each triggering further calls of its kind nearby.

``rate_per_hour`` stays the long-run total rate: background calls arrive at rate x (1 - branching ratio) with
the scenario's hour-of-week profile and node weights; every call has Poisson(branching ratio) children,
an exponential delay (mean ``trigger_time``) later and a Gaussian offset (sd ``trigger_sd_m``) away, snapped
to the nearest road node. A burn-in before time 0 lets the run start in the steady state.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from policetwin.maps.network import RoadNetwork
from policetwin.scenarios.schema import Demand, Distribution, Hawkes
from policetwin.sim.demand import CallBatch, PoissonDemand, sample_durations

WEEK_S = 7 * 86400.0
MAX_BURN_IN_S = 60 * 86400.0


def cascade(t_s: np.ndarray, x: np.ndarray, y: np.ndarray, group: np.ndarray, *, branching: float,
            trigger_time_s: float, sd_m: float, horizon_s: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The events and all their descendants before ``horizon_s``: (t, x, y, group, generation), unsorted.

    Children inherit their parent's ``group`` (the kind): a burglary begets burglaries.
    """
    out = [(t_s, x, y, group, np.zeros(t_s.size, dtype=np.int64))]
    gen = 0
    while out[-1][0].size and gen < 1000:
        pt, px, py, pg, _ = out[-1]
        n_child = rng.poisson(branching, pt.size)
        idx = np.repeat(np.arange(pt.size), n_child)
        ct = pt[idx] + rng.exponential(trigger_time_s, idx.size)
        cx = px[idx] + rng.normal(0.0, sd_m, idx.size)
        cy = py[idx] + rng.normal(0.0, sd_m, idx.size)
        keep = ct < horizon_s
        gen += 1
        out.append(
            (ct[keep], cx[keep], cy[keep], pg[idx][keep], np.full(int(keep.sum()), gen, dtype=np.int64))
        )
    return tuple(np.concatenate([o[k] for o in out]) for k in range(5))  # type: ignore[return-value]


class HawkesDemand:
    """Hawkes calls on a road network (see the module docstring); same random streams as Poisson."""

    def __init__(self, demand: Demand, handling: Distribution, weights: np.ndarray, network: RoadNetwork, *,
                 week_offset_s: float = 0.0) -> None:  # fmt: skip
        self.demand, self.handling, self.weights, self.network = demand, handling, weights, network
        self.params = demand.hawkes or Hawkes()
        self.week_offset_s = week_offset_s

    def burn_in_s(self) -> float:
        """How long before time 0 the process starts (so early calls have their triggering history)."""
        p = self.params
        return float(p.burn_in) if p.burn_in is not None else min(5.0 * p.trigger_time, MAX_BURN_IN_S)

    def generate(self, *, duration_s: float, demand_rng: np.random.Generator,
                 service_rng: np.random.Generator) -> CallBatch:  # fmt: skip
        """All calls in [0, duration_s), sorted by time."""
        p = self.params
        burn = self.burn_in_s()
        background = self.demand.model_copy(
            update={"rate_per_hour": self.demand.rate_per_hour * (1 - p.branching_ratio)}
        )
        offset = (self.week_offset_s - burn) % WEEK_S
        bg = PoissonDemand(background, self.handling, self.weights, week_offset_s=offset).generate(
            duration_s=burn + duration_s, demand_rng=demand_rng, service_rng=np.random.default_rng(0)
        )
        net = self.network
        t, x, y, kind, _ = cascade(bg.t_call - burn, net.x[bg.node], net.y[bg.node], bg.kind.astype(np.int64),
                                   branching=p.branching_ratio, trigger_time_s=p.trigger_time, sd_m=p.trigger_sd_m,
                                   horizon_s=duration_s, rng=demand_rng)  # fmt: skip
        keep = t >= 0
        order = np.argsort(t[keep], kind="stable")
        t, x, y, kind = t[keep][order], x[keep][order], y[keep][order], kind[keep][order]
        _, node = cKDTree(np.column_stack([net.x, net.y])).query(np.column_stack([x, y]))
        total = t.size
        handling_s = sample_durations(self.handling, total, service_rng)
        on_scene_s = np.empty(total)
        for k, spec in enumerate(self.demand.kinds):
            mask = kind == k
            on_scene_s[mask] = sample_durations(spec.on_scene, int(mask.sum()), service_rng)
        return CallBatch(t_call=t, kind=kind.astype(np.int16), node=np.asarray(node, dtype=np.int64),
                         handling_s=handling_s, on_scene_s=on_scene_s, source="hawkes")  # fmt: skip
