"""What the crowd and the gates leave behind: ``crowd.parquet`` and ``gates.parquet`` rows, the census.

- crowd rows, per time bin and walk link with anyone on it during the bin: ``t_start_s``, ``t_end_s``,
  ``edge`` (walk link index), ``people`` (at the bin's end), ``density_p_m2`` (mean over the bin's
  steps), ``peak_density_p_m2``, ``los`` (Fruin, of the mean density) and ``los_scale`` (``queuing``
  where people queued for a gate during the bin, else ``walkway``);
- gate rows, per gate and bin: ``queue`` (waiting, not in screening, at the bin's end), ``queue_max``,
  ``wait_p50_s`` / ``wait_p95_s`` (of people whose screening started in the bin), ``throughput``
  (screened in the bin), ``lanes_open`` (at the bin's start);
- the census: people per state after every step (origin, edge, queue, inside, gone).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policetwin.event.gates import Gate
from policetwin.event.los import level_of_service, los_index
from policetwin.event.walknet import WalkNetwork

CROWD_COLUMNS = (
    "t_start_s",
    "t_end_s",
    "edge",
    "people",
    "density_p_m2",
    "peak_density_p_m2",
    "los",
    "los_scale",
)
GATE_COLUMNS = ("gate", "t_start_s", "t_end_s", "queue", "queue_max", "wait_p50_s", "wait_p95_s", "throughput",
                "lanes_open")  # fmt: skip


class CrowdRecorder:
    """Accumulates per-link density each step and writes one row per busy link per bin."""

    def __init__(self, network: WalkNetwork, *, bin_s: float, start_s: float = 0.0) -> None:
        if bin_s <= 0:
            raise ValueError(f"bin_s must be > 0, got {bin_s}")
        self.area_m2 = network.area_m2()
        self.bin_s, self.bin_start = float(bin_s), float(start_s)
        n = network.n_links
        self._sum, self._max = np.zeros(n), np.zeros(n)
        self._queued = np.zeros(n, dtype=bool)
        self._steps = 0
        self._rows: list[dict] = []
        self.census_t: list[float] = []
        self.census: list[np.ndarray] = []
        self.peak_density_p_m2 = np.zeros(n)
        self.seconds_los_ef = np.zeros(n)  # seconds at Fruin walkway LOS E or F (queuing scale where queued)

    def observe(self, t_s: float, people: np.ndarray, queued: np.ndarray, census: np.ndarray) -> None:
        """One step's end state."""
        rho = people / self.area_m2
        step = t_s - (self.census_t[-1] if self.census_t else self.bin_start)
        self._sum += rho
        np.maximum(self._max, rho, out=self._max)
        self._queued |= queued > 0
        self._steps += 1
        self._last = people
        self.census_t.append(t_s)
        self.census.append(census.astype(np.int64))
        busy = np.flatnonzero(people)
        if busy.size:
            level = los_index(rho[busy], queuing=queued[busy] > 0)
            self.seconds_los_ef[busy[level >= 4]] += step
        if t_s >= self.bin_start + self.bin_s - 1e-9:
            self.close(t_s)

    def close(self, t_s: float) -> None:
        """End the current bin at ``t_s`` (rows for links anyone used in it)."""
        if self._steps == 0:
            return
        busy = np.flatnonzero(self._max > 0)
        mean = self._sum[busy] / self._steps
        queuing = self._queued[busy]
        self._rows.append({
            "t_start_s": np.full(busy.size, self.bin_start), "t_end_s": np.full(busy.size, t_s), "edge": busy,
            "people": self._last[busy], "density_p_m2": mean, "peak_density_p_m2": self._max[busy],
            "los": level_of_service(mean, queuing=queuing), "los_scale": np.where(queuing, "queuing", "walkway"),
        })  # fmt: skip
        np.maximum(self.peak_density_p_m2, self._max, out=self.peak_density_p_m2)
        self._sum[:], self._max[:], self._queued[:] = 0.0, 0.0, False
        self._steps, self.bin_start = 0, t_s

    def crowd_table(self) -> pd.DataFrame:
        """The ``crowd.parquet`` rows."""
        if not self._rows:
            return pd.DataFrame({c: [] for c in CROWD_COLUMNS})
        cols = {c: np.concatenate([r[c] for r in self._rows]) for c in CROWD_COLUMNS}
        frame = pd.DataFrame(cols)
        return frame.astype({"edge": "int32", "people": "int32", "los": "category", "los_scale": "category"})

    def census_table(self) -> pd.DataFrame:
        """People per state after every step."""
        counts = np.vstack(self.census) if self.census else np.zeros((0, 5), dtype=np.int64)
        frame = pd.DataFrame(counts, columns=["origin", "edge", "queue", "inside", "gone"])
        frame.insert(0, "t_s", np.asarray(self.census_t))
        return frame


def gate_table(gates: list[Gate], *, start_s: float, end_s: float, bin_s: float) -> pd.DataFrame:
    """The ``gates.parquet`` rows: per gate and bin (see the module docstring)."""
    n_bins = max(1, int(np.ceil((end_s - start_s) / bin_s - 1e-9)))
    lo = start_s + bin_s * np.arange(n_bins)
    hi = np.minimum(lo + bin_s, max(end_s, start_s + bin_s))
    frames = []
    for gate in gates:
        rec = gate.records()
        t_arr = rec["t_arrive"].astype(float)
        t_left = rec["t_left"].astype(float)
        served = np.isfinite(rec["t_start"].astype(float))
        t_start = rec["t_start"][served].astype(float)
        wait = t_start - t_arr[served]
        queue = np.searchsorted(np.sort(t_arr), hi, side="right") - np.searchsorted(
            np.sort(t_left), hi, side="right"
        )
        bin_of = np.searchsorted(hi, t_start, side="left")
        p50, p95 = np.full(n_bins, np.nan), np.full(n_bins, np.nan)
        for b in np.unique(bin_of[bin_of < n_bins]).tolist():
            p50[b], p95[b] = np.percentile(wait[bin_of == b], [50, 95])
        done = np.sort(rec["t_done"][served].astype(float))
        through = np.diff(np.searchsorted(done, np.r_[lo[0], hi], side="right"))
        frames.append(pd.DataFrame({
            "gate": gate.name, "t_start_s": lo, "t_end_s": hi, "queue": queue.astype(np.int64),
            "queue_max": _queue_max(t_arr, t_left, lo, hi), "wait_p50_s": p50, "wait_p95_s": p95,
            "throughput": through.astype(np.int64), "lanes_open": gate.schedule.open_over(lo),
        }))  # fmt: skip
    if not frames:
        return pd.DataFrame({c: [] for c in GATE_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _queue_max(t_arr: np.ndarray, t_left: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Largest number waiting at any moment in each bin."""
    times = np.concatenate([t_arr, t_left])
    steps = np.concatenate([np.ones(t_arr.size), -np.ones(t_left.size)])
    order = np.lexsort((steps, times))  # at equal times the leaver first: nobody waited zero time
    times, level = times[order], np.cumsum(steps[order])
    start_level = np.concatenate([[0.0], level])[np.searchsorted(times, lo, side="right")]
    first, last = np.searchsorted(times, lo, side="right"), np.searchsorted(times, hi, side="right")
    out = np.array([max(start_level[b], level[first[b] : last[b]].max(initial=0.0)) for b in range(lo.size)])
    return out.astype(np.int64)
