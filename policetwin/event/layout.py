"""From an ``event:`` block and a walk network to a crowd ready to run: rings, gates, venue, places.

- Every walk link crossing a ring's boundary is closed (both ways, for arriving and leaving people),
  except at gates: the link nearest to each gate that crosses its ring is split at the crossing point;
  entering through it means the gate's screening queue, leaving through it is open (no screening).
- The venue is the walk nodes inside its shape (or the nearest node); origins, destinations and safe
  areas snap to their nearest walk node.
Map problems (venue off the map, no link crossing a ring near a gate, a place far from any walk way, a
waiting area with no walk node within its radius)
are returned as ``(field path, message)`` pairs, like the schema's :class:`FieldProblems`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from policetwin.event.geometry import ring_shapes, venue_shape
from policetwin.event.hold import hold_area_nodes
from policetwin.event.walknet import WalkNetwork
from policetwin.scenarios.event import Event

#: A gate is placed on a ring-crossing link at most this far away (m).
GATE_SNAP_M = 60.0
#: Places (origins, destinations, safe areas) farther than this from any walk node are errors.
PLACE_SNAP_M = 1000.0


@dataclass(kw_only=True)
class Layout:
    """Where everything is on the (gate-split) walk network."""

    network: WalkNetwork
    venue: shapely.Geometry
    rings: list[shapely.Geometry]
    venue_nodes: np.ndarray
    ring_edges: list[np.ndarray]  # per ring: directed edges crossing it (closed; gates excluded)
    gate_edges: np.ndarray  # per gate: the directed edge entering through it (screened)
    gate_nodes: np.ndarray
    origin_nodes: np.ndarray
    destination_nodes: np.ndarray
    inside_ring: list[np.ndarray]  # per ring: links with both ends inside it
    hold_nodes: dict[int, np.ndarray] = field(default_factory=dict)  # per hold intervention: its nodes
    problems: list[tuple[tuple, str]] = field(default_factory=list)


def _lines(net: WalkNetwork) -> np.ndarray:
    coords = np.stack([np.column_stack([net.x[net.link_u], net.y[net.link_u]]),
                       np.column_stack([net.x[net.link_v], net.y[net.link_v]])], axis=1)  # fmt: skip
    return shapely.linestrings(coords)


def gates_on_ring(
    net: WalkNetwork,
    *,
    lon: float,
    lat: float,
    venue_m: float,
    ring_m: float,
    count: int,
    ring: str,
    lanes: int,
) -> list[dict]:
    """``count`` gates (``event.gates`` entries) spread along a ring ``ring_m`` beyond a round venue of
    radius ``venue_m`` at (lon, lat), where walk links cross it: a quick layout for tests and benchmarks."""
    x0, y0 = net.to_xy(np.array([lon]), np.array([lat]))
    boundary = shapely.Point(x0[0], y0[0]).buffer(venue_m, quad_segs=16).buffer(ring_m, quad_segs=16).boundary
    lines = _lines(net)
    crossing = np.flatnonzero(shapely.intersects(lines, boundary))
    points = np.array(
        [shapely.get_coordinates(shapely.intersection(lines[k], boundary))[0] for k in crossing]
    )
    pick = points[np.linspace(0, len(points) - 1, count).astype(int)]
    lons, lats = net.to_lonlat(pick[:, 0], pick[:, 1])
    return [{"name": f"{ring}{i}", "lon": float(a), "lat": float(b), "ring": ring, "lanes": lanes}
            for i, (a, b) in enumerate(zip(lons, lats, strict=True))]  # fmt: skip


def snap_places(net: WalkNetwork, places, path: tuple) -> tuple[np.ndarray, list[tuple[tuple, str]]]:
    """Nearest walk node of each place, and problems for places too far from the walk network."""
    if not places:
        return np.zeros(0, dtype=np.int64), []
    x, y = net.to_xy(np.array([p.lon for p in places]), np.array([p.lat for p in places]))
    nodes, problems = [], []
    for i, (px, py) in enumerate(zip(x, y, strict=True)):
        node, dist = net.nearest_node(px, py)
        nodes.append(node)
        if dist > PLACE_SNAP_M:
            problems.append(((*path, i), f"{places[i].name!r} is {dist:,.0f} m from the nearest walk way "
                             f"(more than {PLACE_SNAP_M:.0f} m: outside the map?)"))  # fmt: skip
    return np.asarray(nodes, dtype=np.int64), problems


def build_layout(event: Event, walk: WalkNetwork) -> Layout:
    """Place the event on the walk network (see the module docstring); check ``.problems`` first."""
    net = walk.with_widths(event.crowd.widths_m)
    venue = venue_shape(event.venue, net.to_xy)
    rings = ring_shapes(event.rings, venue, net.to_xy)
    problems: list[tuple[tuple, str]] = []
    lines = _lines(net)
    crossing = [shapely.intersects(lines, ring.boundary) for ring in rings]
    ring_index = {r.name: i for i, r in enumerate(event.rings)}
    split_links, fractions, inbound_at_v = [], [], []
    for g, gate in enumerate(event.gates):
        r = ring_index[gate.ring]
        gx, gy = net.to_xy(np.array([gate.lon]), np.array([gate.lat]))
        point = shapely.Point(float(gx[0]), float(gy[0]))
        cand = np.flatnonzero(crossing[r])
        cand = cand[~np.isin(cand, split_links)]
        dist = shapely.distance(lines[cand], point) if cand.size else np.zeros(0)
        if cand.size == 0 or dist.min() > GATE_SNAP_M:
            problems.append((("gates", g), f"no walk way crosses ring {gate.ring!r} within {GATE_SNAP_M:.0f} m of "
                             f"gate {gate.name!r}; move the gate onto a path through the ring"))  # fmt: skip
            continue
        link = int(cand[np.argmin(dist)])
        hit = shapely.intersection(lines[link], rings[r].boundary)
        points = shapely.get_coordinates(hit)
        nearest = points[np.argmin(np.hypot(points[:, 0] - point.x, points[:, 1] - point.y))]
        split_links.append(link)
        fractions.append(lines[link].project(shapely.Point(nearest)) / max(lines[link].length, 1e-9))
        inbound_at_v.append(
            bool(rings[r].contains(shapely.Point(net.x[net.link_v[link]], net.y[net.link_v[link]])))
        )
    n_links_before = net.n_links
    gate_edges, gate_nodes = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if split_links and not problems:
        net, gate_nodes = net.split_links(np.array(split_links), np.array(fractions))
        tail = n_links_before + np.arange(len(split_links))  # the new parts: gate node -> old v
        # entering = from the gate node towards the inside end: the new part forwards (v inside), or the
        # kept part backwards (u inside: link k is now u -> gate node, walked gate node -> u)
        gate_edges = np.where(inbound_at_v, 2 * tail, 2 * np.array(split_links) + 1).astype(np.int64)
    crossed_links = [np.flatnonzero(c) for c in crossing]
    gate_links = set(split_links) | {n_links_before + i for i in range(len(split_links))}
    ring_edges = []
    for links in crossed_links:
        links = np.array([k for k in links.tolist() if k not in gate_links], dtype=np.int64)
        ring_edges.append(np.sort(np.concatenate([2 * links, 2 * links + 1])))
    inside = np.asarray(shapely.contains_xy(venue, net.x, net.y))
    venue_nodes = np.flatnonzero(inside)
    if venue_nodes.size == 0:
        c = venue.centroid
        node, dist = net.nearest_node(c.x, c.y)
        reach = dist - (shapely.minimum_bounding_radius(venue) if not venue.is_empty else 0.0)
        if reach > PLACE_SNAP_M:
            problems.append(
                (("venue",), f"the venue is {reach:,.0f} m from the nearest walk way: outside the map")
            )
        venue_nodes = np.array([node], dtype=np.int64)
    origins, p1 = snap_places(net, event.attendees.origins, ("attendees", "origins"))
    dests, p2 = snap_places(net, event.attendees.destinations or [], ("attendees", "destinations"))
    node_in = [np.asarray(shapely.contains_xy(ring, net.x, net.y)) for ring in rings]
    inside_ring = [np.flatnonzero(m[net.link_u] & m[net.link_v]) for m in node_in]
    hold_nodes, p3 = {}, []
    for i, step in enumerate(event.interventions):
        if step.action == "hold":
            hold_nodes[i], found = hold_area_nodes(net, step, ("interventions", i))
            p3 += found
    return Layout(
        network=net, venue=venue, rings=rings, venue_nodes=venue_nodes, ring_edges=ring_edges,
        gate_edges=gate_edges, gate_nodes=np.asarray(gate_nodes, dtype=np.int64), origin_nodes=origins,
        destination_nodes=dests, inside_ring=inside_ring, hold_nodes=hold_nodes, problems=problems + p1 + p2 + p3,
    )  # fmt: skip


def venue_exits(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(venue nodes with a walk link leaving the venue, total width in m of those links per node): where
    the people inside can step off the venue, and how wide each exit is."""
    net = layout.network
    inside = np.zeros(net.n_nodes, dtype=bool)
    inside[layout.venue_nodes] = True
    leaving = inside[net.link_u] != inside[net.link_v]
    ends = np.where(inside[net.link_u[leaving]], net.link_u[leaving], net.link_v[leaving])
    width = np.bincount(ends, weights=net.width_m[leaving], minlength=net.n_nodes)
    nodes = np.flatnonzero(width > 0)
    return nodes, width[nodes]
