"""``policetwin compare`` on sets of replications: folders of run directories and sweep arms
(``SWEEP_DIR:ARM``) give mean ± 95% CI per side and the difference to the first, paired by seed when
both sides have the same seeds (else Welch); the figures equal :mod:`sweep_stats`'s on hand-made runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.experiments.compare_sets import compare_sets, paired_by_seed, read_side
from policetwin.experiments.sweep_store import SWEEP_KIND

MEANS = {"a": [600.0, 640.0, 700.0, 580.0], "b": [540.0, 600.0, 610.0, 560.0]}


def _run(path: Path, *, seed: int, response: float, units: int) -> Path:
    path.mkdir(parents=True)
    summary = {"version": "test", "seed": seed, "scenario_name": "x",
               "priorities": {"1": {"count": 100, "within_target": response / 1000.0, "response_mean_s": response}},
               "overall": {"count": 100, "response_mean_s": response}, "units": {"count": units}}  # fmt: skip
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "scenario.yaml").write_text(yaml.safe_dump({"seed": seed, "units": {"count": units}}))
    return path


def _set(root: Path, name: str, seeds: list[int], values: list[float], units: int) -> Path:
    for seed, v in zip(seeds, values, strict=True):
        _run(root / name / f"r{seed}", seed=seed, response=v, units=units)
    return root / name


def _half(x: list[float]) -> float:
    x = np.asarray(x)
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def test_sets_with_the_same_seeds_are_paired(tmp_path):
    a = _set(tmp_path, "a", [1, 2, 3, 4], MEANS["a"], 8)
    b = _set(tmp_path, "b", [4, 3, 2, 1], MEANS["b"][::-1], 9)  # same seeds in another order
    sides = [read_side(a), read_side(b)]
    assert paired_by_seed(*sides)
    rows, notes = compare_sets(sides)
    row = next(r for r in rows if r.key == "overall.response_mean_s")
    assert row.cells[0][:2] == pytest.approx((np.mean(MEANS["a"]), _half(MEANS["a"])))
    assert row.cells[1][2] == 4
    diffs = np.subtract(MEANS["b"], MEANS["a"])  # paired by seed
    assert row.diffs[0] == pytest.approx((diffs.mean(), _half(list(diffs)), 4))
    assert notes == ["b - a: paired by seed"]


def test_other_seeds_give_welch(tmp_path):
    a = _set(tmp_path, "a", [1, 2, 3, 4], MEANS["a"], 8)
    b = _set(tmp_path, "b", [5, 6, 7, 8], MEANS["b"], 9)
    rows, notes = compare_sets([read_side(a), read_side(b)])
    row = next(r for r in rows if r.key == "overall.response_mean_s")
    welch = stats.ttest_ind(MEANS["b"], MEANS["a"], equal_var=False)
    half = float(welch.confidence_interval(0.95).high - welch.confidence_interval(0.95).low) / 2
    assert row.diffs[0] == pytest.approx((np.mean(MEANS["b"]) - np.mean(MEANS["a"]), half, 0))
    assert "unpaired (Welch)" in notes[0]


def _sweep(root: Path) -> Path:
    """A sweep directory as ``policetwin sweep`` writes it (manifest, resolved study, runs.parquet)."""
    d = root / "sweep"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"kind": SWEEP_KIND}))
    study = {"name": "s", "factors": [{"path": "units.count", "column": "units", "values": [8, 9]}],
             "kpis": {"all_response_mean_s": "overall.response_mean_s"}, "seeds": "common", "warmup_s": 0.0,
             "arms": [{"arm": 0, "units": 8}, {"arm": 1, "units": 9}]}  # fmt: skip
    (d / "study.yaml").write_text(yaml.safe_dump(study))
    rows = [{"run_id": f"a{arm}-r{r}", "arm": arm, "replication": r, "seed": 100 + r, "units": 8 + arm,
             "all_response_mean_s": MEANS["ab"[arm]][r], "status": "ok"} for arm in (0, 1) for r in range(4)]  # fmt: skip
    rows.append({**rows[0], "run_id": "a1-r9", "arm": 1, "replication": 9, "seed": 109, "status": "failed"})
    pd.DataFrame(rows).to_parquet(d / "runs.parquet")
    return d


def test_sweep_arms_by_index_or_factor_values(tmp_path):
    d = _sweep(tmp_path)
    first, second = read_side(f"{d}:0"), read_side(f"{d}:units=9")
    assert (first.seeds, second.seeds) == ([100, 101, 102, 103],) * 2  # the failed run is left out
    rows, _ = compare_sets([first, second])
    (row,) = rows
    diffs = np.subtract(MEANS["b"], MEANS["a"])
    assert row.label == "all_response_mean_s" and row.unit == "s"
    assert row.diffs[0] == pytest.approx((diffs.mean(), _half(list(diffs)), 4))
    # a folder of runs with the sweep's seeds pairs with its arm
    runs = _set(tmp_path, "runs", [100, 101, 102, 103], MEANS["b"], 9)
    rows, _ = compare_sets([first, read_side(runs)])
    assert rows[0].diffs[0][2] == 4


def test_cli_sets_single_runs_and_bad_input(tmp_path):
    a = _set(tmp_path, "a", [1, 2, 3, 4], MEANS["a"], 8)
    b = _set(tmp_path, "b", [1, 2, 3, 4], MEANS["b"], 9)
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(a), str(b)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "2 sets compared: mean ± 95% CI" in result.output and "a (n=4)" in result.output
    assert "note: b - a: paired by seed" in result.output and "units.count: 8 -> 9" in result.output
    single = runner.invoke(app, ["compare", str(a / "r1"), str(b / "r1")], terminal_width=200)
    assert single.exit_code == 0 and "2 runs compared (deltas against a/r1)" in single.output
    d = _sweep(tmp_path)
    for args, message in (([f"{d}:7", f"{d}:0"], "the sweep has arms 0..1"),
                          ([f"{d}:size=3", f"{d}:0"], "unknown factor column 'size'"),
                          ([str(tmp_path / "nowhere"), str(a)], "does not exist"),
                          ([str(tmp_path), str(a)], "nor SWEEP_DIR:ARM")):  # fmt: skip
        bad = runner.invoke(app, ["compare", *args], terminal_width=200)
        assert bad.exit_code == 2 and message in bad.output, bad.output
