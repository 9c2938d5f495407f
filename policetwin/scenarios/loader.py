"""Load, override and validate scenario files, reporting every problem at once with its YAML line.

Problems are formatted ``file:line: field.path: message``. YAML is always safe-loaded.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from policetwin.errors import ScenarioError
from policetwin.maps.load import describe_spec, exists_safely
from policetwin.scenarios.command import USER_POLICY
from policetwin.scenarios.schema import FieldProblems, Scenario
from policetwin.scenarios.yamlfile import MAX_SCENARIO_BYTES, parse_yaml

BUNDLED_DIR = Path(str(resources.files("policetwin.scenarios") / "bundled"))
DEFAULT_SCENARIO = "coquimbo"


def bundled_scenarios() -> dict[str, Path]:
    """Bundled scenario names and their files."""
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.yaml"))}


def resolve_scenario_path(name_or_path: str | Path | None) -> Path:
    """A scenario file path from a path or a bundled scenario name (default: the bundled city)."""
    if name_or_path is None:
        name_or_path = DEFAULT_SCENARIO
    path = Path(name_or_path)
    if exists_safely(path) or path.suffix in (".yaml", ".yml"):
        return path
    bundled = bundled_scenarios()
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    return path


def apply_override(data: dict, assignment: str) -> tuple:
    """Apply one ``a.b.0.c=value`` override in place (value parsed as YAML); returns the key path."""
    if "=" not in assignment:
        raise ScenarioError([f"--set: {assignment!r}: expected path=value, e.g. units.count=12"])
    dotted, raw = assignment.split("=", 1)
    keys = [k for k in dotted.strip().split(".")]
    if not dotted.strip() or any(not k for k in keys):
        raise ScenarioError([f"--set: {assignment!r}: empty key in path {dotted!r}"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    path: list = []
    target: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(target, list):
            if not key.isdigit() or int(key) > len(target):
                msg = f"--set: {dotted}: index {key!r} is not valid for a list of {len(target)} items"
                raise ScenarioError([msg])
            key_used: Any = int(key)
            if key_used == len(target):
                target.append({} if not last else None)
        elif isinstance(target, dict):
            key_used = key
        else:
            raise ScenarioError([f"--set: {dotted}: {'.'.join(keys[:i])} is a value, not a mapping or list"])
        path.append(key_used)
        if last:
            target[key_used] = value
        else:
            if isinstance(target, dict) and key_used not in target:
                target[key_used] = [] if keys[i + 1].isdigit() else {}
            target = target[key_used]
    return tuple(path)


def _allowed_keys(loc: tuple) -> list[str]:
    """Field names allowed at the parent of ``loc`` (for unknown-key messages)."""
    model: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _overridden(loc: tuple, overridden: set[tuple]) -> bool:
    """Whether an override set ``loc``, a value inside it, or a value it contains."""
    return any(loc[: len(o)] == o or o[: len(loc)] == loc for o in overridden)


def _format_errors(err: dict, filename: str, lines: dict[tuple, int], overridden: set[tuple]) -> list[str]:
    """One pydantic error as problem lines; a :class:`FieldProblems` error gives one line per field."""
    found = (err.get("ctx") or {}).get("error")
    if isinstance(found, FieldProblems):
        return [
            _format_error({"loc": (*err["loc"], *sub), "type": "field_problem", "msg": msg}, filename, lines,
                          overridden)
            for sub, msg in found.problems
        ]  # fmt: skip
    return [_format_error(err, filename, lines, overridden)]


def _format_error(err: dict, filename: str, lines: dict[tuple, int], overridden: set[tuple]) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    probe = loc
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe, 1)
    field = ".".join(str(p) for p in loc) or "(scenario)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        msg = "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    elif err["type"] == "missing":
        msg = "required key is missing"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        if (
            "input" in err
            and err["type"] not in ("model_type",)
            and not isinstance(err["input"], (dict, list))
            and f"got {err['input']!r}" not in msg  # said already
            and not (isinstance(err["input"], str) and repr(err["input"]) in msg)
        ):
            msg += f" (got {err['input']!r})"
    if _overridden(loc, overridden):
        msg += " [from --set]"
    return f"{filename}:{line}: {field}: {msg}"


def load_scenario(source: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario (path or bundled name); ScenarioError lists all problems."""
    path = resolve_scenario_path(source)
    filename = str(path)
    try:
        if path.is_dir():
            raise ScenarioError([f"{filename}:1: (file): is a directory, not a scenario file"])
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            msg = f"{filename}:1: (file): larger than {MAX_SCENARIO_BYTES // 1024} kB; a scenario is a few kB"
            raise ScenarioError([msg])
        raw = path.read_bytes()
    except FileNotFoundError:
        names = ", ".join(bundled_scenarios())
        raise ScenarioError([f"{filename}:0: (file): no such file (bundled scenarios: {names})"]) from None
    except OSError as exc:
        raise ScenarioError([f"{filename}:0: (file): cannot read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        msg = (
            f"{filename}:{line}: (file): not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        )
        raise ScenarioError([msg]) from None
    scenario = scenario_from_text(text, filename, overrides)
    return _absolute_paths(scenario, path.parent)


def _absolute_paths(scenario: Scenario, base_dir: Path) -> Scenario:
    """Files named relative to the scenario file become absolute, so resolved copies still work: the
    map (also looked up from the working directory), a user policy's file and a districts file."""
    update: dict = {}
    if describe_spec(scenario.map) == "file" and not Path(scenario.map).expanduser().is_absolute():
        candidate = Path(scenario.map).expanduser()
        if not exists_safely(candidate) and exists_safely(base_dir / candidate):
            candidate = base_dir / candidate
        if exists_safely(candidate):
            update["map"] = str(candidate.resolve())
    dispatch: dict = {}
    m = USER_POLICY.match(scenario.dispatch.policy)
    if m and exists_safely(base_dir / Path(m["file"]).expanduser()):
        dispatch["policy"] = f"{(base_dir / Path(m['file']).expanduser()).resolve()}:{m['cls']}"
    districts = scenario.dispatch.districts
    if districts != "voronoi" and exists_safely(base_dir / Path(districts).expanduser()):
        dispatch["districts"] = str((base_dir / Path(districts).expanduser()).resolve())
    if dispatch:
        update["dispatch"] = scenario.dispatch.model_copy(update=dispatch)
    return scenario.model_copy(update=update) if update else scenario


def _from_folder(value: Any, base_dir: Path) -> Any:
    """A file reference (``FILE`` or ``{file: FILE, ...}``) made absolute when it names a file in
    ``base_dir``; anything else unchanged (then relative to the working directory)."""
    name = value if isinstance(value, str) else value.get("file") if isinstance(value, dict) else None
    if not isinstance(name, str) or not name or Path(name).expanduser().is_absolute():
        return value
    candidate = base_dir / Path(name).expanduser()
    if not exists_safely(candidate):
        return value
    found = str(candidate.resolve())
    return found if isinstance(value, str) else {**value, "file": found}


def _files_from_folder(data: Any, base_dir: Path) -> None:
    """``demand: FILE`` and ``units.groups[].forecast`` are read relative to the scenario's folder."""
    if not isinstance(data, dict):
        return
    if "demand" in data:
        data["demand"] = _from_folder(data["demand"], base_dir)
    groups = data.get("units", {}).get("groups") if isinstance(data.get("units"), dict) else None
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, dict) and "forecast" in group:
            group["forecast"] = _from_folder(group["forecast"], base_dir)


def _expand_demand(data: Any, overrides: list[str] | tuple[str, ...], filename: str, lines: dict) -> None:
    """With ``--set demand.x=...`` and ``demand: FILE``: the file's mapping in its place first."""
    if not isinstance(data, dict) or not any(o.strip().startswith("demand.") for o in overrides):
        return
    from policetwin.demandfit.include import expand_demand_file

    try:
        data["demand"] = expand_demand_file(data.get("demand"))
    except FieldProblems as exc:
        line = lines.get(("demand",), 1)
        raise ScenarioError([f"{filename}:{line}: demand: {msg}" for _, msg in exc.problems]) from None


def scenario_from_text(
    text: str,
    filename: str,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    base_dir: Path | None = None,
) -> Scenario:
    """Validate scenario YAML text (see :func:`load_scenario`); relative demand and forecast files are read
    from ``base_dir`` (default: the folder of ``filename``) when they are there."""
    data, lines = parse_yaml(text, filename)
    _files_from_folder(data, Path(filename).parent if base_dir is None else base_dir)
    _expand_demand(data, overrides, filename, lines)
    overridden = {apply_override(data, item) for item in overrides}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [line for e in exc.errors() for line in _format_errors(e, filename, lines, overridden)]
        raise ScenarioError(problems) from None


_UNLOCATED = re.compile(r"^(?P<file>.*):0: (?P<field>[\w.]+): (?P<msg>.*)$")


def locate_problems(problems: list[str], overrides: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Give problems found after validation (map, stations, hotspots: ``file:0: field: ...``) their YAML line."""
    cache: dict[str, dict[tuple, int]] = {}
    located = []
    for problem in problems:
        m = _UNLOCATED.match(problem)
        if m and Path(m["file"]).is_file():
            if m["file"] not in cache:
                try:
                    data, lines = parse_yaml(Path(m["file"]).read_text(encoding="utf-8"), m["file"])
                    overridden = {apply_override(data, item) for item in overrides}
                except ScenarioError:
                    lines, overridden = {}, set()
                cache[m["file"]] = lines
                cache[m["file"] + "\0set"] = overridden  # type: ignore[assignment]
            lines = cache[m["file"]]
            path = tuple(int(p) if p.isdigit() else p for p in m["field"].split("."))
            probe = path
            while probe and probe not in lines:
                probe = probe[:-1]
            tag = " [from --set]" if _overridden(path, cache[m["file"] + "\0set"]) else ""
            problem = f"{m['file']}:{lines.get(probe, 1)}: {m['field']}: {m['msg']}{tag}"
        located.append(problem)
    return located


def scenario_to_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario (defaults filled, durations in seconds) as YAML."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def scenario_sha256(scenario: Scenario) -> str:
    """Hash of the resolved scenario (identifies a configuration across runs)."""
    return hashlib.sha256(scenario_to_yaml(scenario).encode()).hexdigest()
