"""Scenario loading: durations, schema checks with ``file:line: field.path: message`` problems, ``--set``
overrides, bundled scenarios and the resolved-YAML round trip (no simulation here; see test_cli.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from yaml_text import edit, line_of

from policetwin.durations import format_duration, parse_duration
from policetwin.errors import PoliceTwinError, ScenarioError
from policetwin.scenarios import (
    Scenario,
    bundled_scenarios,
    load_scenario,
    resolve_scenario_path,
    scenario_from_text,
    scenario_sha256,
    scenario_to_yaml,
)

FILE = "city.yaml"

#: A small scenario in block style, so that every field sits on a line of its own.
BASE = """\
# PoliceTwin test scenario: small and fast (central Helsinki, 2 h)
name: small
seed: 3
duration: 2h
map: helsinki
stations:
  - name: Pasila
    lon: 24.9340
    lat: 60.1690
  - name: Kaartinkaupunki
    lon: 24.9500
    lat: 60.1640
units:
  count: 3
demand:
  rate_per_hour: 6
  kinds:
    - name: urgent
      priority: 1
      share: 0.4
      on_scene: {dist: exponential, mean: 20min}
      units: 1
      target: 10min
    - name: routine
      priority: 2
      share: 0.6
      on_scene: {dist: fixed, mean: 15min}
      units: 2
      target: 20min
call_handling:
  takers: 2
  handling: {dist: fixed, mean: 60s}
dispatch:
  policy: nearest
travel:
  mode: network
outputs:
  report: false
