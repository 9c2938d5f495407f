"""The event recorder: compact column buffers that the engine (and later modules) append to.

Incident rows are filled in place as stages happen; unit state intervals and assignments (one row
per unit sent to an incident) are appended. At the end ``incidents_frame`` / ``units_frame`` /
``assignments_frame`` build the tables written to Parquet.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd
import pyarrow as pa

from policetwin.agents.unit import UnitState

#: Stage times of an incident, in the order they happen (seconds from the scenario's start; NaN when
#: not reached): occurred, called, answered by a call-taker, triaged (taker free), taken up by the
#: dispatcher desk, decided, first unit assigned, first unit rolling, first unit on scene, cleared.
INCIDENT_TIMES = ("t_occur", "t_call", "t_answer", "t_ready", "t_desk", "t_decided", "t_dispatch", "t_enroute",
                  "t_arrive", "t_clear")  # fmt: skip
DETECTED_BY = ("citizen", "sensor")
OUTCOMES = ("served", "phone", "duplicate", "abandoned")
ASSIGNMENT_RESULTS = ("completed", "preempted", "cancelled", "released_on_arrival")
TRIP_PURPOSES = ("to_call", "return", "patrol")


def _strings(codes: np.ndarray, names) -> pd.api.extensions.ExtensionArray:
    """``names[codes]`` as a pandas string array, decoded by Arrow (an order faster than objects)."""
    dictionary = pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, dtype=np.int32)), pa.array([str(x) for x in names], type=pa.string())
    )
    return pd.arrays.ArrowStringArray(dictionary.dictionary_decode())


class Recorder:
    """Holds the run's event log in memory (about 90 bytes per incident and per unit interval)."""

    def __init__(self, *, capacity: int = 1024, log_units: bool = True, log_trips: bool = False) -> None:
        self.n = 0
        self._cap = max(int(capacity), 16)
        self.times = {name: np.full(self._cap, np.nan) for name in INCIDENT_TIMES}
        self.kind = np.zeros(self._cap, dtype=np.int16)
        self.node = np.zeros(self._cap, dtype=np.int64)
        self.n_units = np.zeros(self._cap, dtype=np.int16)
        self.first_unit = np.full(self._cap, -1, dtype=np.int32)
        self.source = np.zeros(self._cap, dtype=np.int8)
        self.detected_by = np.zeros(self._cap, dtype=np.int8)
        self.outcome = np.zeros(self._cap, dtype=np.int8)
        self.n_preempted = np.zeros(self._cap, dtype=np.int16)
        self.n_backup = np.zeros(self._cap, dtype=np.int16)
        self.linked_to = np.full(self._cap, -1, dtype=np.int64)
        self.sources: list[str] = []
        self.a_incident = array("q")
        self.a_unit = array("i")
        self.a_assigned = array("d")
        self.a_enroute = array("d")
        self.a_arrive = array("d")
        self.a_released = array("d")
        self.a_result = array("b")
        self.a_out = array("b")  # 1: the unit's district is not the call's
        self.log_units = log_units
        self.u_unit = array("i")
        self.u_state = array("b")
        self.u_start = array("d")
        self.u_end = array("d")
        self.u_incident = array("q")
        self.extra_tables: dict[str, list[dict]] = {}
        self.log_trips = log_trips
        self.tr_unit = array("i")
        self.tr_purpose = array("b")
        self.tr_incident = array("q")
        self.tr_origin = array("q")
        self.tr_dest = array("q")
        self.tr_times = array("d")  # t_start, t_depart, t_arrive (planned) of each trip, in turn
        self.tr_end = array("d")  # when the trip ended (arrived, or cut short); NaN while under way

    def table(self, name: str) -> list[dict]:
        """Rows of an extra table that another module records (written as ``<name>.parquet``)."""
        if not name.isidentifier() or name in ("incidents", "units"):
            raise ValueError(
                f"table name must be a plain identifier other than incidents/units, got {name!r}"
            )
        return self.extra_tables.setdefault(name, [])

    def _grow(self) -> None:
        new_cap = self._cap * 2
        for name, col in self.times.items():
            self.times[name] = np.concatenate([col, np.full(self._cap, np.nan)])
        self.kind = np.concatenate([self.kind, np.zeros(self._cap, dtype=np.int16)])
        self.node = np.concatenate([self.node, np.zeros(self._cap, dtype=np.int64)])
        self.n_units = np.concatenate([self.n_units, np.zeros(self._cap, dtype=np.int16)])
        self.first_unit = np.concatenate([self.first_unit, np.full(self._cap, -1, dtype=np.int32)])
        for name in ("source", "detected_by", "outcome", "n_preempted", "n_backup"):
            col = getattr(self, name)
            setattr(self, name, np.concatenate([col, np.zeros(self._cap, dtype=col.dtype)]))
        self.linked_to = np.concatenate([self.linked_to, np.full(self._cap, -1, dtype=np.int64)])
        self._cap = new_cap

    def new_incident(
        self,
        *,
        t_call: float,
        kind: int,
        node: int,
        source: str,
        t_occur: float | None = None,
        detected_by: int = 0,
    ) -> int:
        """Reserve a row for a new incident and return its id (= row)."""
        if self.n == self._cap:
            self._grow()
        row = self.n
        self.n += 1
        self.times["t_call"][row] = t_call
        self.times["t_occur"][row] = t_call if t_occur is None else t_occur
        self.detected_by[row] = detected_by
        self.kind[row] = kind
        self.node[row] = node
        if source not in self.sources:
            self.sources.append(source)
        self.source[row] = self.sources.index(source)
        return row

    def new_assignment(
        self, incident: int, unit: int, t_assigned: float, t_enroute: float, out_of_district: bool = False
    ) -> int:
        """Log that ``unit`` was sent to ``incident``; returns the assignment's row (positional arguments:
        this is on the engine's hot path)."""
        self.a_out.append(out_of_district)
        self.a_incident.append(incident)
        self.a_unit.append(unit)
        self.a_assigned.append(t_assigned)
        self.a_enroute.append(t_enroute)
        self.a_arrive.append(np.nan)
        self.a_released.append(np.nan)
        self.a_result.append(-1)
        return len(self.a_unit) - 1

    def new_trip(self, unit: int, purpose: int, incident: int, origin: int, dest: int, t_start: float,
                 t_depart: float, t_arrive: float) -> int:  # fmt: skip
        """Log a movement of ``unit`` from ``origin`` to ``dest`` (node indices): it is on this trip from
        ``t_start``, leaves at ``t_depart`` and would arrive at ``t_arrive``; returns the trip's row."""
        self.tr_unit.append(unit)
        self.tr_purpose.append(purpose)
        self.tr_incident.append(incident)
        self.tr_origin.append(origin)
        self.tr_dest.append(dest)
        self.tr_times.extend((t_start, t_depart, t_arrive))
        self.tr_end.append(np.nan)
        return len(self.tr_unit) - 1

    def new_trips(self, unit: int, purpose: int, origin: list[int], dest: list[int], depart: list[float],
                  arrive: list[float], end: list[float]) -> None:  # fmt: skip
        """Log several finished movements of ``unit`` at once (patrol legs: lists, one entry per leg; each
        on its way from when it leaves), without an incident."""
        n = len(origin)
        self.tr_unit.extend([unit] * n)
        self.tr_purpose.extend([purpose] * n)
        self.tr_incident.extend([-1] * n)
        self.tr_origin.extend(origin)
        self.tr_dest.extend(dest)
        for d, a in zip(depart, arrive, strict=True):
            self.tr_times.extend((d, d, a))
        self.tr_end.extend(end)

    def unit_interval(self, unit: int, state: int, t_start: float, t_end: float, incident_id: int) -> None:
        """Log that ``unit`` was in ``state`` from ``t_start`` to ``t_end``."""
        if self.log_units and t_end > t_start:
            self.u_unit.append(unit)
            self.u_state.append(state)
            self.u_start.append(t_start)
            self.u_end.append(t_end)
            self.u_incident.append(incident_id)

    def incidents_frame(self, *, kinds: list, node_ids: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                        unit_names: list[str], node_district: np.ndarray | None = None,
                        district_names: list[str] | None = None) -> pd.DataFrame:  # fmt: skip
        """The incident table (contract columns of ``incidents.parquet``, plus ``t_ready`` and ``target_s``)."""
        n = self.n
        kind = self.kind[:n].astype(np.int64)
        node = self.node[:n]
        names = np.array([k.name for k in kinds], dtype=object)
        priority = np.array([k.priority for k in kinds], dtype=np.int64)
        target = np.array([k.target for k in kinds], dtype=float)
        first = self.first_unit[:n]
        unit_arr = np.array([*unit_names, ""], dtype=object)
        frame = pd.DataFrame({
            "incident_id": np.arange(n, dtype=np.int64),
            "kind": _strings(kind, names),
            "priority": priority[kind],
            **{name: self.times[name][:n].copy() for name in INCIDENT_TIMES},
            "node": node_ids[node].astype(np.int64),
            "lon": lon[node],
            "lat": lat[node],
            "n_units": self.n_units[:n].astype(np.int64),
            "first_unit": _strings(np.where(first >= 0, first, len(unit_names)), unit_arr),
            "source": _strings(self.source[:n], self.sources or ["generated"]),
            "target_s": target[kind],
            "detected_by": _strings(self.detected_by[:n], DETECTED_BY),
            "outcome": _strings(self.outcome[:n], OUTCOMES),
            "n_preempted": self.n_preempted[:n].astype(np.int64),
            "n_backup": self.n_backup[:n].astype(np.int64),
            "linked_to": pd.arrays.IntegerArray(self.linked_to[:n].copy(), self.linked_to[:n] < 0),
        })  # fmt: skip
        if node_district is not None and district_names is not None:
            codes = node_district[node]
            frame["district"] = _strings(
                np.where(codes >= 0, codes, len(district_names)), [*district_names, ""]
            )
        return frame

    def assignments_frame(self, unit_names: list[str]) -> pd.DataFrame:
        """One row per unit sent to an incident (``assignments.parquet``), in the order they were sent."""

        def col(buffer: array, dtype) -> np.ndarray:
            return np.frombuffer(buffer, dtype=dtype) if len(buffer) else np.zeros(0, dtype=dtype)

        result = col(self.a_result, np.int8)
        return pd.DataFrame({
            "incident_id": col(self.a_incident, np.int64).copy(),
            "unit_id": _strings(col(self.a_unit, np.int32), unit_names),
            "t_assigned": col(self.a_assigned, float).copy(),
            "t_enroute": col(self.a_enroute, float).copy(),
            "t_arrive": col(self.a_arrive, float).copy(),
            "t_released": col(self.a_released, float).copy(),
            "result": _strings(np.where(result >= 0, result, len(ASSIGNMENT_RESULTS)), [*ASSIGNMENT_RESULTS, ""]),
            "out_of_district": col(self.a_out, np.int8).astype(bool),
        })  # fmt: skip

    def units_frame(self, unit_names: list[str]) -> pd.DataFrame:
        """The unit state-interval table (``units.parquet``), by unit then time."""
        state_names = np.array([s.name for s in UnitState], dtype=object)
        units = np.frombuffer(self.u_unit, dtype=np.int32) if len(self.u_unit) else np.zeros(0, np.int32)
        states = np.frombuffer(self.u_state, dtype=np.int8) if len(self.u_state) else np.zeros(0, np.int8)
        incident = (
            np.frombuffer(self.u_incident, dtype=np.int64) if len(self.u_incident) else np.zeros(0, np.int64)
        )
        t_start = np.frombuffer(self.u_start, dtype=float) if len(self.u_start) else np.zeros(0)
        t_end = np.frombuffer(self.u_end, dtype=float) if len(self.u_end) else np.zeros(0)
        name_rank = np.argsort(np.array(unit_names, dtype=object), kind="stable").argsort()
        order = np.lexsort((t_start, name_rank[units])) if units.size else np.zeros(0, dtype=np.int64)
        incident = incident[order]
        return pd.DataFrame({
            "unit_id": _strings(units[order], unit_names),
            "state": _strings(states[order], state_names),
            "t_start": t_start[order],
            "t_end": t_end[order],
            "incident_id": pd.arrays.IntegerArray(incident, incident < 0),
        })  # fmt: skip
