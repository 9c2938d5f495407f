"""Runs started from the Run page: the ``policetwin run`` command line as a subprocess (the same entry
point, errors and run directory as the CLI), its progress read from the JSON lines the CLI writes with
``--progress-file``, and the validation of uploaded scenarios with the CLI's ``file:line`` messages."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from policetwin.durations import parse_duration
from policetwin.errors import ScenarioError

#: An uploaded scenario is refused above this size (the CLI's own limit for scenario files).
MAX_UPLOAD_BYTES = 256 * 1024
POLICIES = ("nearest", "beat_first", "priority_preempt")
#: Time-of-day travel on the Run page: free flow (no congestion) or a named profile for all roads.
TRAFFIC = ("free", "weekday-peaks")
#: What idle units of a group do (the scenario schema's ``units.groups[].idle``); ``post`` needs posts.
IDLE_MODES = ("station", "post", "random_beat", "hotspot")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class RunParams:
    """The Run page's key parameters (None = as in the scenario)."""

    units: int | None = None
    rate_per_hour: float | None = None
    policy: str | None = None
    idle: str | None = None
    duration: str | None = None
    seed: int | None = None
    traffic: str | None = None  # one of TRAFFIC: travel.congestion off, or that profile


@dataclass
class Upload:
    """An uploaded scenario: the saved file (None if refused), its name, and the problems found —
    either CLI lines (``file:line: field: message``) or a catalogue key with parameters."""

    name: str
    path: Path | None = None
    scenario_name: str = ""
    duration_s: float = 0.0
    lines: list[str] = field(default_factory=list)
    error_key: str = ""
    error_params: dict = field(default_factory=dict)


@dataclass
class JobResult:
    """How a run ended: exit code (None if it never started), its directory, stderr lines, wall time."""

    code: int | None
    out_dir: Path
    lines: list[str]
    wall_s: float


def safe_name(name: str) -> str:
    """A file name without directories or odd characters (``bad scenario.yaml`` -> ``bad-scenario.yaml``)."""
    base = Path(str(name).replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.-]+", "-", base).strip(".-")
    return cleaned[:100] or "scenario.yaml"


def too_large(name: str, size: int) -> Upload | None:
    """The refusal of a file of ``size`` bytes if it is over :data:`MAX_UPLOAD_BYTES`, else None."""
    if size <= MAX_UPLOAD_BYTES:
        return None
    params = {
        "name": safe_name(name or ""),
        "size_kb": f"{-(-size // 1024):,}",
        "max_kb": MAX_UPLOAD_BYTES // 1024,
    }
    return Upload(name=params["name"], error_key="run.upload_too_large", error_params=params)


def validate_upload(filename: str, contents: str, upload_dir: Path) -> Upload:
    """Check an uploaded scenario like ``policetwin validate`` does (schema, YAML safe-loaded, never
    unpickled or evaluated), refusing files over :data:`MAX_UPLOAD_BYTES`, files that are not
    ``.yaml``/``.yml``, and scenarios naming a user policy file (code)."""
    from policetwin.scenarios import load_scenario, locate_problems

    name = safe_name(filename or "")
    up = Upload(name=name)
    if not name.lower().endswith((".yaml", ".yml")):
        up.error_key, up.error_params = "run.upload_not_yaml", {"name": name}
        return up
    try:
        payload = (contents or "").split(",", 1)[1] if "," in (contents or "") else (contents or "")
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        up.error_key, up.error_params = "run.upload_not_yaml", {"name": name}
        return up
    refused = too_large(name, len(raw))
    if refused is not None:
        return refused
    folder = upload_dir / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(raw)
    try:
        sc = load_scenario(path)
    except ScenarioError as exc:
        up.lines = [line.replace(str(path), name) for line in locate_problems(exc.problems)]
        return up
    policy = str(sc.dispatch.policy)
    if ":" in policy or policy.endswith(".py"):
        up.error_key, up.error_params = "run.upload_policy", {"name": name, "policy": policy}
        return up
    up.path, up.scenario_name, up.duration_s = path, sc.name, float(sc.duration)
    return up


def scenario_facts(scenario: str | Path) -> dict:
    """Name, duration, stations, posts and unit description of a bundled or uploaded scenario (for the
    overrides and the idle modes offered)."""
    from policetwin.scenarios import load_scenario

    sc = load_scenario(scenario)
    units = sc.units
    groups = [
        {"name": g.name, "count": g.count, "idle": g.idle, "posts": [{"lon": p.lon, "lat": p.lat} for p in g.posts],
         "beat": g.beat is not None, "dwell": g.dwell is not None}
        for g in (units.groups or [])
    ]  # fmt: skip
    posts = [p for g in groups for p in g["posts"]]
    return {
        "name": sc.name,
        "duration_s": float(sc.duration),
        "stations": [s.name for s in sc.stations],
        "start": str(sc.start),
        "count": units.count,
        "groups": groups,
        "posts": [dict(p) for p in {(p["lon"], p["lat"]): p for p in posts}.values()],
        "per_station": dict(units.per_station or {}),
    }


def idle_modes(facts: dict) -> list[str]:
    """The idle modes a scenario can take: all of :data:`IDLE_MODES`, ``post`` only when it has posts."""
    return [m for m in IDLE_MODES if m != "post" or facts.get("posts")]


