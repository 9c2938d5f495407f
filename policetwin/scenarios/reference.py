"""The scenario reference (docs/reference.md, docs/reference.zh.md), generated from the pydantic schema.

Every key of :class:`~policetwin.scenarios.schema.Scenario` and its nested models gets its type, default,
unit, allowed values (from ``Scenario.model_json_schema()``) and a description in English and Chinese
(Field descriptions where the schema has them, else :data:`CATALOGUE`). Regenerate after a schema change::

    python -m policetwin.scenarios.reference          # writes both files
    python -m policetwin.scenarios.reference --check  # exit 1 if they differ from the code

``tests/test_reference.py`` fails when the committed files drift from the schema or a key lacks a text.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from policetwin.scenarios.reference_text import CATALOGUE
from policetwin.scenarios.schema import Scenario

DOCS = Path(__file__).resolve().parents[2] / "docs"
FILES = {"en": "reference.md", "zh": "reference.zh.md"}

#: Validators (by function name) that make a plain number or string a richer type: en, zh.
_KINDS = {
    "parse_duration": ("duration", "时长"),
    "parse_start": ("weekday + time or ISO date-time", "星期 + 时刻或 ISO 日期时间"),
    "_event_time": ("offset (duration) or clock time HH:MM", "偏移时长或时刻 HH:MM"),
    "parse_window": ("shift window HH:MM-HH:MM", "班次时段 HH:MM-HH:MM"),
}
_TYPES = {
    "en": {"integer": "integer", "number": "number", "string": "text", "boolean": "boolean", "object": "mapping",
           "null": "null", "list": "list of {}", "map": "mapping to {}"},
    "zh": {"integer": "整数", "number": "数值", "string": "文本", "boolean": "布尔值", "object": "映射",
           "null": "null", "list": "{}列表", "map": "映射到{}"},
}  # fmt: skip
_WORDS = {
    "en": {"title": "Scenario reference", "key": "key", "type": "type", "default": "default", "unit": "unit",
           "allowed": "allowed values", "desc": "description", "required": "required", "used": "Used at",
           "model_default": "defaults of its keys", "items": "items",
           "intro": "Generated from the pydantic schema (`policetwin/scenarios/`) by "
                    "`python -m policetwin.scenarios.reference`; do not edit by hand (a test compares it with "
                    "the code). Durations are seconds or text such as `90s`, `15min`, `2h`, `30d`; "
                    "coordinates are lon/lat in WGS84 degrees; numbers must be numbers; unknown keys are "
                    "errors. `[]` in a path: each item of a list. 中文: [reference.zh.md](reference.zh.md)."},
    "zh": {"title": "场景参考", "key": "键", "type": "类型", "default": "默认值", "unit": "单位",
           "allowed": "取值范围", "desc": "说明", "required": "必填", "used": "出现位置",
           "model_default": "各键取默认值", "items": "项",
           "intro": "由 pydantic 模式（`policetwin/scenarios/`）经 `python -m policetwin.scenarios.reference` "
                    "生成；请勿手工编辑（测试会与代码比对）。时长为秒数或 `90s`、`15min`、`2h`、`30d` 等文本；"
                    "坐标为 WGS84 经纬度（度）；数值必须是数字；未知的键会报错。路径中的 `[]` 表示列表中的每一项。"
                    "English: [reference.md](reference.md)."},
}  # fmt: skip
#: Units by key name (suffix or exact); symbols are the same in both languages.
_UNITS = (("_per_10k_per_hour", "1/(10k p·h)"), ("rate_per_hour", "1/h"), ("_p_m2", "p/m²"),
          ("_kph", "km/h"), ("_m", "m"), ("lon", "° (WGS84)"), ("lat", "° (WGS84)"))  # fmt: skip


def iter_models(root: type[BaseModel] = Scenario) -> list[tuple[type[BaseModel], list[str]]]:
    """Every model under ``root`` (depth first, each once) with the key paths where it appears."""
    found: dict[type[BaseModel], list[str]] = {}

    def visit(model: type[BaseModel], path: str) -> None:
        first = model not in found
        found.setdefault(model, []).append(path)
        if not first:
            return
        for name, field in model.model_fields.items():
            for sub, is_list in _submodels(field.annotation):
                visit(sub, f"{path}.{name}{'[]' if is_list else ''}".lstrip("."))

    visit(root, "")
    return list(found.items())


def _submodels(annotation: object, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, in_list)]
    origin = typing.get_origin(annotation)
    out = []
    for arg in typing.get_args(annotation):
        out += _submodels(arg, in_list or origin is list)
    return out


def schema_keys() -> list[tuple[str, str]]:
    """(model name, field name) of every key in the schema."""
    return [(model.__name__, name) for model, _ in iter_models() for name in model.model_fields]


def describe(model: str, key: str, lang: str) -> str:
    """The description of ``model.key`` in ``lang`` (the Field's own where given, in English)."""
    entry = CATALOGUE.get(f"{model}.{key}") or CATALOGUE.get(f"*.{key}")
    return "" if entry is None else entry[0 if lang == "en" else 1]


def _validator_kind(field: FieldInfo) -> str | None:
    names = [getattr(getattr(m, "func", None), "__name__", "") for m in field.metadata]

    def walk(annotation: object) -> None:
        for arg in typing.get_args(annotation):
            names.extend(
                getattr(getattr(m, "func", None), "__name__", "") for m in getattr(arg, "__metadata__", ())
            )
            walk(arg)

    walk(field.annotation)
    return next((n for n in names if n in _KINDS), None)


def _type(node: dict, lang: str, kind: str | None) -> str:
    words = _TYPES[lang]
    if "$ref" in node:
        return f"`{node['$ref'].rsplit('/', 1)[1]}`"
    if "anyOf" in node:
        parts = [_type(n, lang, kind) for n in node["anyOf"]]
        return " | ".join(dict.fromkeys(parts))
    t = node.get("type")
    if t == "array":
        return words["list"].format(_type(node.get("items", {}), lang, kind))
    if t == "object" and isinstance(node.get("additionalProperties"), dict):
        return words["map"].format(_type(node["additionalProperties"], lang, None))
    if kind and t in ("number", "string"):
        return _KINDS[kind][0 if lang == "en" else 1]
    return words.get(t, "any")


def _allowed(node: dict, lang: str) -> str:
    """Enum values and bounds of a schema node (its non-null alternatives, list items, mapping values)."""
    out = []
    for n in node.get("anyOf", [node]):
        if "enum" in n:
            out.append(", ".join(f"`{v}`" for v in n["enum"]))
        bounds = [f"{op} {_num(n[k])}" for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"),
                  ("maximum", "≤"), ("exclusiveMaximum", "<")) if k in n]  # fmt: skip
        if bounds:
            out.append(", ".join(bounds))
        if "minItems" in n or "maxItems" in n:
            lo, hi = n.get("minItems", 0), n.get("maxItems")
            out.append(f"{lo}–{hi} {_WORDS[lang]['items']}" if hi else f"≥ {lo} {_WORDS[lang]['items']}")
        for sub in ("items", "additionalProperties"):
            if isinstance(n.get(sub), dict) and "$ref" not in n[sub]:
                inner = _allowed(n[sub], lang)
                out += [inner] if inner else []
    return "; ".join(out)


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10_000 else f"{value:g}"


