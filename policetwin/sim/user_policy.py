"""User dispatch policies: ``dispatch.policy: path/to/file.py:ClassName``.

The file is loaded from the scenario's folder (only from the command line: the dashboard refuses
scenarios that name code). The class is created without arguments and must have two methods; both
get read-only views (frozen dataclasses), never the engine's objects, whose internals keep changing:

``choose_units(call: CallView, candidates: tuple[UnitView, ...]) -> list[str]``
    the ids of the units to send now, best first (at most ``call.units_needed - call.units_sent``;
    none is allowed: the call then waits). Candidates are the free units, with their ETAs.
``choose_call(unit: UnitView, waiting: tuple[CallView, ...]) -> int | None``
    the ``id`` of the waiting call the freed unit takes (``waiting`` is in the default order: most
    urgent, then longest waiting), or None to send it home.

Anything else returned is a :class:`PolicyError` (exit 2) naming what was wrong.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from policetwin.errors import PoliceTwinError, ScenarioError
from policetwin.scenarios.command import USER_POLICY

if TYPE_CHECKING:
    from policetwin.agents import Incident, PatrolUnit
    from policetwin.sim.dispatch import DispatchQueue
    from policetwin.sim.model import PoliceModel


class PolicyError(PoliceTwinError):
    """A user policy broke its protocol (returned something it may not)."""


@dataclass(frozen=True)
class CallView:
    """A call, as a policy sees it. Times in seconds from the scenario's start."""

    id: int
    kind: str
    priority: int
    node: int  # OSM node id
    district: str | None  # the station whose district the call is in
    units_needed: int
    units_sent: int
    t_call: float
    t_ready: float


@dataclass(frozen=True)
class UnitView:
    """A unit, as a policy sees it: ``eta_s`` to the call being decided (inf when not asked)."""

    id: str
    state: str
    station: str
    district: str
    eta_s: float


def load_user_policy(spec: str, *, base_dir: Path | None, filename: str = "scenario") -> UserPolicy:
    """Import ``file.py:ClassName`` (relative to ``base_dir``) and wrap an instance; ScenarioError
    (``file:line: dispatch.policy: ...``) for a missing file or class, an import error or a class
    without the protocol's methods."""
    m = USER_POLICY.match(spec)
    path = Path(m["file"]).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path

    def problem(msg: str) -> ScenarioError:
        return ScenarioError([f"{filename}:0: dispatch.policy: {msg}"])

    if not path.is_file():
        raise problem(f"policy file not found: {path}")
    name = f"policetwin_user_policy_{abs(hash(str(path.resolve())))}"
    try:
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error is bad input
        sys.modules.pop(name, None)
        raise problem(f"cannot import {path}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, m["cls"], None)
    if not inspect.isclass(cls):
        classes = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == name)
        raise problem(f"{path} has no class {m['cls']!r} (classes there: {', '.join(classes) or 'none'})")
    missing = [meth for meth in ("choose_units", "choose_call") if not callable(getattr(cls, meth, None))]
    if missing:
        raise problem(f"{m['cls']} lacks {' and '.join(missing)} (see the README: user dispatch policies)")
    try:
        instance = cls()
    except Exception as exc:
        raise problem(f"{m['cls']}() failed: {type(exc).__name__}: {exc}") from None
    return UserPolicy(spec, instance)


class UserPolicy:
    """Adapts a user policy object to the engine's policy interface through read-only views."""

    def __init__(self, name: str, impl: object) -> None:
        self.name = name
        self.impl = impl

    def _call_view(self, incident: Incident, model: PoliceModel) -> CallView:
        rec, network = model.recorder, model.network
        district = int(model.node_district[incident.node])
        return CallView(
            id=incident.row, kind=model.kinds[incident.kind].name, priority=incident.priority,
            node=int(network.node_id[incident.node]),
            district=model.scenario.stations[district].name if district >= 0 else None,
            units_needed=incident.units_needed, units_sent=incident.assigned,
            t_call=float(rec.times["t_call"][incident.row]), t_ready=float(incident.t_ready),
        )  # fmt: skip

    def _unit_view(self, unit: PatrolUnit, model: PoliceModel, eta_s: float = math.inf) -> UnitView:
        station = model.scenario.stations[unit.station].name
        return UnitView(
            id=unit.name, state=unit.state.name, station=station, district=station, eta_s=float(eta_s)
        )

    def select(
        self, incident: Incident, candidates: np.ndarray, eta_s: np.ndarray, model: PoliceModel
    ) -> list[int]:
        """Ask ``choose_units``; check the answer (known free unit ids, no repeats, not too many)."""
        views = tuple(
            self._unit_view(model.units[i], model, e)
            for i, e in zip(candidates.tolist(), eta_s.tolist(), strict=True)
        )
        answer = self.impl.choose_units(self._call_view(incident, model), views)
        position = {v.id: j for j, v in enumerate(views)}
        if isinstance(answer, str) or not isinstance(answer, (list, tuple)):
            raise PolicyError(f"dispatch.policy {self.name}: choose_units must return a list of unit ids, "
                              f"got {answer!r}")  # fmt: skip
        need = incident.units_needed - incident.assigned
        bad = [a for a in answer if a not in position]
        if bad or len(set(answer)) != len(answer) or len(answer) > need:
            raise PolicyError(
                f"dispatch.policy {self.name}: choose_units returned {list(answer)!r} for call {incident.row}: "
                f"ids must be distinct, at most {need}, from the free units {sorted(position)[:10]}"
            )
        return [position[a] for a in answer]

    def next_call(self, unit: PatrolUnit, waiting: DispatchQueue, model: PoliceModel) -> Incident | None:
        """Ask ``choose_call``; the chosen call is taken out of the queue."""
        calls = list(waiting)
        answer = self.impl.choose_call(
            self._unit_view(unit, model), tuple(self._call_view(c, model) for c in calls)
        )
        if answer is None:
            return None
        by_id = {c.row: c for c in calls}
        if isinstance(answer, bool) or not isinstance(answer, int) or answer not in by_id:
            raise PolicyError(f"dispatch.policy {self.name}: choose_call returned {answer!r}: give the id of a "
                              f"waiting call {sorted(by_id)[:10]} or None")  # fmt: skip
        waiting.remove(by_id[answer])
        return by_id[answer]
