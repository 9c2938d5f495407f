"""(Re)build a run directory's ``report.html`` from its files, without simulating again.

The report (:func:`policetwin.sim.report.write_report`) needs the incident and unit logs
(``incidents.parquet``, ``units.parquet``), the summary (``summary.json``), the stations
(``scenario.yaml``), the road network and, for its coverage map, travel times from the stations and
posts. The network is the scenario's map when it still loads (the map is a file or a bundled city; its
coverage is then computed as the run did: the same snapping, speeds and demand weights); otherwise the
streets come from ``nodes.parquet`` and ``roads.parquet`` (written by every run) and the report has no
coverage map (said on the console). The page is identical to the run's own when the map loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import yaml

from policetwin.errors import PoliceTwinError


def _scenario(run_dir: Path):
    from policetwin.scenarios import Scenario

    try:
        return Scenario.model_validate(
            yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
        )
    except (OSError, ValueError) as exc:
        raise PoliceTwinError(f"{run_dir}: cannot read scenario.yaml ({type(exc).__name__}: {exc})") from None


def _network_from_files(run_dir: Path, name: str) -> SimpleNamespace:
    """The streets as the report draws them, from ``nodes.parquet`` / ``roads.parquet``."""
    nodes = pd.read_parquet(run_dir / "nodes.parquet")
    roads = pd.read_parquet(run_dir / "roads.parquet")
    index = pd.Series(np.arange(len(nodes)), index=nodes["node"].to_numpy())
    return SimpleNamespace(
        name=name,
        n_nodes=len(nodes),
        node_id=nodes["node"].to_numpy(),
        lon=nodes["lon"].to_numpy(dtype=float),
        lat=nodes["lat"].to_numpy(dtype=float),
        edge_u=index.loc[roads["u"].to_numpy()].to_numpy(),
        edge_v=index.loc[roads["v"].to_numpy()].to_numpy(),
        highway=roads["highway"].astype(str).to_numpy()
        if "highway" in roads
        else np.array([""] * len(roads)),
    )


def _coverage(scenario, network, filename: str) -> dict | None:
    """The run's coverage input (:func:`policetwin.sim.run.coverage_input`) rebuilt from the map."""
    from policetwin.maps import Router, Snapper
    from policetwin.sim.checks import check_on_map
    from policetwin.sim.coverage import coverage_times

    if scenario.travel.mode == "instant":
        return None
    check = check_on_map(scenario, network, Snapper(network), filename=filename)
    nodes = [int(n) for n in check.station_nodes]
    names = [s.name for s in scenario.stations]
    for g, posts in check.post_nodes.items():
        nodes += [int(n) for n in posts]
        names += [f"{scenario.units.groups[g].name} post {j + 1}" for j in range(len(posts))]
    travel = scenario.travel
    router = Router(network.n_nodes, network.edge_u, network.edge_v,
                    network.travel_times_s(overrides_kph=travel.speeds_kph, speed_factor=travel.speed_factor))  # fmt: skip
    return {
        "times_s": coverage_times(network, sources=np.array(nodes), router=router),
        "standard_s": min(k.target for k in scenario.demand.kinds),
        "sources": [
            {"name": n, "lon": float(network.lon[i]), "lat": float(network.lat[i])}
            for n, i in zip(names, nodes, strict=True)
        ],
        "weights": check.weights,
    }


def rebuild_run_report(run_dir: Path) -> tuple[Path, list[str]]:
    """Write ``run_dir/report.html`` (atomically, holding the run directory's lock) and list it in
    ``summary.json`` ``files`` (so later runs into the directory replace it); returns the path and notes."""
    from policetwin.outputs import output_lock
    from policetwin.sim.report import write_report
    from policetwin.sim.run import load_scenario_map

    run_dir = Path(run_dir)
    needed = ("summary.json", "scenario.yaml", "incidents.parquet", "units.parquet")
    missing = [f for f in needed if not (run_dir / f).is_file()]
    if missing:
        raise PoliceTwinError(f"{run_dir}: not a complete run directory (missing {', '.join(missing)})")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PoliceTwinError(f"{run_dir / 'summary.json'}: cannot read ({exc})") from None
    scenario = _scenario(run_dir)
    notes: list[str] = []
    filename = str(run_dir / "scenario.yaml")
    try:
        network = load_scenario_map(scenario, filename=filename, base_dir=run_dir)
        coverage = _coverage(scenario, network, filename) if summary.get("coverage") is not None else None
    except PoliceTwinError as exc:
        if not (run_dir / "nodes.parquet").is_file() or not (run_dir / "roads.parquet").is_file():
            raise PoliceTwinError(f"{run_dir}: the map does not load ({exc}) and nodes/roads.parquet are "
                                  "missing: the report cannot be drawn") from None  # fmt: skip
        network = _network_from_files(run_dir, str((summary.get("map") or {}).get("name") or scenario.map))
        coverage = None
        notes.append(f"the map {scenario.map!r} did not load, so the streets come from nodes/roads.parquet and "
                     "the report has no coverage map")  # fmt: skip
    if summary.get("event") is not None:
        notes.append("the event's own report section needs the run's event model: rerun the scenario for it")
    stations = [{"name": s.name, "lon": s.lon, "lat": s.lat} for s in scenario.stations]
    incidents = pd.read_parquet(run_dir / "incidents.parquet")
    units = pd.read_parquet(run_dir / "units.parquet")
    with output_lock(run_dir):
        write_report(run_dir / "report.html", incidents=incidents, units=units, summary=summary,
                     network=network, stations=stations, coverage=coverage)  # fmt: skip
        files = summary.get("files")
        if isinstance(files, list) and "report.html" not in files:
            summary["files"] = sorted([*files, "report.html"])
            tmp = run_dir / f".summary.json.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
            os.replace(tmp, run_dir / "summary.json")
    return run_dir / "report.html", notes
