"""The call centre: calls arrive, wait for a call-taker (a simpy Resource), are handled and triaged;
then a dispatcher at the desk (a simpy PriorityResource: most urgent first) decides, or with flat
command (no desk) the call-taker does, and the call goes to unit assignment. Demand generators feed
the centre through :meth:`CallCentre.start`; other modules (crowds, replay) may :meth:`submit` calls
while the run goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import simpy

from policetwin.agents import Incident
from policetwin.sim.demand import Draws
from policetwin.sim.recorder import OUTCOMES

_ABANDONED = OUTCOMES.index("abandoned")

if TYPE_CHECKING:
    from policetwin.sim.demand import CallBatch
    from policetwin.sim.model import PoliceModel


class CallCentre:
    """Call-takers answering calls in arrival order; a handled call is handed to ``on_ready``."""

    def __init__(self, model: PoliceModel, *, on_ready: Callable[[Incident], None]) -> None:
        self.model = model
        self.env = model.env
        self.recorder = model.recorder
        self.kinds = model.kinds
        self.on_ready = on_ready
        handling = model.scenario.call_handling
        self.takers = simpy.Resource(self.env, capacity=handling.takers)
        self.desk = (
            simpy.PriorityResource(self.env, capacity=handling.dispatchers) if handling.dispatchers else None
        )
        self._decisions = Draws(handling.decision, model.stream("desk")) if handling.decision else None
        self._times = self.recorder.times
        self._upcoming: Iterator[tuple] | None = None
        self.all_arrived = False  # every call of the batch has been submitted

    def start(self, calls: CallBatch) -> None:
        """Feed a batch of calls (sorted by time) into the centre as the clock reaches each one."""
        self._source = calls.source
        # per-call extras only where they differ from the defaults (fewer Python objects on long runs)
        same_time = calls.t_occur is None or calls.t_occur is calls.t_call
        self._occur = None if same_time else calls.t_occur.tolist()
        self._detected = (
            calls.detected_by.tolist() if calls.detected_by is not None and calls.detected_by.any() else None
        )
        self._calls = calls
        self._rows: list[int] | None = [] if calls.outcome is not None else None  # batch index -> row
        self._upcoming = zip(calls.t_call.tolist(), calls.kind.tolist(), calls.node.tolist(),
                             calls.handling_s.tolist(), calls.on_scene_s.tolist(), range(len(calls)), strict=True)  # fmt: skip
        self._next_arrival()

    def _submit_planned(self, call: tuple) -> None:
        deterrence = self.model.deterrence
        if deterrence is not None and self._prevented(call, deterrence):
            return
        i = call[5]
        t_occur = None if self._occur is None else self._occur[i]
        detected = 0 if self._detected is None else self._detected[i]
        if self._rows is None:
            self.submit(kind=call[1], node=call[2], handling_s=call[3], on_scene_s=call[4], source=self._source,
                        t_occur=t_occur, detected_by=detected)  # fmt: skip
            return
        calls = self._calls
        linked = int(calls.linked[i])
        incident = self.submit(kind=call[1], node=call[2], handling_s=call[3], on_scene_s=call[4],
                               source=self._source, t_occur=t_occur, detected_by=detected,
                               outcome=int(calls.outcome[i]), patience_s=float(calls.patience_s[i]),
                               linked_to=self._rows[linked] if linked >= 0 else -1)  # fmt: skip
        self._rows.append(incident.row)

    def _next_arrival(self, pending: tuple | None = None) -> None:
        """Submit the call that is due (if any), then every call due now, then wait for the next."""
        if pending is not None:
            self._submit_planned(pending)
        env = self.env
        for call in self._upcoming:
            delay = call[0] - env.now
            if delay > 0:
                env.timeout(delay).callbacks.append(lambda _event, due=call: self._next_arrival(due))
                return
            self._submit_planned(call)
        self.all_arrived = True

    def _prevented(self, call: tuple, deterrence) -> bool:
        """Presence prevented this call (or the call it repeats): it is logged, not made."""
        linked = int(self._calls.linked[call[5]]) if self._rows is not None else -1
        if (linked >= 0 and self._rows[linked] < 0) or deterrence.prevents(node=call[2], kind=call[1],
                                                                           now=self.env.now):  # fmt: skip
            if self._rows is not None:
                self._rows.append(-1)
            return True
        return False

    def submit(self, *, kind: int, node: int, handling_s: float, on_scene_s: float, source: str,
               t_occur: float | None = None, detected_by: int = 0, outcome: int = 0,
               patience_s: float = math.inf, linked_to: int = -1) -> Incident:  # fmt: skip
        """A call arrives now: it waits for a call-taker, then for ``handling_s`` of handling and triage.

        ``t_occur``: when the incident happened (default: now); ``detected_by``: 0 citizen, 1 sensor;
        ``outcome``: what triage will find (0 needs units, else an index of ``OUTCOMES``: phone,
        duplicate of incident ``linked_to``); the caller hangs up after ``patience_s`` unanswered.
        """
        spec = self.kinds[kind]
        self.model.open_calls += 1
        row = self.recorder.new_incident(t_call=self.env.now, kind=kind, node=node, source=source,
                                         t_occur=t_occur, detected_by=detected_by)  # fmt: skip
        incident = Incident(self.model, row=row, kind=kind, priority=spec.priority, node=node,
                            units_needed=spec.units, on_scene_s=on_scene_s)  # fmt: skip
        request = self.takers.request()
        request.callbacks.append(lambda _event: self._answered(incident, request, handling_s))
        if outcome:
            incident.plan = outcome
            self.recorder.linked_to[row] = linked_to
        if patience_s < math.inf:
            self.env.timeout(patience_s).callbacks.append(lambda _event: self._hang_up(incident, request))
        return incident

    def _hang_up(self, incident: Incident, request: simpy.Event) -> None:
        """The caller's patience ran out: unanswered callers hang up (logged as ``abandoned``)."""
        if request.triggered:
            return
        request.cancel()
        self.recorder.outcome[incident.row] = _ABANDONED
        self._times["t_clear"][incident.row] = self.env.now  # when the caller hung up
        self.model.open_calls -= 1

    def _answered(self, incident: Incident, request: simpy.Event, handling_s: float) -> None:
        """A call-taker picks up: handle and triage for ``handling_s``, then free the taker."""
        self.recorder.times["t_answer"][incident.row] = self.env.now
        timeout = self.env.timeout(handling_s if handling_s > 0 else 0.0)
        timeout.callbacks.append(lambda _event: self._ready(incident, request))

    def _ready(self, incident: Incident, request: simpy.Event) -> None:
        self.takers.release(request)
        now = self.env.now
        times, row = self._times, incident.row
        times["t_ready"][row] = now
        if incident.plan:  # resolved by phone, or a duplicate of a known incident: no unit
            times["t_clear"][row] = now
            self.recorder.outcome[row] = incident.plan
            self.model.open_calls -= 1
            return
        if self.desk is None:  # flat command: the call-taker dispatches at once
            times["t_desk"][row] = times["t_decided"][row] = incident.t_ready = now
            self.on_ready(incident)
            return
        desk = self.desk.request(priority=incident.priority)
        desk.callbacks.append(lambda _event: self._at_desk(incident, desk))

    def _at_desk(self, incident: Incident, desk: simpy.Event) -> None:
        """A dispatcher takes the call (most urgent first) and decides for the ``decision`` time."""
        self._times["t_desk"][incident.row] = self.env.now
        decision_s = self._decisions.next() if self._decisions is not None else 0.0
        self.env.timeout(decision_s).callbacks.append(lambda _event: self._decided(incident, desk))

    def _decided(self, incident: Incident, desk: simpy.Event) -> None:
        self.desk.release(desk)
        self._times["t_decided"][incident.row] = incident.t_ready = self.env.now
        self.on_ready(incident)
