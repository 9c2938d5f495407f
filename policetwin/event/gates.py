"""Screening gates: lanes that screen one person at a time, a lane schedule, and the queue discipline.

A gate is a multi-server queue in continuous time inside the crowd's 1 s steps. People join with
their exact arrival time (interpolated within the step) and are served first come, first served:
- ``shared``: one serpentine queue; each person takes the lane that can start them first (the
  Kiefer-Wolfowitz recursion of a FCFS G/G/c queue, exact: service starts are computed when people join);
- ``per_lane``: each person joins the open lane with the fewest people (waiting or in screening) at
  their arrival, ties to the lowest lane, and stays in it (no jockeying).
The schedule opens the lowest-numbered lanes: ``open(t)`` lanes at time t. A closing lane finishes
the person it is screening (``shared``) or the line already in it (``per_lane``: closing = no new
joins). Screened people are released to the walk network at their finish time, or later when the walk
way behind the gate has no room (they wait at its exit, still counted as queued; screening goes on). The waiting people
occupy the walk edge they arrived on (the crowd counts them there), so queues raise density upstream.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from policetwin.scenarios.base import Distribution
from policetwin.sim.demand import sample_durations


@dataclass(frozen=True)
class LaneSchedule:
    """Lanes open over time: ``initial`` before the first change, then ``open_[i]`` from ``at_s[i]``."""

    initial: int
    at_s: tuple[float, ...] = ()
    open_: tuple[int, ...] = ()

    def open_at(self, t_s: float) -> int:
        """Lanes open at time t."""
        i = int(np.searchsorted(self.at_s, t_s, side="right")) - 1
        return self.initial if i < 0 else self.open_[i]

    def open_over(self, t_s: np.ndarray) -> np.ndarray:
        """Lanes open at each of several times."""
        idx = np.searchsorted(self.at_s, np.asarray(t_s, dtype=float), side="right") - 1
        values = np.asarray((self.initial, *self.open_), dtype=np.int64)
        return values[idx + 1]

    def next_open(self, lane: int, t_s: float) -> float:
        """Earliest time >= t at which ``lane`` is open (inf if never again)."""
        if self.open_at(t_s) > lane:
            return t_s
        start = int(np.searchsorted(self.at_s, t_s, side="right"))
        for i in range(start, len(self.at_s)):
            if self.open_[i] > lane:
                return self.at_s[i]
        return float("inf")

    @property
    def constant(self) -> bool:
        return all(n == self.initial for n in self.open_)


class Gate:
    """One screening gate (see the module docstring). Times are seconds on the simulation clock."""

    def __init__(
        self,
        *,
        name: str,
        lanes: int,
        screening: Distribution,
        rng: np.random.Generator,
        queue: str = "shared",
        schedule: LaneSchedule | None = None,
    ) -> None:
        if lanes < 1:
            raise ValueError(f"gate {name!r}: lanes must be >= 1, got {lanes}")
        if queue not in ("shared", "per_lane"):
            raise ValueError(f"gate {name!r}: queue must be 'shared' or 'per_lane', got {queue!r}")
        self.name, self.lanes, self.queue = name, int(lanes), queue
        self.screening, self.rng = screening, rng
        self.schedule = schedule or LaneSchedule(initial=self.lanes)
        self.free_at = np.full(self.lanes, -np.inf)
        self._lane_done: list[deque] = [deque() for _ in range(self.lanes)]
        self._done: list[tuple[float, int, int]] = []  # heap of (t_done, record index, pid)
        self._rec: dict[str, list] = {
            k: [] for k in ("pid", "t_arrive", "t_start", "t_done", "lane", "t_left")
        }
        self.closed = False

    def __len__(self) -> int:
        """People at the gate (waiting or in screening, not yet released)."""
        return len(self._done)

    def join(self, pids: np.ndarray, t_arrive_s: np.ndarray) -> None:
        """People arrive (any order within the batch; served in arrival order)."""
        pids = np.asarray(pids, dtype=np.int64)
        t_arr = np.asarray(t_arrive_s, dtype=float)
        if pids.size == 0:
            return
        if self.closed:
            raise RuntimeError(f"gate {self.name!r} is closed")
        order = np.argsort(t_arr, kind="stable")
        service = sample_durations(self.screening, pids.size, self.rng)
        rec = self._rec
        for pid, t, s in zip(pids[order].tolist(), t_arr[order].tolist(), service.tolist(), strict=True):
            lane, start = self._shared(t) if self.queue == "shared" else self._per_lane(t)
            done = start + s
            self.free_at[lane] = done
            self._lane_done[lane].append(done)
            heapq.heappush(self._done, (done, len(rec["pid"]), pid))
            for key, value in zip(rec, (pid, t, start, done, lane, start), strict=True):
                rec[key].append(value)

    def _shared(self, t: float) -> tuple[int, float]:
        """The lane that can start the next person first, and when."""
        if self.schedule.constant and self.schedule.initial > 0:
            lane = int(np.argmin(self.free_at[: self.schedule.initial]))
            return lane, max(t, float(self.free_at[lane]))
        starts = [
            self.schedule.next_open(lane, max(t, float(self.free_at[lane]))) for lane in range(self.lanes)
        ]
        lane = int(np.argmin(starts))
        return lane, starts[lane]

    def _per_lane(self, t: float) -> tuple[int, float]:
        """The open lane with the fewest people at time t (ties: lowest), and when it starts this one."""
        n_open = self.schedule.open_at(t)
        candidates = range(n_open) if n_open > 0 else range(self.lanes)
        best, best_len = 0, None
        for lane in candidates:
            done = self._lane_done[lane]
            while done and done[0] <= t:
                done.popleft()
            if best_len is None or len(done) < best_len:
                best, best_len = lane, len(done)
        start = max(t, float(self.free_at[best]))
        if n_open == 0:
            start = self.schedule.next_open(best, start)
        return best, start

    def release(self, until_s: float, *, max_people: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(pids, finish times) of people screened by ``until_s``, in finish order; at most
        ``max_people`` (the room behind the gate): the others wait screened at its exit."""
        pids, times = [], []
        while self._done and self._done[0][0] <= until_s and (max_people is None or len(pids) < max_people):
            t, _, pid = heapq.heappop(self._done)
            pids.append(pid)
            times.append(t)
        return np.asarray(pids, dtype=np.int64), np.asarray(times, dtype=float)

    def withdraw(self, at_s: float) -> np.ndarray:
        """Close the gate at ``at_s``: people not yet in screening leave the queue (returned); those in
        screening finish. Their records get ``t_start = t_done = NaN`` and ``t_left = at_s``."""
        self.closed = True
        keep, gone = [], []
        for item in self._done:
            idx = item[1]
            (gone if self._rec["t_start"][idx] > at_s else keep).append(item)
        for _, idx, _ in gone:
            self._rec["t_left"][idx] = at_s
            self._rec["t_start"][idx] = float("nan")
            self._rec["t_done"][idx] = float("nan")
        heapq.heapify(keep)
        self._done = keep
        return np.asarray([pid for _, _, pid in gone], dtype=np.int64)

    def records(self) -> dict[str, np.ndarray]:
        """Every passage: pid, t_arrive, t_start, t_done (NaN if withdrawn), lane, t_left (left the
        queue: screening started, or withdrawn)."""
        return {
            k: np.asarray(v, dtype=np.int64 if k in ("pid", "lane") else float) for k, v in self._rec.items()
        }
