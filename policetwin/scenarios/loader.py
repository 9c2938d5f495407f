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
from policetwin.scenarios.schema import Scenario

BUNDLED_DIR = Path(str(resources.files("policetwin.scenarios") / "bundled"))
DEFAULT_SCENARIO = "coquimbo"
_MAX_BYTES = 5 * 1024 * 1024


def bundled_scenarios() -> dict[str, Path]:
    """Bundled scenario names and their files."""
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.yaml"))}


def resolve_scenario_path(name_or_path: str | Path | None) -> Path:
    """A scenario file path from a path or a bundled scenario name (default: the bundled city)."""
    if name_or_path is None:
        name_or_path = DEFAULT_SCENARIO
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    bundled = bundled_scenarios()
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    return path


def _line_map(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path in a composed YAML tree to its 1-based line number."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _line_map(item, (*path, i), out)
    return out


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[tuple, int]]:
    """Safe-load YAML text; returns (data, line map). Raises ScenarioError on syntax errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError([f"{filename}:{line}: (yaml): syntax error: {problem}"]) from None
    if node is None or data is None:
        raise ScenarioError([f"{filename}:1: (file): the scenario file is empty"])
    if not isinstance(data, dict):
        raise ScenarioError(
            [f"{filename}:1: (file): a scenario must be a mapping of keys, not {type(data).__name__}"]
        )
    return data, _line_map(node)


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
            and not (isinstance(err["input"], str) and repr(err["input"]) in msg)  # said already
        ):
            msg += f" (got {err['input']!r})"
    if any(loc[: len(o)] == o for o in overridden):
        msg += " [from --set]"
    return f"{filename}:{line}: {field}: {msg}"


def load_scenario(source: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario (path or bundled name); ScenarioError lists all problems."""
    path = resolve_scenario_path(source)
    filename = str(path)
    try:
        if path.is_dir():
            raise ScenarioError([f"{filename}:1: (file): is a directory, not a scenario file"])
        if path.stat().st_size > _MAX_BYTES:
            raise ScenarioError([f"{filename}:1: (file): larger than {_MAX_BYTES // 1024**2} MB"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        names = ", ".join(bundled_scenarios())
        raise ScenarioError([f"{filename}:0: (file): no such file (bundled scenarios: {names})"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{filename}:0: (file): cannot read: {exc}"]) from None
    scenario = scenario_from_text(text, filename, overrides)
    return _absolute_map_path(scenario, path.parent)


def _absolute_map_path(scenario: Scenario, base_dir: Path) -> Scenario:
    """Map files named relative to the scenario file become absolute, so resolved copies still work."""
    from policetwin.maps.load import describe_spec

    if describe_spec(scenario.map) != "file" or Path(scenario.map).expanduser().is_absolute():
        return scenario
    candidate = Path(scenario.map).expanduser()
    if not candidate.exists() and (base_dir / candidate).exists():
        candidate = base_dir / candidate
    if candidate.exists():
        return scenario.model_copy(update={"map": str(candidate.resolve())})
    return scenario


def scenario_from_text(text: str, filename: str, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate scenario YAML text (see :func:`load_scenario`)."""
    data, lines = parse_yaml(text, filename)
    overridden = {apply_override(data, item) for item in overrides}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [_format_error(e, filename, lines, overridden) for e in exc.errors()]
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
            tag = " [from --set]" if any(path[: len(o)] == o for o in cache[m["file"] + "\0set"]) else ""
            problem = f"{m['file']}:{lines.get(probe, 1)}: {m['field']}: {m['msg']}{tag}"
        located.append(problem)
    return located


def scenario_to_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario (defaults filled, durations in seconds) as YAML."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def scenario_sha256(scenario: Scenario) -> str:
    """Hash of the resolved scenario (identifies a configuration across runs)."""
    return hashlib.sha256(scenario_to_yaml(scenario).encode()).hexdigest()
