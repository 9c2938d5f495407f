"""A sweep killed with SIGKILL mid-way leaves a complete ``runs.parquet`` (never half a file), and
``--resume`` completes it: every run once, the same values as an uninterrupted sweep."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from policetwin.cli import app

POLICETWIN = Path(sys.executable).with_name("policetwin")
STUDY = """\
    name: resume
    base: mmc-erlang
    set: {duration: 1000h}
    factors:
      units.count: [3, 4, 5]
    replications: 5
    warmup: 10h
    kpis: [queue.mean_wait_for_unit_s, units.utilisation]
    """


def _rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, ValueError):
        return 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_resume_after_sigkill_completes_without_duplicates(tmp_path: Path) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(textwrap.dedent(STUDY))
    out = tmp_path / "killed"
    proc = subprocess.Popen([str(POLICETWIN), "sweep", str(study), "--out", str(out), "--workers", "2", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _rows(out / "runs.parquet") < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep did not get going"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15  # its pool workers die with it (nothing keeps computing)
        while _group_alive(proc.pid):
            assert time.monotonic() < deadline, "processes of the killed sweep are still running"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of our process group is left
        proc.stderr.close()
    saved = pd.read_parquet(out / "runs.parquet")  # readable: written whole or not at all
    assert 3 <= len(saved) < 15, len(saved)
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--resume", "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "from before" in result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 15 and runs["run_id"].is_unique and (runs["status"] == "ok").all()
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".killed.")]  # no lock or temp left
    # the runs saved before the kill are kept as they were, and all values match an uninterrupted sweep
    keep = ["run_id", "queue_mean_wait_for_unit_s", "units_utilisation"]
    assert_frame_equal(saved[keep].reset_index(drop=True),
                       runs[runs["run_id"].isin(saved["run_id"])][keep].reset_index(drop=True))  # fmt: skip
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(fresh), "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    cols = [c for c in runs.columns if c not in ("wall_s", "sim_s")]
    assert_frame_equal(runs[cols], pd.read_parquet(fresh / "runs.parquet")[cols])


def test_resume_refuses_another_study(tmp_path: Path) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(
        textwrap.dedent(STUDY).replace("1000h", "50h").replace("replications: 5", "replications: 1")
    )
    out = tmp_path / "s"
    assert CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--quiet"]).exit_code == 0
    again = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--quiet"])
    assert again.exit_code == 2 and "add --resume" in again.stderr
    study.write_text(study.read_text().replace("[3, 4, 5]", "[3, 4]"))
    changed = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--resume", "--quiet"])
    assert changed.exit_code == 2 and "another study" in changed.stderr
