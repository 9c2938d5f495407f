"""The crowd at its gates: joining a gate's queue, release after screening, closing a gate, and the
gate choice of people on the way in (:mod:`.gate_choice`).

A mixin of :class:`policetwin.event.crowd.Crowd` (it works on the crowd's arrays), kept apart so that
the stepping core stays readable.
"""

from __future__ import annotations

import numpy as np

from policetwin.event.gate_choice import SMOOTHING, gate_waits_s, in_route_cost_m
from policetwin.event.gates import Gate
from policetwin.event.los import weidmann_speed_factor
from policetwin.event.states import EDGE, ORIGIN, QUEUE


class CrowdGates:
    """Gate operations of :class:`~policetwin.event.crowd.Crowd` (see the module docstring)."""

    def add_gate(self, gate: Gate, *, edge: int) -> int:
        """A gate screening everyone who enters directed ``edge`` on an ``in`` route; its reverse is the
        way out (open on ``out`` routes only)."""
        g = len(self.gates)
        self.gates.append(gate)
        self.gate_edge.append(int(edge))
        self.gate_of_edge[edge] = g
        self.closed_mode["out"][edge] = True
        self.closed_mode["in"][edge ^ 1] = True
        self._stale[:] = True
        return g

    def _crowd_cost_m(self, *, gates: bool, walk_speed_mps: float) -> np.ndarray:
        """Route cost (m) per directed edge from the crowd now (:func:`.gate_choice.in_route_cost_m`):
        jammed links stretched, people standing at edge ends as a wait, gate waits if ``gates``."""
        factor = weidmann_speed_factor(self.link_counts() / self.area_m2)
        a = self.active
        at_end = a[self.pos_m[a] >= self.edge_len[self.edge[a]]]
        standing = np.bincount(self.edge[at_end], minlength=self.net.n_edges)
        if not gates and self.ready.size:  # leaving: people waiting to step onto their first edge too
            first = self.next_tab[self.target[self.ready], self.node[self.ready]]
            standing += np.bincount(first[first >= 0], minlength=self.net.n_edges)
        if gates:
            queued = np.array([len(g) for g in self.gates], dtype=float)
            screening = np.array([g.screening.mean for g in self.gates], dtype=float)
            lanes = np.array([max(g.schedule.open_at(self.now), 0) for g in self.gates], dtype=float)
            gate_edges, waits = (
                np.asarray(self.gate_edge, dtype=np.int64),
                gate_waits_s(queued, screening, lanes),
            )
        else:
            gate_edges, waits = np.zeros(0, dtype=np.int64), np.zeros(0)
        return in_route_cost_m(
            length_m=self.edge_len, speed_factor=np.repeat(factor, 2), standing=standing,
            exit_p_s=self._send_per_step / self.step_s, gate_edges=gate_edges, gate_wait_s=waits,
            walk_speed_mps=walk_speed_mps,
        )  # fmt: skip

    def _revise(self, mode: str, new: np.ndarray) -> bool:
        attr = f"{mode}_cost_m"
        old = getattr(self, attr)
        cost = SMOOTHING * old + (1.0 - SMOOTHING) * new
        if np.max(np.abs(cost - old), initial=0.0) < 0.5:
            return False
        setattr(self, attr, cost)
        self._stale |= np.array([t["mode"] == mode for t in self.targets], dtype=bool)
        return True

    def balance_gates(self, *, walk_speed_mps: float = 1.34) -> bool:
        """Revise the cost of ``in`` routes from the crowd now: gate waits, jammed approaches, people
        standing at edge ends (:func:`.gate_choice.in_route_cost_m`), smoothed with the previous cost.
        Arriving people spread over gates; called every few tens of seconds. Returns whether ``in``
        routes are recomputed (not when the cost moved by less than half a metre anywhere)."""
        return self._revise("in", self._crowd_cost_m(gates=True, walk_speed_mps=walk_speed_mps))

    def balance_out(self, *, walk_speed_mps: float = 1.34) -> bool:
        """The same for ``out`` routes (leaving, evacuating; no gates on the way out), where people waiting
        to step onto their first edge (at the venue's exits) count as standing at it too: people leaving
        spread over the ways out instead of all taking the shortest one. Returns whether rerouted."""
        return self._revise("out", self._crowd_cost_m(gates=False, walk_speed_mps=walk_speed_mps))

    def withdraw_gate(self, g: int) -> np.ndarray:
        """Close gate ``g`` now: its waiting people stand again at the end of their edge (returned)."""
        pids = self.gates[g].withdraw(self.now)
        self._unqueue(pids)
        self._set_state(pids, EDGE)
        on_edge = pids[self.edge[pids] >= 0]
        self.pos_m[on_edge] = self.edge_len[self.edge[on_edge]]
        self.t_reach[pids] = self.now
        self.active = np.concatenate([self.active, on_edge])
        off = pids[self.edge[pids] < 0]  # joined straight from their origin: back there, due now
        self._set_state(off, ORIGIN)
        self.ready = np.concatenate([self.ready, off])
        return pids

    def _unqueue(self, pids: np.ndarray) -> None:
        e = self.edge[pids]
        np.subtract.at(self.queued_link, e[e >= 0] >> 1, 1)
        self.gate_at[pids] = -1

    def _join_gates(self, pids: np.ndarray, gates: np.ndarray) -> None:
        when = np.where(np.isfinite(self.t_reach[pids]), self.t_reach[pids], self.now)
        for g in np.unique(gates).tolist():
            mine = gates == g
            self.gates[g].join(pids[mine], when[mine])
        self._set_state(pids, QUEUE)
        self.gate_at[pids] = gates
        on_edge = pids[self.edge[pids] >= 0]
        self.pos_m[on_edge] = self.edge_len[self.edge[on_edge]]
        np.add.at(self.queued_link, self.edge[on_edge] >> 1, 1)

    def _release_gates(self, t0: float, t1: float, factor: np.ndarray, n_link: np.ndarray) -> None:
        """Screened people step onto the gate's inside edge within its supply and holding cap (the rest
        wait at the gate's exit); a negative position makes this step's move start at their finish time."""
        for g, gate in enumerate(self.gates):
            if not len(gate):
                continue
            e = self.gate_edge[g]
            k = e >> 1
            room = int(max(min(np.floor(self.supply_credit[k]), np.floor(self.hold[k] - n_link[k])), 0))
            pids, t_done = gate.release(t1, max_people=room)
            if pids.size == 0:
                continue
            self.supply_credit[k] -= pids.size
            n_link[k] += pids.size
            self._unqueue(pids)
            self._set_state(pids, EDGE)
            self.edge[pids] = e
            self.pos_m[pids] = -self.v0_mps[pids] * factor[e >> 1] * np.maximum(t_done - t0, 0.0)
            self.t_reach[pids] = np.inf
            self.active = np.concatenate([self.active, pids])
