"""The mesoscopic crowd: one record per person on walk edges, stepped with numpy at a fixed step.

Persons are arrays, not objects: ``state`` (at origin, on an edge, at a gate, inside, gone), ``edge``
and ``pos_m`` on it, ``target`` (a target set: the venue, a destination, the safe areas; the route is
the target's next-edge table, see :mod:`.routing`), free speed ``v0_mps``. Each step (1 s default):

1. density per link (both directions and people queued there share its area) gives the speed factor
   (Weidmann), what each edge can send (capacity: specific flow x width) and what each link can receive
   (CTM supply, zero at the holding cap) - see :mod:`.los`;
2. people on edges move ``v0 x factor x step``; who reaches the end tries to leave: to a target (arrive),
   into a gate's queue (they keep standing on their edge), or onto the next edge of their table, first
   come first served within the sending and receiving limits; the rest wait at the end. Short edges can
   be crossed several times in one step (up to ``max_hops``);
3. gates release the people they screened; people due to depart (origins, the venue) enter their first
   edge within its supply.

Gates (queues, release, gate choice) are :mod:`.crowd_gates`; routes to the venue weigh congestion and
gate waits (:mod:`.gate_choice`); routes out are shortest by length until
:meth:`~.crowd_gates.CrowdGates.balance_out` weighs congestion too (while people leave).

Nobody is ever moved without a path: with every route closed people wait where they are. Time is the
simpy clock: :meth:`Crowd.process` advances one step per ``env.timeout(step_s)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from policetwin.event.crowd_gates import CrowdGates
from policetwin.event.gates import Gate
from policetwin.event.hold import CrowdHold
from policetwin.event.los import CAPACITY_P_MS, MAX_DENSITY_P_M2, supply_p_ms, weidmann_speed_factor
from policetwin.event.record import CrowdRecorder
from policetwin.event.routing import next_edges
from policetwin.event.states import EDGE, GONE, INSIDE, ORIGIN, QUEUE, STATE_NAMES
from policetwin.event.walknet import WalkNetwork

__all__ = ["EDGE", "GONE", "INSIDE", "ORIGIN", "QUEUE", "STATE_NAMES", "Crowd"]


def _rank_in_groups(keys: np.ndarray, priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, rank within its key group in that order): rank 0 = highest priority (smallest value)."""
    order = np.lexsort((priority, keys))
    k = keys[order]
    new_group = np.ones(k.size, dtype=bool)
    new_group[1:] = k[1:] != k[:-1]
    starts = np.flatnonzero(new_group)
    rank = np.arange(k.size) - np.repeat(starts, np.diff(np.append(starts, k.size)))
    return order, rank


