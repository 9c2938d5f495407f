"""Pedestrian fundamental diagram (Weidmann 1993) and Fruin's levels of service.

- Speed from density: v(rho) = 1.34 [1 - exp(-1.913 (1/rho - 1/5.4))] m/s (Weidmann's fit for
  walkways; 1.34 m/s free speed, jam density 5.4 p/m^2). Its flow rho v(rho) peaks at 1.2249 p/(m s)
  at 1.75 p/m^2: that is the default specific capacity of every walk edge.
- The crowd is a cell-transmission style model on edges: an edge *sends* at most its capacity
  (specific flow x width) and *receives* at most its supply, which is the capacity below the critical
  density and the diagram's own flow above it (so queues hold at the congested-branch density of the
  flow that leaves them, as in Daganzo's CTM), and nothing at or above the holding cap.
- Levels of service (Fruin 1971, area per person in ft^2, here in p/m^2): the *walkway* scale for
  moving edges and the *queuing* scale for waiting areas (gate approaches with a queue, holding areas).
"""

from __future__ import annotations

import numpy as np

#: Weidmann's free speed (m/s), shape constant (1/m^2 ... as published) and jam density (p/m^2).
FREE_SPEED_MPS = 1.34
GAMMA = 1.913
JAM_DENSITY_P_M2 = 5.4
#: The diagram's maximum flow and where it is (computed from the constants above; see the tests).
CAPACITY_P_MS = 1.2249
CRITICAL_DENSITY_P_M2 = 1.7507
#: Default holding cap (p/m^2): no edge takes people beyond this (they wait upstream).
MAX_DENSITY_P_M2 = 4.0

_FT2_M2 = 0.09290304
#: Fruin walkway scale: lower bounds of area per person (ft^2) for A..E; below E's bound is F.
_WALKWAY_FT2 = (35.0, 25.0, 15.0, 10.0, 5.0)
#: Fruin queuing (standing) scale: lower bounds of area per person (ft^2) for A..E.
_QUEUING_FT2 = (13.0, 10.0, 7.0, 3.0, 2.0)
LOS_LETTERS = np.array(list("ABCDEF"))
#: Density (p/m^2) from which each level B..F starts, per scale (ascending).
WALKWAY_BOUNDS_P_M2 = np.array([1.0 / (a * _FT2_M2) for a in _WALKWAY_FT2])
QUEUING_BOUNDS_P_M2 = np.array([1.0 / (a * _FT2_M2) for a in _QUEUING_FT2])


def weidmann_speed_factor(density_p_m2: np.ndarray) -> np.ndarray:
    """v(rho) / v(0): the share of a person's free speed left at this density (0 at jam density)."""
    rho = np.asarray(density_p_m2, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(rho > 0, 1.0 / np.maximum(rho, 1e-12), np.inf)
        factor = 1.0 - np.exp(-GAMMA * (inv - 1.0 / JAM_DENSITY_P_M2))
    return np.clip(factor, 0.0, 1.0)


def weidmann_speed_mps(density_p_m2: np.ndarray) -> np.ndarray:
    """Weidmann's mean walking speed (m/s) at a density (p/m^2)."""
    return FREE_SPEED_MPS * weidmann_speed_factor(density_p_m2)


def weidmann_flow_p_ms(density_p_m2: np.ndarray) -> np.ndarray:
    """Specific flow rho v(rho) in persons per metre of width per second."""
    rho = np.asarray(density_p_m2, dtype=float)
    return rho * weidmann_speed_mps(rho)


def supply_p_ms(
    density_p_m2: np.ndarray,
    *,
    capacity_p_ms: np.ndarray | float = CAPACITY_P_MS,
    max_density_p_m2: float = MAX_DENSITY_P_M2,
    speed_factor: np.ndarray | None = None,
) -> np.ndarray:
    """What an edge can receive per metre of width and second (CTM supply).

    The capacity up to the critical density, the diagram's flow on its congested branch above it, and
    zero from the holding cap on (``speed_factor``: :func:`weidmann_speed_factor` of ``density_p_m2``, if
    already computed). Why: without the congested branch a queue would pack at the holding
    cap whatever leaves it; with it, it holds at the density whose flow equals its outflow.
    """
    rho = np.asarray(density_p_m2, dtype=float)
    cap = capacity_p_ms if isinstance(capacity_p_ms, np.ndarray) else np.full(rho.shape, float(capacity_p_ms))
    factor = weidmann_speed_factor(rho) if speed_factor is None else speed_factor
    congested = np.minimum(rho * FREE_SPEED_MPS * factor, cap)
    out = np.where(rho <= CRITICAL_DENSITY_P_M2, cap, congested)
    return np.where(rho >= max_density_p_m2, 0.0, out)


def los_index(density_p_m2: np.ndarray, *, queuing: np.ndarray | bool = False) -> np.ndarray:
    """Fruin's level as an index 0 (A) .. 5 (F); walkway scale, or queuing scale where ``queuing``."""
    rho = np.asarray(density_p_m2, dtype=float)
    walk = np.searchsorted(WALKWAY_BOUNDS_P_M2, rho, side="right")
    if queuing is False:
        return walk
    return np.where(queuing, np.searchsorted(QUEUING_BOUNDS_P_M2, rho, side="right"), walk)


def level_of_service(density_p_m2: np.ndarray, *, queuing: np.ndarray | bool = False) -> np.ndarray:
    """Fruin's level (``A`` .. ``F``) per density: walkway scale, or queuing scale where ``queuing``."""
    return LOS_LETTERS[los_index(density_p_m2, queuing=queuing)]
