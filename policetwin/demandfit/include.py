"""``demand: FILE`` in a scenario: read a demand file (as written by ``policetwin demand fit``) in its place.

Forms: ``demand: demand.yaml`` or ``demand: {file: demand.yaml, model: hawkes}`` (keys beside ``file`` replace
the file's, so ``--set demand.model=...`` works on the mapping form). The file holds the demand mapping, or a
mapping with a ``demand:`` key. Relative paths are read from the scenario's folder (the loader makes
them absolute), else from the working directory. Problems inside the file
are reported with the file's own line: ``scenario.yaml:7: demand.kinds.0.share: in demand.yaml:12: ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


def _problem(loc: tuple, msg: str) -> Any:
    from policetwin.scenarios.base import FieldProblems

    return FieldProblems([(loc, msg)])


def _read(value: Any) -> tuple[dict, dict, tuple, Path, dict] | None:
    """(file's demand mapping with keys beside ``file`` merged in, its lines, key prefix, path, the keys
    beside ``file``) of a file reference; None for any other value."""
    if isinstance(value, str):
        name, extra = value, {}
    elif isinstance(value, dict) and isinstance(value.get("file"), str):
        name, extra = value["file"], {k: v for k, v in value.items() if k != "file"}
    else:
        return None
    from policetwin.errors import ScenarioError
    from policetwin.scenarios.yamlfile import MAX_SCENARIO_BYTES, parse_yaml

    path = Path(name).expanduser()
    loc = ("file",) if extra or isinstance(value, dict) else ()
    try:
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise _problem(loc, f"demand file {name} is larger than {MAX_SCENARIO_BYTES // 1024} kB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _problem(loc, f"demand file not found: {name} (relative paths are read from the scenario's "
                       f"folder, else the working directory {Path.cwd()}); or write the demand mapping here") from None  # fmt: skip
    except (OSError, UnicodeDecodeError) as exc:
        raise _problem(loc, f"cannot read demand file {name}: {exc}") from None
    try:
        data, lines = parse_yaml(text, str(path))
    except ScenarioError as exc:
        raise _problem(loc, "; ".join(exc.problems)) from None
    prefix: tuple = ()
    if isinstance(data, dict) and isinstance(data.get("demand"), dict):
        data, prefix = data["demand"], ("demand",)
    if not isinstance(data, dict):
        raise _problem(loc, f"demand file {name} must hold a mapping (rate_per_hour, kinds, ...)")
    replay = data.get("replay")
    base = path.parent
    if isinstance(replay, str) and not Path(replay).expanduser().is_absolute():
        data = {**data, "replay": str((base / Path(replay).expanduser()).resolve())}
    elif (
        isinstance(replay, dict)
        and isinstance(replay.get("file"), str)
        and not Path(replay["file"]).expanduser().is_absolute()
    ):
        data = {
            **data,
            "replay": {**replay, "file": str((base / Path(replay["file"]).expanduser()).resolve())},
        }
    return {**data, **extra}, lines, prefix, path, extra


def expand_demand_file(value: Any) -> Any:
    """The demand mapping a file reference stands for (so ``--set demand.x=...`` can change any of it);
    any other value unchanged. FieldProblems when the file cannot be read."""
    found = _read(value)
    return value if found is None else found[0]


def read_demand_file(value: Any, model: type[BaseModel]) -> Any:
    """The validated demand of a file reference; any other value is returned unchanged for the schema."""
    found = _read(value)
    if found is None:
        return value
    merged, lines, prefix, path, extra = found
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            sub = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            probe = (*prefix, *sub)
            while probe and probe not in lines:
                probe = probe[:-1]
            where = f"{path}:{lines.get(probe, 1)}"
            if sub and sub[0] in extra:
                where = "(given beside file)"
            msg = (
                "unknown key"
                if err["type"] == "extra_forbidden"
                else err["msg"].removeprefix("Value error, ")
            )
            problems.append((sub, f"in {where}: {msg}"))
        from policetwin.scenarios.base import FieldProblems

        raise FieldProblems(problems) from None
