"""The ``policetwin`` command line: validate, run (run directory, --set, --seed, atomic writes) and maps.

Bad input must give exit 2, one ``file:line: field.path: message`` line per problem, no traceback and no
run directory. Runs use the small bundled Helsinki map and a 2 h scenario so they take well under a second.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner
from yaml_text import SMALL, edit, line_of

from policetwin import __version__
from policetwin.cli import app
from policetwin.scenarios import bundled_scenarios, load_scenario, scenario_sha256

SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
TORONTO = SHARED_OSM / "toronto-downtown.osm"
needs_toronto = pytest.mark.skipif(not TORONTO.is_file(), reason="../shared/data/osm is absent")

INCIDENT_COLUMNS = ["incident_id", "kind", "priority", "t_occur", "t_call", "t_answer", "t_ready", "t_desk",
                    "t_decided", "t_dispatch", "t_enroute", "t_arrive", "t_clear", "node", "lon", "lat", "n_units",
                    "first_unit", "source", "target_s", "detected_by", "outcome", "n_preempted"]  # fmt: skip
ASSIGNMENT_COLUMNS = ["incident_id", "unit_id", "t_assigned", "t_enroute", "t_arrive", "t_released", "result",
                      "out_of_district"]  # fmt: skip
UNIT_COLUMNS = ["unit_id", "state", "t_start", "t_end", "incident_id"]
PRIORITY_KEYS = ["count", "served", "response_mean_s", "response_p50_s", "response_p90_s", "within_target"]

#: A small, fast scenario in block style (every field on its own line, for line-number checks).
BASE = SMALL


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_exit(result, code: int) -> None:
    """Exit ``code`` through typer (no escaped exception) and no traceback anywhere."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def squash(text: str) -> str:
    """``text`` without whitespace (rich wraps stdout at 80 columns, even inside paths)."""
    return "".join(text.split())


def problem_lines(result) -> list[str]:
    """The stderr lines that report problems (warnings, ``file:line: field: warning: ...``, are not)."""
    return [line for line in result.stderr.splitlines() if line.strip() and ": warning: " not in line]


def assert_problem(problem: str, file: Path, field: str, line: int | None, *fragments: str) -> None:
    if (
        line is None
    ):  # any line number (known product gap: see test_map_and_station_problems_carry_yaml_lines)
        head, _, rest = problem.partition(f": {field}: ")
        assert rest and head.startswith(f"{file}:") and head.rsplit(":", 1)[1].isdigit(), problem
    else:
        assert problem.startswith(f"{file}:{line}: {field}: "), (
            f"expected {file}:{line}: {field}: ..., got {problem}"
        )
    for fragment in fragments:
        assert fragment in problem, f"{fragment!r} not in {problem!r}"


def assert_no_run_dir(out: Path) -> None:
    assert not out.exists()
    if out.parent.exists():  # no temp or half-written directories either
        assert [p.name for p in out.parent.iterdir()] == []


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(BASE)
    return path


@pytest.fixture(scope="module")
def helsinki_pbf() -> Path:
    from policetwin.maps.bundled import helsinki_pbf_path

    return Path(helsinki_pbf_path())


# -------------------------------------------------------------------------------------------- basics
def test_help_on_every_command() -> None:
    for args in ([], ["run"], ["validate"], ["maps"], ["maps", "info"], ["maps", "import"]):
        result = invoke(*args, "--help")
        assert_clean_exit(result, 0)
        assert "Usage" in result.output


def test_version() -> None:
    result = invoke("--version")
    assert_clean_exit(result, 0)
    assert __version__ in result.output


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_validate_every_bundled_scenario(name: str) -> None:
    result = invoke("validate", name)
    assert_clean_exit(result, 0)
    assert ":ok(" in squash(result.stdout)
    assert_clean_exit(invoke("validate", bundled_scenarios()[name]), 0)


def test_validate_good_file_and_set(scenario_file: Path) -> None:
    assert_clean_exit(invoke("validate", scenario_file), 0)
    result = invoke("validate", scenario_file, "--set", "units.count=12", "--set", "demand.rate_per_hour=20")
    assert_clean_exit(result, 0)
    result = invoke("validate", scenario_file, "--set", "units.count=none")
    assert_clean_exit(result, 2)
    assert problem_lines(result) == [
        f"{scenario_file}:{line_of(BASE, '  count: 3')}: units.count: Input should be a valid integer "
        "(got 'none') [from --set]"
    ]


