"""The call centre: calls arrive, wait for a call-taker (a simpy Resource), are handled and triaged,
then go to dispatch. Demand generators feed it through :meth:`CallCentre.submit`; other modules
(crowds, replay) may submit calls while the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import simpy

from policetwin.agents import Incident

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
        self.takers = simpy.Resource(self.env, capacity=model.scenario.call_handling.takers)
        self._upcoming: Iterator[tuple] | None = None

    def start(self, calls: CallBatch) -> None:
        """Feed a batch of calls (sorted by time) into the centre as the clock reaches each one."""
        self._source = calls.source
        self._upcoming = zip(calls.t_call.tolist(), calls.kind.tolist(), calls.node.tolist(),
                             calls.handling_s.tolist(), calls.on_scene_s.tolist(), strict=True)  # fmt: skip
        self._next_arrival()

    def _next_arrival(self, pending: tuple | None = None) -> None:
        """Submit the call that is due (if any), then every call due now, then wait for the next."""
        source = self._source
        if pending is not None:
            self.submit(kind=pending[1], node=pending[2], handling_s=pending[3], on_scene_s=pending[4],
                        source=source)  # fmt: skip
        env = self.env
        for call in self._upcoming:
            delay = call[0] - env.now
            if delay > 0:
                env.timeout(delay).callbacks.append(lambda _event, due=call: self._next_arrival(due))
                return
            self.submit(kind=call[1], node=call[2], handling_s=call[3], on_scene_s=call[4], source=source)

    def submit(self, *, kind: int, node: int, handling_s: float, on_scene_s: float, source: str) -> Incident:
        """A call arrives now: it waits for a call-taker, then for ``handling_s`` of handling and triage."""
        spec = self.kinds[kind]
        row = self.recorder.new_incident(t_call=self.env.now, kind=kind, node=node, source=source)
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
        incident.t_ready = self.env.now
        self.recorder.times["t_ready"][incident.row] = incident.t_ready
        self.on_ready(incident)
