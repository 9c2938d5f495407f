"""A large corpus of bad and edge-case input for the ``policetwin`` CLI, run through ``validate`` and ``run``.

The rules every case proves:

- bad input: exit 2 from both ``validate FILE`` and ``run FILE --out DIR -q`` (they agree, with the same
  problem lines), one ``FILE:LINE: field.path: message`` line per problem (``error: ...`` for problems
  with CLI arguments such as ``--out``), the message names the field, no traceback, and nothing left
  behind (no run directory, no ``.x.tmp-*``, no ``.x.lock``, no created parent folder);
- valid input, edge cases included: exit 0 from both, and the run directory holds its files.

Runs use the small bundled Helsinki map and a 2 h scenario (well under a second each, in process).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
import resource
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner
from yaml_text import SMALL, edit, line_of

from policetwin.cli import app
from policetwin.scenarios import load_scenario, scenario_from_text

#: The scenario every case edits: block style, every field on its own line (for line-number checks).
BASE = SMALL
BASE_SCENARIO = scenario_from_text(BASE, "base.yaml")
RUN_FILES = {
    "summary.json",
    "incidents.parquet",
    "units.parquet",
    "assignments.parquet",
    "scenario.yaml",
    "trips.parquet",
    "nodes.parquet",
    "roads.parquet",
}
#: Seconds a guarded ``run`` (a case that may run away) gets before it counts as hung.
GUARD_TIMEOUT_S = 30.0


# ------------------------------------------------------------------------------------------- helpers
def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def _child(send, args: list[str]) -> None:
    """Run the CLI in a forked child with a memory cap, sending back what a CliRunner result holds."""
    with open("/proc/self/status") as fh:
        vm_kb = int(fh.read().split("VmSize:")[1].split()[0])
    cap = vm_kb * 1024 + (3 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    result = invoke(*args)
    exc = result.exception
    send.send((result.exit_code, result.stdout, result.stderr,
               None if exc is None or isinstance(exc, SystemExit) else repr(exc)))  # fmt: skip


def invoke_guarded(*args: str | Path, timeout: float = GUARD_TIMEOUT_S):
    """``invoke`` in a forked child (memory capped, killed after ``timeout``): for input that might make
    a run allocate without bound or never end, so that a bug fails the case instead of the suite."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, [str(a) for a in args]))
    proc.start()
    send.close()
    try:
        if not recv.poll(timeout):
            proc.kill()
            pytest.fail(f"{' '.join(map(str, args))}: still running after {timeout:.0f} s (killed)")
        try:
            code, stdout, stderr, exc = recv.recv()
        except EOFError:
            pytest.fail(f"{' '.join(map(str, args))}: the process died (exit {proc.exitcode})")
    finally:
        proc.join(10)
    exception = SystemExit(code) if exc is None else RuntimeError(exc)
    return SimpleNamespace(exit_code=code, stdout=stdout, stderr=stderr, output=stdout + stderr,
                           exception=exception)  # fmt: skip


def describe(result) -> str:
    return f"exit {result.exit_code}, exception {result.exception!r}, stderr:\n{result.stderr}"


def assert_agree(checked, ran, code: int) -> None:
    """``validate`` and ``run`` both exit ``code`` (shows both outcomes when not)."""
    assert (checked.exit_code, ran.exit_code) == (code, code), (
        f"validate: {describe(checked)}\nrun: {describe(ran)}"
    )


def assert_clean_exit(result, code: int) -> None:
    """Exit ``code`` through typer (no escaped exception) and no traceback on stdout or stderr."""
    assert result.exit_code == code, describe(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.output


def problem_lines(result) -> list[str]:
    """The stderr lines that report problems (warnings, ``file:line: field: warning: ...``, are not)."""
    return [line for line in result.stderr.splitlines() if line.strip() and ": warning: " not in line]


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (hidden ones too) with a digest of each file's content."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
        for p in sorted(root.rglob("*"))
    }


def as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def as_text(text: str | bytes) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def apply(*edits: tuple[str, str], text: str = BASE) -> str:
    for old, new in edits:
        text = edit(text, old, new)
    return text