# ----------------------------------------------------------------------------------------- bad input
# (case id, edits to BASE, field path, text naming the line or None when not checked here, fragment)
BAD_INPUTS = [
    ("yaml-syntax", [("seed: 3", "seed: 3: 4")], "(yaml)", "seed: 3: 4", "syntax error"),
    ("yaml-tab", [("  count: 3", "\tcount: 3")], "(yaml)", "\tcount: 3", "syntax error"),
    ("unknown-key", [("  count: 3\n", "  count: 3\n  colour: blue\n")], "units.colour", "colour: blue",
     "unknown key"),
    ("unknown-top-key", [("seed: 3\n", "seed: 3\nsede: 4\n")], "sede", "sede: 4", "unknown key"),
    ("zero-rate", [("rate_per_hour: 8", "rate_per_hour: 0")], "demand.rate_per_hour", "rate_per_hour",
     "greater than 0"),
    ("negative-rate", [("rate_per_hour: 8", "rate_per_hour: -3")], "demand.rate_per_hour", "rate_per_hour",
     "greater than 0"),
    ("shares-zero", [("share: 0.4", "share: 0"), ("share: 0.6", "share: 0.0")], "demand.kinds", "  kinds:",
     "sum to a positive number"),
    ("unknown-policy", [("policy: nearest", "policy: teleport")], "dispatch.policy", "policy: teleport",
     "unknown dispatch policy 'teleport'; allowed: nearest"),
    ("bad-duration", [("duration: 2h", "duration: two hours")], "duration", "duration: two hours",
     "cannot parse duration"),
    ("bad-nested-duration", [("target: 20min", "target: 20 minutes-ish")], "demand.kinds.1.target",
     "20 minutes-ish", "cannot parse duration"),
    ("missing-map-file", [("map: helsinki", "map: nowhere.osm.pbf")], "map", None, "map file not found"),
    ("unsupported-map-file", [("map: helsinki", "map: roads.csv")], "map", None, "unsupported map file"),
    ("unreadable-pbf", [("map: helsinki", "map: broken.osm.pbf")], "map", None, "cannot read OSM PBF"),
    ("unreadable-osm-xml", [("map: helsinki", "map: broken.osm")], "map", None, "cannot read OSM XML"),
    ("unreadable-graphml", [("map: helsinki", "map: broken.graphml")], "map", None, "cannot read GraphML"),
    ("empty-place", [("map: helsinki", "map: 'place:'")], "map", None, "needs a name"),
    ("station-outside-map", [("lon: 24.9500", "lon: -71.2489"), ("lat: 60.1640", "lat: -29.9045")],
     "stations.1", None, "outside the map 'helsinki'"),
    ("hotspot-outside-map",
     [("  rate_per_hour: 8\n", "  rate_per_hour: 8\n  hotspots:\n    - {lon: 10.0, lat: 50.0}\n")],
     "demand.hotspots.0", None, "from the nearest road"),
]  # fmt: skip


def _write_bad(tmp_path: Path, edits: list[tuple[str, str]]) -> tuple[Path, str]:
    text = BASE
    for old, new in edits:
        text = edit(text, old, new)
    (tmp_path / "roads.csv").write_text("a,b\n1,2\n")
    (tmp_path / "broken.osm.pbf").write_bytes(b"not a protobuf at all\n")
    (tmp_path / "broken.osm").write_text("<osm><node id='1'")
    (tmp_path / "broken.graphml").write_text("this is not xml")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path, text


