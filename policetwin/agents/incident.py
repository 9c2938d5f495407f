"""An incident (call for service) from the call to its clearance."""

from __future__ import annotations


class Incident:
    """One call for service, from the call until it is cleared.

    Not a mesa Agent, unlike the units: a call has no behaviour of its own (the call centre, dispatcher
    and fleet act on it) and a year holds a million of them; registering each in mesa's agent set and
    removing it again cost ~8% of the engine's time (measured, Campo Grande 200k calls). Live calls are
    counted by ``model.open_calls``.

    The on-scene work lasts ``on_scene_s`` from the first unit's arrival; then every unit there is
    released together, and a unit still on its way is released when it arrives. Stage times are
    written to the model's recorder row ``row`` as they happen.
    """

    __slots__ = (
        "arrived",
        "assigned",
        "backup_asked",
        "closed",
        "kind",
        "model",
        "node",
        "on_scene_s",
        "on_scene_units",
        "pending",
        "plan",
        "priority",
        "row",
        "sent",
        "t_enroute",
        "t_ready",
        "units_needed",
        "work_token",
        "work_until",
    )  # fmt: skip

    def __init__(
        self,
        model: object,
        *,
        row: int,
        kind: int,
        priority: int,
        node: int,
        units_needed: int,
        on_scene_s: float,
    ) -> None:
        self.model = model
        self.row = row
        self.kind = kind
        self.priority = priority
        self.node = node
        self.units_needed = units_needed
        self.on_scene_s = on_scene_s  # the work left when the next unit arrives (all of it at first)
        self.assigned = 0  # units dispatched so far
        self.pending = 0  # dispatched units not yet cleared
        self.arrived = False  # a first unit is on scene
        self.closed = False  # the on-scene work is done: no more units wanted
        self.on_scene_units: list = []  # units working there now
        self.t_ready = float("nan")
        self.sent = 0  # units sent so far, pre-empted ones included
        self.t_enroute = float("inf")  # when the first unit rolled
        self.plan = 0  # what triage will find: 0 needs units, else an outcome code (phone, duplicate)
        self.backup_asked = False  # the units on scene have decided whether to ask for backup
        self.work_token = 0  # bumps when work on scene is interrupted, so its end event is ignored
        self.work_until = float("nan")  # when the work on scene ends, while someone works there

    @property
    def still_needs_units(self) -> bool:
        """True while the call waits for (more) units."""
        return not self.closed and self.assigned < self.units_needed
