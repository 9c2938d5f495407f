"""Load, override and validate scenario files, reporting every problem at once with its YAML line.

Problems are formatted ``file:line: field.path: message``. YAML is always safe-loaded.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ValidationError

from policetwin.errors import ScenarioError
from policetwin.maps.load import describe_spec, exists_safely
from policetwin.scenarios.command import USER_POLICY
from policetwin.scenarios.schema import FieldProblems, Scenario

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


#: Scenario files larger than this are refused before parsing (real scenarios are a few kB; parsing
#: 256 kB takes ~0.2 s here, while a 5 MB file took 40 s to reject before this limit).
MAX_SCENARIO_BYTES = 256 * 1024
#: Deepest nesting of mappings and lists accepted (the scenario schema needs 5; libyaml's composer
#: recurses and crashes the process on ~10^5 levels).
MAX_DEPTH = 32
#: Most YAML nodes a document may stand for once aliases are expanded ("billion laughs" guard).
MAX_NODES = 100_000
_BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float"))


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml where available: ~3x faster
    """Safe loader with YAML 1.2 core-schema scalars: only ``true``/``false`` are booleans (``yes``,
    ``no``, ``on`` stay text), no base-60 numbers (``18:00`` stays text, not 1080), ``1e6`` is a
    number and ``010`` is ten."""

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node)
        if text[:2].lower() in ("0x", "0o"):
            return int(text, 0)
        return int(text, 10)


_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_constructor(_INT, _Loader.construct_yaml_int)
_DATES = yaml.SafeLoader("")  # builds single timestamps to check them (impossible dates)
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_shape(text: str, filename: str) -> None:
    """Refuse documents nested too deeply or expanding to too many nodes, from the event stream
    alone (linear time, no recursion), before anything builds a tree from them."""
    sizes: dict[str, int] = {}  # anchor -> expanded node count
    stack: list[list] = [[None, 0]]  # [anchor, node count] of each open collection
    line = 1
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1
        if isinstance(event, _COLLECTION_START):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > MAX_DEPTH:
                msg = f"{filename}:{line}: (yaml): nested more than {MAX_DEPTH} levels deep"
                raise ScenarioError([msg])
            continue
        if isinstance(event, _COLLECTION_END):
            anchor, count = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, count = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, count = None, sizes.get(event.anchor, 1)
        else:
            continue
        if anchor is not None:
            sizes[anchor] = count
        stack[-1][1] += count
        if stack[0][1] + sum(c for _, c in stack[1:]) > MAX_NODES:
            msg = f"{filename}:{line}: (yaml): expands to more than {MAX_NODES:,} values (aliases?)"
            raise ScenarioError([msg])


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], problems: list[str], filename: str) -> None:
    """Record the 1-based line of each key path, and every repeated key of a mapping as a problem."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
        try:
            _DATES.construct_yaml_timestamp(node)
        except ValueError as exc:
            where = ".".join(map(str, path)) or "(scenario)"
            problems.append(
                f"{filename}:{node.start_mark.line + 1}: {where}: not a valid date {node.value!r} ({exc})"
            )
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges; later keys override
                _walk(value_node, path, lines, problems, filename)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                where = ".".join(map(str, path)) or "(scenario)"
                problems.append(
                    f"{filename}:{line}: {where}: a key must be a plain name, not a list or mapping"
                )
                continue
            key = key_node.value
            field = ".".join(str(p) for p in (*path, key))
            if (key_node.tag, key) in seen:
                problems.append(
                    f"{filename}:{line}: {field}: duplicate key {key!r} (first on line "
                    f"{seen[key_node.tag, key]}); YAML would silently keep only the last value"
                )
                continue
            seen[key_node.tag, key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, filename)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, problems, filename)


def _syntax_problem(exc: yaml.YAMLError, text: str, filename: str) -> str:
    """``file:line: (yaml): syntax error: ...``, worded by the pure-Python parser where it can (libyaml's
    messages omit the offending character)."""
    if _Loader is not yaml.SafeLoader:
        try:
            yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as detailed:
            exc = detailed
        except RecursionError:
            pass
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, ...)
        line = text[: exc.position].count("\n") + 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{filename}:{line}: (yaml): syntax error: {problem}"


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[tuple, int]]:
    """Safe-load YAML text; returns (data, line map of key paths).

    Raises ScenarioError on syntax errors, duplicate keys, oversized or pathological documents.
    A UTF-8 byte-order mark and CRLF line ends are accepted.
    """
    text = text.removeprefix("\ufeff")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SCENARIO_BYTES:
        msg = f"{filename}:1: (file): larger than {MAX_SCENARIO_BYTES // 1024} kB; a scenario is a few kB"
        raise ScenarioError([msg])
    try:
        _check_shape(text, filename)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            lines: dict[tuple, int] = {}
            problems: list[str] = []
            if node is not None:
                _walk(node, (), lines, problems, filename)
            if problems:
                raise ScenarioError(problems)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ScenarioError([_syntax_problem(exc, text, filename)]) from None
    if data is None:
        raise ScenarioError([f"{filename}:1: (file): the scenario file is empty"])
    if not isinstance(data, dict):
        raise ScenarioError(
            [f"{filename}:1: (file): a scenario must be a mapping of keys, not {type(data).__name__}"]
        )
    return data, lines


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


def scenario_from_text(text: str, filename: str, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate scenario YAML text (see :func:`load_scenario`)."""
    data, lines = parse_yaml(text, filename)
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