def overrides(params: RunParams, facts: dict) -> list[str]:
    """``--set`` assignments for the parameters given. Units: a count (per-station and grouped units are
    scaled in proportion); idle mode: every group's ``idle`` (scenarios without groups get one group per
    station with the units spread round-robin). ``post``: groups without posts of their own wait at all the
    scenario's posts; leaving ``post``, ``random_beat`` or ``hotspot``, a group drops what only that mode
    uses (``posts``, ``beat``, ``dwell``). ValueError for ``post`` in a scenario without posts."""
    out: list[str] = []
    groups = facts["groups"]
    n_units = params.units
    if params.idle == "post" and not facts.get("posts"):
        raise ValueError("the scenario has no posts")
    if params.rate_per_hour is not None:
        out.append(f"demand.rate_per_hour={params.rate_per_hour:g}")
    if params.policy is not None:
        out.append(f"dispatch.policy={params.policy}")
    if params.duration is not None:
        out.append(f"duration={params.duration}")
    if params.traffic is not None:
        out.append("travel.congestion=" + ("null" if params.traffic == "free" else params.traffic))
    if groups:
        total = sum(g["count"] for g in groups) or 1
        for i, g in enumerate(groups):
            if n_units is not None:
                out.append(f"units.groups.{i}.count={max(1, round(g['count'] * n_units / total))}")
            if params.idle is not None:
                out += _group_idle(i, g, params.idle, facts["posts"])
        if n_units is not None:
            out.append("units.count=null")
        return out
    stations = facts["stations"]
    if params.idle is not None and params.idle != "station" and stations:
        count = n_units if n_units is not None else _current_count(facts)
        spread = [
            count // len(stations) + (1 if i < count % len(stations) else 0) for i in range(len(stations))
        ]
        new = [
            {"name": st, "count": c, "station": st, "idle": params.idle}
            for st, c in zip(stations, spread, strict=True)
            if c > 0
        ]
        out.append("units=" + json.dumps({"count": None, "per_station": None, "groups": new}))
    elif n_units is not None:
        out += [f"units.count={n_units}", "units.per_station=null"]
    return out


def _group_idle(i: int, group: dict, idle: str, posts: list[dict]) -> list[str]:
    """The assignments that give group ``i`` the idle mode ``idle`` (and only the fields that mode uses)."""
    out = [f"units.groups.{i}.idle={idle}"]
    if idle == "post" and not group["posts"]:
        out.append(f"units.groups.{i}.posts={json.dumps(posts)}")
    elif idle != "post" and group["posts"]:
        out.append(f"units.groups.{i}.posts=[]")
    if group["beat"] and idle not in ("random_beat", "hotspot"):
        out.append(f"units.groups.{i}.beat=null")
    if group["dwell"] and idle != "hotspot":
        out.append(f"units.groups.{i}.dwell=null")
    return out


def _current_count(facts: dict) -> int:
    per_station = facts.get("per_station") or {}
    return (
        int(sum(per_station.values())) if per_station else int(facts.get("count") or len(facts["stations"]))
    )


def run_command(
    scenario: str | Path, out_dir: Path, sets: list[str], seed: int | None, progress_file: Path | None = None
) -> list[str]:
    """The ``policetwin run`` command line for a job (no progress bar; progress lines in ``progress_file``)."""
    cmd = [sys.executable, "-m", "policetwin", "run", str(scenario), "--out", str(out_dir), "--quiet"]
    if progress_file is not None:
        cmd += ["--progress-file", str(progress_file)]
    for item in sets:
        cmd += ["--set", item]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return cmd


def read_progress(file: Path, offset: int = 0) -> tuple[float | None, int]:
    """The last simulated time (s) in the CLI's ``--progress-file`` lines after byte ``offset`` (None if no
    complete line is new) and the offset to read from next time."""
    try:
        with open(file, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return None, offset
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    sim_t = None
    for line in data[:end].splitlines():
        try:
            value = json.loads(line).get("sim_t")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            sim_t = float(value)
    return sim_t, offset + end


def message_lines(stderr: str) -> list[str]:
    """The CLI's messages in its stderr, one per line, without colour codes."""
    return [line.strip() for line in re.split(r"[\r\n]+", _ANSI.sub("", stderr)) if line.strip()]


def execute(
    cmd: list[str], out_dir: Path, on_progress: Callable[[float | None], None], progress_file: Path
) -> JobResult:
    """Run the CLI (``cmd`` from :func:`run_command` with ``progress_file``), calling ``on_progress(sim_t)``
    whenever it writes a new progress line; blocks until it ends. The CLI writes the run directory
    atomically, so a killed job leaves no half-written run."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    offset, last = 0, None
    while True:
        ended = proc.poll() is not None
        sim_t, offset = read_progress(progress_file, offset)
        if sim_t is not None and sim_t != last:
            last = sim_t
            on_progress(sim_t)
        if ended:
            break
        time.sleep(0.1)
    reader.join()
    proc.stderr.close()  # type: ignore[union-attr]
    text = b"".join(stderr).decode("utf-8", "replace")
    return JobResult(proc.returncode, out_dir, message_lines(text), time.perf_counter() - started)


def check_params(units: object, rate: object, duration: object) -> list[tuple[str, str]]:
    """Problems with typed-in parameters as (field catalogue key, problem catalogue key)."""
    problems = []
    if units not in (None, "") and not (
        isinstance(units, int | float) and units >= 1 and float(units).is_integer()
    ):
        problems.append(("run.units", "run.bad_number"))
    if rate not in (None, "") and not (isinstance(rate, int | float) and rate > 0):
        problems.append(("run.rate", "run.bad_number"))
    if duration not in (None, ""):
        try:
            if parse_duration(str(duration)) <= 0:
                raise ValueError
        except ValueError:
            problems.append(("run.duration", "run.bad_duration"))
    return problems