class Crowd(CrowdGates, CrowdHold):
    """People walking a :class:`WalkNetwork` to target sets, through gates (see the module docstring)."""

    def __init__(
        self,
        network: WalkNetwork,
        *,
        n_people: int,
        rng: np.random.Generator,
        step_s: float = 1.0,
        max_density_p_m2: float = MAX_DENSITY_P_M2,
        capacity_p_ms: np.ndarray | None = None,
        free_speed_mps: np.ndarray | float | None = None,
        bin_s: float = 60.0,
        max_hops: int = 8,
        start_s: float = 0.0,
    ) -> None:
        if step_s <= 0 or n_people < 0:
            raise ValueError(f"step_s must be > 0 and n_people >= 0, got {step_s}, {n_people}")
        self.net, self.rng, self.step_s = network, rng, float(step_s)
        self.max_density_p_m2, self.max_hops = float(max_density_p_m2), int(max_hops)
        self.now = float(start_s)
        self.edge_v = network.edge_v.astype(np.int64)
        self.edge_u = network.edge_u.astype(np.int64)
        self.edge_len = np.repeat(network.length_m, 2)
        self.area_m2 = network.area_m2()
        cap = (
            np.full(network.n_links, CAPACITY_P_MS)
            if capacity_p_ms is None
            else np.asarray(capacity_p_ms, float)
        )
        self.capacity_p_ms = cap.copy()  # specific capacity per link (doors and gates set less)
        self.width_m = network.width_m
        self.hold = self.max_density_p_m2 * self.area_m2
        self._send_per_step = np.repeat(self.capacity_p_ms * self.width_m * self.step_s, 2)
        n = int(n_people)
        self.state = np.full(n, ORIGIN, dtype=np.int8)
        self._counts = np.array([n, 0, 0, 0, 0], dtype=np.int64)
        self.edge = np.full(n, -1, dtype=np.int64)
        self.pos_m = np.zeros(n)
        self.t_reach = np.full(n, np.inf)  # when the person reached the end of its edge
        self.node = np.full(n, -1, dtype=np.int64)  # where people off the network are (origin, venue)
        self.target = np.zeros(n, dtype=np.int64)
        self.gate_at = np.full(n, -1, dtype=np.int64)  # the gate a queued person waits at
        self.t_inside = np.full(n, np.nan)
        self.t_gone = np.full(n, np.nan)
        self.t_due = np.full(n, np.nan)  # when a person due to depart was due
        if free_speed_mps is None:  # Weidmann: normal, mean 1.34 m/s, sd 0.26 m/s, kept in [0.5, 2.2]
            free_speed_mps = np.clip(rng.normal(1.34, 0.26, n), 0.5, 2.2)
        self.v0_mps = np.broadcast_to(np.asarray(free_speed_mps, dtype=float), (n,)).copy()
        self.active = np.zeros(0, dtype=np.int64)  # people on edges (state EDGE)
        self.ready = np.zeros(0, dtype=np.int64)  # due to depart, waiting for room on their first edge
        self._due_t = np.zeros(0)
        self._due_p = np.zeros(0, dtype=np.int64)
        self.queued_link = np.zeros(network.n_links, dtype=np.int64)
        self.exit_credit = np.zeros(network.n_edges)
        self.supply_credit = np.zeros(network.n_links)
        # routing: target sets and their tables; closures per link and per mode ("in" / "out")
        self.in_cost_m = np.repeat(network.length_m, 2)  # routing cost on the way in (.gate_choice)
        self.out_cost_m = np.repeat(network.length_m, 2)  # on the way out (revised while leaving)
        self.closed_link = np.zeros(network.n_links, dtype=bool)
        self.closed_mode = {"in": np.zeros(network.n_edges, bool), "out": np.zeros(network.n_edges, bool)}
        self.gate_of_edge = np.full(network.n_edges, -1, dtype=np.int64)
        self.gates: list[Gate] = []
        self.gate_edge: list[int] = []
        self.targets: list[dict] = []
        self.next_tab = np.zeros((0, network.n_nodes), dtype=np.int32)
        self.dist_tab = np.zeros((0, network.n_nodes))
        self.is_target = np.zeros((0, network.n_nodes), dtype=bool)
        self._stale = np.zeros(0, dtype=bool)  # targets whose next-edge table must be recomputed
        self.hold_count = np.zeros(network.n_nodes, dtype=np.int64)  # holds covering a node (.hold)
        self.holding = False
        self.recorder = CrowdRecorder(network, bin_s=bin_s, start_s=self.now)
        self.on_step: list[Callable[[Crowd], None]] = []

    # -- set-up ---------------------------------------------------------------------------------
    def add_target(self, nodes: np.ndarray, *, mode: str = "in", arrive: int = INSIDE, name: str = "") -> int:
        """A target set: people reaching any of ``nodes`` become ``arrive`` (INSIDE or GONE). ``mode``
        picks the closures: ``in`` (towards the venue: gates screen) or ``out`` (leaving)."""
        if mode not in self.closed_mode or arrive not in (INSIDE, GONE):
            raise ValueError(f"bad target mode {mode!r} or arrive state {arrive!r}")
        mask = np.zeros(self.net.n_nodes, dtype=bool)
        mask[np.asarray(nodes, dtype=np.int64)] = True
        self.targets.append({"name": name, "mode": mode, "arrive": arrive, "nodes": np.flatnonzero(mask)})
        self.is_target = np.vstack([self.is_target, mask])
        self._stale = np.append(self._stale, True)
        return len(self.targets) - 1

    def set_capacity(self, links: np.ndarray, capacity_p_ms: np.ndarray | float) -> None:
        """Set the specific capacity (p/(m s)) of links: doors, gates and barriers let through less."""
        self.capacity_p_ms[np.asarray(links, dtype=np.int64)] = capacity_p_ms
        self._send_per_step = np.repeat(self.capacity_p_ms * self.width_m * self.step_s, 2)

    def close_links(self, links: np.ndarray, *, closed: bool = True) -> None:
        """Close (or open) walk links in both directions; people reroute at their next node."""
        self.closed_link[np.asarray(links, dtype=np.int64)] = closed
        self._stale[:] = True

    def close_edges(self, edges: np.ndarray, *, mode: str, closed: bool = True) -> None:
        """Close (or open) directed edges for routes of one mode (ring barriers, one-way flow)."""
        self.closed_mode[mode][np.asarray(edges, dtype=np.int64)] = closed
        self._stale[:] = True

    def reroute(self) -> None:
        """Recompute the next-edge tables of targets whose routes may have changed (all of them after a
        closure, those of mode ``in`` after a gate-choice revision, new ones)."""
        n, k = self.net.n_nodes, len(self.targets)
        if self.next_tab.shape[0] < k:
            grow = k - self.next_tab.shape[0]
            self.next_tab = np.vstack([self.next_tab, np.full((grow, n), -1, dtype=np.int32)])
            self.dist_tab = np.vstack([self.dist_tab, np.full((grow, n), np.inf)])
        open_link = np.repeat(~self.closed_link, 2)
        for t in np.flatnonzero(self._stale).tolist():
            tgt = self.targets[t]
            self.next_tab[t], self.dist_tab[t] = next_edges(
                n_nodes=n, edge_u=self.edge_u, edge_v=self.edge_v,
                length_m=self.in_cost_m if tgt["mode"] == "in" else self.out_cost_m,
                open_edges=open_link & ~self.closed_mode[tgt["mode"]], targets=tgt["nodes"],
            )  # fmt: skip
        self._stale[:] = False

    def depart(
        self, pids: np.ndarray, *, node: np.ndarray, at_s: np.ndarray, target: np.ndarray | int
    ) -> None:
        """People leave ``node`` (an origin, or the venue for those inside) at ``at_s`` for ``target``."""
        pids = np.asarray(pids, dtype=np.int64)
        self.node[pids] = node
        self.target[pids] = target
        t = np.broadcast_to(np.asarray(at_s, dtype=float), pids.shape)
        self._due_t = np.concatenate([self._due_t, t])
        self._due_p = np.concatenate([self._due_p, pids])
        order = np.argsort(self._due_t, kind="stable")
        self._due_t, self._due_p = self._due_t[order], self._due_p[order]

    def cancel_departures(self, *, states: tuple[int, ...] = (ORIGIN,)) -> np.ndarray:
        """Drop pending departures of people in ``states`` (e.g. attendees not yet left home at an
        evacuation order); they stay where they are. Returns their ids."""
        keep = ~np.isin(self.state[self._due_p], states)
        dropped = self._due_p[~keep]
        self._due_t, self._due_p = self._due_t[keep], self._due_p[keep]
        ready_keep = ~np.isin(self.state[self.ready], states)
        dropped = np.concatenate([dropped, self.ready[~ready_keep]])
        self.ready = self.ready[ready_keep]
        return dropped

    # -- stepping -------------------------------------------------------------------------------
    def census(self) -> np.ndarray:
        """People per state (origin, edge, queue, inside, gone): always sums to the population."""
        return self._counts.copy()

    def _set_state(self, pids: np.ndarray, new: np.ndarray | int) -> None:
        """Change states, keeping the census up to date (O(changed), not O(population))."""
        if pids.size == 0:
            return
        self._counts -= np.bincount(self.state[pids], minlength=5)
        self.state[pids] = new
        self._counts += np.bincount(self.state[pids], minlength=5)

    def link_counts(self) -> np.ndarray:
        """People per link: walking, waiting at an edge end, or queued for a gate standing there."""
        links = self.edge[self.active] >> 1
        return np.bincount(links, minlength=self.net.n_links) + self.queued_link

    def step(self) -> None:
        """Advance the crowd by one step (see the module docstring)."""
        if self._stale.any():
            self.reroute()
        dt, t0 = self.step_s, self.now
        t1 = t0 + dt
        n_link = self.link_counts().astype(float)
        rho = n_link / self.area_m2
        factor = weidmann_speed_factor(rho)
        send = self._send_per_step
        self.exit_credit = np.minimum(self.exit_credit + send, send + 1.0)
        recv = supply_p_ms(rho, capacity_p_ms=self.capacity_p_ms, max_density_p_m2=self.max_density_p_m2,
                           speed_factor=factor) * self.width_m * dt  # fmt: skip
        self.supply_credit = np.minimum(self.supply_credit + recv, recv + 1.0)
        self._release_gates(t0, t1, factor, n_link)
        self._departures(n_link, t0, t1, factor)
        a = self.active
        if a.size:
            e = self.edge[a]
            speed = self.v0_mps[a] * factor[e >> 1]
            old = self.pos_m[a]
            new = old + speed * dt
            self.pos_m[a] = new
            length = self.edge_len[e]
            crossed = (old < length) & (new >= length)
            self.t_reach[a[crossed]] = t0 + (length[crossed] - old[crossed]) / np.maximum(
                speed[crossed], 1e-9
            )
            cand = a[new >= length]
            for _ in range(self.max_hops):
                if cand.size == 0:
                    break
                cand = self._leave_edges(cand, n_link, factor, t1)
        self.active = self.active[self.state[self.active] == EDGE]
        self.now = t1
        queuing = self.queued_link + self.held_links() if self.holding else self.queued_link
        self.recorder.observe(t1, self.link_counts(), queuing, self.census())
        for hook in self.on_step:
            hook(self)

    def _leave_edges(self, cand: np.ndarray, n_link: np.ndarray, factor: np.ndarray, t1: float) -> np.ndarray:
        """One hop for people at the end of their edge; returns those who crossed a whole next edge."""
        e = self.edge[cand]
        node = self.edge_v[e]
        tg = self.target[cand]
        arrive = self.is_target[tg, node]
        nxt = np.where(arrive, -1, self.next_tab[tg, node]).astype(np.int64)
        if self.holding:  # held in a waiting area: they stand at the end of their edge (.hold)
            held = self._held(node, tg)
            arrive[held], nxt[held] = False, -1
            self.pos_m[cand[held]] = self.edge_len[e[held]]
        gate = np.where(nxt >= 0, self.gate_of_edge[np.maximum(nxt, 0)], -1)
        joins = gate >= 0
        if joins.any():
            self._join_gates(cand[joins], gate[joins])
        moving = ~joins & (arrive | (nxt >= 0))
        c, e, nxt, arrive = cand[moving], e[moving], nxt[moving], arrive[moving]
        order, rank = _rank_in_groups(e, self.t_reach[c])
        ok = np.zeros(c.size, dtype=bool)
        ok[order] = rank < np.floor(self.exit_credit[e[order]])
        uturn = (nxt >> 1) == (e >> 1)  # turning back on the same link takes no new room on it
        into = ok & ~arrive & ~uturn
        k = nxt[into] >> 1
        allow = np.minimum(np.floor(self.supply_credit), np.floor(self.hold - n_link)).clip(0)
        order2, rank2 = _rank_in_groups(k, self.t_reach[c[into]])
        ok_into = np.zeros(k.size, dtype=bool)
        ok_into[order2] = rank2 < allow[k[order2]]
        blocked = np.flatnonzero(into)[~ok_into]
        if blocked.size:  # full links facing each other swap people (no net change): no gridlock
            ok_into[~ok_into] = self._swaps(e[blocked] >> 1, nxt[blocked] >> 1, self.t_reach[c[blocked]])
            blocked = np.flatnonzero(into)[~ok_into]
        go = ok.copy()
        go[blocked] = False
        left = c[go]
        np.subtract.at(self.exit_credit, e[go], 1.0)
        np.subtract.at(n_link, e[go & ~uturn] >> 1, 1.0)
        arrived = left[arrive[go]]
        if arrived.size:
            self._arrive(arrived, self.target[arrived], self.edge_v[self.edge[arrived]])
        movers = c[go & ~arrive]
        if movers.size:
            new_e = nxt[go & ~arrive]
            over = self.pos_m[movers] - self.edge_len[self.edge[movers]]
            entering = new_e[~uturn[go & ~arrive]] >> 1
            np.subtract.at(self.supply_credit, entering, 1.0)
            np.add.at(n_link, entering, 1.0)
            self.edge[movers] = new_e
            self.pos_m[movers] = over
            length = self.edge_len[new_e]
            again = over >= length
            speed = np.maximum(self.v0_mps[movers] * factor[new_e >> 1], 1e-9)
            self.t_reach[movers] = np.where(again, t1 - (over - length) / speed, np.inf)
            movers = movers[again]
        stuck = c[~go]
        self.pos_m[stuck] = self.edge_len[self.edge[stuck]]
        return movers

    def _swaps(self, from_link: np.ndarray, to_link: np.ndarray, priority: np.ndarray) -> np.ndarray:
        """Which of these blocked moves can swap with a blocked move the other way (first come first)."""
        n = self.net.n_links
        key, back = from_link * n + to_link, to_link * n + from_link
        keys, counts = np.unique(key, return_counts=True)
        pos = np.searchsorted(keys, back).clip(0, keys.size - 1)
        partners = np.where(keys[pos] == back, counts[pos], 0)
        order, rank = _rank_in_groups(key, priority)
        ok = np.zeros(key.size, dtype=bool)
        ok[order] = rank < partners[order]
        return ok

    def _arrive(self, pids: np.ndarray, targets: np.ndarray, nodes: np.ndarray) -> None:
        arrive_state = np.array([t["arrive"] for t in self.targets], dtype=np.int8)[targets]
        # the moment they reached the end, or the step's start for those who had to wait there
        when = np.clip(self.t_reach[pids], self.now, self.now + self.step_s)
        self._set_state(pids, arrive_state)
        self.node[pids] = nodes
        self.edge[pids] = -1
        inside = arrive_state == INSIDE
        self.t_inside[pids[inside]] = when[inside]
        self.t_gone[pids[~inside]] = when[~inside]

    def _departures(self, n_link: np.ndarray, t0: float, t1: float, factor: np.ndarray) -> None:
        """People due by the step's end enter their first edge, within its supply (first due, first on);
        a negative position makes this step's move start at their due time."""
        due = int(np.searchsorted(self._due_t, t1, side="right"))
        if due:
            self.t_due[self._due_p[:due]] = self._due_t[:due]
            self.ready = np.concatenate([self.ready, self._due_p[:due]])
            self._due_t, self._due_p = self._due_t[due:], self._due_p[due:]
        r = self.ready
        if r.size == 0:
            return
        node, tg = self.node[r], self.target[r]
        self.t_reach[r] = np.clip(self.t_due[r], t0, t1)  # arrivals or gate joins straight from a node
        arrive = self.is_target[tg, node]
        held = self._held(node, tg)  # set out from a waiting area: not yet
        arrive &= ~held
        if arrive.any():
            self._arrive(r[arrive], tg[arrive], node[arrive])
        nxt = np.where(arrive | held, -1, self.next_tab[tg, node]).astype(np.int64)
        gate = np.where(nxt >= 0, self.gate_of_edge[np.maximum(nxt, 0)], -1)
        if (gate >= 0).any():
            self.edge[r[gate >= 0]] = -1
            self._join_gates(r[gate >= 0], gate[gate >= 0])
        walk = np.flatnonzero((nxt >= 0) & (gate < 0))
        k = nxt[walk] >> 1
        allow = np.minimum(np.floor(self.supply_credit), np.floor(self.hold - n_link)).clip(0)
        order, rank = _rank_in_groups(k, np.arange(k.size))  # first due, first on
        ok = np.zeros(k.size, dtype=bool)
        ok[order] = rank < allow[k[order]]
        on = r[walk[ok]]
        e = nxt[walk[ok]]
        np.subtract.at(self.supply_credit, e >> 1, 1.0)
        np.add.at(n_link, e >> 1, 1.0)
        self._set_state(on, EDGE)
        self.edge[on] = e
        self.pos_m[on] = -self.v0_mps[on] * factor[e >> 1] * np.clip(self.t_due[on] - t0, 0.0, t1 - t0)
        self.t_reach[on] = np.inf
        self.active = np.concatenate([self.active, on])
        moved = np.zeros(r.size, dtype=bool)
        moved[arrive | (gate >= 0)] = True
        moved[walk[ok]] = True
        self.ready = r[~moved]

    def process(self, env, *, until_s: float | None = None, done: Callable[[Crowd], bool] | None = None):
        """A simpy process: one step per ``step_s`` on the shared clock, until ``until_s`` or ``done``."""
        while (until_s is None or self.now < until_s) and not (done is not None and done(self)):
            yield env.timeout(max(self.now + self.step_s - env.now, 0.0))
            self.step()

    def finish(self) -> None:
        """Close the last recording bin."""
        self.recorder.close(self.now)