@pytest.mark.parametrize(("edits", "field", "needle", "fragment"), [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])  # fmt: skip
def test_bad_input_exits_2_with_one_line_and_no_run_dir(
    tmp_path: Path, edits, field, needle, fragment
) -> None:
    path, text = _write_bad(tmp_path, edits)
    line = line_of(text, needle) if needle else None

    result = invoke("validate", path)
    assert_clean_exit(result, 2)
    problems = problem_lines(result)
    assert len(problems) == 1, problems
    assert_problem(problems[0], path, field, line, fragment)

    out = tmp_path / "runs" / "x"
    result = invoke("run", path, "--out", out, "--seed", "7", "-q")
    assert_clean_exit(result, 2)
    assert problem_lines(result) == problems  # run validates the same way first
    assert_no_run_dir(out)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "the scenario file is empty"), (b"# nothing here\n", "the scenario file is empty"),
     (b"- a list\n", "must be a mapping"), (b"name: caf\xe9\n", "not UTF-8")],
    ids=["empty", "comment-only", "list", "not-utf8"],
)  # fmt: skip
def test_bad_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    out = tmp_path / "runs" / "x"
    for args in (["validate", path], ["run", path, "--out", out, "-q"]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        problems = problem_lines(result)
        assert len(problems) == 1 and problems[0].startswith(f"{path}:"), problems
        assert "(file)" in problems[0] and fragment in problems[0]
    assert_no_run_dir(out)


def test_missing_scenario_file_and_directory(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    missing = tmp_path / "nope.yaml"
    for args in (["validate", missing], ["run", missing, "--out", out]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        assert problem_lines(result)[0].startswith(f"{missing}:0: (file): no such file")
    (tmp_path / "folder.yaml").mkdir()
    result = invoke("run", tmp_path / "folder.yaml", "--out", out)
    assert_clean_exit(result, 2)
    assert "is a directory" in result.stderr
    assert not out.exists()


def test_several_problems_at_once(scenario_file: Path, tmp_path: Path) -> None:
    text = edit(BASE, "duration: 2h", "duration: 2 fortnights")
    text = edit(text, "  count: 3\n", "  count: 3\n  colour: blue\n")
    text = edit(text, "rate_per_hour: 8", "rate_per_hour: -1")
    scenario_file.write_text(text)
    out = tmp_path / "runs" / "x"
    for args in (["validate", scenario_file], ["run", scenario_file, "--out", out, "-q"]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        problems = problem_lines(result)
        assert len(problems) == 3, problems
        assert_problem(problems[0], scenario_file, "duration", line_of(text, "duration:"), "fortnights")
        assert_problem(problems[1], scenario_file, "units.colour", line_of(text, "colour: blue"))
        assert_problem(problems[2], scenario_file, "demand.rate_per_hour", line_of(text, "rate_per_hour"))
    assert not out.exists()


def test_validate_several_files_reports_all(scenario_file: Path, tmp_path: Path) -> None:
    bad1 = tmp_path / "bad1.yaml"
    bad1.write_text(edit(BASE, "policy: nearest", "policy: random"))
    bad2 = tmp_path / "bad2.yaml"
    bad2.write_text("")
    result = invoke("validate", bad1, scenario_file, "helsinki", bad2)
    assert_clean_exit(result, 2)
    problems = problem_lines(result)
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{bad1}:{line_of(BASE, 'policy: nearest')}: dispatch.policy: ")
    assert problems[1].startswith(f"{bad2}:1: (file): ")
    assert squash(result.stdout).count(":ok(") == 2


# ----------------------------------------------------------------------------------- running scenarios
def test_run_writes_the_run_directory(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "--seed", "7", "--set", "units.count=4",
                    "--set", "demand.rate_per_hour=20", "--set", "outputs.report=true", "-q")  # fmt: skip
    assert_clean_exit(result, 0)
    assert "P1" in result.stdout and "run directory" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.parquet", "incidents.parquet", "nodes.parquet", "report.html", "roads.parquet", "scenario.yaml",
        "summary.json", "trips.parquet", "units.parquet",
    ]  # fmt: skip
    assert [p.name for p in out.parent.iterdir()] == ["x"]  # the temp directory was renamed, nothing left

    incidents = pd.read_parquet(out / "incidents.parquet")
    assert list(incidents.columns)[: len(INCIDENT_COLUMNS)] == INCIDENT_COLUMNS
    assert len(incidents) > 10  # about 40 calls in 2 h
    assert incidents["incident_id"].is_unique
    assert set(incidents["kind"]) <= {"urgent", "routine"}
    assert set(incidents["priority"]) <= {1, 2}
    assert (incidents["source"] == "generated").all()
    assert incidents["t_call"].between(0, 7200).all()
    served = incidents.dropna(subset=["t_arrive"])
    assert (served["t_arrive"] >= served["t_call"]).all()
    assert (incidents["t_occur"] == incidents["t_call"]).all()  # no report delays, no sensing
    assert (incidents["t_enroute"].fillna(-1) == incidents["t_dispatch"].fillna(-1)).all()  # no turn-out
    assert (incidents["detected_by"] == "citizen").all() and (incidents["outcome"] == "served").all()
    units = pd.read_parquet(out / "units.parquet")
    assert list(units.columns)[: len(UNIT_COLUMNS)] == UNIT_COLUMNS
    assignments = pd.read_parquet(out / "assignments.parquet")
    assert list(assignments.columns) == ASSIGNMENT_COLUMNS
    assert len(assignments) == incidents["n_units"].sum()
    done = assignments.dropna(subset=["t_released"])
    assert set(done["result"]) <= {"completed", "released_on_arrival"} and len(done) == len(assignments)
    assert units["unit_id"].nunique() == 4

    summary = json.loads((out / "summary.json").read_text())
    for key in ("seed", "scenario_sha256", "version", "wall_s"):
        assert key in summary
    assert summary["seed"] == 7
    assert summary["version"] == __version__
    assert summary["units"]["count"] == 4
    for key in ("utilisation", "saturation_index"):
        assert 0 <= summary["units"][key] <= 1
    assert set(summary["priorities"]) == {"1", "2"}
    for stats in summary["priorities"].values():
        assert set(PRIORITY_KEYS) <= set(stats)
    assert sum(s["count"] for s in summary["priorities"].values()) == len(incidents)

    resolved = load_scenario(out / "scenario.yaml")
    assert resolved.units.count == 4 and resolved.demand.rate_per_hour == 20.0
    assert (out / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_resolved_scenario_revalidates_and_reproduces(scenario_file: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "runs" / "first", tmp_path / "runs" / "second"
    args = ["--seed", "7", "--set", "units.count=2", "-q"]
    assert_clean_exit(invoke("run", scenario_file, "--out", first, *args), 0)
    resolved = first / "scenario.yaml"
    assert_clean_exit(invoke("validate", resolved), 0)
    assert load_scenario(resolved, ["seed=0"]) == load_scenario(scenario_file, ["units.count=2", "seed=0"])

    assert_clean_exit(invoke("run", resolved, "--out", second, "--seed", "7", "-q"), 0)
    for name in ("incidents.parquet", "units.parquet"):
        assert_frame_equal(pd.read_parquet(first / name), pd.read_parquet(second / name))
    assert (first / "scenario.yaml").read_text() == (second / "scenario.yaml").read_text()
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (first, second))
    assert s1["scenario_sha256"] == s2["scenario_sha256"] == scenario_sha256(load_scenario(resolved))
    assert s1["priorities"] == s2["priorities"]


def test_other_seed_gives_other_incidents(scenario_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    assert_clean_exit(invoke("run", scenario_file, "--out", a, "--seed", "1", "-q"), 0)
    assert_clean_exit(invoke("run", scenario_file, "--out", b, "--seed", "2", "-q"), 0)
    ta = pd.read_parquet(a / "incidents.parquet")["t_call"].to_numpy()
    tb = pd.read_parquet(b / "incidents.parquet")["t_call"].to_numpy()
    assert ta.shape != tb.shape or (ta != tb).any()


def test_run_set_into_nested_lists(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    result = invoke(
        "run", scenario_file, "--out", out, "-q",
        "--set", "demand.kinds.0.share=0", "--set", "demand.kinds.1.units=1",
        "--set", "demand.kinds.1.on_scene.mean=5min",
        "--set", "stations.2={name: Central, lon: 24.9458, lat: 60.1699}",
        "--set", "travel.mode=instant",
    )  # fmt: skip
    assert_clean_exit(result, 0)
    sc = load_scenario(out / "scenario.yaml")
    assert [k.share for k in sc.demand.kinds] == [0.0, 0.6]
    assert sc.demand.kinds[1].on_scene.mean == 300.0 and sc.demand.kinds[1].units == 1
    assert [s.name for s in sc.stations] == ["Pasila", "Kaartinkaupunki", "Central"]
    incidents = pd.read_parquet(out / "incidents.parquet")
    assert set(incidents["kind"]) == {"routine"}  # a share of 0 gives no calls of that kind
    assert (incidents["n_units"].dropna() <= 1).all()
    served = incidents.dropna(subset=["t_arrive"])
    assert (served["t_arrive"] == served["t_dispatch"]).all()  # instant travel


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [("units.count", "expected path=value"), ("=3", "empty key"), ("units..count=3", "empty key"),
     ("stations.9.lon=1", "not valid for a list of 2 items"), ("name.first=x", "is a value")],
)  # fmt: skip
def test_run_bad_set_syntax(scenario_file: Path, tmp_path: Path, assignment: str, fragment: str) -> None:
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "--set", assignment, "-q")
    assert_clean_exit(result, 2)
    problems = problem_lines(result)
    assert len(problems) == 1 and problems[0].startswith("--set: ") and fragment in problems[0], problems
    assert_no_run_dir(out)


@pytest.mark.parametrize(
    ("assignment", "field", "needle", "fragment"),
    [("units.count=many", "units.count", "  count: 3", "valid integer"),
     ("demand.rate_per_hour=-5", "demand.rate_per_hour", "rate_per_hour", "greater than 0"),
     ("demand.kinds.1.target=later", "demand.kinds.1.target", "target: 20min", "cannot parse duration"),
     ("dispatch.policy=closest", "dispatch.policy", "policy: nearest", "unknown dispatch policy"),
     ("units.size=3", "units.size", "units:", "unknown key")],
)  # fmt: skip
def test_run_override_type_errors(
    scenario_file: Path, tmp_path: Path, assignment, field, needle, fragment
) -> None:
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "--set", assignment, "-q")
    assert_clean_exit(result, 2)
    problems = problem_lines(result)
    assert len(problems) == 1, problems
    assert_problem(problems[0], scenario_file, field, line_of(BASE, needle), fragment, "[from --set]")
    assert_no_run_dir(out)


def test_run_bad_seed_option_is_a_usage_error(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "--seed", "seven")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not out.exists()


def test_run_default_out_dir_is_runs_name(scenario_file: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run", scenario_file, "-q")
    assert_clean_exit(result, 0)
    assert (tmp_path / "runs" / "small" / "summary.json").is_file()
    assert not (tmp_path / "runs" / "small" / "report.html").exists()  # outputs.report: false


def test_run_with_progress_bar(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    assert_clean_exit(invoke("run", scenario_file, "--out", out), 0)
    assert (out / "summary.json").is_file()


@pytest.mark.parametrize("quiet", [True, False])
def test_run_progress_file_has_one_json_line_per_step(
    scenario_file: Path, tmp_path: Path, quiet: bool
) -> None:
    out, progress = tmp_path / "runs" / "x", tmp_path / "progress.jsonl"
    progress.write_text("stale\n")  # replaced, not appended to
    result = invoke(
        "run", scenario_file, "--out", out, "--progress-file", progress, *(["-q"] if quiet else [])
    )
    assert_clean_exit(result, 0)
    steps = [json.loads(line) for line in progress.read_text().splitlines()]
    duration = load_scenario(scenario_file).duration
    assert len(steps) >= 100 and all(set(s) == {"sim_t", "duration_s", "calls"} for s in steps)
    assert all(s["duration_s"] == duration for s in steps)
    times = [s["sim_t"] for s in steps]
    assert times == sorted(times) and times[0] > 0 and times[-1] >= duration
    assert steps[-1]["calls"] == len(pd.read_parquet(out / "incidents.parquet"))
    assert "--progress-file" in invoke("run", "--help").output


def test_run_progress_file_that_cannot_be_written_is_bad_input(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "-q", "--progress-file", tmp_path / "no" / "p.jsonl")
    assert_clean_exit(result, 2)
    assert f"error: --progress-file {tmp_path / 'no' / 'p.jsonl'}: No such file or directory" in result.output
    assert_no_run_dir(out)


def test_run_replaces_an_earlier_run_dir(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "--seed", "1", "-q"), 0)
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "--seed", "2", "-q"), 0)
    assert json.loads((out / "summary.json").read_text())["seed"] == 2
    assert [p.name for p in out.parent.iterdir()] == ["x"]


def test_run_never_deletes_a_file_it_did_not_write(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "--seed", "1", "--set", "outputs.report=true",
                             "-q"), 0)  # fmt: skip
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = invoke("run", scenario_file, "--out", out, "--seed", "2", "-q")
    assert_clean_exit(result, 2)
    assert "notes.txt" in result.stderr and "--overwrite" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "--seed", "2", "--overwrite", "-q"), 0)
    assert (out / "notes.txt").read_text() == "mine"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 2
    # report.html of the first run was PoliceTwin's: the new run (no report) does not keep it
    assert sorted(p.name for p in out.iterdir()) == sorted([*summary["files"], "notes.txt"])
    assert "report.html" not in summary["files"]
    assert [p.name for p in out.parent.iterdir()] == ["x"]


