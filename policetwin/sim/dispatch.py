"""Dispatch: the waiting queue and the dispatcher that sends units to ready calls.

The dispatcher asks the policy (:mod:`policetwin.sim.policies`) which of the available units to
send, using their ETAs (:mod:`policetwin.sim.eta`); the fleet (:mod:`policetwin.sim.fleet`) moves
them. A call that still needs units waits in the queue; a unit that becomes free asks the policy
for its next call, else drives home.
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from policetwin.agents import UnitState
from policetwin.sim.policies import PriorityPreemptPolicy

_ONSCENE = UnitState.onscene

if TYPE_CHECKING:
    from policetwin.agents import Incident, PatrolUnit
    from policetwin.sim.eta import Etas
    from policetwin.sim.fleet import Fleet
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.policies import DispatchPolicy


class DispatchQueue:
    """Calls waiting for a unit, most urgent first, then by time ready (stable, deterministic)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, Incident]] = []

    def push(self, incident: Incident) -> None:
        heapq.heappush(self._heap, (incident.priority, incident.t_ready, incident.row, incident))

    def _drop_stale(self) -> None:
        while self._heap and not self._heap[0][3].still_needs_units:
            heapq.heappop(self._heap)

    def peek(self) -> Incident | None:
        """The most urgent waiting call, or None."""
        self._drop_stale()
        return self._heap[0][3] if self._heap else None

    def pop(self) -> Incident | None:
        """Remove and return the most urgent waiting call (None if nobody waits)."""
        self._drop_stale()
        return heapq.heappop(self._heap)[3] if self._heap else None

    def remove(self, incident: Incident) -> None:
        """Take a call out of the queue (for policies that pick a call other than the first)."""
        self._heap = [item for item in self._heap if item[3] is not incident]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        """Entries in the queue (may include calls that no longer need units until they are popped)."""
        return len(self._heap)

    def __iter__(self) -> Iterator[Incident]:
        """Waiting calls in dispatch order (for policies that look beyond the head of the queue)."""
        return (item[3] for item in sorted(self._heap) if item[3].still_needs_units)


