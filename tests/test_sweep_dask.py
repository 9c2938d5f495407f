"""``policetwin sweep --scheduler``: a real Dask scheduler and worker started on 127.0.0.1 inside the
test (``dask scheduler``, ``dask worker``; stopped afterwards by PID) give the same ``runs.parquet``
values as the local process pool, since both run the same task function with the same seeds."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from procs import free_port, stop
from typer.testing import CliRunner

from policetwin.cli import app

DASK = Path(sys.executable).with_name("dask")
STUDY = """\
    name: dask-vs-local
    base: mmc-erlang
    set: {duration: 150h}
    factors:
      units.count: [3, 4]
      demand.rate_per_hour: [1.0, 1.5]
    replications: 3
    warmup: 5h
    kpis: [queue.mean_wait_for_unit_s, queue.p_wait_for_unit, units.utilisation]
    """


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """A scheduler and one worker process with 2 threads on 127.0.0.1 (no dashboards)."""
    if not DASK.exists():
        pytest.skip("dask CLI not installed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    s_log, w_log = open(logs / "s.out", "w"), open(logs / "w.out", "w")  # noqa: SIM115
    common = {
        "cwd": tmp_path,
        "start_new_session": True,
        "stdin": subprocess.DEVNULL,
        "stderr": subprocess.STDOUT,
    }
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=s_log, **common)  # fmt: skip
    worker = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    pytest.fail("the Dask scheduler did not start: " + (logs / "s.out").read_text())
                time.sleep(0.2)
        worker = subprocess.Popen([str(DASK), "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                                   "--nthreads", "2", "--no-dashboard", "--memory-limit", "0"],
                                  stdout=w_log, **common)  # fmt: skip
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                stop(proc)
        s_log.close()
        w_log.close()


def test_dask_cluster_gives_the_local_pool_values(tmp_path: Path, dask_cluster: str) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(textwrap.dedent(STUDY))
    local, remote = tmp_path / "local", tmp_path / "dask"
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(local), "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(remote), "--scheduler", dask_cluster,
                                      "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    a, b = (pd.read_parquet(d / "runs.parquet").drop(columns=["wall_s", "sim_s"]) for d in (local, remote))
    assert len(a) == 12 and (a["status"] == "ok").all()
    assert_frame_equal(a, b)
    assert (remote / "report.html").is_file()