def test_failed_write_leaves_no_directory(scenario_file: Path, tmp_path: Path, monkeypatch) -> None:
    import policetwin.sim.report

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(policetwin.sim.report, "write_report", broken)
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "--set", "outputs.report=true", "-q")
    assert_clean_exit(result, 1)  # an internal error: exit 1, a short message, no traceback
    assert "internal error: RuntimeError: disk on fire" in result.stderr
    assert_no_run_dir(out)

    # an earlier run directory at the same place survives a failed run untouched
    monkeypatch.undo()
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "-q"), 0)
    before = (out / "incidents.parquet").read_bytes()
    monkeypatch.setattr(policetwin.sim.report, "write_report", broken)
    result = invoke("run", scenario_file, "--out", out, "--seed", "99", "--set", "outputs.report=true", "-q")
    assert_clean_exit(result, 1)
    assert (out / "incidents.parquet").read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["x"]


# ---------------------------------------------------------------------------------------------- maps
def test_maps_info_bundled_json() -> None:
    result = invoke("maps", "info", "helsinki", "--json")
    assert_clean_exit(result, 0)
    info = json.loads(result.stdout)
    assert info["name"] == "helsinki" and 100 < info["nodes"] < 200 and info["edges"] > info["nodes"]
    assert len(info["bbox"]) == 4 and "load_s" in info
    assert info["routing"] == "dense-rows"  # small: a cached row per node
    assert_clean_exit(invoke("maps", "info", "helsinki"), 0)
    big = json.loads(invoke("maps", "info", "synthetic:30000:1", "--json").stdout)
    assert big["nodes"] > 23_170 and big["routing"] == "cch"  # too big for 2 GB of rows


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [("missing.osm.pbf", None, "map file not found"), ("roads.csv", b"a,b\n", "unsupported map file"),
     ("broken.osm.pbf", b"garbage\n", "cannot read OSM PBF"), ("broken.osm", b"<osm><node", "cannot read OSM XML")],
)  # fmt: skip
def test_maps_info_and_import_bad_files(
    tmp_path: Path, name: str, content: bytes | None, fragment: str
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)
    out = tmp_path / "city.graphml"
    for args in (["maps", "info", source], ["maps", "import", source, "--out", out]):
        result = invoke(*args)
        assert_clean_exit(result, 2)
        assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
    assert not out.exists()


