"""Warnings about an event's layout that a run would only show as a jam or as people who never arrive:

- a gate leading into a dead-end pocket: from its inside no open way reaches the venue (no gate of the
  next ring there, or the pocket is cut off where the map extract ends) - nobody can use it;
- an origin from which no open way through the gates reaches the venue (its attendees never arrive);
- a destination (or, without destinations, an origin people return to) or an evacuation's safe area
  that no way out of the venue reaches once the barriers open outwards (its people are stuck inside);
- venue exits too narrow for the crowd: stepping off the venue alone takes longer than
  :data:`EGRESS_WARN_S` at the diagram's capacity.

The ways are those of the run (:mod:`.crowd`): on the way in every ring-crossing link is closed except
at gates (entered inwards only); on the way out the barriers are open and gates are passed outwards.
Returned as ``(field path, message)`` pairs like :attr:`.layout.Layout.problems`.
"""

from __future__ import annotations

import numpy as np

from policetwin.event.layout import Layout, snap_places, venue_exits
from policetwin.event.los import CAPACITY_P_MS
from policetwin.event.routing import next_edges
from policetwin.scenarios.event import Event

#: Warn when the venue's exits need longer than this (s) to let everyone step off it.
EGRESS_WARN_S = 3600.0


def _distances_m(layout: Layout, targets: np.ndarray, *, mode: str) -> np.ndarray:
    """Walking distance (m) from every node to the nearest of ``targets`` on the ways of ``mode``."""
    net = layout.network
    closed = np.zeros(net.n_edges, dtype=bool)
    gates = np.asarray(layout.gate_edges, dtype=np.int64)
    if mode == "in":
        for edges in layout.ring_edges:
            closed[edges] = True
        closed[gates ^ 1] = True
    else:
        closed[gates] = True
    _, dist = next_edges(
        n_nodes=net.n_nodes, edge_u=net.edge_u.astype(np.int64), edge_v=net.edge_v.astype(np.int64),
        length_m=np.repeat(net.length_m, 2), open_edges=~closed, targets=targets,
    )  # fmt: skip
    return dist


def _name(place, fallback: str) -> str:
    return repr(getattr(place, "name", None) or fallback)


def layout_warnings(event: Event, layout: Layout) -> list[tuple[tuple, str]]:
    """Warnings about ``layout`` (see the module docstring); none when it has problems."""
    if layout.problems or layout.venue_nodes.size == 0:
        return []
    net, warnings = layout.network, []
    to_venue = _distances_m(layout, layout.venue_nodes, mode="in")
    for g, gate in enumerate(event.gates):
        inner = int(net.edge_v[layout.gate_edges[g]])
        if not np.isfinite(to_venue[inner]):
            warnings.append((("gates", g), f"gate {gate.name!r} leads into a dead-end pocket: from its inside no "
                             "open walk way reaches the venue (no gate of the next ring there, or the map extract "
                             "ends); move it onto a way that leads on to the venue"))  # fmt: skip
    origins = event.attendees.origins
    for i, node in enumerate(layout.origin_nodes.tolist()):
        if not np.isfinite(to_venue[node]):
            warnings.append((("attendees", "origins", i), f"origin {_name(origins[i], str(i))} cannot reach the "
                             "venue through the gates: its attendees will never arrive"))  # fmt: skip
    venue = layout.venue_nodes
    places = [(("attendees", "destinations", i), event.attendees.destinations[i], int(n))
              for i, n in enumerate(layout.destination_nodes.tolist())]  # fmt: skip
    if not event.attendees.destinations:
        places = [
            (("attendees", "origins", i), origins[i], int(n))
            for i, n in enumerate(layout.origin_nodes.tolist())
        ]
    for i, step in enumerate(event.interventions):
        if step.action == "evacuate" and step.safe_areas:
            nodes, _ = snap_places(net, step.safe_areas, ())
            places += [(("interventions", i, "safe_areas", j), p, int(n))
                       for j, (p, n) in enumerate(zip(step.safe_areas, nodes.tolist(), strict=True))]  # fmt: skip
    for path, place, node in places:
        if not np.isfinite(_distances_m(layout, np.array([node]), mode="out")[venue]).any():
            warnings.append((path, f"{_name(place, path[-1])} cannot be reached from the venue on the way out "
                             "(barriers open): people heading there stay inside"))  # fmt: skip
    _, width_m = venue_exits(layout)
    need_s = event.attendees.total / max(float(width_m.sum()) * CAPACITY_P_MS, 1e-9)
    if need_s > EGRESS_WARN_S:
        warnings.append((("venue",), f"the venue's exits are {width_m.sum():.0f} m wide in all: "
                         f"{event.attendees.total:,} attendees need at least {need_s / 60:.0f} min to step off it "
                         f"({CAPACITY_P_MS:.2f} p/(m s))"))  # fmt: skip
    return warnings
