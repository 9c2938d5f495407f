"""A police unit: home station, state, and an event-driven position along its current route."""

from __future__ import annotations

from enum import IntEnum

import mesa


class UnitState(IntEnum):
    """Unit states as logged in ``units.parquet`` (names are the contract)."""

    idle = 0
    patrol = 1
    enroute = 2
    onscene = 3
    returning = 4
    off_shift = 5
    meal_break = 6  # on duty, not available (units.groups[].meal_break)
    self_initiated = 7  # on duty, busy with officer-initiated activity (units.groups[].self_initiated)


_AVAILABLE = frozenset((UnitState.idle, UnitState.patrol, UnitState.returning))  # free for a new call
_MOVING = frozenset((UnitState.patrol, UnitState.returning))  # free and driving: timed from where they are
_IDLE, _PATROL, _ONSCENE = UnitState.idle, UnitState.patrol, UnitState.onscene  # (enum lookups are slow)
_STILL = UnitState.off_shift  # this state and all after it: standing where the unit is


class PatrolUnit(mesa.Agent):
    """A unit that waits at its station, drives to incidents, works on scene and drives back.

    Movement is event-driven: a trip stores where and when it started; the position at time t is
    derived only when someone asks (dispatch), never stepped per second.
    """

    def __init__(self, model: mesa.Model, *, name: str, index: int, station: int, home_node: int) -> None:
        super().__init__(model)
        self.name = name
        self.index = index
        self.station = station
        self.home_node = home_node
        self.state = UnitState.idle
        self.since = 0.0
        self.incident_id = -1
        self.node = home_node  # where the current trip started (or where the unit is)
        self.trip_start = 0.0
        self.trip_dest = home_node
        self.trip_depart = 0.0
        self.trip_rate = 1.0
        self.trip_token = 0  # bumps when a trip is abandoned, so its arrival event is ignored
        self._walk = -1  # last node reached on the current trip home (-1: not walked yet)
        self.assignment = -1  # row of the current assignment in the recorder (-1: none)
        self.trip_row = -1  # row of the trip under way in the recorder's trip log (-1: none or not logged)
        self.group = 0  # index of the unit's group in ``units.groups`` (0 without groups)
        self.capabilities: frozenset[str] = frozenset()
        self.off_due: float | None = None  # the shift ended while busy: off duty when free (overtime)
        self.tour = None  # patrol: the current tour (policetwin.sim.tours.Tour)

    def set_state(self, state: UnitState, now: float, incident_id: int = -1) -> None:
        """Change state, logging the interval that ends now."""
        model, index = self.model, self.index
        if self.state is _PATROL:  # the legs driven count for coverage and the trip log
            model.patrol.driven(self, now)
        model.recorder.unit_interval(index, self.state, self.since, now, self.incident_id)
        model.unit_available[index] = state in _AVAILABLE
        model.unit_returning[index] = state in _MOVING
        self.state = state
        self.since = now
        self.incident_id = incident_id

    def start_trip(
        self,
        from_node: int,
        now: float,
        *,
        dest: int | None = None,
        depart: float | None = None,
        rate: float = 1.0,
    ) -> None:
        """Remember a new trip: from ``from_node`` (left at ``depart``, default now) to ``dest`` (default
        home) at ``rate`` times the normal speed; its route is derived lazily."""
        if self.trip_row >= 0:  # the trip logged for replay ends here (arrived, or cut short)
            self.model.recorder.tr_end[self.trip_row] = now
            self.trip_row = -1
        self.node = from_node
        self.trip_start = now
        self.trip_dest = self.home_node if dest is None else dest
        self.trip_depart = now if depart is None else depart
        self.trip_rate = rate
        model = self.model
        if model.trip_origins is not None:  # the trip's origin, for the ETA bounds (patrol, big maps)
            model.trip_origins.set(self.index, from_node, self.trip_depart, rate, self.trip_dest)
            if model.checkpoints is not None:
                model.checkpoints.set_trip(self.index)
        self.trip_token += 1
        self._walk = -1

    def position(self, now: float) -> tuple[int, float]:
        """(next node, seconds to reach it) at time ``now``: where the unit could be sent from.

        Idle units are at home, units on scene at their call, units off duty or unavailable where they stopped. A moving unit continues to the next node
        of its fastest route to the trip's destination (no U-turn mid-edge), walked along that
        destination's shortest-path tree as time goes on; before it departs (turn-out) it is at the
        trip's origin.
        """
        state = self.state
        if state is _IDLE:
            return self.home_node, 0.0
        if state is _PATROL and now >= self.tour.join_at:  # on its patrol tour
            if self.tour.back:
                self.model.patrol.settle(self)
            return self.model.checkpoints.position(self.index, now)
        if state is _ONSCENE or state >= _STILL:  # on scene, off duty, on a break or self-initiated work
            return self.node, 0.0
        if now <= self.trip_depart:
            return self.node, self.trip_depart - now
        router = self.model.router
        if router is None:  # instant travel
            return self.trip_dest, 0.0
        dest = self.trip_dest
        succ, to_dest = router.tree_to(dest) if state is not _PATROL else self.model.patrol.trees[dest]
        if self._walk < 0:  # first question about this trip: start at its origin
            self._walk = self.node
        elapsed = (now - self.trip_depart) * self.trip_rate
        start_left = to_dest[self.node]
        node = self._walk
        while True:  # walk the fastest route until the node reached at or after now
            reached = start_left - to_dest[node]
            if reached >= elapsed or node == dest:
                self._walk = node  # time only moves on: the next question resumes here
                return node, max(reached - elapsed, 0.0) / self.trip_rate
            node = succ[node]