def test_maps_import_needs_exactly_one_source(tmp_path: Path) -> None:
    out = tmp_path / "city.graphml"
    for args in (["maps", "import", "--out", out],
                 ["maps", "import", tmp_path / "x.osm", "--place", "Coquimbo, Chile", "--out", out]):  # fmt: skip
        result = invoke(*args)
        assert_clean_exit(result, 2)
        assert "exactly one of FILE or --place" in result.stderr
    assert not out.exists()


def test_maps_import_place_offline(tmp_path: Path, monkeypatch) -> None:
    import requests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import osmnx

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'nominatim.openstreetmap.org'")

    monkeypatch.setattr(osmnx, "graph_from_place", offline)
    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "city.graphml"
    result = invoke("maps", "import", "--place", "La Serena, Chile", "--out", out)
    assert_clean_exit(result, 2)
    assert "internet" in result.stderr and "maps import FILE" in result.stderr
    assert not out.exists()


def test_maps_import_pbf_then_use_it(tmp_path: Path, helsinki_pbf: Path) -> None:
    out = tmp_path / "maps" / "helsinki.graphml"
    out.parent.mkdir()
    result = invoke("maps", "import", helsinki_pbf, "--out", out)
    assert_clean_exit(result, 0)
    bundled = json.loads(invoke("maps", "info", "helsinki", "--json").stdout)
    assert out.is_file() and f"wrote{out}:{bundled['nodes']}nodes" in squash(result.stdout)
    assert "routing:dense-rows" in squash(result.stdout)  # (big maps: cch, its node order cached)
    info = json.loads(invoke("maps", "info", out, "--json").stdout)
    assert (info["nodes"], info["edges"]) == (bundled["nodes"], bundled["edges"])
    # a scenario can name the imported file, relative to the scenario's folder
    scenario = tmp_path / "maps" / "city.yaml"
    scenario.write_text(edit(BASE, "map: helsinki", "map: helsinki.graphml"))
    assert_clean_exit(invoke("validate", scenario), 0)


