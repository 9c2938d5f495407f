"""Runs started from the Run page: the ``policetwin run`` command line as a subprocess (the same entry
point, errors and run directory as the CLI), its progress read from the CLI's progress bar, and the
validation of uploaded scenarios with the CLI's ``file:line`` messages."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import sys
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
IDLE_MODES = ("station", "random_beat", "hotspot")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PROGRESS = re.compile(r"t=([0-9]+(?:\.[0-9]+)?)(s|min|h)\b")
_UNIT_S = {"s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RunParams:
    """The Run page's key parameters (None = as in the scenario)."""

    units: int | None = None
    rate_per_hour: float | None = None
    policy: str | None = None
    idle: str | None = None
    duration: str | None = None
    seed: int | None = None


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
    if len(raw) > MAX_UPLOAD_BYTES:
        up.error_key = "run.upload_too_large"
        up.error_params = {"name": name, "size_kb": len(raw) // 1024, "max_kb": MAX_UPLOAD_BYTES // 1024}
        return up
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
    """Name, duration, stations and unit description of a bundled or uploaded scenario (for overrides)."""
    from policetwin.scenarios import load_scenario

    sc = load_scenario(scenario)
    units = sc.units
    return {
        "name": sc.name,
        "duration_s": float(sc.duration),
        "stations": [s.name for s in sc.stations],
        "start": str(sc.start),
        "count": units.count,
        "groups": [{"name": g.name, "count": g.count} for g in (units.groups or [])],
        "per_station": dict(units.per_station or {}),
    }


def overrides(params: RunParams, facts: dict) -> list[str]:
    """``--set`` assignments for the parameters given. Units: a count (per-station and grouped units are
    scaled in proportion); idle mode: every group's ``idle`` (scenarios without groups get one group per
    station with the units spread round-robin)."""
    out: list[str] = []
    groups = facts["groups"]
    n_units = params.units
    if params.rate_per_hour is not None:
        out.append(f"demand.rate_per_hour={params.rate_per_hour:g}")
    if params.policy is not None:
        out.append(f"dispatch.policy={params.policy}")
    if params.duration is not None:
        out.append(f"duration={params.duration}")
    if groups:
        total = sum(g["count"] for g in groups) or 1
        for i, g in enumerate(groups):
            if n_units is not None:
                out.append(f"units.groups.{i}.count={max(1, round(g['count'] * n_units / total))}")
            if params.idle is not None:
                out.append(f"units.groups.{i}.idle={params.idle}")
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


def _current_count(facts: dict) -> int:
    per_station = facts.get("per_station") or {}
    return (
        int(sum(per_station.values())) if per_station else int(facts.get("count") or len(facts["stations"]))
    )


def run_command(scenario: str | Path, out_dir: Path, sets: list[str], seed: int | None) -> list[str]:
    """The ``policetwin run`` command line for a job."""
    cmd = [sys.executable, "-m", "policetwin", "run", str(scenario), "--out", str(out_dir)]
    for item in sets:
        cmd += ["--set", item]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return cmd


def parse_progress(text: str) -> float | None:
    """The last simulated time (s) shown by the CLI's progress bar in ``text`` (None if none)."""
    found = _PROGRESS.findall(_ANSI.sub("", text))
    if not found:
        return None
    value, unit = found[-1]
    return float(value) * _UNIT_S[unit]


def message_lines(stderr: str) -> list[str]:
    """The CLI's messages in its stderr, without the progress bar's redraws and colour codes."""
    lines = []
    for part in re.split(r"[\r\n]+", _ANSI.sub("", stderr)):
        part = part.strip()
        if part and not part.startswith("simulating"):
            lines.append(part)
    return lines


def execute(cmd: list[str], out_dir: Path, on_progress: Callable[[float | None], None]) -> JobResult:
    """Run the CLI, calling ``on_progress(sim_t)`` whenever its progress bar moves; blocks until it ends.
    The CLI writes the run directory atomically, so a killed job leaves no half-written run."""
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("NO_COLOR", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    assert proc.stderr is not None
    buffer = ""
    last: float | None = None
    while True:
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        buffer += chunk.decode("utf-8", "replace")
        sim_t = parse_progress(buffer[-2000:])
        if sim_t is not None and sim_t != last:
            last = sim_t
            on_progress(sim_t)
        if len(buffer) > 1_000_000:
            buffer = buffer[-200_000:]
    code = proc.wait()
    return JobResult(code, out_dir, message_lines(buffer), time.perf_counter() - started)


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
