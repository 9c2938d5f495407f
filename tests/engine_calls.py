"""Run the engine on hand-made calls (SimPy-style event-log tests): exactly the calls given, no others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from policetwin.maps import RoadNetwork
from policetwin.scenarios import Scenario
from policetwin.sim.demand import CallBatch
from policetwin.sim.model import PoliceModel


def run_calls(sc: Scenario, network: RoadNetwork, calls: list[tuple[float, int, int, float]], *,
              handling_s: float = 0.0, plans: bool = False, base_dir: Path | None = None):  # fmt: skip
    """Run exactly ``calls`` = [(t_call, kind, node index, on_scene_s), ...]; with ``plans`` the callers'
    plans (phone, duplicates, patience) are drawn for them as for generated calls.

    Returns (incidents, assignments, unit log as (unit, state, start, end, incident) tuples, model).
    """
    model = PoliceModel(sc, seed=0, network=network, base_dir=base_dir)
    t, kind, node, on_scene = (np.array(col) for col in zip(*calls, strict=True))
    batch = CallBatch(t_call=t.astype(float), kind=kind.astype(np.int16), node=node.astype(np.int64),
                      handling_s=np.full(len(calls), float(handling_s)), on_scene_s=on_scene.astype(float))  # fmt: skip
    if plans:
        from policetwin.sim.callers import callers

        batch = callers(batch, sc, model.stream("callers"))
    model.calls = batch
    model.run()
    rec = model.recorder
    incidents = rec.incidents_frame(kinds=model.kinds, node_ids=network.node_id, lon=network.lon,
                                    lat=network.lat, unit_names=model.unit_names)  # fmt: skip
    units = rec.units_frame(model.unit_names)
    log = [(r.unit_id, r.state, r.t_start, r.t_end, None if pd.isna(r.incident_id) else int(r.incident_id))
           for r in units.itertuples()]  # fmt: skip
    return incidents, rec.assignments_frame(model.unit_names), log, model