"""


def problems_of(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, FILE, overrides)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def assert_problem(problem: str, field: str, line: int | None, *fragments: str) -> None:
    """``problem`` is ``FILE:line: field: message`` with the given line and message fragments."""
    prefix = f"{FILE}:{line}: {field}: " if line is not None else None
    if prefix is not None:
        assert problem.startswith(prefix), f"expected {prefix!r}..., got {problem!r}"
    else:
        assert problem.startswith(f"{FILE}:") and f": {field}: " in problem, problem
    for fragment in fragments:
        assert fragment in problem, f"{fragment!r} not in {problem!r}"


# ------------------------------------------------------------------------------------------- durations
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("15min", 900.0),
        ("2h", 7200.0),
        ("30d", 30 * 86400.0),
        ("1w", 7 * 86400.0),
        ("10m", 600.0),
        ("1h30min", 5400.0),
        ("1h 30min", 5400.0),
        ("  2H ", 7200.0),
        ("1.5h", 5400.0),
        (".5h", 1800.0),
        ("45 seconds", 45.0),
        ("3 days", 3 * 86400.0),
        ("2 hours", 7200.0),
        ("0s", 0.0),
        ("120", 120.0),
        ("2.5", 2.5),
        (120, 120.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_parse_duration_accepts_numbers_and_units(value: object, seconds: float) -> None:
    result = parse_duration(value)
    assert isinstance(result, float)
    assert result == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "h", "min", "2 fortnights", "15 parsecs", "1h30", "5 5h", "-5min", "2h-1h", "nan", "inf",
     "soon", "1_000s", None, True, False, [90], {"h": 2}],
)  # fmt: skip
def test_parse_duration_rejects_bad_values(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)  # names the bad value


def test_format_duration_is_short_and_readable() -> None:
    assert format_duration(90) == "90s"
    assert format_duration(900) == "15.0min"
    assert format_duration(3 * 3600) == "3.0h"
    assert format_duration(math.nan) == "-"


def test_durations_in_a_scenario_are_held_in_seconds() -> None:
    text = edit(BASE, "duration: 2h", "duration: 30d")
    text = edit(text, "mean: 60s}", "mean: 90}")  # a bare number is seconds
    text = edit(text, "target: 10min", "target: 1h30min")
    sc = scenario_from_text(text, FILE)
    assert sc.duration == 30 * 86400.0
    assert sc.call_handling.handling.mean == 90.0
    assert sc.demand.kinds[0].target == 5400.0
    assert sc.demand.kinds[0].on_scene.mean == 1200.0
    assert sc.demand.kinds[1].on_scene.mean == 900.0


# ----------------------------------------------------------------------------------- a valid scenario
def test_base_scenario_is_valid_and_fills_defaults() -> None:
    sc = scenario_from_text(BASE, FILE)
    assert isinstance(sc, Scenario)
    assert (sc.name, sc.seed, sc.duration, sc.map) == ("small", 3, 7200.0, "helsinki")
    assert [s.name for s in sc.stations] == ["Pasila", "Kaartinkaupunki"]
    assert sc.units.count == 3 and sc.units.per_station is None
    assert sc.demand.rate_per_hour == 6.0
    assert sc.demand.profile == "default" and sc.demand.hotspots == []
    assert [k.name for k in sc.demand.kinds] == ["urgent", "routine"]
    assert sc.dispatch.policy == "nearest"
    assert sc.travel.mode == "network" and sc.travel.speed_factor == 1.0
    assert sc.outputs.report is False and sc.outputs.units_log is True


def test_scenario_is_frozen() -> None:
    sc = scenario_from_text(BASE, FILE)
    with pytest.raises(ValueError):
        sc.units.count = 99  # type: ignore[misc]


def test_resolved_yaml_round_trips_and_hash_is_stable() -> None:
    sc = scenario_from_text(BASE, FILE)
    resolved = scenario_to_yaml(sc)
    again = scenario_from_text(resolved, "resolved.yaml")
    assert again == sc
    assert scenario_to_yaml(again) == resolved
    assert "duration: 7200.0" in resolved  # durations in seconds
    assert "call_handling:" in resolved and "outputs:" in resolved  # defaults filled
    assert scenario_sha256(again) == scenario_sha256(sc)
    assert len(scenario_sha256(sc)) == 64
    changed = scenario_from_text(BASE, FILE, ["units.count=4"])
    assert scenario_sha256(changed) != scenario_sha256(sc)


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_bundled_scenarios_load(name: str) -> None:
    path = bundled_scenarios()[name]
    assert resolve_scenario_path(name) == path
    sc = load_scenario(name)
    assert sc == load_scenario(path)
    assert scenario_from_text(scenario_to_yaml(sc), "resolved.yaml") == sc


def test_bundled_set_and_default() -> None:
    assert {"coquimbo", "helsinki", "mmc-erlang"} <= set(bundled_scenarios())
    assert resolve_scenario_path(None) == bundled_scenarios()["coquimbo"]
    assert load_scenario(None).map == "coquimbo"


# --------------------------------------------------------------------------------- one bad input each
# (case id, edit to BASE (old, new) pairs, field path, the text naming the line, message fragment)
BAD_CASES = [
    ("unknown-top-key", [("seed: 3\n", "seed: 3\ncolour: blue\n")], "colour", "colour: blue",
     "unknown key"),
    ("unknown-nested-key", [("  count: 3\n", "  count: 3\n  colour: blue\n")], "units.colour",
     "colour: blue", "allowed: count, per_station"),
    ("unknown-key-in-list-item", [("    lat: 60.1640\n", "    lat: 60.1640\n    colour: blue\n")],
     "stations.1.colour", "colour: blue", "unknown key"),
    ("zero-rate", [("rate_per_hour: 6", "rate_per_hour: 0")], "demand.rate_per_hour", "rate_per_hour",
     "greater than 0"),
    ("negative-rate", [("rate_per_hour: 6", "rate_per_hour: -2.5")], "demand.rate_per_hour",
     "rate_per_hour", "-2.5"),
    ("text-rate", [("rate_per_hour: 6", "rate_per_hour: lots")], "demand.rate_per_hour", "rate_per_hour",
     "valid number"),
    ("shares-sum-to-zero", [("share: 0.4", "share: 0"), ("share: 0.6", "share: 0")], "demand.kinds",
     "  kinds:", "sum to a positive number"),
    ("negative-share", [("share: 0.4", "share: -0.4")], "demand.kinds.0.share", "share: -0.4",
     "greater than or equal to 0"),
    ("unknown-policy", [("policy: nearest", "policy: teleport")], "dispatch.policy", "policy: teleport",
     "unknown dispatch policy 'teleport'"),
    ("duration-does-not-parse", [("duration: 2h", "duration: 2 fortnights")], "duration", "duration:",
     "cannot parse duration '2 fortnights'"),
    ("zero-duration", [("duration: 2h", "duration: 0s")], "duration", "duration:", "greater than 0"),
    ("negative-duration", [("duration: 2h", "duration: -7200")], "duration", "duration:", "greater than 0"),
    ("target-does-not-parse", [("target: 20min", "target: soonish")], "demand.kinds.1.target",
     "target: soonish", "cannot parse duration 'soonish'"),
    ("on-scene-does-not-parse", [("mean: 15min}", "mean: 15 parsecs}")], "demand.kinds.1.on_scene.mean",
     "15 parsecs", "cannot parse duration"),
    ("lognormal-without-sd", [("{dist: fixed, mean: 15min}", "{dist: lognormal, mean: 15min}")],
     "demand.kinds.1.on_scene", "dist: lognormal", "sd > 0"),
    ("unknown-distribution", [("dist: fixed, mean: 15min", "dist: uniform, mean: 15min")], "demand.kinds.1.on_scene.dist",
     "dist: uniform", "exponential"),
    ("latitude-out-of-range", [("lat: 60.1640", "lat: 100")], "stations.1.lat", "lat: 100",
     "less than or equal to 90"),
    ("zero-units", [("  count: 3", "  count: 0")], "units.count", "count: 0", "greater than or equal to 1"),
    ("missing-key-in-list-item", [("      priority: 2\n", "")], "demand.kinds.1.priority",
     "- name: routine", "required key is missing"),
    ("duplicate-station", [("name: Kaartinkaupunki", "name: Pasila  # again")], "stations.1.name",
     "Pasila  # again", "'Pasila' is used twice"),
    ("duplicate-kind", [("name: routine", "name: urgent  # again")], "demand.kinds.1.name", "urgent  # again",
     "'urgent' is used twice"),
    ("duplicate-yaml-key", [("duration: 2h\n", "duration: 2h\nseed: 4\n")], "seed", "seed: 4",
     "duplicate key 'seed' (first on line 3)"),
    ("duplicate-nested-key", [("  count: 3\n", "  count: 3\n  count: 5\n")], "units.count", "count: 5",
     "duplicate key 'count'"),
    ("yaml-bool-count", [("  count: 3", "  count: yes")], "units.count", "count: yes", "valid integer"),
    ("string-count", [("  count: 3", '  count: "3"')], "units.count", "count: \"3\"", "valid integer"),
    ("bool-rate", [("rate_per_hour: 6", "rate_per_hour: true")], "demand.rate_per_hour", "rate_per_hour",
     "valid number"),
    ("string-lat", [("lat: 60.1640", "lat: '60.1640'")], "stations.1.lat", "lat: '60.1640'", "valid number"),
    ("speed-class-typo", [("  mode: network\n", "  mode: network\n  speeds_kph: {residental: 5}\n")],
     "travel.speeds_kph.residental", "residental", "did you mean 'residential'"),
    ("unused-sd", [("{dist: exponential, mean: 20min}", "{dist: exponential, mean: 20min, sd: 2min}")],
     "demand.kinds.0.on_scene.sd", "sd: 2min", "exponential has no sd"),
    ("unused-sd-fixed", [("{dist: fixed, mean: 60s}", "{dist: fixed, mean: 60s, sd: 5s}")],
     "call_handling.handling.sd", "sd: 5s", "fixed has no sd"),
    ("kind-needs-more-units", [("      units: 2\n", "      units: 5\n")], "demand.kinds.1.units", "units: 5",
     "needs 5 units but the scenario has only 3"),
    ("per-station-unknown-name", [("  count: 3\n", "  count: 3\n  per_station: {Pasilla: 3}\n")],
     "units.per_station.Pasilla", "Pasilla", "did you mean 'Pasila'"),
    ("per-station-count-mismatch", [("  count: 3\n", "  count: 3\n  per_station: {Pasila: 2}\n")], "units",
     "units:", "adds up to 2 units but count is 3"),
    ("no-units-given", [("  count: 3\n", "  per_station: null\n")], "units", "units:", "give count"),
    ("bad-start", [("duration: 2h", "start: Funday 18:00\nduration: 2h")], "start", "start:",
     "cannot read start 'Funday 18:00'"),
    ("decision-without-desk", [("  takers: 2\n", "  takers: 2\n  decision: {dist: fixed, mean: 30s}\n")],
     "call_handling.decision", "decision:", "set dispatchers > 0"),
    ("sensing-without-coverage", [("dispatch:\n", "sensing: {detection_probability: 0.5}\ndispatch:\n")],
     "sensing", "sensing:", "needs sensors"),
    ("detection-probability-above-1", [("dispatch:\n", "sensing: {node_share: 0.2, detection_probability: 1.5}\ndispatch:\n")],
     "sensing.detection_probability", "sensing:", "less than or equal to 1"),
    ("speed-factor-priority-0", [("  mode: network\n", "  mode: network\n  priority_speed_factor: {0: 1.5}\n")],
     "travel.priority_speed_factor.0", "priority_speed_factor", "greater than or equal to 1"),
    ("report-delay-unknown-dist", [("      units: 2\n", "      units: 2\n      report_delay: {dist: gamma, mean: 5min}\n")],
     "demand.kinds.1.report_delay.dist", "report_delay", "exponential"),
    ("start-time-out-of-range", [("duration: 2h", "start: Fri 24:30\nduration: 2h")], "start", "start:",
     "'Fri 18:00'"),
    ("bad-profile-length", [("  rate_per_hour: 6\n", "  rate_per_hour: 6\n  profile: [1, 2, 3]\n")],
     "demand.profile", "profile:", "24 (daily) or 168"),
    ("no-stations", [(BASE[BASE.index("stations:") : BASE.index("units:")], "stations: []\n")], "stations",
     "stations:", "at least 1"),
]  # fmt: skip


def apply_edits(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        text = edit(text, old, new)
    return text


@pytest.mark.parametrize(("edits", "field", "needle", "fragment"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])  # fmt: skip
def test_bad_input_names_field_and_yaml_line(edits, field: str, needle: str, fragment: str) -> None:
    text = apply_edits(BASE, edits)
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert_problem(problems[0], field, line_of(text, needle), fragment)


def test_several_problems_are_reported_at_once_in_file_order() -> None:
    text = apply_edits(
        BASE,
        [("duration: 2h", "duration: forever"), ("  count: 3\n", "  count: 3\n  colour: blue\n"),
         ("rate_per_hour: 6", "rate_per_hour: 0"), ("policy: nearest", "policy: teleport")],
    )  # fmt: skip
    problems = problems_of(text)
    assert len(problems) == 4, problems
    assert_problem(problems[0], "duration", line_of(text, "duration:"), "forever")
    assert_problem(problems[1], "units.colour", line_of(text, "colour: blue"), "unknown key")
    assert_problem(problems[2], "demand.rate_per_hour", line_of(text, "rate_per_hour"), "greater than 0")
    assert_problem(problems[3], "dispatch.policy", line_of(text, "policy:"), "teleport")


def test_problems_in_list_items_point_at_each_item() -> None:
    text = apply_edits(BASE, [("lat: 60.1690", "lat: 91"), ("lat: 60.1640", "lat: -91"),
                              ("priority: 2", "priority: 0")])  # fmt: skip
    problems = problems_of(text)
    assert len(problems) == 3, problems
    assert_problem(problems[0], "stations.0.lat", line_of(text, "lat: 91"))
    assert_problem(problems[1], "stations.1.lat", line_of(text, "lat: -91"))
    assert_problem(problems[2], "demand.kinds.1.priority", line_of(text, "priority: 0"))


def test_unknown_keys_are_errors_even_when_misspelt_required_keys() -> None:
    text = edit(BASE, "demand:\n", "demnad:\n")
    problems = problems_of(text)
    fields = sorted(p.split(": ")[1] for p in problems)
    assert fields == ["demand", "demnad"], problems
    assert any(p.startswith(f"{FILE}:{line_of(text, 'demnad:')}: demnad: unknown key") for p in problems)


# ---------------------------------------------------------------------------------- file-level problems
@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        (edit(BASE, "  count: 3", "\tcount: 3"), "\tcount", "'\\t'"),
        (edit(BASE, "seed: 3", "seed: 3: 4"), "seed: 3: 4", "mapping values are not allowed"),
        (edit(BASE, "  - name: Pasila", "  - name: [Pasila"), None, "syntax error"),
        (BASE + "---\nname: second\n", None, "another document"),
    ],
    ids=["tab", "mapping-in-value", "unclosed-bracket", "two-documents"],
)
def test_yaml_syntax_errors(text: str, needle: str | None, fragment: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert_problem(problems[0], "(yaml)", line_of(text, needle) if needle else None, "syntax error", fragment)
    if needle is None:
        line = int(problems[0].split(":")[1])
        assert 1 <= line <= len(text.splitlines()) + 1


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n", "~\n"],
                         ids=["empty", "blank", "comment", "document-marker", "null"])  # fmt: skip
def test_empty_files(text: str) -> None:
    problems = problems_of(text)
    assert problems == [f"{FILE}:1: (file): the scenario file is empty"]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_scenario_must_be_a_mapping(text: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1 and problems[0].startswith(f"{FILE}:1: (file): a scenario must be a mapping")


def test_load_scenario_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)
    assert info.value.problems[0].startswith(f"{missing}:0: (file): no such file")
    assert "coquimbo" in info.value.problems[0]  # suggests the bundled scenarios

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"latin1\.yaml:1: \(file\): not UTF-8 text \(byte 0xe9\)"):
        load_scenario(latin1)

    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(ScenarioError, match=r"folder\.yaml:1: \(file\): is a directory"):
        load_scenario(folder)

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ScenarioError, match=r"empty\.yaml:1: \(file\): the scenario file is empty"):
        load_scenario(empty)

    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_scenario(bom) == scenario_from_text(BASE, FILE)

    assert issubclass(ScenarioError, PoliceTwinError) and issubclass(ScenarioError, ValueError)


def test_load_scenario_names_the_file_it_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = edit(BASE, "rate_per_hour: 6", "rate_per_hour: 0")
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [
        f"{path}:{line_of(text, 'rate_per_hour')}: demand.rate_per_hour: Input should be greater than 0 (got 0)"
    ]


# --------------------------------------------------------------------------------------- --set overrides
def test_overrides_set_scalars_parsed_as_yaml() -> None:
    sc = scenario_from_text(
        BASE, FILE, ["units.count=12", "demand.rate_per_hour=20", "outputs.report=true", "duration=30min",
                     "travel.mode=instant", " seed = 11"],
    )  # fmt: skip
    assert sc.units.count == 12
    assert sc.demand.rate_per_hour == 20.0
    assert sc.outputs.report is True
    assert sc.duration == 1800.0
    assert sc.travel.mode == "instant"
    assert sc.seed == 11


def test_overrides_into_nested_lists() -> None:
    sc = scenario_from_text(
        BASE, FILE,
        ["demand.kinds.1.on_scene.mean=5min", "demand.kinds.0.share=0.9", "stations.0.lon=24.9458",
         "demand.kinds.1.units=3"],
    )  # fmt: skip
    assert sc.demand.kinds[1].on_scene.mean == 300.0
    assert sc.demand.kinds[0].share == 0.9
    assert sc.stations[0].lon == 24.9458
    assert sc.demand.kinds[1].units == 3
    untouched = scenario_from_text(BASE, FILE)
    assert sc.stations[1] == untouched.stations[1]
    assert sc.demand.kinds[0].on_scene == untouched.demand.kinds[0].on_scene


def test_overrides_append_replace_and_create() -> None:
    sc = scenario_from_text(
        BASE, FILE,
        ["stations.2={name: Central, lon: 24.9458, lat: 60.1699}",
         "demand.kinds.0={name: only, priority: 1, share: 1, on_scene: {dist: fixed, mean: 60}, target: 5min}",
         "travel.speeds_kph.residential=30", "demand.profile=flat", "units.per_station={Pasila: 3}"],
    )  # fmt: skip
    assert [s.name for s in sc.stations] == ["Pasila", "Kaartinkaupunki", "Central"]
    assert sc.demand.kinds[0].name == "only" and sc.demand.kinds[0].target == 300.0
    assert sc.travel.speeds_kph == {"residential": 30.0}
    assert sc.demand.profile == "flat"
    assert sc.units.per_station == {"Pasila": 3}


def test_later_overrides_win_and_the_text_is_not_changed() -> None:
    sc = scenario_from_text(BASE, FILE, ["units.count=12", "units.count=5"])
    assert sc.units.count == 5
    assert scenario_from_text(BASE, FILE).units.count == 3


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [
        ("units.count", "expected path=value"),
        ("=5", "empty key"),
        ("units..count=5", "empty key"),
        (".count=5", "empty key"),
        ("units.=5", "empty key"),
        ("stations.5.lon=1", "index '5' is not valid for a list of 2 items"),
        ("stations.x.lon=1", "index 'x' is not valid"),
        ("stations.-1.lon=1", "index '-1' is not valid"),
        ("name.first=x", "name is a value"),
        ("units.count.max=3", "units.count is a value"),
    ],
)
def test_bad_override_syntax(assignment: str, fragment: str) -> None:
    problems = problems_of(BASE, (assignment,))
    assert len(problems) == 1
    assert problems[0].startswith("--set: "), problems[0]
    assert fragment in problems[0]


@pytest.mark.parametrize(
    ("assignment", "field", "needle", "fragment"),
    [
        ("units.count=many", "units.count", "count: 3", "valid integer"),
        ("units.count=-1", "units.count", "count: 3", "greater than or equal to 1"),
        ("duration=forever", "duration", "duration:", "cannot parse duration 'forever'"),
        ("demand.kinds.1.target=soon", "demand.kinds.1.target", "target: 20min", "cannot parse duration"),
        ("demand.rate_per_hour=0", "demand.rate_per_hour", "rate_per_hour", "greater than 0"),
        ("dispatch.policy=teleport", "dispatch.policy", "policy:", "unknown dispatch policy"),
        ("units.colour=red", "units.colour", "units:", "unknown key"),  # new key: its parent's line
        ("seed=1.5", "seed", "seed:", "valid integer (got 1.5)"),
        ("units=3", "units", "units:", "valid dictionary"),
    ],
)
def test_override_type_errors_name_the_field(assignment: str, field: str, needle: str, fragment: str) -> None:
    problems = problems_of(BASE, (assignment,))
    assert len(problems) == 1, problems
    assert_problem(problems[0], field, line_of(BASE, needle), fragment, "[from --set]")


def test_override_and_file_problems_together() -> None:
    text = edit(BASE, "policy: nearest", "policy: teleport")
    problems = problems_of(text, ("units.count=many",))
    assert len(problems) == 2, problems
    assert_problem(problems[0], "units.count", line_of(text, "count: 3"), "[from --set]")
    assert_problem(problems[1], "dispatch.policy", line_of(text, "policy:"), "teleport")
    assert "[from --set]" not in problems[1]


# ------------------------------------------------------------------------------- known product bugs
@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("duration: 2h", "duration: .inf", "duration"),
        ("rate_per_hour: 6", "rate_per_hour: .inf", "demand.rate_per_hour"),
        ("target: 10min", "target: .inf", "demand.kinds.0.target"),
    ],
    ids=["duration", "rate", "target"],
)
def test_infinite_values_are_rejected(old: str, new: str, field: str) -> None:
    """BUG: ``.inf`` passes validation, then ``run`` dies with "internal error" (exit 1): OverflowError
    (duration), "lam value too large" (rate) or a non-JSON summary (target). It is bad input (exit 2)."""
    text = edit(BASE, old, new)
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert_problem(problems[0], field, line_of(text, new))


# ------------------------------------------------------------------------------ units, start, strictness
def test_per_station_alone_gives_the_count_and_round_trips() -> None:
    text = edit(BASE, "  count: 3\n", "  per_station: {Pasila: 2, Kaartinkaupunki: 3}\n")
    sc = scenario_from_text(text, FILE)
    assert sc.units.count == 5 and sc.units.per_station == {"Pasila": 2, "Kaartinkaupunki": 3}
    assert scenario_from_text(scenario_to_yaml(sc), "resolved.yaml") == sc


@pytest.mark.parametrize(
    ("value", "canonical"),
    [("Fri 18:00", "Fri 18:00"), ("friday 18:00", "Fri 18:00"), ("SAT", "Sat 00:00"), ("周五 18:30", "Fri 18:30"),
     ("2026-12-31T20:00", "2026-12-31T20:00:00"), ("'2026-12-31 20:00'", "2026-12-31T20:00:00"),
     ("2026-12-31 20:00:00", "2026-12-31T20:00:00"), ("2026-12-31", "2026-12-31T00:00:00")],
)  # fmt: skip
def test_start_accepts_weekday_times_and_iso_dates(value: str, canonical: str) -> None:
    """Unquoted ISO timestamps arrive as YAML datetimes/dates; all forms give one canonical string."""
    sc = scenario_from_text(edit(BASE, "duration: 2h", f"start: {value}\nduration: 2h"), FILE)
    assert sc.start == canonical
    assert scenario_from_text(scenario_to_yaml(sc), "resolved.yaml").start == canonical


def test_start_defaults_to_monday_midnight() -> None:
    assert scenario_from_text(BASE, FILE).start == "Mon 00:00"


def test_all_problems_of_a_file_at_once_including_duplicate_keys() -> None:
    text = edit(BASE, "duration: 2h\n", "duration: 2h\nduration: 3h\n")
    text = edit(text, "  rate_per_hour: 6\n", "  rate_per_hour: 6\n  rate_per_hour: 7\n")
    problems = problems_of(text)
    assert [p.split(": ")[1] for p in problems] == ["duration", "demand.rate_per_hour"], problems
    assert_problem(
        problems[0],
        "duration",
        line_of(text, "duration: 3h"),
        f"first on line {line_of(text, 'duration: 2h')}",
    )


def test_valid_yaml_variants_are_accepted() -> None:
    """BOM, CRLF, unicode names, anchors/aliases and merge keys are valid input."""
    text = "\ufeff" + edit(BASE, "name: Pasila", "name: 帕西拉 Päsilä").replace("\n", "\r\n")
    sc = scenario_from_text(text, FILE)
    assert sc.stations[0].name == "帕西拉 Päsilä"
    anchored = edit(
        BASE,
        "on_scene: {dist: exponential, mean: 20min}",
        "on_scene: &scene {dist: exponential, mean: 20min}",
    )
    anchored = edit(anchored, "on_scene: {dist: fixed, mean: 15min}", "on_scene: {<<: *scene, mean: 15min}")
    sc = scenario_from_text(anchored, FILE)
    assert sc.demand.kinds[1].on_scene.dist == "exponential" and sc.demand.kinds[1].on_scene.mean == 900.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a: " + "[" * 200 + "]" * 200 + "\n", "nested more than"),
     ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
         f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
         for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "expands to more than"),
     ("name: x\n" + "# padding\n" * 30000, "larger than 256 kB")],
    ids=["deep-nesting", "alias-bomb", "oversized"],
)  # fmt: skip
def test_pathological_yaml_is_refused(text: str, fragment: str) -> None:
    """Refused from the event stream, before any tree is built (the old code took 40 s on 5 MB)."""
    problems = problems_of(text)
    assert len(problems) == 1 and fragment in problems[0], problems


DEMAND_FILE = """\
rate_per_hour: 5
kinds:
  - {name: theft, priority: 2, share: 1, target: 20min, on_scene: {dist: exponential, mean: 20min}}
