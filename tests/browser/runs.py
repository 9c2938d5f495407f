"""Real run directories for the dashboard tests, made once per session with the CLI.

Runs written by an engine that does not yet write ``nodes.parquet`` / ``roads.parquet`` / ``trips.parquet``
get them here, with exactly the columns of the run-directory contract: nodes and roads from the scenario's
map, trips along fastest paths timed to the run's own ``units.parquet`` intervals (to_call: en route
interval; return: returning interval, cut short where the unit was sent elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def cli_run(scenario: str, out: Path, *sets: str) -> Path:
    """``policetwin run SCENARIO --out OUT --quiet --set ...`` (raises with stderr on failure)."""
    cmd = [sys.executable, "-m", "policetwin", "run", scenario, "--out", str(out), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"policetwin run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return out


def ensure_map_files(run_dir: Path) -> None:
    """Add nodes.parquet, roads.parquet and trips.parquet when the engine did not write them."""
    if all((run_dir / f).is_file() for f in ("nodes.parquet", "roads.parquet", "trips.parquet")):
        return
    import yaml

    from policetwin.maps import Router, Snapper, load_map

    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    net = load_map(str(scenario["map"]))
    snap = Snapper(net)
    stations = scenario.get("stations") or []
    st_idx, _ = snap.nearest(np.array([s["lon"] for s in stations]), np.array([s["lat"] for s in stations]))
    # district: the nearest station as the crow flies (a stand-in for the engine's travel-time Voronoi)
    sx, sy = snap.to_xy(np.array([s["lon"] for s in stations]), np.array([s["lat"] for s in stations]))
    d2 = (net.x[:, None] - sx[None, :]) ** 2 + (net.y[:, None] - sy[None, :]) ** 2
    names = np.array([s["name"] for s in stations], dtype=object)
    nodes = pd.DataFrame({"node": net.node_id.astype(np.int64), "lon": net.lon, "lat": net.lat,
                          "district": names[d2.argmin(axis=1)].astype(str)})  # fmt: skip
    if not (run_dir / "nodes.parquet").is_file():
        nodes.to_parquet(run_dir / "nodes.parquet", index=False)
    if not (run_dir / "roads.parquet").is_file():
        u, v = net.edge_u.astype(np.int64), net.edge_v.astype(np.int64)
        key = np.minimum(u, v) * net.n_nodes + np.maximum(u, v)
        _, first = np.unique(key, return_index=True)
        roads = pd.DataFrame({"u": net.node_id[u[first]], "v": net.node_id[v[first]],
                              "highway": net.highway[first].astype(str)})  # fmt: skip
        roads.to_parquet(run_dir / "roads.parquet", index=False)
    if not (run_dir / "trips.parquet").is_file():
        _write_trips(run_dir, net, Router(net.n_nodes, net.edge_u, net.edge_v, net.travel_times_s()),
                     dict(zip(names, st_idx, strict=True)))  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    summary["files"] = sorted({*summary.get("files", []), "nodes.parquet", "roads.parquet", "trips.parquet"})
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _write_trips(run_dir: Path, net, router, station_node: dict) -> None:
    units = pd.read_parquet(run_dir / "units.parquet").sort_values(["unit_id", "t_start"])
    inc = pd.read_parquet(run_dir / "incidents.parquet", columns=["incident_id", "node"]).set_index(
        "incident_id"
    )
    index_of = pd.Series(np.arange(net.n_nodes), index=net.node_id)
    homes = sorted(station_node, key=len, reverse=True)
    rows = []
    for uid, log in units.groupby("unit_id", sort=False):
        home = next(
            (station_node[h] for h in homes if str(uid).startswith(h)), next(iter(station_node.values()))
        )
        at = home
        for state, a, b, incident in zip(log.state, log.t_start, log.t_end, log.incident_id, strict=True):
            if state == "enroute" and not pd.isna(incident):
                target, purpose = int(index_of[inc.loc[int(incident), "node"]]), "to_call"
            elif state == "returning":
                target, purpose = home, "return"
            else:
                continue
            path, times = router.path(at, target) if at != target else (np.array([at]), np.array([0.0]))
            full = float(times[-1]) if times[-1] > 0 else 1.0
            route_t = a + times / full * (b - a) if purpose == "to_call" else a + times
            if purpose == "return" and full > b - a:  # cut short: stop where it was at t_end
                keep = int(np.searchsorted(route_t, b, side="right"))
                at = int(path[max(keep - 1, 0)])
            else:
                at = target
            rows.append((uid, purpose, None if pd.isna(incident) or purpose != "to_call" else int(incident),
                         float(a), float(b), net.node_id[path].astype(np.int64).tolist(), route_t.tolist()))  # fmt: skip
    table = pa.table(
        {
            "trip_id": pa.array(np.arange(len(rows), dtype=np.int64)),
            "unit_id": pa.array([r[0] for r in rows], pa.string()),
            "purpose": pa.array([r[1] for r in rows], pa.string()),
            "incident_id": pa.array([r[2] for r in rows], pa.int64()),
            "t_start": pa.array([r[3] for r in rows], pa.float64()),
            "t_end": pa.array([r[4] for r in rows], pa.float64()),
            "route": pa.array([r[5] for r in rows], pa.list_(pa.int64())),
            "route_t": pa.array([r[6] for r in rows], pa.list_(pa.float64())),
        }
    )
    pq.write_table(table, run_dir / "trips.parquet")
