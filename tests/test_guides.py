"""The guides in docs/guides/ run as written: every ```bash and ```python block, in order, in one empty
folder per guide, with the repository's ``policetwin`` first on PATH (blocks that only show text use
```text or ```yaml). Lines ``dask scheduler ... &`` / ``dask worker ... &`` are started by this test (port
8786 replaced by a free one in the whole guide) and stopped by process id afterwards. The planner guide
needs the Campo Grande extract (``../shared/data/osm/``) and is skipped cleanly without it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "guides"
BIN = Path(sys.executable).parent
EXTRACT = ROOT.parent / "shared" / "data" / "osm" / "campo-grande.osm.pbf"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
DASK_LINE = re.compile(r"^dask (scheduler|worker) .*&\s*$", re.M)


def blocks(guide: Path) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of a guide, in order."""
    return [(m[1], m[2]) for m in BLOCK.finditer(guide.read_text(encoding="utf-8"))]


def _start_dask(line: str, cwd: Path, env: dict[str, str], port: int, procs: list) -> None:
    """Start one ``dask scheduler|worker`` line of a guide (its own session); wait until it is up."""
    args = line.rstrip().rstrip("&").split()
    args[0] = str(BIN / "dask")
    with open(cwd / f"dask-{len(procs)}.log", "w") as log:  # the child keeps its own descriptor
        procs.append(subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
    if args[1] == "scheduler":
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline and procs[-1].poll() is None, (
                    "dask scheduler did not start"
                )
                time.sleep(0.2)
    from distributed import Client

    with Client(f"tcp://127.0.0.1:{port}", timeout="30s") as client:
        client.wait_for_workers(1, timeout=60)


def run_guide(name: str, cwd: Path) -> None:
    """Run every block of ``docs/guides/NAME`` in ``cwd``; fail with the block and its output."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "160"}
    port = free_port()
    procs: list[subprocess.Popen] = []
    try:
        for lang, code in blocks(GUIDES / name):
            if lang not in ("bash", "python"):
                continue
            code = code.replace("8786", str(port))
            for line in [m[0] for m in DASK_LINE.finditer(code)]:
                _start_dask(line, cwd, env, port, procs)
            code = DASK_LINE.sub("", code)
            cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
            done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{name}: block failed (exit {done.returncode}):\n{code}\n" + (
                done.stdout[-3000:] + done.stderr[-3000:]
            )
    finally:
        for proc in reversed(procs):
            stop(proc)


def test_planner_guide(tmp_path: Path) -> None:
    if not EXTRACT.is_file():
        pytest.skip(f"the Campo Grande extract is not here: {EXTRACT}")
    (tmp_path / "campo-grande.osm.pbf").symlink_to(EXTRACT)
    run_guide("planner.md", tmp_path)
    assert (tmp_path / "scenarios" / "campo-grande-posts.yaml").is_file()
    assert (tmp_path / "scenarios" / "campo-grande-staffed.yaml").is_file()
    assert (tmp_path / "runs" / "nights-plus4" / "s2" / "summary.json").is_file()


def test_event_security_guide(tmp_path: Path) -> None:
    run_guide("event-security.md", tmp_path)
    for run in ("nye", "nye-1-lane", "nye-evacuation"):
        assert (tmp_path / "runs" / run / "gates.parquet").is_file()
        assert (tmp_path / "runs" / run / "crowd.parquet").is_file()


def test_researcher_guide(tmp_path: Path) -> None:
    if not (BIN / "dask").exists():
        pytest.skip("dask CLI not installed")
    run_guide("researcher.md", tmp_path)
    import pandas as pd

    local, dask = (pd.read_parquet(tmp_path / "sweeps" / s / "runs.parquet").drop(columns=["wall_s", "sim_s"])
                   for s in ("more-units", "more-units-dask"))  # fmt: skip
    assert len(local) == 6 and (local["status"] == "ok").all()
    pd.testing.assert_frame_equal(local, dask)
    assert (tmp_path / "verify.html").is_file()


def test_guides_are_linked_and_every_block_is_run_or_shown() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = sorted(p.name for p in GUIDES.glob("*.md"))
    assert names == ["event-security.md", "planner.md", "researcher.md"]
    for name in names:
        assert f"docs/guides/{name}" in readme, f"README does not link {name}"
        langs = {lang for lang, _ in blocks(GUIDES / name)}
        assert langs <= {"bash", "python", "text", "yaml"}, (
            f"{name}: a block the test neither runs nor shows: {langs}"
        )
        text = (GUIDES / name).read_text(encoding="utf-8")
        assert "tests/test_guides.py" in text
