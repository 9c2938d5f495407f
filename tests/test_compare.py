"""``compare_runs``: KPI deltas against the first run, the scenario diff, errors and old-style summaries,
on real run directories made with the CLI (helsinki, report off)."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.errors import PoliceTwinError
from policetwin.experiments import CompareError, compare_runs, comparison_frame, render_comparison
from policetwin.experiments.compare import format_delta, format_value


def _run(out: Path, *overrides: str) -> Path:
    args = ["run", "helsinki", "-q", "--out", str(out), "--set", "outputs.report=false"]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three runs: the bundled scenario, 9 units, and pre-emptive dispatch."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "a": _run(root / "a"),
        "b": _run(root / "b", "units.count=9"),
        "c": _run(root / "c", "dispatch.policy=priority_preempt"),
    }


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def _scenario(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "scenario.yaml").read_text())


def _printed(cmp) -> str:
    buf = io.StringIO()
    render_comparison(cmp, Console(file=buf, width=200, markup=False, highlight=False, emoji=False))
    return buf.getvalue()


def test_deltas_are_exact_differences_of_the_summaries(runs):
    sa, sb = _summary(runs["a"]), _summary(runs["b"])
    cmp = compare_runs([runs["a"], runs["b"]])
    assert cmp.labels == ("a", "b")
    assert cmp.run_dirs == (runs["a"], runs["b"])
    for key in ("overall.response_mean_s", "priorities.1.response_p90_s", "units.utilisation"):
        section, *rest = key.split(".")
        va, vb = sa[section], sb[section]
        for k in rest:
            va, vb = va[k], vb[k]
        row = cmp.row(key)
        assert row.values == (va, vb)
        assert row.delta_abs == (vb - va,)
        assert row.delta_pct == (100 * (vb - va) / va,)
    assert sb["overall"]["response_mean_s"] < sa["overall"]["response_mean_s"]  # 9 units: faster help
    units = cmp.row("units.count")
    assert (units.values, units.delta_abs) == ((sa["units"]["count"], 9), (9 - sa["units"]["count"],))
    assert cmp.row("dispatch.preemptions").delta_pct == (None,)  # 0 -> 0: no relative change
    # one row per priority KPI, in priority order; all-null KPIs (mutual aid) are left out
    p_rows = [r.key for r in cmp.rows if r.key.startswith("priorities.")]
    assert p_rows[:: len(p_rows) // len(sa["priorities"])] == [
        f"priorities.{p}.count" for p in sa["priorities"]
    ]
    with pytest.raises(KeyError):
        cmp.row("dispatch.mutual_aid_share")


def test_scenario_diff_lists_changed_key_paths_in_run_order(runs):
    count = _scenario(runs["a"])["units"]["count"]
    cmp = compare_runs([runs["a"], runs["b"], runs["c"]])
    assert cmp.scenario_diff[:2] == (
        f"units.count: {count} -> 9 -> {count}",
        "dispatch.policy: nearest -> nearest -> priority_preempt",
    )
    assert all(line.startswith("dispatch.preempt: null -> null -> {") for line in cmp.scenario_diff[2:])
    assert cmp.notes == ()
    assert compare_runs([runs["a"], runs["a"]]).scenario_diff == ()


def test_scenario_diff_shows_seed_list_items_and_missing_keys(runs, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(runs["a"], edited)
    sc = _scenario(edited)
    seed, profile_3 = sc["seed"], sc["demand"]["profile"][3]
    sc["seed"] = seed + 1
    sc["demand"]["profile"][3] = 2.5
    del sc["sensing"]  # as if written by an older version
    sc["stations"] = sc["stations"][:1]  # lists of other lengths are shown whole
    (edited / "scenario.yaml").write_text(yaml.safe_dump(sc, sort_keys=False))
    diff = compare_runs([runs["a"], edited]).scenario_diff
    assert f"seed: {seed} -> {seed + 1}" in diff
    assert f"demand.profile.3: {profile_3} -> 2.5" in diff
    assert "sensing: null -> -" in diff
    pasila = "{name: Pasila, lon: 24.934, lat: 60.169}"  # the whole value, cut at 60 characters
    assert f"stations: [{pasila}, {{name: Kaartinka… -> [{pasila}]" in diff
    assert len(diff) == 4


def test_render_prints_values_deltas_and_diff(runs):
    cmp = compare_runs([runs["a"], runs["b"]])
    text = _printed(cmp)
    row = cmp.row("overall.response_mean_s")
    line = next(ln for ln in text.splitlines() if "all response mean" in ln)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells == [
        "all response mean",
        format_value(row.values[0], "s"),
        format_value(row.values[1], "s"),
        format_delta(row.delta_abs[0], row.delta_pct[0], "s"),
    ]
    assert cells[3].startswith("-") and cells[3].endswith("%)")
    assert "Δ b" in text and "2 runs compared (deltas against a)" in text
    assert "scenario differences (a -> b):\n  units.count: " in text
    assert "scenarios: no differences" in _printed(compare_runs([runs["a"], runs["a"]]))


def test_formatting():
    assert format_value(None, "s") == "-" and format_delta(None, None, "s") == "-"
    assert format_value(0.1234, "share") == "12.3%"
    assert format_delta(-0.1, -20.0, "share") == "-10.0 pp (-20.0%)"
    assert format_delta(-150.0, -12.5, "s") == "-2.5min (-12.5%)"
    assert format_delta(2, None, "count") == "+2"
    assert format_delta(0.0, 0.0, "s") == "±0"


def test_frame_matches_the_rows(runs):
    cmp = compare_runs([runs["a"], runs["b"], runs["c"]])
    frame = comparison_frame(cmp)
    assert list(frame.columns) == ["label", "unit", "a", "b", "c", "Δ b", "Δ% b", "Δ c", "Δ% c"]
    assert list(frame.index) == [r.key for r in cmp.rows]
    row = cmp.row("queue.mean_wait_for_unit_s")
    assert frame.loc[row.key, ["a", "b", "c"]].tolist() == list(row.values)
    assert frame.loc[row.key, ["Δ b", "Δ% c"]].tolist() == [row.delta_abs[0], row.delta_pct[1]]
    assert frame.attrs["scenario_diff"] == list(cmp.scenario_diff)


def test_labels_are_disambiguated(runs, tmp_path):
    for parent in ("x", "y"):
        shutil.copytree(runs["a"], tmp_path / parent / "run")
    assert compare_runs([tmp_path / "x" / "run", tmp_path / "y" / "run"]).labels == ("x/run", "y/run")
    parent = runs["a"].parent.name
    assert compare_runs([runs["a"], runs["a"]]).labels == (f"{parent}/a", f"{parent}/a#2")


def test_old_style_summary_missing_keys_shows_dashes(runs, tmp_path):
    old = tmp_path / "old"
    old.mkdir()  # no scenario.yaml, no Parquet files: only summary.json is needed
    summary = {
        "version": "0.0.1",
        "priorities": {"1": {"count": 5, "response_mean_s": 300.0, "within_target": "high"}},
        "overall": {"count": 5, "response_mean_s": 300.0, "response_p90_s": None},
        "units": {"count": 7, "utilisation": math.nan},
    }
    (old / "summary.json").write_text(json.dumps(summary))
    sa = _summary(runs["a"])
    cmp = compare_runs([runs["a"], old])
    mean = cmp.row("priorities.1.response_mean_s")
    assert mean.delta_abs == (300.0 - sa["priorities"]["1"]["response_mean_s"],)
    for key in ("priorities.1.within_target", "overall.response_p90_s", "units.utilisation",
                "dispatch.preemptions", "priorities.2.count"):  # fmt: skip
        row = cmp.row(key)
        assert row.values[1] is None and row.delta_abs == (None,) and row.delta_pct == (None,), key
    assert cmp.scenario_diff == ()
    assert cmp.notes == (
        "old: no scenario.yaml (its values show as ?)",
        f"summaries from versions 0.0.1, {sa['version']}: KPIs a run lacks show as -",
    )
    text = _printed(cmp)
    assert "note: old: no scenario.yaml" in text
    line = next(ln for ln in text.splitlines() if "P2 calls" in ln)
    assert [c.strip() for c in line.split("│")[2:-1]] == [str(sa["priorities"]["2"]["count"]), "-", "-"]
    assert math.isnan(comparison_frame(cmp).loc["overall.response_p90_s", "old"])


def test_errors_name_the_path_and_the_problem(runs, tmp_path):
    assert issubclass(CompareError, PoliceTwinError)
    with pytest.raises(CompareError, match="at least 2 run directories, got 1"):
        compare_runs([runs["a"]])
    missing, a_file, empty = tmp_path / "missing", tmp_path / "file.txt", tmp_path / "empty"
    a_file.write_text("x")
    empty.mkdir()
    for path, problem in [
        (missing, "does not exist"),
        (a_file, "is not a directory"),
        (empty, r"is not a run directory \(no summary.json\)"),
    ]:
        with pytest.raises(CompareError, match=f"^{re.escape(str(path))}: {problem}$"):
            compare_runs([runs["a"], path])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text('{"overall": ')
    with pytest.raises(
        CompareError, match=f"^{re.escape(str(bad / 'summary.json'))}: malformed JSON: Expecting value"
    ):
        compare_runs([runs["a"], bad])
    (bad / "summary.json").write_text("[1, 2]")
    with pytest.raises(
        CompareError, match=r"summary\.json: malformed summary: a JSON object expected, not list"
    ):
        compare_runs([runs["a"], bad])
    (bad / "summary.json").write_text("{}")
    (bad / "scenario.yaml").write_text("seed: 1\nseed: 2\n")
    with pytest.raises(
        CompareError, match=f"^{re.escape(str(bad / 'scenario.yaml'))}:2: seed: duplicate key 'seed'"
    ):
        compare_runs([runs["a"], bad])


def test_compare_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policetwin.cli import app

    runner = CliRunner()
    for name, extra in (("base", []), ("more", ["--set", "units.count=9"])):
        result = runner.invoke(app, ["run", "helsinki", "-q", "--out", str(tmp_path / name),
                                     "--set", "outputs.report=false", *extra])  # fmt: skip
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compare", str(tmp_path / "base"), str(tmp_path / "more")])
    assert result.exit_code == 0, result.output
    assert "units.count: 7 -> 9" in result.stdout and "Δ more" in result.stdout
    result = runner.invoke(app, ["compare", str(tmp_path / "base"), str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
