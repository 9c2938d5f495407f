"""Core-twin benchmark (``make bench``): end-to-end incidents per second, dispatch decision time,
setup time and peak memory, on real and synthetic cities with 300 units.

End to end = map load + model setup (demand, routing rows) + simulation + tables + writing the run
directory (Parquet and JSON; the HTML report and trips.parquet, the replay's routes, are left out). Each city runs in its own process.

Cities: Campo Grande (largest real extract in ../shared/data/osm, skipped if absent), the bundled
Coquimbo–La Serena, and a synthetic ~20k-node city. Results are printed as a table and written to
``benchmarks/results/core-<city>.json``. Run by hand; never part of the tests.

    python benchmarks/bench_core.py [--calls N] [--only NAME] [--policy nearest|beat_first|priority_preempt] [--routing auto|cch|dijkstra]

Defaults: 1,000,000 calls (a year at ~114 calls/h) on Campo Grande, 200,000 on the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from policetwin.maps import load_map
from policetwin.scenarios.schema import Scenario
from policetwin.sim.run import simulate, write_run_dir

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "osm"
CITIES = {
    "campo-grande": str(SHARED / "campo-grande.osm.pbf"),
    "coquimbo": "coquimbo",
    "synthetic-20k": "synthetic:20000:1",
}


def spread_stations(network, n: int) -> list[dict]:
    """``n`` stations at nodes nearest to a regular grid over the network's central area."""
    side = int(np.ceil(np.sqrt(n)))
    xs = np.quantile(network.x, np.linspace(0.15, 0.85, side))
    ys = np.quantile(network.y, np.linspace(0.15, 0.85, side))
    out = []
    for i, (gx, gy) in enumerate([(x, y) for x in xs for y in ys][:n]):
        k = int(np.argmin((network.x - gx) ** 2 + (network.y - gy) ** 2))
        out.append({"name": f"S{i + 1:02d}", "lon": float(network.lon[k]), "lat": float(network.lat[k])})
    return out


def bench_city(
    name: str,
    spec: str,
    *,
    calls: int,
    units: int,
    policy: str = "nearest",
    idle: str = "station",
    routing: str = "auto",
) -> dict:
    t0 = time.perf_counter()
    network = load_map(spec, use_cache=False)
    load_s = time.perf_counter() - t0
    rate_per_hour = 114.0  # ~1M calls a year
    duration_h = calls / rate_per_hour
    stations = spread_stations(network, 12)
    units_block: dict = {"count": units}
    if idle != "station":  # one group per station, patrolling its beat
        per = [units // 12 + (i < units % 12) for i in range(12)]
        units_block = {"groups": [{"name": f"g{i}", "count": n, "station": st["name"], "idle": idle}
                                  for i, (st, n) in enumerate(zip(stations, per, strict=True)) if n]}  # fmt: skip
    scenario = Scenario.model_validate({
        "name": f"bench-{name}", "seed": 1, "duration": duration_h * 3600.0, "map": spec,
        "stations": stations, "units": units_block,
        "demand": {"rate_per_hour": rate_per_hour, "profile": "default",
                   "hotspots": [{"lon": float(np.median(network.lon)), "lat": float(np.median(network.lat)),
                                 "radius_m": 1500, "weight": 1.0}]},
        "call_handling": {"takers": 8}, "outputs": {"report": False, "units_log": True, "trips": False},
        **({"dispatch": {"policy": policy}} if policy != "nearest" else {}),
        **({"travel": {"routing": routing}} if routing != "auto" else {}),
    })  # fmt: skip
    t1 = time.perf_counter()
    result = simulate(scenario, network=network)
    simulate_total_s = time.perf_counter() - t1
    with tempfile.TemporaryDirectory() as tmp:  # the run directory too (Parquet; no HTML report)
        t2 = time.perf_counter()
        write_run_dir(result, Path(tmp) / "run")
        write_s = time.perf_counter() - t2
    end_to_end_s = load_s + simulate_total_s + write_s
    engine = result.summary["engine"]
    n = result.summary["incidents"]["count"]
    return {
        "city": name,
        "policy": policy,
        "idle": idle,
        "nodes": network.n_nodes,
        "edges": network.n_edges,
        "units": units,
        "incidents": n,
        "map_load_s": round(load_s, 2),
        "setup_s": engine["setup_s"],
        "simulate_s": engine["simulate_s"],
        "write_s": round(write_s, 2),
        "end_to_end_s": round(end_to_end_s, 2),
        "incidents_per_s_end_to_end": round(n / end_to_end_s),
        "incidents_per_s_engine": round(n / engine["simulate_s"]),
        "dispatch_mean_us": engine["dispatch_mean_us"],
        "routing": engine["routing"],
        "dijkstra_calls": result.model.router.dijkstra_calls if result.model.router else 0,
        "utilisation": round(result.summary["units"]["utilisation"], 3),
        "p1_response_mean_s": round(result.summary["priorities"]["1"]["response_mean_s"], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=None, help="calls per city (default: see above)")
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--policy", choices=["nearest", "beat_first", "priority_preempt"], default="nearest")
    parser.add_argument("--idle", choices=["station", "random_beat", "hotspot"], default="station")
    parser.add_argument("--routing", choices=["auto", "dense-rows", "cch", "dijkstra"], default="auto")
    parser.add_argument("--only", choices=sorted(CITIES), action="append")
    args = parser.parse_args()
    names = args.only or list(CITIES)
    if len(names) > 1:  # one fresh process per city, so peak memory is that city's alone
        for name in names:
            cmd = [
                sys.executable,
                __file__,
                "--only",
                name,
                "--units",
                str(args.units),
                "--policy",
                args.policy,
                "--routing",
                args.routing,
            ]
            subprocess.run(cmd + (["--calls", str(args.calls)] if args.calls else []), check=True)
        return
    name = names[0]
    spec = CITIES[name]
    if name == "campo-grande" and not Path(spec).is_file():
        print(f"skip {name}: {spec} not found", file=sys.stderr)
        return
    calls = args.calls or (1_000_000 if name == "campo-grande" else 200_000)
    row = bench_city(
        name, spec, calls=calls, units=args.units, policy=args.policy, idle=args.idle, routing=args.routing
    )
    print(json.dumps(row), flush=True)
    suffix = (
        ("" if args.policy == "nearest" else f"-{args.policy}")
        + ("" if args.idle == "station" else f"-{args.idle}")
        + ("" if args.routing == "auto" else f"-{args.routing}")
    )
    out = Path(__file__).parent / "results" / f"core-{name}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    meta = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count()}
    out.write_text(json.dumps({"meta": meta, "result": row}, indent=2) + "\n")


if __name__ == "__main__":
    main()
