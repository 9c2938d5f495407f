"""Reading scenario YAML safely: one libyaml pass with YAML 1.2 scalars, duplicate keys refused with
both lines, and oversized or pathological documents (size, nesting depth, alias expansion) refused
before any tree is built. :func:`parse_yaml` returns the data and the YAML line of every key path.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

from policetwin.errors import ScenarioError

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