class Dispatcher:
    """Sends units to ready calls by the scenario's policy; gives free units their next call.

    With ``dispatch.mutual_aid`` a call first looks for units of its own district; with
    ``priority_preempt`` an urgent call may take a unit from a much less urgent one (:meth:`preempt`).
    """

    def __init__(self, model: PoliceModel, *, policy: DispatchPolicy, etas: Etas, fleet: Fleet) -> None:
        self.model = model
        self.policy = policy
        self.etas = etas
        self.fleet = fleet
        self.queue = DispatchQueue()
        self.available = model.unit_available
        self.units = model.units
        self.seconds = 0.0  # wall time spent deciding (for the engine figures)
        self.decisions = 0
        self.mutual_aid = model.scenario.dispatch.mutual_aid
        # which ETAs the policy needs: those of the k nearest units and any within its slack of them
        # (``eta_slack_s``); all of them (None) for policies that do not say, and with mutual aid
        self.eta_slack_s = None if self.mutual_aid is not None else getattr(policy, "eta_slack_s", None)
        self.preempts = isinstance(policy, PriorityPreemptPolicy)
        caps = [frozenset(u.capabilities) for u in model.units]
        #: per kind: the units able to take it (None: any unit), from ``require``
        self.capable = [None if k.require is None else np.array([k.require in c for c in caps], dtype=bool)
                        for k in model.kinds]  # fmt: skip
        self._requirements = any(mask is not None for mask in self.capable)
        fleet.on_free = self.unit_free
        fleet.on_backup = self.dispatch

    def dispatch(self, incident: Incident) -> None:
        """Send units to a ready call now, or queue it (partly served multi-unit calls queue too)."""
        start = time.perf_counter()
        capable = self.capable[incident.kind]
        available = self.available if capable is None else self.available & capable
        candidates = available.nonzero()[0]  # (np.flatnonzero is ~5x slower on this path)
        chosen: list[int] = []
        eta = np.zeros(0)
        if candidates.size:
            if self.eta_slack_s is None:
                eta = self.etas(incident.node, candidates)
            else:
                eta = self.etas(incident.node, candidates, rank=incident.units_needed - incident.assigned,
                                slack_s=self.eta_slack_s)  # fmt: skip
            if self.mutual_aid is not None:
                candidates, eta = self._own_district_first(incident, candidates, eta)
            if candidates.size:
                chosen = self.policy.select(incident, candidates, eta, self.model)
        self.seconds += time.perf_counter() - start
        self.decisions += 1
        if self.preempts and incident.priority <= self.policy.max_priority:
            chosen = self.preempt(incident, candidates, eta, chosen)
        for i in chosen:
            self.fleet.send(self.units[candidates[i]], incident, float(eta[i]))
        if incident.still_needs_units:
            self.queue.push(incident)

    def _own_district_first(self, incident: Incident, candidates: np.ndarray, eta: np.ndarray):
        """Mutual aid: the call's own district's units only, unless crossing is allowed: no own unit is
        free within ``threshold``, or at least ``queue`` calls (this one included) wait in the district.
        Without an own free unit and crossing not allowed, the call waits for its own units."""
        model, aid = self.model, self.mutual_aid
        district = model.node_district[incident.node]
        own = model.unit_district[candidates] == district
        if aid.threshold is not None and not (own & (eta <= aid.threshold)).any():
            return candidates, eta
        if aid.queue is not None:
            waiting = 1 + sum(
                1 for c in self.queue if c is not incident and model.node_district[c.node] == district
            )
            if waiting >= aid.queue:
                return candidates, eta
        return candidates[own], eta[own]

    def preempt(
        self, incident: Incident, candidates: np.ndarray, eta: np.ndarray, chosen: list[int]
    ) -> list[int]:
        """Take units from much less urgent calls for ``incident`` when the free units chosen are too few,
        or the nearest chosen one would miss the call's target while a busy one would not. Taken units
        are sent at once; the calls they leave keep their history and wait in the queue again.
        Returns the free units (positions in ``candidates``) still to be sent."""
        need = incident.units_needed - incident.assigned
        target = self.model.kinds[incident.kind].target
        sent_eta = sorted(float(eta[i]) for i in chosen)
        if len(chosen) >= need and (not sent_eta or sent_eta[0] <= target):
            return chosen
        victims = self._preemptable(incident)
        if not victims:
            return chosen
        offers = self._offers(incident.node, victims, need)
        keep = list(chosen)
        taken = []
        while offers and (
            len(keep) + len(taken) < need
            or (keep and float(eta[keep[0]]) > target and offers[0][0] < float(eta[keep[0]]))
        ):
            if len(keep) + len(taken) >= need:
                keep.pop()  # the farthest free unit (all miss the target) stays free
            taken.append(offers.pop(0))
        for eta_s, _, unit, old in taken:
            self.fleet.withdraw(unit, old)
            self.fleet.send(unit, incident, float(eta_s))
            if old.still_needs_units:
                self.queue.push(old)
        return keep

    def _offers(self, node: int, victims: list, best: int) -> list[tuple[float, int, PatrolUnit, Incident]]:
        """(ETA, unit index, unit, its call) of the ``best`` victims nearest to ``node``, nearest first.

        Exact ETAs walk each unit's route, so units are timed in order of a lower bound (the time from
        their trip's origin less the distance driven since) until the ``best``-th exact ETA is below the next
        bound: the same offers, and tie order, as timing them all."""
        row = self.etas.row_to(node)
        now = self.model.env.now
        edge_s = self.etas.max_edge_s
        ranked = sorted((self._bound(u, row, now, edge_s), u.index, u, old) for u, old in victims)
        offers: list[tuple[float, int, PatrolUnit, Incident]] = []
        for bound, index, unit, old in ranked:
            if len(offers) >= best and bound > offers[best - 1][0]:
                break  # this unit and all after it are farther than the best found
            nxt, offset = unit.position(now)
            bisect.insort(offers, (float(row[nxt]) + offset, index, unit, old))
        return offers[:best]

    @staticmethod
    def _bound(unit: PatrolUnit, row: np.ndarray, now: float, edge_s: float) -> float:
        """A lower bound of ``unit``'s ETA by ``row``: exact on scene; en route, the time from its trip's
        origin less the distance driven since, less what a faster trip saves on the edge under way."""
        if unit.state is _ONSCENE:
            return float(row[unit.node])
        rate = unit.trip_rate
        return (
            float(row[unit.node])
            - max(now - unit.trip_depart, 0.0) * rate
            - edge_s * max(1.0 - 1.0 / rate, 0.0)
        )

    def _preemptable(self, incident: Incident) -> list[tuple[PatrolUnit, Incident]]:
        """Units working for calls at least ``min_gap`` priority levels below ``incident``."""
        policy, serving = self.policy, self.fleet.serving
        lowest = incident.priority + policy.min_gap
        states = (UnitState.enroute, UnitState.onscene) if policy.on_scene else (UnitState.enroute,)
        capable = self.capable[incident.kind]
        return [(unit, serving[unit.index]) for unit in self.units
                if unit.state in states and serving.get(unit.index) is not None
                and (capable is None or capable[unit.index])
                and serving[unit.index].priority >= lowest and not serving[unit.index].closed]  # fmt: skip

    def unit_free(self, unit: PatrolUnit) -> None:
        """A unit just became free at its current node: next waiting call, else drive home."""
        queue = self.queue
        if not len(queue):
            waiting = None
        elif self._requirements:  # the first waiting call this unit is able to take
            waiting = next((c for c in queue if self.capable[c.kind] is None or self.capable[c.kind][unit.index]),
                           None)  # fmt: skip
            if waiting is not None:
                queue.remove(waiting)
        else:
            waiting = self.policy.next_call(unit, queue, self.model)
        if waiting is None:
            self.fleet.go_home(unit)
            return
        eta = self.etas(waiting.node, np.array([unit.index]))[0]
        self.fleet.send(unit, waiting, float(eta))
        if waiting.still_needs_units:
            queue.push(waiting)