def section(key: str, new: str, text: str = BASE) -> str:
    """``text`` with the top-level block ``key:`` (its line and the indented lines under it) replaced."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    return "".join(lines[:start]) + new + "".join(lines[end:])


def add_hotspots(*items: str) -> str:
    listing = "".join(f"    - {item}\n" for item in items)
    return apply(("  rate_per_hour: 8\n", f"  rate_per_hour: 8\n  hotspots:\n{listing}"))


_PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<field>.+?): (?P<msg>.+)$")


def assert_problems(result, path: Path, text: str | bytes, field: str | tuple[str, ...], fragment: str,
                    needle: str | None, count: int) -> None:  # fmt: skip
    """``count`` problem lines ``path:LINE: field: message``; one names ``field`` (or one of several
    acceptable fields), holds ``fragment`` and, given a ``needle``, the line of the text holding it."""
    assert_clean_exit(result, 2)
    problems = problem_lines(result)
    assert len(problems) == count, problems
    n_lines = len(as_text(text).splitlines())
    parsed = []
    for problem in problems:
        m = _PROBLEM.match(problem)
        assert m and m["file"] == str(path), f"not {path}:LINE: field: message: {problem!r}"
        assert 1 <= int(m["line"]) <= max(n_lines, 1) + 1, f"line out of the file: {problem!r}"
        parsed.append(m)
    fields = (field,) if isinstance(field, str) else field
    hits = [m for m in parsed if m["field"] in fields]
    assert hits, f"no problem names {' or '.join(fields)}: {problems}"
    m = hits[0]
    assert fragment.lower() in m["msg"].lower(), f"{fragment!r} not in {m.string!r}"
    if needle is not None:
        expected = line_of(as_text(text), needle)
        assert int(m["line"]) == expected, f"expected line {expected} ({needle!r}): {m.string!r}"


def fixtures(folder: Path) -> None:
    """Files some cases name as maps: a folder, an unsupported kind, empty files, maps without roads."""
    (folder / "mapdir").mkdir()
    (folder / "roads.csv").write_text("a,b\n1,2\n")
    for name in ("empty.osm.pbf", "empty.osm", "empty.graphml"):
        (folder / name).write_bytes(b"")
    (folder / "noroads.osm").write_text('<osm version="0.6"><node id="1" lat="60.17" lon="24.94"/></osm>\n')
    (folder / "nonodes.graphml").write_text(
        '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        '<graph edgedefault="directed"></graph></graphml>\n'
    )
    (folder / "oneway.osm").write_text(
        '<osm version="0.6"><node id="1" lat="60.17" lon="24.94"/><node id="2" lat="60.171" lon="24.94"/>'
        '<way id="5"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/>'
        "</way></osm>\n"
    )


# ---------------------------------------------------------------------------------- the bad corpus
def bad(case_id: str, text: str | bytes, field: str | tuple[str, ...], fragment: str = "",
        needle: str | None = None, count: int = 1, guard: bool = False):  # fmt: skip
    return pytest.param(text, field, fragment, needle, count, guard, id=case_id)


ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
FLOW_KINDS_0 = "on_scene: {dist: exponential, mean: 20min}"
FLOW_KINDS_1 = "on_scene: {dist: lognormal, mean: 15min, sd: 5min}"

YAML_CASES = [
    bad("tab-indent", apply(("  count: 3", "\tcount: 3")), "(yaml)", "syntax error", "\tcount: 3"),
    bad("unclosed-bracket", apply(("name: Pasila", "name: [Pasila")), "(yaml)", "syntax error"),
    bad("unclosed-flow-mapping", apply((FLOW_KINDS_0, FLOW_KINDS_0[:-1])), "(yaml)", "syntax error"),
    bad("unclosed-double-quote", apply(("name: small", 'name: "small')), "(yaml)", "syntax error"),
    bad("unclosed-single-quote", apply(("name: small", "name: 'small")), "(yaml)", "syntax error"),
    bad("bad-escape-in-quotes", apply(("name: small", 'name: "sm\\qall"')), "(yaml)", "syntax error",
        'name: "sm\\qall"'),
    bad("over-indented-key", apply(("  kinds:\n", "    kinds:\n")), "(yaml)", "syntax error", "    kinds:"),
    bad("under-indented-list-key", apply(("    lat: 60.1690", "   lat: 60.1690")), "(yaml)", "syntax error"),
    bad("two-documents", BASE + "---\nname: second\n", "(yaml)", "another document"),
    bad("content-after-document-end", BASE + "...\nname: second\n", "(yaml)", "syntax error"),
    bad("yaml-2-directive", "%YAML 2.0\n---\n" + BASE, "(yaml)", "syntax error"),
    bad("list-at-top-level", "- name: small\n- seed: 3\n", "(file)", "must be a mapping"),
    bad("string-at-top-level", "just a sentence\n", "(file)", "must be a mapping"),
    bad("number-at-top-level", "42\n", "(file)", "must be a mapping"),
    bad("empty-file", "", "(file)", "empty"),
    bad("only-comments", "# a scenario\n# to be written\n", "(file)", "empty"),
    bad("only-blank-lines", "\n   \n\n", "(file)", "empty"),
    bad("only-document-marker", "---\n", "(file)", "empty"),
    bad("null-document", "~\n", "(file)", "empty"),
    bad("not-utf8-latin1", as_bytes(BASE).replace(b"name: small", b"name: caf\xe9"), "(file)", "not UTF-8",
        "name: caf"),
    bad("not-utf8-utf16", BASE.encode("utf-16"), "(file)", "not UTF-8"),
    bad("duplicate-top-level-key", apply(("seed: 3\n", "seed: 3\nseed: 4\n")), "seed", "duplicate key",
        "seed: 4"),
    bad("duplicate-nested-key", apply(("  count: 3\n", "  count: 3\n  count: 4\n")), "units.count",
        "duplicate key", "  count: 4"),
    bad("duplicate-key-in-flow-mapping", apply((FLOW_KINDS_0, "on_scene: {dist: exponential, mean: 20min, "
        "mean: 30min}")), "demand.kinds.0.on_scene.mean", "duplicate key", "mean: 30min"),
    bad("duplicate-key-in-list-item", apply(("    lat: 60.1690\n", "    lat: 60.1690\n    lat: 60.17\n")),
        "stations.0.lat", "duplicate key", "    lat: 60.17"),
    bad("duplicate-section", BASE + "units:\n  count: 4\n", "units", "duplicate key"),
    bad("list-as-key", BASE + "? [a, b]\n: 1\n", "(scenario)", "key must be a plain name", "? [a, b]"),
    bad("mapping-as-nested-key", apply(("  count: 3\n", "  count: 3\n  ? {a: 1}\n  : 2\n")), "units",
        "key must be a plain name", "? {a: 1}"),
    bad("nested-1000-levels", "name: deep\nstuff: " + "[" * 1000 + "]" * 1000 + "\n", "(yaml)",
        "nested more than"),
    bad("nested-1000-mappings", "name: deep\nstuff: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", "(yaml)",
        "nested more than"),
    bad("alias-bomb", ALIAS_BOMB, "(yaml)", "expands to more than"),
    bad("alias-bomb-in-scenario", BASE + ALIAS_BOMB.replace("a: &a", "lol: &a"), "(yaml)",
        "expands to more than"),
    bad("oversized-comments", BASE + "# padding\n" * 30000, "(file)", "larger than 256 kB"),
    bad("oversized-one-line", BASE + "# " + "x" * 300_000 + "\n", "(file)", "larger than 256 kB"),
    bad("nul-byte-in-value", apply(("name: small", "name: sm\x00all")), "(yaml)", "syntax error",
        "name: sm"),
    bad("nul-byte-at-end", BASE + "\x00", "(yaml)", "syntax error"),
    bad("python-object-tag", apply(("name: small", "name: !!python/object/apply:os.system ['echo hi']")),
        "(yaml)", "syntax error", "name: !!python"),
    bad("unknown-local-tag", apply(("name: small", "name: !secret small")), "(yaml)", "syntax error",
        "name: !secret"),
    bad("undefined-alias", apply(("  count: 3", "  count: *nope")), "(yaml)", "syntax error", "count: *nope"),
    bad("impossible-date-value", apply(("name: small", "name: 2026-02-30")), ("name", "(yaml)"), "",
        "name: 2026-02-30"),
]  # fmt: skip

TYPE_CASES = [
    bad("count-yes", apply(("count: 3", "count: yes")), "units.count", "valid integer", "count: yes"),
    bad("count-true", apply(("count: 3", "count: true")), "units.count", "valid integer", "count: true"),
    bad("count-on", apply(("count: 3", "count: on")), "units.count", "valid integer", "count: on"),
    bad("count-quoted-number", apply(("count: 3", 'count: "3"')), "units.count", "valid integer", "count:"),
    bad("count-float", apply(("count: 3", "count: 3.5")), "units.count", "valid integer", "count: 3.5"),
    bad("count-exponent-string", apply(("count: 3", "count: 1e12")), "units.count", "valid integer",
        "count: 1e12"),
    bad("count-1e12", apply(("count: 3", "count: 1000000000000")), "units.count", "less than or equal",
        "count: 1000000000000"),
    bad("count-inf", apply(("count: 3", "count: .inf")), "units.count", "valid integer", "count: .inf"),
    bad("count-nan", apply(("count: 3", "count: .nan")), "units.count", "valid integer", "count: .nan"),
    bad("count-list", apply(("count: 3", "count: [3]")), "units.count", "valid integer", "count: [3]"),
    bad("count-mapping", apply(("count: 3", "count: {n: 3}")), "units.count", "valid integer", "count: {n"),
    bad("count-null", apply(("count: 3", "count: null")), "units", "give count", "units:"),
    bad("count-zero", apply(("count: 3", "count: 0")), "units.count", "greater than or equal to 1",
        "count: 0"),
    bad("count-negative", apply(("count: 3", "count: -2")), "units.count", "greater than or equal to 1",
        "count: -2"),
    bad("seed-float", apply(("seed: 3", "seed: 1.5")), "seed", "valid integer", "seed: 1.5"),
    bad("seed-negative", apply(("seed: 3", "seed: -1")), "seed", "greater than or equal to 0", "seed: -1"),
    bad("seed-quoted", apply(("seed: 3", "seed: '3'")), "seed", "valid integer", "seed: '3'"),
    bad("seed-bool", apply(("seed: 3", "seed: no")), "seed", "valid integer", "seed: no"),
    bad("rate-quoted-number", apply(("rate_per_hour: 8", 'rate_per_hour: "6"')), "demand.rate_per_hour",
        "valid number", "rate_per_hour"),
    bad("rate-bool", apply(("rate_per_hour: 8", "rate_per_hour: true")), "demand.rate_per_hour",
        "valid number", "rate_per_hour"),
    bad("rate-zero", apply(("rate_per_hour: 8", "rate_per_hour: 0")), "demand.rate_per_hour",
        "greater than 0", "rate_per_hour"),
    bad("rate-negative", apply(("rate_per_hour: 8", "rate_per_hour: -3")), "demand.rate_per_hour",
        "greater than 0", "rate_per_hour"),
    bad("rate-inf", apply(("rate_per_hour: 8", "rate_per_hour: .inf")), "demand.rate_per_hour", "",
        "rate_per_hour"),
    bad("rate-nan", apply(("rate_per_hour: 8", "rate_per_hour: .nan")), "demand.rate_per_hour", "",
        "rate_per_hour"),
    bad("rate-1e300", apply(("rate_per_hour: 8", "rate_per_hour: 1.0e+300")), "demand.rate_per_hour", "",
        "rate_per_hour", guard=True),
    bad("rate-null", apply(("rate_per_hour: 8", "rate_per_hour: null")), "demand.rate_per_hour",
        "valid number", "rate_per_hour"),
    bad("rate-list", apply(("rate_per_hour: 8", "rate_per_hour: [8]")), "demand.rate_per_hour",
        "valid number", "rate_per_hour"),
    bad("duration-inf", apply(("duration: 2h", "duration: .inf")), "duration", "finite", "duration:"),
    bad("duration-nan", apply(("duration: 2h", "duration: .nan")), "duration", "", "duration:"),
    bad("duration-1e300", apply(("duration: 2h", "duration: 1.0e+300")), "duration", "", "duration:",
        guard=True),
    bad("duration-bool", apply(("duration: 2h", "duration: yes")), "duration", "duration", "duration:"),
    bad("duration-list", apply(("duration: 2h", "duration: [2h]")), "duration", "duration", "duration:"),
    bad("duration-null", apply(("duration: 2h", "duration: null")), "duration", "duration", "duration:"),
    bad("duration-zero", apply(("duration: 2h", "duration: 0")), "duration", "greater than 0", "duration:"),
    bad("takers-zero", apply(("takers: 2", "takers: 0")), "call_handling.takers", "greater than or equal",
        "takers: 0"),
    bad("takers-quoted", apply(("takers: 2", "takers: '2'")), "call_handling.takers", "valid integer",
        "takers:"),
    bad("name-null", apply(("name: small", "name: null")), "name", "valid string", "name: null"),
    bad("name-empty", apply(("name: small", "name: ''")), "name", "at least 1 character", "name: ''"),
    bad("name-list", apply(("name: small", "name: [a, b]")), "name", "valid string", "name: [a, b]"),
    bad("name-number", apply(("name: small", "name: 42")), "name", "valid string", "name: 42"),
    bad("map-null", apply(("map: helsinki", "map: null")), "map", "valid string", "map: null"),
    bad("map-number", apply(("map: helsinki", "map: 12")), "map", "valid string", "map: 12"),
    bad("map-empty", apply(("map: helsinki", "map: ''")), "map", "at least 1 character", "map: ''"),
    bad("stations-mapping", section("stations", "stations: {name: Pasila, lon: 24.934, lat: 60.169}\n"),
        "stations", "valid list", "stations:"),
    bad("stations-empty", section("stations", "stations: []\n"), "stations", "at least 1", "stations:"),
    bad("stations-null", section("stations", "stations:\n"), "stations", "valid list", "stations:"),
    bad("station-name-number", apply(("name: Pasila", "name: 7")), "stations.0.name", "valid string",
        "name: 7"),
    bad("lon-quoted", apply(("lon: 24.9340", 'lon: "24.9340"')), "stations.0.lon", "valid number",
        "lon: \"24.9340\""),
    bad("lat-91", apply(("lat: 60.1690", "lat: 91")), "stations.0.lat", "less than or equal to 90",
        "lat: 91"),
    bad("lat-minus-91", apply(("lat: 60.1640", "lat: -91")), "stations.1.lat", "greater than or equal",
        "lat: -91"),
    bad("lon-181", apply(("lon: 24.9500", "lon: 181")), "stations.1.lon", "less than or equal to 180",
        "lon: 181"),
    bad("lon-minus-181", apply(("lon: 24.9340", "lon: -181")), "stations.0.lon", "greater than or equal",
        "lon: -181"),
    bad("lat-nan", apply(("lat: 60.1690", "lat: .nan")), "stations.0.lat", "", "lat: .nan"),
    bad("lon-inf", apply(("lon: 24.9340", "lon: .inf")), "stations.0.lon", "", "lon: .inf"),
    bad("units-list", section("units", "units: [3]\n"), "units", "valid dictionary", "units: [3]"),
    bad("units-number", section("units", "units: 3\n"), "units", "valid dictionary", "units: 3"),
    bad("demand-null", section("demand", "demand:\n"), "demand", "valid dictionary", "demand:"),
    bad("kinds-empty", section("demand", "demand:\n  rate_per_hour: 8\n  kinds: []\n"), "demand.kinds",
        "at least 1", "kinds: []"),
    bad("kinds-mapping", section("demand", "demand:\n  rate_per_hour: 8\n  kinds: {name: a}\n"),
        "demand.kinds", "valid list", "kinds: {"),
    bad("priority-zero", apply(("priority: 1", "priority: 0")), "demand.kinds.0.priority",
        "greater than or equal to 1", "priority: 0"),
    bad("priority-ten", apply(("priority: 2", "priority: 10")), "demand.kinds.1.priority",
        "less than or equal to 9", "priority: 10"),
    bad("priority-float", apply(("priority: 2", "priority: 1.5")), "demand.kinds.1.priority",
        "valid integer", "priority: 1.5"),
    bad("share-negative", apply(("share: 0.4", "share: -0.4")), "demand.kinds.0.share",
        "greater than or equal to 0", "share: -0.4"),
    bad("share-quoted", apply(("share: 0.6", "share: '0.6'")), "demand.kinds.1.share", "valid number",
        "share: '0.6'"),
    bad("share-nan", apply(("share: 0.6", "share: .nan")), "demand.kinds.1.share", "", "share: .nan"),
    bad("shares-all-zero", apply(("share: 0.4", "share: 0"), ("share: 0.6", "share: 0.0")), "demand.kinds",
        "sum to a positive number", "  kinds:"),
    bad("kind-units-zero", apply(("units: 1\n", "units: 0\n")), "demand.kinds.0.units",
        "greater than or equal to 1", "      units: 0"),
    bad("kind-units-21", apply(("units: 2\n", "units: 21\n")), "demand.kinds.1.units",
        "less than or equal to 20", "units: 21"),
    bad("target-zero", apply(("target: 10min", "target: 0")), "demand.kinds.0.target", "greater than 0",
        "target: 0"),
    bad("target-negative-number", apply(("target: 20min", "target: -300")), "demand.kinds.1.target",
        "greater than 0", "target: -300"),
    bad("on-scene-mean-negative", apply((FLOW_KINDS_0, "on_scene: {dist: exponential, mean: -5}")),
        "demand.kinds.0.on_scene.mean", "greater than or equal to 0", "mean: -5"),
    bad("on-scene-scalar", apply((FLOW_KINDS_0, "on_scene: 20min")), "demand.kinds.0.on_scene",
        "valid dictionary", "on_scene: 20min"),
    bad("handling-mean-bool", apply(("{dist: fixed, mean: 60s}", "{dist: fixed, mean: true}")),
        "call_handling.handling.mean", "duration", "  handling: {"),
    bad("speed-factor-zero", BASE + "travel:\n  speed_factor: 0\n", "travel.speed_factor", "greater than 0",
        "speed_factor: 0"),
    bad("speed-factor-11", BASE + "travel:\n  speed_factor: 11\n", "travel.speed_factor",
        "less than or equal to 10", "speed_factor: 11"),
    bad("speed-factor-nan", BASE + "travel:\n  speed_factor: .nan\n", "travel.speed_factor", "",
        "speed_factor: .nan"),
    bad("travel-mode-unknown", BASE + "travel:\n  mode: teleport\n", "travel.mode", "network",
        "mode: teleport"),
    bad("profile-3-values", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: [1, 2, 3]\n")),
        "demand.profile", "24 (daily) or 168", "profile:"),
    bad("profile-all-zero", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: [" +
        ", ".join(["0"] * 24) + "]\n")), "demand.profile", "zero", "profile:"),
    bad("profile-negative-value", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: [-1" +
        ", 1" * 23 + "]\n")), "demand.profile.0", "numbers >= 0, got -1", "profile:"),
    bad("profile-unknown-name", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: weekly\n")),
        "demand.profile", "weekly", "profile:"),
    bad("profile-number", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: 5\n")),
        "demand.profile", "", "profile:"),
    bad("no-background-no-hotspots", apply(("  rate_per_hour: 8\n",
        "  rate_per_hour: 8\n  background_weight: 0\n")), "demand", "nowhere to happen", "demand:"),
    bad("background-negative", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  background_weight: -1\n")),
        "demand.background_weight", "greater than or equal to 0", "background_weight"),
    bad("hotspot-radius-zero", add_hotspots("{lon: 24.94, lat: 60.167, radius_m: 0}"),
        "demand.hotspots.0.radius_m", "greater than 0", "radius_m: 0"),
    bad("hotspot-weight-negative", add_hotspots("{lon: 24.94, lat: 60.167, weight: -1}"),
        "demand.hotspots.0.weight", "greater than 0", "weight: -1"),
    bad("hotspot-lat-95", add_hotspots("{lon: 24.94, lat: 95}"), "demand.hotspots.0.lat",
        "less than or equal to 90", "lat: 95"),
    bad("hotspot-weight-inf", add_hotspots("{lon: 24.94, lat: 60.167, weight: .inf}"),
        "demand.hotspots.0.weight", "", "weight: .inf"),
    bad("takers-10001", apply(("takers: 2", "takers: 10001")), "call_handling.takers", "less than or equal",
        "takers: 10001"),
    bad("speed-factor-word", BASE + "travel:\n  speed_factor: fast\n", "travel.speed_factor", "valid number",
        "speed_factor: fast"),
    bad("station-name-empty", apply(("name: Pasila", "name: ''")), "stations.0.name", "at least 1 character",
        "name: ''"),
    bad("station-item-scalar", section("stations", "stations:\n  - Pasila\n"), "stations.0",
        "valid dictionary", "  - Pasila"),
    bad("kind-item-scalar", section("demand", "demand:\n  rate_per_hour: 8\n  kinds:\n    - urgent\n"),
        "demand.kinds.0", "valid dictionary", "    - urgent"),
    bad("dispatch-scalar", section("dispatch", "dispatch: nearest\n"), "dispatch", "valid dictionary",
        "dispatch: nearest"),
    bad("outputs-scalar", section("outputs", "outputs: true\n"), "outputs", "valid dictionary",
        "outputs: true"),
    bad("travel-scalar", BASE + "travel: network\n", "travel", "valid dictionary", "travel: network"),
    bad("report-number", apply(("report: false", "report: 1")), "outputs.report", "valid boolean",
        "report: 1"),
    bad("report-quoted", apply(("report: false", "report: 'false'")), "outputs.report", "valid boolean",
        "report: 'false'"),
    bad("policy-unknown", apply(("policy: nearest", "policy: teleport")), "dispatch.policy",
        "unknown dispatch policy", "policy: teleport"),
    bad("policy-list", apply(("policy: nearest", "policy: [nearest]")), "dispatch.policy", "valid string",
        "policy: [nearest]"),
]  # fmt: skip

UNIT_CASES = [
    bad("duration-fortnights", apply(("duration: 2h", "duration: 2 fortnights")), "duration",
        "cannot parse duration '2 fortnights'", "duration:"),
    bad("duration-minus-5min", apply(("duration: 2h", "duration: -5min")), "duration",
        "cannot parse duration", "duration:"),
    bad("duration-1h30", apply(("duration: 2h", "duration: 1h30")), "duration", "cannot parse duration",
        "duration:"),
    bad("target-1h30", apply(("target: 10min", "target: 1h30")), "demand.kinds.0.target",
        "cannot parse duration", "target: 1h30"),
    bad("target-parsecs", apply(("target: 20min", "target: 5 parsecs")), "demand.kinds.1.target",
        "cannot parse duration", "target: 5 parsecs"),
    bad("mean-fortnights", apply((FLOW_KINDS_0, "on_scene: {dist: exponential, mean: 2 fortnights}")),
        "demand.kinds.0.on_scene.mean", "cannot parse duration", "fortnights"),
    bad("handling-minus-5min", apply(("{dist: fixed, mean: 60s}", "{dist: fixed, mean: -5min}")),
        "call_handling.handling.mean", "cannot parse duration", "  handling: {"),
    bad("duration-clock-8:00", apply(("duration: 2h", "duration: 8:00")), "duration", "", "duration:"),
    bad("lognormal-mean-zero", apply((FLOW_KINDS_1, "on_scene: {dist: lognormal, mean: 0, sd: 5min}")),
        "demand.kinds.1.on_scene", "lognormal needs", "dist: lognormal"),
    bad("dist-unknown", apply((FLOW_KINDS_0, "on_scene: {dist: gamma, mean: 20min}")),
        "demand.kinds.0.on_scene.dist", "exponential", "dist: gamma"),
    bad("dist-null", apply((FLOW_KINDS_0, "on_scene: {dist: null, mean: 20min}")),
        "demand.kinds.0.on_scene.dist", "", "dist: null"),
    bad("sd-with-exponential", apply((FLOW_KINDS_0, "on_scene: {dist: exponential, mean: 20min, sd: 5min}")),
        "demand.kinds.0.on_scene.sd", "exponential has no sd", "exponential, mean: 20min, sd"),
    bad("sd-with-fixed", apply(("{dist: fixed, mean: 60s}", "{dist: fixed, mean: 60s, sd: 10s}")),
        "call_handling.handling.sd", "fixed has no sd", "  handling: {"),
    bad("lognormal-without-sd", apply((FLOW_KINDS_1, "on_scene: {dist: lognormal, mean: 15min}")),
        "demand.kinds.1.on_scene", "lognormal needs", "dist: lognormal"),
    bad("lognormal-sd-zero", apply((FLOW_KINDS_1, "on_scene: {dist: lognormal, mean: 15min, sd: 0}")),
        "demand.kinds.1.on_scene", "lognormal needs", "dist: lognormal"),
    bad("exponential-mean-zero", apply((FLOW_KINDS_0, "on_scene: {dist: exponential, mean: 0}")),
        "demand.kinds.0.on_scene", "exponential needs mean > 0", "dist: exponential"),
    bad("speeds-class-typo", BASE + "travel:\n  speeds_kph: {residental: 30}\n", "travel.speeds_kph.residental",
        "did you mean 'residential'", "residental"),
    bad("speeds-class-unknown", BASE + "travel:\n  speeds_kph: {autobahn: 130}\n",
        "travel.speeds_kph.autobahn", "unknown OSM highway class", "autobahn"),
    bad("speeds-zero", BASE + "travel:\n  speeds_kph: {residential: 0}\n", "travel.speeds_kph.residential",
        "greater than 0", "residential"),
    bad("speeds-500", BASE + "travel:\n  speeds_kph: {primary: 500}\n", "travel.speeds_kph.primary",
        "less than or equal to 200", "primary"),
    bad("speeds-negative", BASE + "travel:\n  speeds_kph:\n    motorway: -80\n", "travel.speeds_kph.motorway",
        "greater than 0", "motorway: -80"),
    bad("speeds-inf", BASE + "travel:\n  speeds_kph: {residential: .inf}\n", "travel.speeds_kph.residential",
        "", "residential"),
    bad("speeds-list", BASE + "travel:\n  speeds_kph: [30]\n", "travel.speeds_kph", "valid dictionary",
        "speeds_kph"),
]  # fmt: skip


def unknown_key(after: str, indent: str) -> str:
    return apply((after, f"{after}{indent}colour: blue\n"))


UNKNOWN_KEY_CASES = [
    bad("unknown-key-top", unknown_key("seed: 3\n", ""), "colour", "unknown key", "colour: blue"),
    bad("unknown-key-station", unknown_key("    lat: 60.1640\n", "    "), "stations.1.colour",
        "allowed: name, lon, lat", "colour: blue"),
    bad("unknown-key-units", unknown_key("  count: 3\n", "  "), "units.colour",
        "allowed: count, per_station", "colour: blue"),
    bad("unknown-key-demand", unknown_key("  rate_per_hour: 8\n", "  "), "demand.colour", "unknown key",
        "colour: blue"),
    bad("unknown-key-hotspot", add_hotspots("{lon: 24.94, lat: 60.167, colour: blue}"),
        "demand.hotspots.0.colour", "allowed: lon, lat, radius_m, weight", "colour: blue"),
    bad("unknown-key-kind", unknown_key("      target: 20min\n", "      "), "demand.kinds.1.colour",
        "unknown key", "colour: blue"),
    bad("unknown-key-on-scene", apply((FLOW_KINDS_0, "on_scene: {dist: exponential, mean: 20min, colour: blue}")),
        "demand.kinds.0.on_scene.colour", "allowed: dist, mean, sd", "colour: blue"),
    bad("unknown-key-call-handling", unknown_key("  takers: 2\n", "  "), "call_handling.colour",
        "unknown key", "colour: blue"),
    bad("unknown-key-handling", apply(("{dist: fixed, mean: 60s}", "{dist: fixed, mean: 60s, colour: blue}")),
        "call_handling.handling.colour", "unknown key", "  handling: {"),
    bad("unknown-key-dispatch", unknown_key("  policy: nearest\n", "  "), "dispatch.colour",
        "allowed: policy", "colour: blue"),
    bad("unknown-key-travel", BASE + "travel:\n  mode: network\n  colour: blue\n", "travel.colour",
        "unknown key", "colour: blue"),
    bad("unknown-key-outputs", unknown_key("  report: false\n", "  "), "outputs.colour",
        "allowed: report, units_log", "colour: blue"),
    bad("misspelt-required-key", apply(("duration: 2h", "duraton: 2h")), "duraton",
        "unknown key", "duraton: 2h", count=2),
]  # fmt: skip

STRUCTURE_CASES = [
    bad("missing-duration", apply(("duration: 2h\n", "")), "duration", "required key is missing"),
    bad("missing-stations", section("stations", ""), "stations", "required key is missing"),
    bad("missing-units", section("units", ""), "units", "required key is missing"),
    bad("missing-demand", section("demand", ""), "demand", "required key is missing"),
    bad("missing-rate", apply(("  rate_per_hour: 8\n", "")), "demand.rate_per_hour", "required key is missing",
        "demand:"),
    bad("missing-kind-name", apply(("    - name: urgent\n      priority: 1", "    - priority: 1")),
        "demand.kinds.0.name", "required key is missing", "    - priority: 1"),
    bad("missing-kind-priority", apply(("      priority: 2\n", "")), "demand.kinds.1.priority",
        "required key is missing", "- name: routine"),
    bad("missing-kind-share", apply(("      share: 0.4\n", "")), "demand.kinds.0.share",
        "required key is missing", "- name: urgent"),
    bad("missing-kind-on-scene", apply((f"      {FLOW_KINDS_0}\n", "")), "demand.kinds.0.on_scene",
        "required key is missing", "- name: urgent"),
    bad("missing-kind-target", apply(("      target: 20min\n", "")), "demand.kinds.1.target",
        "required key is missing", "- name: routine"),
    bad("missing-dist", apply((FLOW_KINDS_0, "on_scene: {mean: 20min}")), "demand.kinds.0.on_scene.dist",
        "required key is missing", "on_scene: {mean"),
    bad("missing-mean", apply((FLOW_KINDS_0, "on_scene: {dist: exponential}")),
        "demand.kinds.0.on_scene.mean", "required key is missing", "on_scene: {dist: exponential}"),
    bad("missing-station-name", apply(("  - name: Pasila\n    lon: 24.9340", "  - lon: 24.9340")),
        "stations.0.name", "required key is missing", "  - lon: 24.9340"),
    bad("missing-station-lon", apply(("    lon: 24.9500\n", "")), "stations.1.lon", "required key is missing",
        "- name: Kaartinkaupunki"),
    bad("missing-station-lat", apply(("    lat: 60.1690\n", "")), "stations.0.lat", "required key is missing",
        "- name: Pasila"),
    bad("missing-hotspot-lon", add_hotspots("{lat: 60.167}"), "demand.hotspots.0.lon",
        "required key is missing", "{lat: 60.167}"),
    bad("duplicate-station-names", apply(("name: Kaartinkaupunki", "name: Pasila")), "stations.1.name",
        "used twice"),
    bad("duplicate-kind-names", apply(("name: routine", "name: urgent")), "demand.kinds.1.name", "used twice"),
    bad("per-station-unknown-station", apply(("  count: 3\n", "  per_station: {Pasila: 2, Pasilla: 1}\n")),
        "units.per_station.Pasilla", "did you mean 'Pasila'", "per_station:"),
    bad("per-station-sum-differs", apply(("  count: 3\n", "  count: 3\n  per_station: {Pasila: 1, "
        "Kaartinkaupunki: 1}\n")), "units", "adds up to 2 units but count is 3", "units:"),
    bad("per-station-all-zero", apply(("  count: 3\n", "  per_station: {Pasila: 0, Kaartinkaupunki: 0}\n")),
        "units.per_station", "no units", "per_station:"),
    bad("per-station-negative", apply(("  count: 3\n", "  per_station: {Pasila: -1, Kaartinkaupunki: 4}\n")),
        "units.per_station.Pasila", "greater than or equal to 0", "per_station:"),
    bad("per-station-list", apply(("  count: 3\n", "  per_station: [Pasila, Kaartinkaupunki]\n")),
        "units.per_station", "valid dictionary", "per_station:"),
    bad("kind-needs-more-units-than-exist", apply(("count: 3", "count: 1")), "demand.kinds.1.units",
        "needs 2 units but the scenario has only 1", "      units: 2"),
    bad("start-funday", apply(("duration: 2h", "start: Funday\nduration: 2h")), "start",
        "cannot read start 'Funday'", "start:"),
    bad("start-fri-25h", apply(("duration: 2h", "start: Fri 25:00\nduration: 2h")), "start",
        "cannot read start 'Fri 25:00'", "start:"),
    bad("start-fri-minute-60", apply(("duration: 2h", "start: Fri 18:60\nduration: 2h")), "start",
        "cannot read start", "start:"),
    bad("start-time-alone", apply(("duration: 2h", "start: 18:00\nduration: 2h")), "start", "'18:00'",
        "start:"),
    bad("start-time-alone-quoted", apply(("duration: 2h", "start: '18:00'\nduration: 2h")), "start",
        "cannot read start '18:00'", "start:"),
    bad("start-impossible-date", apply(("duration: 2h", "start: 2026-02-30\nduration: 2h")),
        ("start", "(yaml)"), "2026-02-30", "start:"),
    bad("start-list", apply(("duration: 2h", "start: [Fri, '18:00']\nduration: 2h")), "start",
        "cannot read start", "start:"),
]  # fmt: skip

OUTSIDE_LAT = "lat: 60.6140"  # 50 km north of central Helsinki (the map covers a few km)
MAP_CASES = [
    bad("map-file-missing", apply(("map: helsinki", "map: nowhere.osm.pbf")), "map", "map file not found",
        "map: nowhere"),
    bad("map-is-a-directory", apply(("map: helsinki", "map: mapdir")), "map", "is a directory", "map: mapdir"),
    bad("map-name-300-characters", apply(("map: helsinki", "map: " + "m" * 300 + ".osm.pbf")), "map",
        "too long", "map: mmm"),
    bad("map-unsupported-extension", apply(("map: helsinki", "map: roads.csv")), "map", "unsupported map file",
        "map: roads.csv"),
    bad("map-synthetic-2", apply(("map: helsinki", "map: synthetic:2")), "map", "bad synthetic map spec",
        "map: synthetic"),
    bad("map-synthetic-not-a-number", apply(("map: helsinki", "map: synthetic:many")), "map",
        "bad synthetic map spec", "map: synthetic"),
    bad("map-synthetic-too-many-parts", apply(("map: helsinki", "map: synthetic:100:1:2")), "map",
        "bad synthetic map spec 'synthetic:100:1:2'", "map: synthetic"),
    bad("map-name-with-colons", apply(("map: helsinki", "map: 'roads:fire:v2.osm'")), "map",
        "roads:fire:v2.osm", "map: 'roads"),
    bad("map-place-empty", apply(("map: helsinki", "map: 'place:'")), "map", "needs a name", "map: 'place:'"),
    bad("map-place-blank", apply(("map: helsinki", "map: 'place:   '")), "map", "needs a name", "map: 'place"),
    bad("map-empty-pbf", apply(("map: helsinki", "map: empty.osm.pbf")), "map", "empty", "map: empty"),
    bad("map-empty-osm", apply(("map: helsinki", "map: empty.osm")), "map", "empty", "map: empty"),
    bad("map-empty-graphml", apply(("map: helsinki", "map: empty.graphml")), "map", "cannot read GraphML",
        "map: empty"),
    bad("map-osm-without-roads", apply(("map: helsinki", "map: noroads.osm")), "map", "no drivable roads",
        "map: noroads"),
    bad("map-graphml-without-nodes", apply(("map: helsinki", "map: nonodes.graphml")), "map",
        "no drivable roads", "map: nonodes"),
    bad("map-one-way-street-only", apply(("map: helsinki", "map: oneway.osm")), "map", "strongly connected",
        "map: oneway"),
    bad("station-50km-outside-map", apply(("lat: 60.1640", OUTSIDE_LAT)), "stations.1",
        "outside the map 'helsinki'", "  - name: Kaartinkaupunki"),
    bad("both-stations-outside-map", apply(("lat: 60.1690", OUTSIDE_LAT), ("lat: 60.1640", "lat: 60.6150")),
        "stations.0", "outside the map", "  - name: Pasila", count=2),
    bad("hotspot-far-outside-map", add_hotspots("{lon: 10.0, lat: 50.0}"), "demand.hotspots.0",
        "from the nearest road", "{lon: 10.0"),
    bad("station-and-hotspot-outside-map", apply(("lat: 60.1640", OUTSIDE_LAT),
        text=add_hotspots("{lon: 10.0, lat: 50.0}")), "demand.hotspots.0", "", "{lon: 10.0", count=2),
]  # fmt: skip

BAD_CASES = YAML_CASES + TYPE_CASES + UNIT_CASES + UNKNOWN_KEY_CASES + STRUCTURE_CASES + MAP_CASES


@pytest.mark.parametrize(("text", "field", "fragment", "needle", "count", "guard"), BAD_CASES)
def test_bad_scenario(tmp_path: Path, text, field, fragment, needle, count, guard) -> None:
    fixtures(tmp_path)
    path = tmp_path / "case.yaml"
    path.write_bytes(as_bytes(text))
    before = tree(tmp_path)
    out = tmp_path / "runs" / "x"

    checked = invoke("validate", path)
    ran = (invoke_guarded if guard else invoke)("run", path, "--out", out, "-q")
    assert_agree(checked, ran, 2)
    assert_problems(checked, path, text, field, fragment, needle, count)
    assert_problems(ran, path, text, field, fragment, needle, count)
    assert problem_lines(ran) == problem_lines(checked)  # run validates the same way first
    assert not out.exists()
    assert tree(tmp_path) == before  # no run directory, temp directory, lock or parent folder left


# ----------------------------------------------------------------------------------------- --set
def bad_set(case_id: str, assignments: list[str], field: str, fragment: str, needle: str | None = None):
    return pytest.param(assignments, field, fragment, needle, id=case_id)


SET_CASES = [
    bad_set("set-through-a-value", ["units.count.max=3"], "--set", "units.count is a value"),
    bad_set("set-index-out-of-range", ["stations.5.lon=1"], "--set", "not valid for a list of 2 items"),
    bad_set("set-index-negative", ["stations.-1.lon=1"], "--set", "index '-1' is not valid"),
    bad_set("set-index-not-a-number", ["stations.first.lon=1"], "--set", "index 'first' is not valid"),
    bad_set("set-no-equals", ["units.count"], "--set", "expected path=value"),
    bad_set("set-empty-key", ["=3"], "--set", "empty key"),
    bad_set("set-double-dot", ["units..count=3"], "--set", "empty key"),
    bad_set("set-count-yes", ["units.count=yes"], "units.count", "valid integer", "  count: 3"),
    bad_set("set-count-quoted", ['units.count="3"'], "units.count", "valid integer", "  count: 3"),
    bad_set("set-count-empty", ["units.count="], "units.count", "valid integer", "  count: 3"),
    bad_set("set-count-unclosed-list", ["units.count=[3"], "units.count", "valid integer", "  count: 3"),
    bad_set("set-count-null", ["units.count=null"], "units", "give count", "units:"),
    bad_set("set-seed-float", ["seed=1.5"], "seed", "valid integer", "seed: 3"),
    bad_set("set-seed-negative", ["seed=-1"], "seed", "greater than or equal to 0", "seed: 3"),
    bad_set("set-unknown-key", ["units.colour=red"], "units.colour", "unknown key", "units:"),
    bad_set("set-unknown-top-key", ["colour=red"], "colour", "unknown key"),
    bad_set("set-unknown-speed-class", ["travel.speeds_kph.residental=30"], "travel.speeds_kph.residental",
            "did you mean 'residential'"),
    bad_set("set-sd-on-exponential", ["demand.kinds.0.on_scene.sd=5min"], "demand.kinds.0.on_scene.sd",
            "exponential has no sd", "on_scene: {dist: exponential"),
    bad_set("set-bad-duration", ["duration=2 fortnights"], "duration", "cannot parse duration", "duration:"),
    bad_set("set-bad-start", ["start=Funday"], "start", "cannot read start"),
    bad_set("set-lat-91", ["stations.0.lat=91"], "stations.0.lat", "less than or equal to 90", "lat: 60.1690"),
    bad_set("set-incomplete-new-station", ["stations.2={name: Central, lat: 60.17}"], "stations.2.lon",
            "required key is missing"),
    bad_set("set-kind-needs-5-units", ["demand.kinds.0.units=5"], "demand.kinds.0.units", "needs 5 units",
            "      units: 1"),
    bad_set("set-missing-map", ["map=nowhere.osm"], "map", "map file not found", "map: helsinki"),
    bad_set("set-station-outside-map", ["stations.1.lat=60.614"], "stations.1", "outside the map",
            "  - name: Kaartinkaupunki"),
    bad_set("set-section-to-scalar", ["units=3"], "units", "valid dictionary", "units:"),
]  # fmt: skip


@pytest.mark.parametrize(("assignments", "field", "fragment", "needle"), SET_CASES)
def test_bad_override(tmp_path: Path, assignments: list[str], field: str, fragment: str, needle) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(BASE)
    before = tree(tmp_path)
    out = tmp_path / "runs" / "x"
    sets = [arg for a in assignments for arg in ("--set", a)]

    checked = invoke("validate", path, *sets)
    ran = invoke("run", path, "--out", out, "-q", *sets)
    assert_agree(checked, ran, 2)
    for result in (checked, ran):
        assert_clean_exit(result, 2)
        problems = problem_lines(result)
        assert len(problems) == 1, problems
        if field == "--set":
            assert problems[0].startswith("--set: ") and fragment in problems[0], problems
        else:
            assert_problems(result, path, BASE, field, fragment, needle, 1)
            assert problems[0].endswith("[from --set]"), problems
    assert problem_lines(ran) == problem_lines(checked)
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------------------ valid corpus
def good(case_id: str, text: str | bytes, check=None):
    return pytest.param(text, check, id=case_id)


def same_as_base(sc) -> bool:
    return sc == BASE_SCENARIO


def stations_named(*names: str):
    return lambda sc: [s.name for s in sc.stations] == list(names)


def start_is(canonical: str):
    return lambda sc: sc.start == canonical


def with_start(value: str) -> str:
    return apply(("duration: 2h", f"start: {value}\nduration: 2h"))


FLOW = """\
{name: small, seed: 3, duration: 2h, map: helsinki,
 stations: [{name: Pasila, lon: 24.9340, lat: 60.1690},
            {name: Kaartinkaupunki, lon: 24.9500, lat: 60.1640}],
 units: {count: 3},
 demand: {rate_per_hour: 8, kinds: [
   {name: urgent, priority: 1, share: 0.4, on_scene: {dist: exponential, mean: 20min}, units: 1, target: 10min},
   {name: routine, priority: 2, share: 0.6, on_scene: {dist: lognormal, mean: 15min, sd: 5min}, units: 2,
    target: 20min}]},
 call_handling: {takers: 2, handling: {dist: fixed, mean: 60s}},
 dispatch: {policy: nearest}, outputs: {report: false}}