def _flow(value: object) -> str:
    """A value in compact YAML flow style (nulls inside mappings left out)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and "name" in v for v in value):
            return "[" + ", ".join(str(v["name"]) for v in value) + "]"
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _default(field: FieldInfo, node: dict, lang: str) -> str:
    words = _WORDS[lang]
    if field.is_required():
        return words["required"]
    value = to_jsonable_python(field.get_default(call_default_factory=True))
    if isinstance(value, dict) and value and "$ref" in node:
        return words["model_default"]
    text = _flow(value)
    return f"`{text}`" if text.strip() else '`""`'


def _unit(name: str, kind: str | None) -> str:
    if kind == "parse_duration":
        return "s"
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(lang: str) -> str:
    """The whole reference page in ``lang`` (``en`` or ``zh``)."""
    words = _WORDS[lang]
    defs = Scenario.model_json_schema()["$defs"]
    root = Scenario.model_json_schema()
    lines = [f"# {words['title']}", "", words["intro"], ""]
    for model, paths in iter_models():
        name = model.__name__
        schema = root if model is Scenario else defs[name]
        title = "`scenario`" if model is Scenario else f"`{paths[0]}`"
        lines += [f"## {title} — {name}", ""]
        intro = describe(name, "", lang)
        lines += [intro, ""] if intro else []
        if len(paths) > 1:
            lines += [f"{words['used']}: " + ", ".join(f"`{p}`" for p in paths), ""]
        head = [words[k] for k in ("key", "type", "default", "unit", "allowed", "desc")]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key, field in model.model_fields.items():
            node = schema["properties"][key]
            kind = _validator_kind(field)
            text = field.description if (field.description and lang == "en") else describe(name, key, lang)
            row = [f"`{key}`", _type(node, lang, kind), _default(field, node, lang), _unit(key, kind),
                   _allowed(node, lang), text]  # fmt: skip
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    return "\n".join(lines)


def write(docs: Path = DOCS) -> list[Path]:
    """Write both reference pages into ``docs``; returns their paths."""
    out = []
    for lang, file in FILES.items():
        path = docs / file
        path.write_text(render(lang), encoding="utf-8")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m policetwin.scenarios.reference [--check]``."""
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        stale = [f for lang, f in FILES.items() if (DOCS / f).read_text(encoding="utf-8") != render(lang)]
        print(json.dumps({"stale": stale}))
        return 1 if stale else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