@needs_toronto
def test_maps_import_osm_xml(tmp_path: Path) -> None:
    out = tmp_path / "toronto.graphml"
    result = invoke("maps", "import", TORONTO, "--out", out)
    assert_clean_exit(result, 0)
    assert out.is_file()
    info = json.loads(invoke("maps", "info", out, "--json").stdout)
    assert 50 < info["nodes"] < 90  # simplified drive graph (68 junctions)
    west, south, east, north = info["bbox"]
    assert -79.5 < west < east < -79.3 and 43.6 < south < north < 43.7
    # stations in downtown Toronto validate against the imported map; Helsinki stations do not
    text = edit(BASE, "map: helsinki", f"map: {out}")
    text = edit(edit(text, "lon: 24.9340", "lon: -79.3900"), "lat: 60.1690", "lat: 43.6630")
    text = edit(edit(text, "lon: 24.9500", "lon: -79.3870"), "lat: 60.1640", "lat: 43.6600")
    scenario = tmp_path / "toronto.yaml"
    scenario.write_text(text)
    assert_clean_exit(invoke("validate", scenario), 0)
    scenario.write_text(edit(BASE, "map: helsinki", f"map: {out}"))
    result = invoke("validate", scenario)
    assert_clean_exit(result, 2)
    assert len(problem_lines(result)) == 2 and "outside the map" in result.stderr


