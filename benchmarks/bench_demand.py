"""Benchmark ``demand fit`` (incl. Hawkes EM) on the 241k Toronto incidents and ``demand predict`` + ``score``
for a year of weekly origins (2019, trained on 2014-2018). Needs ../shared/data; run:
``.venv/bin/python benchmarks/bench_demand.py``. Targets: each under 60 s on 2 cores."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "incidents" / "toronto-mci.csv.gz"
CLI = str(Path(sys.executable).with_name("policetwin"))


def timed(args: list[str]) -> float:
    """Wall seconds of one CLI command (fails loudly on a non-zero exit)."""
    start = time.perf_counter()
    subprocess.run([CLI, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    if not DATA.is_file():
        sys.exit(f"no data at {DATA}")
    with tempfile.TemporaryDirectory() as tmp:
        fit_s = timed(["demand", "fit", str(DATA), "--out", f"{tmp}/demand.yaml"])
        pred_s = timed(["demand", "predict", str(DATA), "--train-until", "2019-01-01", "--horizon", "7d",
                        "--origins", "52", "--out", f"{tmp}/fc.parquet"])  # fmt: skip
        score_s = timed(["demand", "score", f"{tmp}/fc.parquet", str(DATA), "--coverage", "1,5,10"])
    print(f"demand fit (241k rows, Hawkes EM): {fit_s:.1f} s (target < 60)")
    print(f"demand predict (52 weekly origins) + score: {pred_s:.1f} + {score_s:.1f} = {pred_s + score_s:.1f} s "
          "(target < 60)")  # fmt: skip


if __name__ == "__main__":
    main()
