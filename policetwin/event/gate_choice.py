"""Gate choice: what a person on the way in weighs when picking a way through the rings.

Routes to the venue (targets of mode ``in``) are shortest by *cost*, in metres of free walking, not by
length alone, so that people spread over gates as stewards, signs and visible queues make them:

- each edge's length is stretched by the crowd on its link now (length / Weidmann speed factor, the
  factor floored at :data:`MIN_SPEED_FACTOR`): a jammed approach is a long way;
- people standing at an edge's end waiting to leave it wait for its exit flow: their number / the
  edge's exit capacity (p/s) is a wait, turned into metres at walking pace;
- at a gate: its queue x mean screening time / lanes open (an hour when closed).

So a gate with no queue behind a jammed approach loses its pull, not only a gate with a long queue.
People queued for a gate stand on its approach edge, so they count both in the gate's wait and in the
approach's density (walking through them is slower too). Costs are revised every few tens of seconds
and smoothed (:data:`SMOOTHING` of the old cost kept) so that the whole crowd does not swing between
two gates at each revision. Leaving (``out``) routes stay shortest by length.
"""

from __future__ import annotations

import numpy as np

#: The speed factor below which a link counts as no slower (caps the stretch of a jammed link at 20x).
MIN_SPEED_FACTOR = 0.05
#: Share of the previous cost kept at each revision (exponential smoothing).
SMOOTHING = 0.5
#: A closed gate's wait (s) in route costs.
CLOSED_GATE_WAIT_S = 3600.0


def gate_waits_s(queued: np.ndarray, mean_screening_s: np.ndarray, lanes_open: np.ndarray) -> np.ndarray:
    """Expected wait (s) at each gate now: people queued x mean screening time / lanes open."""
    lanes = np.asarray(lanes_open, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = np.asarray(queued, float) * np.asarray(mean_screening_s, float) / lanes
    return np.where(lanes > 0, wait, CLOSED_GATE_WAIT_S)


def in_route_cost_m(
    *,
    length_m: np.ndarray,
    speed_factor: np.ndarray,
    standing: np.ndarray,
    exit_p_s: np.ndarray,
    gate_edges: np.ndarray,
    gate_wait_s: np.ndarray,
    walk_speed_mps: float = 1.34,
) -> np.ndarray:
    """Routing cost (m) per directed edge (see the module docstring). ``speed_factor``, ``standing``
    (people waiting at the edge's end) and ``exit_p_s`` are per directed edge."""
    cost = length_m / np.maximum(speed_factor, MIN_SPEED_FACTOR)
    cost = cost + np.asarray(standing, float) / np.maximum(exit_p_s, 1e-9) * walk_speed_mps
    if len(gate_edges):
        np.add.at(
            cost, np.asarray(gate_edges, dtype=np.int64), np.asarray(gate_wait_s, float) * walk_speed_mps
        )
    return cost