# -------------------------------------------------------------------------------- known product bugs
def test_map_and_station_problems_carry_yaml_lines(tmp_path: Path) -> None:
    """BUG: map, station and hotspot problems found after the schema check are reported as ``file:0:``
    (policetwin/sim/run.py load_scenario_map, sim/model.py _snap_stations, sim/demand.py node_weights),
    but the YAML line of ``map:``, ``stations.N`` and ``demand.hotspots.N`` is known."""
    needles = {"map": "map: ", "stations.1": "  - name: Kaartinkaupunki", "demand.hotspots.0": "{lon: 10.0"}
    wrong = []
    for _, edits, field, needle, _ in BAD_INPUTS:
        if needle is not None:
            continue
        path, text = _write_bad(tmp_path, edits)
        result = invoke("validate", path)
        assert_clean_exit(result, 2)
        (problem,) = problem_lines(result)
        expected = f"{path}:{line_of(text, needles[field])}: {field}: "
        if not problem.startswith(expected):
            wrong.append(f"expected {expected}..., got {problem}")
    assert not wrong, "\n".join(wrong)


def test_station_and_hotspot_problems_are_reported_together(scenario_file: Path) -> None:
    """BUG: "all problems at once": a station outside the map hides a hotspot outside the map
    (PoliceModel._snap_stations raises before node_weights runs in cli.validate)."""
    text = edit(BASE, "lon: 24.9500", "lon: -71.2489")
    text = edit(
        text, "  rate_per_hour: 8\n", "  rate_per_hour: 8\n  hotspots:\n    - {lon: 10.0, lat: 50.0}\n"
    )
    scenario_file.write_text(text)
    result = invoke("validate", scenario_file)
    assert_clean_exit(result, 2)
    fields = [p.split(": ")[1] for p in problem_lines(result)]
    assert fields == ["stations.1", "demand.hotspots.0"], result.stderr


def test_resolved_scenario_keeps_the_seed_of_the_run(scenario_file: Path, tmp_path: Path) -> None:
    """BUG: ``run --seed 7`` writes ``seed: 3`` (the file's) into scenario.yaml, so re-running the resolved
    scenario does not repeat the run (policetwin/sim/run.py write_run_dir writes model.scenario unchanged)."""
    first, second = tmp_path / "runs" / "first", tmp_path / "runs" / "second"
    assert_clean_exit(invoke("run", scenario_file, "--out", first, "--seed", "7", "-q"), 0)
    assert load_scenario(first / "scenario.yaml").seed == 7
    assert_clean_exit(invoke("run", first / "scenario.yaml", "--out", second, "-q"), 0)
    assert_frame_equal(
        pd.read_parquet(first / "incidents.parquet"), pd.read_parquet(second / "incidents.parquet")
    )


