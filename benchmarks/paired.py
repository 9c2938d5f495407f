"""Paired benchmark: this checkout against an earlier commit, alternating runs, medians compared.

Single runs on the shared 2-core machines vary by about +-10%, so a change is judged on the medians of
several runs of both versions taken in turn (old, new, old, new, ...). The earlier commit is checked
out into a temporary git worktree and run with this checkout's virtual environment.

    python benchmarks/paired.py --base 116efdf [--pairs 5] [--city campo-grande] [--policy nearest ...]
                                [--idle random_beat ...]

Each ``--policy`` given runs the new version with that policy as well (the base always uses nearest,
units at stations); each ``--idle`` runs the new version with all units patrolling that way (nearest):
``--base HEAD --idle random_beat`` is the patrol year against the same year at stations, same code.
Results go to ``benchmarks/results/paired-<city>[-<idle>...].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEYS = ("end_to_end_s", "simulate_s", "setup_s", "dispatch_mean_us", "peak_rss_mb")


def run_once(tree: Path, city: str, policy: str, idle: str = "station") -> dict:
    """One benchmark process of ``tree``'s code; returns its result row."""
    args = [sys.executable, str(tree / "benchmarks" / "bench_core.py"), "--only", city]
    if policy != "nearest":
        args += ["--policy", policy]
    if idle != "station":
        args += ["--idle", idle]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit to compare against")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--city", default="campo-grande")
    parser.add_argument("--policy", action="append", default=None, help="policies to run on the new code")
    parser.add_argument("--idle", action="append", default=[], help="idle behaviours to run on the new code")
    args = parser.parse_args()
    policies = args.policy or (["nearest"] if not args.idle else [])
    variants = [(p, "station") for p in policies] + [("nearest", idle) for idle in args.idle]
    names = [p if idle == "station" else idle for p, idle in variants]
    runs: dict[str, list[dict]] = {"base": [], **{name: [] for name in names}}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)  # fmt: skip
        shared = ROOT.parent / "shared"
        if shared.exists() and not (Path(tmp) / "shared").exists():
            (Path(tmp) / "shared").symlink_to(shared)  # the base tree finds ../shared/data as we do
        try:
            for i in range(args.pairs):
                runs["base"].append(run_once(base, args.city, "nearest"))
                for name, (policy, idle) in zip(names, variants, strict=True):
                    runs[name].append(run_once(ROOT, args.city, policy, idle))
                print(f"pair {i + 1}/{args.pairs} done", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    medians = {name: {k: statistics.median(r[k] for r in rows) for k in KEYS} for name, rows in runs.items()}
    ratios = {p: {k: medians[p][k] / medians["base"][k] for k in KEYS} for p in names}
    report = {
        "meta": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                 "base": args.base, "pairs": args.pairs, "city": args.city},
        "medians": medians, "ratio_to_base": ratios, "runs": runs,
    }  # fmt: skip
    out = HERE / "results" / f"paired-{'-'.join([args.city, *args.idle])}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for policy in names:
        print(f"{policy}: end to end {ratios[policy]['end_to_end_s']:.3f} x base "
              f"(median {medians[policy]['end_to_end_s']:.1f} s vs {medians['base']['end_to_end_s']:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