"""
BASE_DICT = {
    "name": "small", "seed": 3, "duration": "2h", "map": "helsinki",
    "stations": [{"name": "Pasila", "lon": 24.934, "lat": 60.169},
                 {"name": "Kaartinkaupunki", "lon": 24.95, "lat": 60.164}],
    "units": {"count": 3},
    "demand": {"rate_per_hour": 8, "kinds": [
        {"name": "urgent", "priority": 1, "share": 0.4, "on_scene": {"dist": "exponential", "mean": "20min"},
         "units": 1, "target": "10min"},
        {"name": "routine", "priority": 2, "share": 0.6,
         "on_scene": {"dist": "lognormal", "mean": "15min", "sd": "5min"}, "units": 2, "target": "20min"}]},
    "call_handling": {"takers": 2, "handling": {"dist": "fixed", "mean": "60s"}},
    "dispatch": {"policy": "nearest"}, "outputs": {"report": False},
}  # fmt: skip
ANCHORS = apply(
    (FLOW_KINDS_0, "on_scene: &quick {dist: exponential, mean: 20min}"),
    ("      target: 10min\n", "      target: &soon 10min\n"),
    (FLOW_KINDS_1, "on_scene: {<<: *quick, dist: lognormal, mean: 15min, sd: 5min}"),
)
MERGED_KINDS = apply(
    ("    - name: urgent\n", "    - &kind\n      name: urgent\n"),
    ("    - name: routine\n      priority: 2\n      share: 0.6\n", "    - <<: *kind\n      name: routine\n"
     "      priority: 2\n      share: 0.6\n"),
)  # fmt: skip
MERGE_LIST = apply(
    ("call_handling:\n  takers: 2\n  handling: {dist: fixed, mean: 60s}\n",
     "call_handling:\n  <<: [{takers: 2}, {handling: {dist: fixed, mean: 60s}}]\n"),
)  # fmt: skip
COMMENTS = (
    "".join(
        f"{line[: len(line) - len(line.lstrip())]}# note {i}\n{line}  # trailing {i}\n"
        for i, line in enumerate(BASE.splitlines())
    )
    + "# the end\n"
)
REORDERED = "".join(
    section_text
    for section_text in reversed(re.split(r"(?m)^(?=\S)", BASE.split("\n", 1)[1]))
    if section_text
)
REORDERED = edit(REORDERED, "  - name: Pasila\n    lon: 24.9340\n    lat: 60.1690",
                 "  - lat: 60.1690\n    lon: 24.9340\n    name: Pasila")  # fmt: skip
REORDERED = edit(
    REORDERED, "    - name: urgent\n      priority: 1\n", "    - priority: 1\n      name: urgent\n"
)
UNICODE_STATIONS = apply(
    ("name: Pasila", "name: 帕西拉 警察局"), ("name: Kaartinkaupunki", "name: Kåårtinkaupunki-Östra 🚓")
)

VALID_CASES = [
    good("unicode-station-chinese", apply(("name: Pasila", "name: 帕西拉警察局")), stations_named(
        "帕西拉警察局", "Kaartinkaupunki")),
    good("unicode-station-accents", apply(("name: Kaartinkaupunki", "name: Kåårtinkaupunki-Östra é")),
         stations_named("Pasila", "Kåårtinkaupunki-Östra é")),
    good("unicode-station-emoji", apply(("name: Pasila", "name: 🚓 Pasila 👮")), stations_named(
        "🚓 Pasila 👮", "Kaartinkaupunki")),
    good("unicode-per-station", apply(("  count: 3\n", "  per_station: {帕西拉 警察局: 1, Kåårtinkaupunki-Östra 🚓: 2}\n"),
         text=UNICODE_STATIONS), lambda sc: sc.units.per_station == {"帕西拉 警察局": 1, "Kåårtinkaupunki-Östra 🚓": 2}),
    good("unicode-scenario-name", apply(("name: small", "name: 赫尔辛基 café 🚓")),
         lambda sc: sc.name == "赫尔辛基 café 🚓"),
    good("utf8-bom", "\ufeff" + BASE, same_as_base),
    good("crlf-line-ends", BASE.replace("\n", "\r\n"), same_as_base),
    good("bom-and-crlf", "\ufeff" + BASE.replace("\n", "\r\n"), same_as_base),
    good("cr-only-line-ends", BASE.replace("\n", "\r"), same_as_base),
    good("anchors-and-aliases", ANCHORS, same_as_base),
    good("merge-key-list-item", MERGED_KINDS, same_as_base),
    good("merge-key-list-of-mappings", MERGE_LIST, same_as_base),
    good("flow-style-everywhere", FLOW, same_as_base),
    good("json-document", json.dumps(BASE_DICT, indent=1), same_as_base),
    good("json-one-line", json.dumps(BASE_DICT), same_as_base),
    good("comments-everywhere", COMMENTS, same_as_base),
    good("comments-inside-flow", "".join(f"{line}  # c\n" for line in FLOW.splitlines()), same_as_base),
    good("blank-lines-everywhere", BASE.replace("\n", "\n\n"), same_as_base),
    good("document-markers", "---\n" + BASE + "...\n", same_as_base),
    good("quoted-keys", BASE.replace("name:", '"name":').replace("target:", "'target':"), same_as_base),
    good("explicit-core-tags", apply(("count: 3", "count: !!int 3"), ("rate_per_hour: 8", "rate_per_hour: !!float 8"),
         ("name: small", "name: !!str small")), same_as_base),
    good("per-station-without-count", apply(("  count: 3\n", "  per_station: {Pasila: 2, Kaartinkaupunki: 1}\n")),
         lambda sc: (sc.units.count, sc.units.per_station) == (3, {"Pasila": 2, "Kaartinkaupunki": 1})),
    good("per-station-block-style", apply(("  count: 3\n", "  per_station:\n    Pasila: 3\n    Kaartinkaupunki: 0\n")),
         lambda sc: sc.units.count == 3),
    good("per-station-and-matching-count", apply(("  count: 3\n", "  count: 3\n  per_station: {Pasila: 1, "
         "Kaartinkaupunki: 2}\n")), lambda sc: sc.units.count == 3),
    good("start-fri-1800", with_start("Fri 18:00"), start_is("Fri 18:00")),
    good("start-friday-lowercase", with_start("friday 18:00"), start_is("Fri 18:00")),
    good("start-iso-unquoted", with_start("2026-12-31T20:00"), start_is("2026-12-31T20:00:00")),
    good("start-iso-quoted", with_start("'2026-12-31T20:00'"), start_is("2026-12-31T20:00:00")),
    good("start-iso-seconds-unquoted", with_start("2026-12-31 20:00:00"), start_is("2026-12-31T20:00:00")),
    good("start-date-only", with_start("2026-12-31"), start_is("2026-12-31T00:00:00")),
    good("start-chinese-weekday", with_start("周五 18:00"), start_is("Fri 18:00")),
    good("start-chinese-xingqi", with_start("星期日 06:30"), start_is("Sun 06:30")),
    good("durations-bare-numbers", apply(("duration: 2h", "duration: 7200"), ("target: 10min", "target: 600"),
         ("mean: 20min}", "mean: 1200}"), ("mean: 60s}", "mean: 60}")), same_as_base),
    good("durations-quoted-numbers", apply(("duration: 2h", "duration: '7200'"), ("mean: 60s}", "mean: '60.0'}")),
         same_as_base),
    good("durations-compound-and-words", apply(("duration: 2h", "duration: 1h 60min"), ("target: 10min",
         "target: 10 minutes"), ("target: 20min", "target: 0.5h"), ("mean: 60s}", "mean: 1 min}")),
         lambda sc: (sc.duration, sc.demand.kinds[1].target) == (7200.0, 1800.0)),
    good("trailing-spaces", "".join(f"{line}   \n" for line in BASE.splitlines()), same_as_base),
    good("trailing-tabs", "".join(f"{line}\t\n" for line in BASE.splitlines()), same_as_base),
    good("no-final-newline", BASE.rstrip("\n"), same_as_base),
    good("no-final-newline-after-comment", BASE + "# last line", same_as_base),
    good("keys-in-any-order", REORDERED, same_as_base),
    good("hotspots-inside-map", add_hotspots("{lon: 24.9400, lat: 60.1670, radius_m: 400, weight: 2}",
         "{lon: 24.9450, lat: 60.1650}"), lambda sc: len(sc.demand.hotspots) == 2),
    good("profile-flat-and-instant-travel", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: flat\n"))
         + "travel: {mode: instant}\n", lambda sc: sc.travel.mode == "instant"),
    good("profile-24-values-and-speeds", apply(("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  profile: [" +
         ", ".join(str(1 + h % 3) for h in range(24)) + "]\n")) + "travel:\n  speeds_kph: {residential: 30}\n",
         lambda sc: len(sc.demand.profile) == 24),
    good("zero-share-kind", apply(("share: 0.4", "share: 0")), None),
    good("seed-zero", apply(("seed: 3", "seed: 0")), lambda sc: sc.seed == 0),
    good("seed-huge", apply(("seed: 3", "seed: 99999999999999999999999999")),
         lambda sc: sc.seed == 99999999999999999999999999),
    good("scenario-name-with-square-brackets", apply(("name: small", "name: '[/x] test [b]'")),
         lambda sc: sc.name == "[/x] test [b]"),
    good("station-name-with-square-brackets", apply(("name: Pasila", "name: '[/b] Pasila'")),
         stations_named("[/b] Pasila", "Kaartinkaupunki")),
    good("tab-after-colon", BASE.replace("name: ", "name:\t"), same_as_base),
    good("names-with-spaces-and-quotes", apply(("name: Pasila", "name: \"Pasila 'North' station\"")),
         stations_named("Pasila 'North' station", "Kaartinkaupunki")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "check"), VALID_CASES)
def test_valid_scenario(tmp_path: Path, text, check) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(as_bytes(text))
    out = tmp_path / "runs" / "x"

    checked = invoke("validate", path)
    ran = invoke("run", path, "--out", out, "-q")
    assert_agree(checked, ran, 0)
    assert_clean_exit(checked, 0)
    assert_clean_exit(ran, 0)
    assert ": ok (" in checked.stdout
    assert {p.name for p in out.iterdir()} >= RUN_FILES
    assert [p.name for p in out.parent.iterdir()] == ["x"]  # no temp directory or lock left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.yaml", "runs"]
    resolved = load_scenario(out / "scenario.yaml")
    assert check is None or check(resolved), resolved


# ----------------------------------------------------------------------------------- files and paths
@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(BASE)
    return path


def assert_cli_error(result, *fragments: str) -> None:
    """Exit 2 with ``error: ...`` lines (a problem with a CLI argument), no traceback."""
    assert_clean_exit(result, 2)
    problems = problem_lines(result)
    assert problems and all(p.startswith("error: ") for p in problems), problems
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"


@pytest.mark.parametrize("name", ["nope.yaml", "sub/nope.yaml", "helsinky"],
                         ids=["missing-file", "missing-folder", "bundled-name-typo"])  # fmt: skip
def test_scenario_file_missing(tmp_path: Path, monkeypatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "x"
    for args in (["validate", name], ["run", name, "--out", out, "-q"]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        problems = problem_lines(result)
        assert len(problems) == 1 and problems[0].startswith(f"{name}:0: (file): no such file"), problems
    assert list(tmp_path.iterdir()) == []


def test_scenario_path_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    before = tree(tmp_path)
    for args in (["validate", folder], ["run", folder, "--out", tmp_path / "runs" / "x", "-q"]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        problems = problem_lines(result)
        assert len(problems) == 1 and problems[0].startswith(f"{folder}:1: (file): is a directory"), problems
    assert tree(tmp_path) == before


def test_scenario_file_name_300_characters(tmp_path: Path) -> None:
    path = tmp_path / ("s" * 300 + ".yaml")
    for args in (["validate", path], ["run", path, "--out", tmp_path / "runs" / "x", "-q"]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        problems = problem_lines(result)
        assert len(problems) == 1 and problems[0].startswith(f"{path}:0: (file): "), problems
        assert "too long" in problems[0], problems
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("folder", "name"),
    [("projects [old]", "city.yaml"), ("[", "x].yaml"), ("a", ":100: city.yaml")],
    ids=["brackets", "closing-tag", "emoji-code"],
)
def test_scenario_path_with_markup_characters(tmp_path: Path, folder: str, name: str) -> None:
    """Paths are printed as they are: square brackets and ``:name:`` are not rich markup or emoji codes."""
    path = tmp_path / folder / name
    path.parent.mkdir()
    path.write_text(BASE)
    out = tmp_path / "runs" / "x"
    checked = invoke("validate", path)
    ran = invoke("run", path, "--out", out, "-q")
    assert_agree(checked, ran, 0)
    assert_clean_exit(checked, 0)
    assert f"{path}: ok (" in checked.stdout, checked.stdout
    assert {p.name for p in out.iterdir()} >= RUN_FILES


def test_out_is_an_existing_file(scenario_file: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    before = tree(tmp_path)
    assert_cli_error(invoke("run", scenario_file, "--out", notes, "-q"), "--out", "not a directory")
    assert tree(tmp_path) == before  # the file untouched, no .notes.txt.lock / .tmp- / .old- beside it


def test_out_inside_a_file(scenario_file: Path, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("precious")
    before = tree(tmp_path)
    assert_cli_error(invoke("run", scenario_file, "--out", tmp_path / "file.txt" / "run", "-q"), "--out",
                     "file.txt")  # fmt: skip
    assert tree(tmp_path) == before


def test_out_name_300_characters(scenario_file: Path, tmp_path: Path) -> None:
    before = tree(tmp_path)
    for out in (tmp_path / ("o" * 300), tmp_path / ("o" * 300) / "x", tmp_path / "runs" / ("o" * 300)):
        assert_cli_error(invoke("run", scenario_file, "--out", out, "-q"), "--out", "too long")
        assert tree(tmp_path) == before


def test_out_holding_a_foreign_file(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    assert_cli_error(invoke("run", scenario_file, "--out", out, "-q"), "notes.txt", "--overwrite")
    assert tree(tmp_path) == before  # the foreign file untouched, nothing added

    assert_clean_exit(invoke("run", scenario_file, "--out", out, "--overwrite", "-q"), 0)
    assert (out / "notes.txt").read_text() == "mine"
    assert {p.name for p in out.iterdir()} == {*RUN_FILES, "notes.txt"}
    assert [p.name for p in out.parent.iterdir()] == ["x"]


def test_out_an_existing_empty_directory(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    out.mkdir(parents=True)
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "-q"), 0)
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert [p.name for p in out.parent.iterdir()] == ["x"]


@pytest.mark.parametrize("seed", ["-1", "seven", "1.5"])
def test_bad_seed_option(scenario_file: Path, tmp_path: Path, seed: str) -> None:
    before = tree(tmp_path)
    result = invoke("run", scenario_file, "--out", tmp_path / "runs" / "x", "--seed", seed, "-q")
    assert_clean_exit(result, 2)
    assert "--seed" in result.stderr
    assert tree(tmp_path) == before


def test_default_out_with_a_300_character_scenario_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "long.yaml"
    path.write_text(edit(BASE, "name: small", "name: " + "n" * 300))
    before = tree(tmp_path)
    assert_clean_exit(invoke("validate", path), 0)  # the name itself is fine
    assert_cli_error(invoke("run", path, "-q"), "too long")  # its default run directory cannot be made
    assert tree(tmp_path) == before


def test_default_out_stays_inside_runs(tmp_path: Path, monkeypatch) -> None:
    """The default run directory is ``runs/<scenario name>``: a name must not place it elsewhere."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = work / "escape.yaml"
    path.write_text(edit(BASE, "name: small", "name: ../escape"))
    before = tree(tmp_path)
    result = invoke("run", path, "-q")
    assert result.exit_code in (0, 2), describe(result)
    assert_clean_exit(result, result.exit_code)
    created = sorted(set(tree(tmp_path)) - set(before))
    assert all(c == "work/runs" or c.startswith("work/runs/") for c in created), created  # nothing outside
    if result.exit_code == 2:
        assert created == [], created
        assert "name" in result.stderr, result.stderr