def test_resolved_scenario_with_a_relative_map_path_revalidates(tmp_path: Path, helsinki_pbf: Path) -> None:
    """BUG: ``map: city.osm.pbf`` (relative to the scenario's folder) is copied as-is into
    runs/x/scenario.yaml, where it no longer resolves: the resolved scenario fails validation."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(helsinki_pbf, folder / "city.osm.pbf")
    scenario = folder / "city.yaml"
    scenario.write_text(edit(BASE, "map: helsinki", "map: city.osm.pbf"))
    out = tmp_path / "runs" / "x"
    assert_clean_exit(invoke("run", scenario, "--out", out, "-q"), 0)
    result = invoke("validate", out / "scenario.yaml")
    assert_clean_exit(result, 0)


def test_run_negative_seed_is_bad_input(scenario_file: Path, tmp_path: Path) -> None:
    """BUG: ``--seed -1`` is not checked (the schema's seed has ge=0) and ends as "internal error:
    ValueError: expected non-negative integer", exit 1 instead of 2."""
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "--seed", "-1", "-q")
    assert_clean_exit(result, 2)
    assert_no_run_dir(out)


def test_run_out_on_an_existing_file_is_refused(scenario_file: Path, tmp_path: Path) -> None:
    """BUG: ``--out notes.txt`` (an existing file) silently replaces the file with a run directory and leaves
    ``.notes.txt.old-PID`` behind (write_run_dir os.replace + rmtree(ignore_errors) on a file)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    result = invoke("run", scenario_file, "--out", notes, "-q")
    assert_clean_exit(result, 2)
    assert notes.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "small.yaml"]


# ------------------------------------------------------------------------------ start and warnings
def test_start_is_written_to_the_run_directory(scenario_file: Path, tmp_path: Path) -> None:
    scenario_file.write_text(edit(BASE, "duration: 2h", "start: friday 18:30\nduration: 2h"))
    out = tmp_path / "runs" / "x"
    assert_clean_exit(invoke("run", scenario_file, "--out", out, "-q"), 0)
    assert load_scenario(out / "scenario.yaml").start == "Fri 18:30"
    assert json.loads((out / "summary.json").read_text())["start"] == "Fri 18:30"


def test_bundled_helsinki_is_an_evening() -> None:
    assert load_scenario("helsinki").start == "Fri 18:00"


def test_station_far_from_roads_is_a_warning_with_its_distance(scenario_file: Path, tmp_path: Path) -> None:
    """Helsinki's nearest road node to (24.95, 60.186) is ~0.8 km away: snapped, with a warning."""
    text = edit(BASE, "    lat: 60.1640", "    lat: 60.186")
    scenario_file.write_text(text)
    result = invoke("validate", scenario_file)
    assert_clean_exit(result, 0)
    (warning,) = [line for line in result.stderr.splitlines() if ": stations.1: warning: " in line]
    line = line_of(text, "lat: 60.186") - 2  # the station's list item
    m = re.fullmatch(rf"{re.escape(str(scenario_file))}:{line}: stations\.1: warning: station 'Kaartinkaupunki' "
                     r"at \(24\.95, 60\.186\) is (\d+) m from the nearest road node; its units start there", warning)  # fmt: skip
    assert m and 500 < int(m[1]) < 2000, warning
    out = tmp_path / "runs" / "x"
    result = invoke("run", scenario_file, "--out", out, "-q")
    assert_clean_exit(result, 0)
    assert warning in result.stderr
    assert warning in json.loads((out / "summary.json").read_text())["warnings"]


def test_speed_override_for_a_class_the_map_lacks_is_a_warning(scenario_file: Path) -> None:
    scenario_file.write_text(BASE + "travel:\n  speeds_kph: {motorway: 90}\n")
    result = invoke("validate", scenario_file)
    assert_clean_exit(result, 0)
    assert "travel.speeds_kph.motorway: warning: the map 'helsinki' has no 'motorway' roads" in result.stderr
