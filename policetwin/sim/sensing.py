"""Sense (感知): when does an incident become a call? A citizen reports it after the kind's
``report_delay``; where sensors cover its node, a sensor may detect it earlier (``sensing:``).

The demand generators draw when incidents happen; :func:`report` turns those times into call times
and re-sorts the calls. Its draws come from their own random stream, so switching sensing on or off
never changes which incidents happen. Without report delays and sensing nothing is drawn and every
call is made the moment its incident happens.
"""

from __future__ import annotations

import numpy as np

from policetwin.maps import Snapper
from policetwin.scenarios.schema import Scenario
from policetwin.sim.demand import CallBatch, sample_durations


def covered_nodes(scenario: Scenario, snapper: Snapper, rng: np.random.Generator) -> np.ndarray | None:
    """Boolean mask of road nodes that sensors cover (None without a ``sensing`` block)."""
    sensing = scenario.sensing
    if sensing is None:
        return None
    n = snapper.network.n_nodes
    covered = np.zeros(n, dtype=bool)
    for sensor in sensing.sensors:
        covered[snapper.within(sensor.lon, sensor.lat, sensor.radius_m)] = True
    if sensing.node_share:
        covered[rng.choice(n, size=round(sensing.node_share * n), replace=False)] = True
    return covered


def report(
    batch: CallBatch, scenario: Scenario, covered: np.ndarray | None, rng: np.random.Generator
) -> CallBatch:
    """The calls of ``batch`` (whose ``t_call`` holds when incidents happen) with call times after
    report delays and sensor detection, sorted by call time; ``t_occur`` and ``detected_by`` set."""
    t_occur = batch.t_call
    n = t_occur.size
    kinds = scenario.demand.kinds
    if covered is None and all(k.report_delay is None for k in kinds):
        return CallBatch(t_call=t_occur, kind=batch.kind, node=batch.node, handling_s=batch.handling_s,
                         on_scene_s=batch.on_scene_s, source=batch.source, t_occur=t_occur,
                         detected_by=np.zeros(n, dtype=np.int8))  # fmt: skip
    t_call = t_occur.copy()
    for k, spec in enumerate(kinds):
        if spec.report_delay is not None:
            mask = batch.kind == k
            t_call[mask] += sample_durations(spec.report_delay, int(mask.sum()), rng)
    detected_by = np.zeros(n, dtype=np.int8)
    if covered is not None:
        sensing = scenario.sensing
        seen = covered[batch.node] & (rng.random(n) < sensing.detection_probability)
        t_sensor = t_occur + sample_durations(sensing.delay, n, rng)
        earlier = seen & (t_sensor < t_call)
        t_call = np.where(earlier, t_sensor, t_call)
        detected_by[earlier] = 1
    order = np.argsort(t_call, kind="stable")
    return CallBatch(t_call=t_call[order], kind=batch.kind[order], node=batch.node[order],
                     handling_s=batch.handling_s[order], on_scene_s=batch.on_scene_s[order], source=batch.source,
                     t_occur=t_occur[order], detected_by=detected_by[order])  # fmt: skip
