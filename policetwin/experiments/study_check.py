"""Checks of a study that need its maps, done before any run starts: every arm's scenario on its map
(stations, posts, hotspots, dispatch files), and the KPI paths against a short probe run.

Problems are placed at the study file's lines like the schema's (:meth:`Study.arm_problems`).
"""

from __future__ import annotations

import difflib
import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

from policetwin.errors import ScenarioError

if TYPE_CHECKING:
    from policetwin.experiments.study import Study
    from policetwin.maps import RoadNetwork

#: Summary sections that are not KPIs of a run (identity, timings, map, warnings).
NOT_KPIS = (
    "version",
    "scenario_name",
    "seed",
    "scenario_sha256",
    "start",
    "duration_s",
    "map",
    "engine",
    "load",
    "warnings",
    "wall_s",
    "files",
    "trips",
    "dispatch_policy",
    "travel_mode",
)
#: The probe run simulates at most this long (seconds) to learn the summary's paths.
PROBE_S = 3600.0


def check_study(study: Study) -> dict[str, RoadNetwork]:
    """Check every arm on its map and the KPI paths; returns the maps by spec, or ScenarioError."""
    from policetwin.maps import Snapper
    from policetwin.sim.checks import check_dispatch, check_on_map
    from policetwin.sim.run import load_scenario_map

    p = study.problems()
    networks: dict[str, RoadNetwork] = {}
    snappers: dict[str, Snapper] = {}
    filename = str(study.base)
    for i, sc in enumerate(study.scenarios):
        try:
            if sc.map not in networks:
                networks[sc.map] = load_scenario_map(sc, filename=filename, base_dir=study.base.parent)
                snappers[sc.map] = Snapper(networks[sc.map])
            check = check_on_map(sc, networks[sc.map], snappers[sc.map], filename=filename)
            if check.problems:
                raise ScenarioError(check.problems)
            check_dispatch(sc, networks[sc.map], check, filename=filename)
        except ScenarioError as exc:
            study.arm_problems(i, exc.problems, p)
    if p:
        raise ScenarioError(p)
    valid = kpi_paths(study, networks)
    for column, path in study.kpis.items():
        if path not in valid:
            near = difflib.get_close_matches(path, sorted(valid), n=1, cutoff=0.5)
            hint = f" (nearest valid path: {near[0]})" if near else ""
            p.add(study.kpi_locs[column], f"not a numeric summary path {path!r}{hint}")
    if p:
        raise ScenarioError(p)
    return networks


def numeric_leaves(data: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the numbers (or unset values) in a summary."""
    out: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if not prefix and key in NOT_KPIS:
                continue
            out |= numeric_leaves(value, path)
    elif data is None or (isinstance(data, (int, float)) and not isinstance(data, bool)):
        out.add(prefix)
    return out


def kpi_paths(study: Study, networks: dict[str, RoadNetwork]) -> set[str]:
    """The numeric summary paths a run of this study has: from a short probe run of the first arm, and
    every per-priority figure for each priority of any arm (a short run may have missed some)."""
    from policetwin.sim.run import simulate

    sc = study.scenarios[0]
    probe = sc.model_copy(
        update={
            "duration": min(sc.duration, PROBE_S),
            "outputs": sc.outputs.model_copy(update={"report": False, "trips": False}),
        }
    )
    summary = simulate(probe, seed=study.seed, network=networks[sc.map], filename=str(study.base)).summary
    paths = numeric_leaves(summary)
    stats = {p.split(".", 1)[1] for p in paths if p.startswith("overall.")} | {"target_s"}
    priorities = {k.priority for s in study.scenarios for k in s.demand.kinds}
    return paths | {f"priorities.{prio}.{stat}" for prio in priorities for stat in stats}


def map_sha256(network: RoadNetwork) -> str:
    """Hash of a road network's content (nodes, edges, lengths, classes, speed limits)."""
    h = hashlib.sha256()
    for arr in (
        network.node_id,
        network.lon,
        network.lat,
        network.edge_u,
        network.edge_v,
        network.length_m,
        network.maxspeed_kph,
    ):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\0".join(map(str, network.highway.tolist())).encode())
    return h.hexdigest()