"""
SCENARIO_WITH_DEMAND_FILE = """\
name: with-file
duration: 2h
map: helsinki
stations: [{name: a, lon: 24.9340, lat: 60.1690}]
units: {count: 2}
demand: demand.yaml
"""


def test_a_relative_demand_file_is_read_from_the_scenarios_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "city").mkdir()
    (tmp_path / "city" / "demand.yaml").write_text(DEMAND_FILE)
    (tmp_path / "city" / "sc.yaml").write_text(SCENARIO_WITH_DEMAND_FILE)
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    sc = load_scenario("city/sc.yaml")
    assert sc.demand.rate_per_hour == 5 and sc.demand.kinds[0].name == "theft"
    (tmp_path / "city" / "sc2.yaml").write_text(
        SCENARIO_WITH_DEMAND_FILE.replace("demand.yaml", "other.yaml")
    )
    with pytest.raises(ScenarioError, match=r"sc2.yaml:6: demand: demand file not found: other.yaml"):
        load_scenario("city/sc2.yaml")


def test_set_overrides_apply_to_a_demand_file(tmp_path: Path) -> None:
    (tmp_path / "demand.yaml").write_text(DEMAND_FILE)
    (tmp_path / "sc.yaml").write_text(SCENARIO_WITH_DEMAND_FILE)
    sc = load_scenario(tmp_path / "sc.yaml", ["demand.rate_per_hour=9", "demand.kinds.0.units=2",
                                               "demand.model=hawkes"])  # fmt: skip
    assert sc.demand.rate_per_hour == 9 and sc.demand.kinds[0].units == 2 and sc.demand.model == "hawkes"
    assert sc.demand.kinds[0].name == "theft"  # the rest of the file is kept
    with pytest.raises(
        ScenarioError, match=r"sc.yaml:\d+: demand.rate_per_hour: .*greater than 0.*\[from --set\]"
    ):
        load_scenario(tmp_path / "sc.yaml", ["demand.rate_per_hour=-1"])
    (tmp_path / "sc.yaml").write_text(SCENARIO_WITH_DEMAND_FILE.replace("demand.yaml", "gone.yaml"))
    with pytest.raises(ScenarioError, match=r"sc.yaml:6: demand: demand file not found: gone.yaml"):
        load_scenario(tmp_path / "sc.yaml", ["demand.rate_per_hour=9"])


def test_the_model_gives_hawkes_demand_its_network(monkeypatch, line_network) -> None:
    import numpy as np

    from policetwin.sim import demand as demand_module
    from policetwin.sim.model import PoliceModel

    seen = {}
    make = demand_module.make_demand

    def spy(scenario, weights, *, network=None):
        seen["network"] = network
        return make(scenario, weights, network=network)

    monkeypatch.setattr("policetwin.sim.model.make_demand", spy)
    monkeypatch.setattr("policetwin.maps.load.load_map", lambda *a, **k: pytest.fail("map loaded again"))
    sc = Scenario.model_validate({
        "duration": 3600, "map": "unused-map.graphml", "stations": [{"name": "a", "lon": 0.0, "lat": 0.0}],
        "units": {"count": 1}, "demand": {"rate_per_hour": 2, "model": "hawkes", "profile": "flat"},
    })  # fmt: skip
    model = PoliceModel(sc, network=line_network)
    assert seen["network"] is line_network and np.all(np.isfinite(model.calls.t_call))
