"""The call centre: calls arrive, wait for a call-taker (a simpy Resource), are handled and triaged;
then a dispatcher at the desk (a simpy PriorityResource: most urgent first) decides, or with flat
command (no desk) the call-taker does, and the call goes to unit assignment. Demand generators feed
the centre through :meth:`CallCentre.start`; other modules (crowds, replay) may :meth:`submit` calls
while the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from policetwin.agents import Incident
from policetwin.sim.demand import Draws

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

    def start(self, calls: CallBatch) -> None:
        """Feed a batch of calls (sorted by time) into the centre as the clock reaches each one."""
        self._source = calls.source
        t_occur = calls.t_call if calls.t_occur is None else calls.t_occur
        detected = np.zeros(len(calls), np.int8) if calls.detected_by is None else calls.detected_by
        self._upcoming = zip(calls.t_call.tolist(), calls.kind.tolist(), calls.node.tolist(),
                             calls.handling_s.tolist(), calls.on_scene_s.tolist(), t_occur.tolist(),
                             detected.tolist(), strict=True)  # fmt: skip
        self._next_arrival()

    def _next_arrival(self, pending: tuple | None = None) -> None:
        """Submit the call that is due (if any), then every call due now, then wait for the next."""
        source = self._source
        if pending is not None:
            self.submit(kind=pending[1], node=pending[2], handling_s=pending[3], on_scene_s=pending[4],
                        source=source, t_occur=pending[5], detected_by=pending[6])  # fmt: skip
        env = self.env
        for call in self._upcoming:
            delay = call[0] - env.now
            if delay > 0:
                env.timeout(delay).callbacks.append(lambda _event, due=call: self._next_arrival(due))
                return
            self.submit(kind=call[1], node=call[2], handling_s=call[3], on_scene_s=call[4], source=source,
                        t_occur=call[5], detected_by=call[6])  # fmt: skip

    def submit(self, *, kind: int, node: int, handling_s: float, on_scene_s: float, source: str,
               t_occur: float | None = None, detected_by: int = 0) -> Incident:  # fmt: skip
        """A call arrives now: it waits for a call-taker, then for ``handling_s`` of handling and triage.

        ``t_occur``: when the incident happened (default: now); ``detected_by``: 0 citizen, 1 sensor.
        """
        spec = self.kinds[kind]
        row = self.recorder.new_incident(t_call=self.env.now, kind=kind, node=node, source=source,
                                         t_occur=t_occur, detected_by=detected_by)  # fmt: skip
        incident = Incident(self.model, row=row, kind=kind, priority=spec.priority, node=node,
                            units_needed=spec.units, on_scene_s=on_scene_s)  # fmt: skip
        request = self.takers.request()
        request.callbacks.append(lambda _event: self._answered(incident, request, handling_s))
        return incident

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
