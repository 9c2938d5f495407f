"""An event's crowd on the simulation clock: arrivals, gates, egress, the timeline, outputs and summary.

:class:`EventCrowd` turns a validated ``event:`` block and a walk network into a :class:`~.crowd.Crowd`
(via :func:`~.layout.build_layout`), draws every attendee's origin, arrival and leaving time from its
own generator, and runs as one simpy process (:meth:`EventCrowd.start`). Timeline at the step it falls
in: lane changes (gate schedules), walk closures, holds in waiting areas (:mod:`.hold`), the event's end (everyone not inside turns to their
destination, gates close, ring barriers open outwards, those inside leave spread over ``leave_over``), and an evacuation order (gates
close, ring barriers open outwards, everyone heads for the safe areas, nobody else sets out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from policetwin.errors import ScenarioError
from policetwin.event.crowd import EDGE, GONE, INSIDE, ORIGIN, QUEUE, Crowd
from policetwin.event.gates import Gate, LaneSchedule
from policetwin.event.layout import Layout, build_layout, snap_places, venue_exits
from policetwin.event.record import gate_table
from policetwin.event.walknet import WalkNetwork
from policetwin.scenarios.event import Event, event_time_s

#: Default arrival weights per 15 min from 3 h before the start to 15 min after (65% in the last 45 min).
DEFAULT_PROFILE_15MIN = (1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 9.0, 15.0, 22.0, 28.0, 5.0)
_DEFAULT_FROM_S = -3 * 3600.0
#: Gate choice is revised this often (s) until the end: routes in weigh gate waits and jammed approaches
#: (:mod:`.gate_choice`).
BALANCE_EVERY_S = 30.0
#: People inside leave by the venue's exits in proportion to their width, less so the longer the way
#: from an exit to their destination: weight ``width x exp(-(extra way) / EXIT_SPREAD_M)``.
EXIT_SPREAD_M = 150.0


def arrival_offsets_s(arrival, n: int, rng: np.random.Generator) -> np.ndarray:
    """Arrival times (s, relative to the event's start) of ``n`` attendees from an ``Arrival`` block."""
    lo, hi = -arrival.before, arrival.after
    if arrival.profile == "default":
        edges = _DEFAULT_FROM_S + 900.0 * np.arange(len(DEFAULT_PROFILE_15MIN) + 1)
        weights = np.array(DEFAULT_PROFILE_15MIN)
        before = np.arange(_DEFAULT_FROM_S, lo - 900.0, -900.0)[::-1][:-1] if lo < _DEFAULT_FROM_S else []
        edges = np.concatenate([before, edges])
        weights = np.concatenate([np.ones(len(before)), weights])
        if hi > edges[-1]:  # after the table: as thin as its last bin
            edges, weights = np.append(edges, hi), np.append(weights, weights[-1] / 5)
        a, b = np.clip(edges[:-1], lo, hi), np.clip(edges[1:], lo, hi)
        weights = weights * (b - a) / np.diff(edges)
    else:
        grid = np.linspace(lo, hi, len(arrival.profile) + 1)
        a, b, weights = grid[:-1], grid[1:], np.asarray(arrival.profile, dtype=float)
    bins = rng.choice(weights.size, size=n, p=weights / weights.sum())
    return a[bins] + (b[bins] - a[bins]) * rng.random(n)


class EventCrowd:
    """One event's crowd, ready to run on a simpy environment (see the module docstring)."""

    def __init__(
        self, event: Event, walk: WalkNetwork, *, rng: np.random.Generator, scenario_start: str = "Mon 00:00"
    ) -> None:
        self.event = event
        self.layout: Layout = build_layout(event, walk)
        if self.layout.problems:
            raise ScenarioError([f"event.{'.'.join(map(str, p))}: {m}" for p, m in self.layout.problems])
        lay, att = self.layout, event.attendees
        self.start_s = event_time_s(event.start, scenario_start)
        self.end_s = event_time_s(event.end, scenario_start)
        self.at_s = lambda t: event_time_s(t, scenario_start)
        n = att.total
        self.crowd = Crowd(lay.network, n_people=n, rng=rng, step_s=event.crowd.step,
                           max_density_p_m2=event.crowd.max_density_p_m2, bin_s=event.crowd.bin)  # fmt: skip
        crowd = self.crowd
        self.venue_target = crowd.add_target(lay.venue_nodes, mode="in", arrive=INSIDE, name="venue")
        for ring_edges in lay.ring_edges:
            crowd.close_edges(ring_edges, mode="in")
            crowd.close_edges(ring_edges, mode="out")
        for g, spec in enumerate(event.gates):
            changes = sorted((self.at_s(c.at), c.open) for c in spec.schedule)
            schedule = LaneSchedule(initial=0 if changes else spec.lanes, at_s=tuple(t for t, _ in changes),
                                    open_=tuple(k for _, k in changes))  # fmt: skip
            gate = Gate(name=spec.name, lanes=spec.lanes, screening=spec.screening, rng=rng, queue=spec.queue,
                        schedule=schedule)  # fmt: skip
            crowd.add_gate(gate, edge=int(lay.gate_edges[g]))
        shares = np.array([o.share for o in att.origins])
        self.origin = rng.choice(shares.size, size=n, p=shares / shares.sum())
        if att.destinations:
            d_shares = np.array([d.share for d in att.destinations])
            self.dest = rng.choice(d_shares.size, size=n, p=d_shares / d_shares.sum())
            dest_nodes = lay.destination_nodes
        else:
            self.dest, dest_nodes = self.origin, lay.origin_nodes
        self.dest_targets = np.array([crowd.add_target([node], mode="out", arrive=GONE, name=f"dest{i}")
                                      for i, node in enumerate(dest_nodes)])  # fmt: skip
        arrive = self.start_s + arrival_offsets_s(att.arrival, n, rng)
        self.leave_s = self.end_s + rng.random(n) * att.leave_over
        pids = np.arange(n)
        crowd.depart(
            pids, node=lay.origin_nodes[self.origin], at_s=np.maximum(arrive, 0.0), target=self.venue_target
        )
        self.timeline: list[tuple[float, int, str, object]] = [(self.end_s, 1, "end", None)]
        for i, step in enumerate(event.interventions):
            if step.action not in ("close_roads", "open_roads"):  # those are the drive network's
                self.timeline.append((self.at_s(step.at), 0, step.action, i))
            if step.action == "hold" and step.until is not None:
                self.timeline.append((self.at_s(step.until), 0, "unhold", i))
        self.holds: dict[int, dict] = {}  # per hold intervention: at_s, released_s, peak_held
        self.one_way_edges = np.zeros(0, dtype=np.int64)  # walk edges closed by one_way (both modes)
        self.timeline.sort(key=lambda item: (item[0], item[1]))
        self.evacuation: dict | None = None
        self.inside_count: list[tuple[float, int]] = []
        self.exits = venue_exits(lay)
        crowd.on_step.append(self._on_step)

    def start(self, env, *, until_s: float | None = None):
        """Start the crowd as a simpy process on ``env`` (until everyone is done or ``until_s``)."""
        self.crowd.now = float(env.now)
        self.crowd.recorder.bin_start = float(env.now)
        return env.process(self.crowd.process(env, until_s=until_s, done=self.done))

    def done(self, crowd: Crowd) -> bool:
        """Nothing left to simulate: past the end, nobody walking, queued, inside or due to leave."""
        census = crowd.census()
        return (
            crowd.now > self.end_s
            and census[EDGE] + census[QUEUE] + census[INSIDE] == 0
            and not crowd.ready.size
        )

    def _on_step(self, crowd: Crowd) -> None:
        arriving = crowd.now < self.end_s and self.evacuation is None  # gate choice matters only then
        if crowd.now % BALANCE_EVERY_S < crowd.step_s - 1e-9:
            if arriving and crowd.gates:
                crowd.balance_gates()
            elif not arriving:  # leaving or evacuating: the ways out weigh the crowd on them
                crowd.balance_out()
        while self.timeline and self.timeline[0][0] <= crowd.now:
            _, _, action, index = self.timeline.pop(0)
            getattr(self, f"_do_{action}")(index)
        if crowd.holding:
            held = crowd.held_people().size
            for h in self.holds.values():
                if h["released_s"] is None:
                    h["peak_held"] = max(h["peak_held"], held)
        if self.evacuation is not None:
            outer = self.layout.inside_ring[0]
            people = crowd.link_counts()[outer].sum() + crowd.census()[INSIDE] + crowd.census()[QUEUE]
            self.inside_count.append((crowd.now, int(people)))

    def _links_near(self, step) -> np.ndarray:
        net = self.layout.network
        x, y = net.to_xy(np.array([step.lon]), np.array([step.lat]))
        lines = shapely.linestrings(np.stack([np.column_stack([net.x[net.link_u], net.y[net.link_u]]),
                                              np.column_stack([net.x[net.link_v], net.y[net.link_v]])], axis=1))  # fmt: skip
        return np.flatnonzero(
            shapely.distance(lines, shapely.Point(float(x[0]), float(y[0]))) <= step.radius_m
        )

    def _do_close_walk(self, i: int) -> None:
        self.crowd.close_links(self._links_near(self.event.interventions[i]), closed=True)

    def _do_open_walk(self, i: int) -> None:
        self.crowd.close_links(self._links_near(self.event.interventions[i]), closed=False)

    def _do_one_way(self, i: int) -> None:
        """Walk links near a point: the direction pointing away from ``heading_deg`` closes for walkers
        (people on it finish it; the others reroute at their next node)."""
        step, net = self.event.interventions[i], self.layout.network
        links = self._links_near(step)
        dx = net.x[net.link_v[links]] - net.x[net.link_u[links]]
        dy = net.y[net.link_v[links]] - net.y[net.link_u[links]]
        bearing_deg = np.degrees(np.arctan2(dx, dy))  # u -> v, compass (0 north, 90 east)
        off_deg = np.abs((bearing_deg - step.heading_deg + 180.0) % 360.0 - 180.0)
        edges = 2 * links + (off_deg <= 90.0)  # u -> v is edge 2k, v -> u is 2k + 1: close the one against
        self.one_way_edges = np.union1d(self.one_way_edges, edges)
        self._hold_one_way()

    def _hold_one_way(self) -> None:
        for mode in ("in", "out"):
            self.crowd.close_edges(self.one_way_edges, mode=mode, closed=True)

    def _do_hold(self, i: int) -> None:
        """People on their way in wait at the waiting area's nodes (:mod:`.hold`)."""
        self.crowd.set_hold(self.layout.hold_nodes[i], on=True)
        self.holds[i] = {"name": self.event.interventions[i].name, "at_s": self.crowd.now, "released_s": None,
                         "peak_held": 0}  # fmt: skip

    def _do_unhold(self, i: int) -> None:
        hold = self.holds.get(i)
        if hold is not None and hold["released_s"] is None:
            self.crowd.set_hold(self.layout.hold_nodes[i], on=False)
            hold["released_s"] = self.crowd.now

    def _do_release(self, i: int) -> None:
        name = self.event.interventions[i].name
        for h in [h for h, d in self.holds.items() if name in (None, d["name"])]:
            self._do_unhold(h)

    def _do_lanes(self, i: int) -> None:
        step = self.event.interventions[i]
        g = [s.name for s in self.event.gates].index(step.gate)
        gate, now = self.crowd.gates[g], self.crowd.now
        old = gate.schedule
        keep = [(t, k) for t, k in zip(old.at_s, old.open_, strict=True) if t < now]
        gate.schedule = LaneSchedule(initial=old.initial, at_s=(*[t for t, _ in keep], now),
                                     open_=(*[k for _, k in keep], step.open))  # fmt: skip

    def _turn_back(self, targets: np.ndarray) -> None:
        """Everyone still arriving (walking in, queued, not yet set out) turns to ``targets``."""
        crowd = self.crowd
        for g in range(len(crowd.gates)):
            crowd.withdraw_gate(g)
        crowd.cancel_departures(states=(ORIGIN,))
        moving = np.flatnonzero((crowd.state == EDGE) | (crowd.state == QUEUE))  # in screening: after it
        crowd.target[moving] = targets[moving]

    def _do_end(self, _: object) -> None:
        if self.evacuation is not None:
            return
        for ring_edges in self.layout.ring_edges:  # after the show the barriers open outwards
            self.crowd.close_edges(ring_edges, mode="out", closed=False)
        self._hold_one_way()
        self._turn_back(self.dest_targets[self.dest])
        inside = np.flatnonzero(self.crowd.state == INSIDE)
        targets = self.dest_targets[self.dest[inside]]
        self.crowd.depart(inside, node=self._exit_nodes(inside, targets), at_s=self.leave_s[inside],
                          target=targets)  # fmt: skip

    def _do_evacuate(self, i: int) -> None:
        crowd, lay, step = self.crowd, self.layout, self.event.interventions[i]
        if step.safe_areas:
            nodes, _ = snap_places(lay.network, step.safe_areas, ())
        else:
            nodes = lay.destination_nodes if self.event.attendees.destinations else lay.origin_nodes
        for ring_edges in lay.ring_edges:  # barriers opened: out of every ring by the shortest way
            crowd.close_edges(ring_edges, mode="out", closed=False)
        self._hold_one_way()
        target = crowd.add_target(nodes, mode="out", arrive=GONE, name="safe")
        self._turn_back(np.full(crowd.state.size, target))
        crowd.cancel_departures(states=(INSIDE,))
        inside = np.flatnonzero(crowd.state == INSIDE)
        crowd.depart(inside, node=self._exit_nodes(inside, np.full(inside.size, target)),
                     at_s=np.full(inside.size, crowd.now), target=target)  # fmt: skip
        self.evacuation = {"at_s": crowd.now, "people_inside_outer_ring": None}

    def _exit_nodes(self, pids: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The venue exit each person inside leaves by (drawn; see :data:`EXIT_SPREAD_M`): the crowd
        stands all over the venue, not at the node where each person came in. People whose target no
        exit reaches keep their node."""
        crowd = self.crowd
        nodes, width = self.exits
        if pids.size == 0 or nodes.size == 0:
            return crowd.node[pids]
        crowd.reroute()  # distances with the barriers just opened
        dist = crowd.dist_tab[targets[:, None], nodes[None, :]]
        with np.errstate(invalid="ignore"):
            extra = np.nan_to_num(dist - dist.min(axis=1, keepdims=True), nan=0.0, posinf=0.0)
        weight = np.where(np.isfinite(dist), width * np.exp(-extra / EXIT_SPREAD_M), 0.0)
        total = weight.sum(axis=1)
        cum = np.cumsum(weight, axis=1) / np.where(total > 0, total, 1.0)[:, None]
        pick = (cum < crowd.rng.random(pids.size)[:, None]).sum(axis=1).clip(max=nodes.size - 1)
        return np.where(total > 0, nodes[pick], crowd.node[pids])

    # -- outputs --------------------------------------------------------------------------------
    def crowd_table(self) -> pd.DataFrame:
        """``crowd.parquet`` rows (see :mod:`.record`)."""
        self.crowd.finish()
        return self.crowd.recorder.crowd_table()

    def gate_table(self) -> pd.DataFrame:
        """``gates.parquet`` rows (see :mod:`.record`)."""
        rec = self.crowd.recorder
        start = rec.census_t[0] - self.crowd.step_s if rec.census_t else 0.0
        return gate_table(self.crowd.gates, start_s=start, end_s=self.crowd.now, bin_s=self.event.crowd.bin)

    def summary(self) -> dict:
        """The ``event`` block of ``summary.json``."""
        crowd, net = self.crowd, self.layout.network
        census = crowd.census()
        t_in = crowd.t_inside[np.isfinite(crowd.t_inside)]
        gates, waits = {}, []
        for gate in crowd.gates:
            rec = gate.records()
            served = np.isfinite(rec["t_start"].astype(float))
            wait = (rec["t_start"][served] - rec["t_arrive"][served]).astype(float)
            waits.append(wait)
            gates[gate.name] = {"screened": int(served.sum()), "withdrawn": int((~served).sum()),
                                **_quantiles(wait)}  # fmt: skip
        all_waits = np.concatenate(waits) if waits else np.zeros(0)
        peak = crowd.recorder.peak_density_p_m2
        leave_from_s = self.end_s if self.evacuation is None else self.evacuation["at_s"]
        gone_after_end = crowd.t_gone[np.isfinite(crowd.t_gone)] - leave_from_s  # or after the order
        out = {
            "walk_network": {"kind": net.kind, "source": net.source, "nodes": net.n_nodes, "links": net.n_links,
                             "streets_as_walkable": net.kind == "streets"},
            "attendees": int(crowd.state.size),
            "census_at_end": dict(zip(("origin", "edge", "queue", "inside", "gone"), census.tolist(), strict=True)),
            "arrived_inside": int(t_in.size),
            "t_95_inside_s": float(np.quantile(t_in, 0.95)) if t_in.size else None,
            "gates": gates, **_quantiles(all_waits),
            "peak_density_p_m2": float(peak.max()) if peak.size else 0.0,
            "peak_density_edge": int(peak.argmax()) if peak.size else None,
            "edge_minutes_at_los_e_f": float(crowd.recorder.seconds_los_ef.sum() / 60.0),
            "edges_at_los_e_f": int((crowd.recorder.seconds_los_ef > 0).sum()),
            "egress_95_s": float(np.quantile(gone_after_end, 0.95)) if gone_after_end.size else None,
        }  # fmt: skip
        if self.holds:
            out["holds"] = [dict(h) for _, h in sorted(self.holds.items())]
        if self.evacuation is not None:
            t, people = (
                np.array(self.inside_count, dtype=float).T if self.inside_count else (np.zeros(0),) * 2
            )
            clear = t[people == 0]
            out["evacuation"] = {"at_s": self.evacuation["at_s"],
                                 "outer_ring_clear_s": float(clear[0] - self.evacuation["at_s"]) if clear.size else None,
                                 "people_in_outer_ring_at_order": int(people[0]) if people.size else 0}  # fmt: skip
        return out


def _quantiles(wait: np.ndarray) -> dict:
    if wait.size == 0:
        return {"wait_p50_s": None, "wait_p95_s": None, "wait_max_s": None}
    p50, p95 = np.quantile(wait, [0.5, 0.95])
    return {"wait_p50_s": float(p50), "wait_p95_s": float(p95), "wait_max_s": float(wait.max())}
