"""Scaling benchmark (``make bench-scale``): how today's engine bends with map size, units and calls.

What it measures, per grid point (nodes x units x calls/day), each point in its own process so peak
memory is that point's alone: map load (from the cache after the first load), setup (demand, routing
rows, districts), simulation, the mean dispatch decision time, peak RSS, and incidents per second of
the engine. Units wait at 36 stations spread over the city (round-robin), calls follow the default
daily profile around one central hotspot. Maps: synthetic cities (``synthetic:N:1``, 10k -> 300k
nodes) and the largest real extract in ../shared/data/osm (by node count after simplification).

A point simulates ``--hours`` of the day (default 24): per-dispatch time and memory do not need a
whole day, and the machine this was written on has 2 cores shared with other jobs (the load average
is recorded beside every point). Results: ``benchmarks/results/scale.json``. Never part of the tests.

    python benchmarks/bench_scale.py [--hours H] [--grid default|reduced] [--skip N]
    python benchmarks/bench_scale.py --point '{"map": ..., "units": ..., "calls_per_day": ...}' --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from policetwin.maps import load_map
from policetwin.scenarios.schema import Scenario
from policetwin.sim.run import simulate

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "osm"
#: The largest real extract at hand: 7,570 nodes after simplification (the others there have 68-3,405).
REAL = SHARED / "campo-grande.osm.pbf"
STATIONS = 36
RESULTS = Path(__file__).parent / "results" / "scale.json"


def grid(name: str) -> list[dict]:
    """Grid points: a node sweep at 3,000 units and 48k calls/day (the real extract first); at the largest
    map, units at 16 calls per unit and day (300 units take 4,800: more would queue without bound) and
    calls/day at 3,000 units. ``reduced`` leaves out 30k nodes and 1,000 units."""
    nodes = [10_000, 30_000, 100_000, 300_000] if name == "default" else [10_000, 100_000, 300_000]
    points = [{"map": f"synthetic:{n}:1", "units": 3000, "calls_per_day": 48_000} for n in nodes]
    if REAL.is_file():
        points.insert(0, {"map": str(REAL), "units": 3000, "calls_per_day": 48_000})
    top = f"synthetic:{nodes[-1]}:1"
    units = [300, 1000] if name == "default" else [300]
    points += [{"map": top, "units": u, "calls_per_day": 16 * u} for u in units]
    points += [{"map": top, "units": 3000, "calls_per_day": 12_000}]
    return points


def key(row: dict) -> tuple:
    """A point's identity in the results file (a later run of the same point replaces it)."""
    return row["map"], row["units"], row["calls_per_day"], row.get("hours"), row.get("routing")


def spread_stations(network, n: int) -> list[dict]:
    """``n`` stations at the nodes nearest to a regular grid over the network's central area."""
    side = int(np.ceil(np.sqrt(n)))
    xs = np.quantile(network.x, np.linspace(0.1, 0.9, side))
    ys = np.quantile(network.y, np.linspace(0.1, 0.9, side))
    out = []
    for i, (gx, gy) in enumerate([(x, y) for x in xs for y in ys][:n]):
        k = int(np.argmin((network.x - gx) ** 2 + (network.y - gy) ** 2))
        out.append({"name": f"S{i + 1:02d}", "lon": float(network.lon[k]), "lat": float(network.lat[k])})
    return out


def run_point(point: dict, *, hours: float, profile: bool = False) -> dict:
    """One grid point in this process: the scenario, its run, and the numbers."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    network = load_map(point["map"])  # cached after the first load (the "after the map is cached")
    load_s = time.perf_counter() - t0
    rate_per_hour = point["calls_per_day"] / 24.0
    scenario = Scenario.model_validate({
        "name": "bench-scale", "seed": 1, "duration": hours * 3600.0, "map": point["map"],
        "stations": spread_stations(network, STATIONS), "units": {"count": point["units"]},
        "demand": {"rate_per_hour": rate_per_hour, "profile": "default",
                   "hotspots": [{"lon": float(np.median(network.lon)), "lat": float(np.median(network.lat)),
                                 "radius_m": 3000, "weight": 1.0}]},
        "call_handling": {"takers": 200}, "outputs": {"report": False, "units_log": False, "trips": False},
        "travel": {"routing": point.get("routing", "auto")},  # ("cch": a small real map on the big-map path)
    })  # fmt: skip
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    t1 = time.perf_counter()
    result = simulate(scenario, network=network)
    total_s = time.perf_counter() - t1
    if profiler is not None:
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(25)
        print(text.getvalue(), file=sys.stderr)
    engine = result.summary["engine"]
    n = result.summary["incidents"]["count"]
    router = result.model.router
    return {
        **point,
        "nodes": network.n_nodes,
        "edges": network.n_edges,
        "hours": hours,
        "incidents": n,
        "map_load_s": round(load_s, 2),
        "setup_s": engine["setup_s"],
        "simulate_s": engine["simulate_s"],
        "total_s": round(load_s + total_s, 2),
        "dispatch_mean_us": engine["dispatch_mean_us"],
        "incidents_per_s_engine": round(n / max(engine["simulate_s"], 1e-9)),
        "dense_rows": bool(router.dense),
        "routing": router.backend,
        "dijkstra_calls": router.dijkstra_calls,
        "day_estimate_s": round(engine["setup_s"] + engine["simulate_s"] * 24.0 / hours, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours per point")
    parser.add_argument("--grid", choices=["default", "reduced"], default="default")
    parser.add_argument("--point", help="(internal) one point as JSON: run it here and print its row")
    parser.add_argument("--profile", action="store_true", help="with --point: cProfile to stderr")
    parser.add_argument(
        "--skip", type=int, default=0, help="skip the first N grid points (kept from the file)"
    )
    args = parser.parse_args()
    if args.point:
        print(
            json.dumps(run_point(json.loads(args.point), hours=args.hours, profile=args.profile)), flush=True
        )
        return
    old = json.loads(RESULTS.read_text())["points"] if RESULTS.is_file() else []
    rows = []
    for point in grid(args.grid)[args.skip :]:  # a fresh process per point: peak memory is that point's alone
        cmd = [sys.executable, __file__, "--point", json.dumps(point), "--hours", str(args.hours)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            rows.append({**point, "error": done.stderr.strip().splitlines()[-1:]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
        fresh = {key(r) for r in rows}
        kept = [r for r in old if key({**r, "hours": r.get("hours", args.hours)}) not in fresh]
        RESULTS.parent.mkdir(exist_ok=True)
        meta = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
                "hours_per_point": args.hours, "grid": args.grid}  # fmt: skip
        RESULTS.write_text(json.dumps({"meta": meta, "points": kept + rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
