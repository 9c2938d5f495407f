"""The statistics of a sweep: confidence intervals that cover the truth at their nominal rate, paired and
Welch differences, and the replications added until a CI half-width target is met."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.experiments.sweep_stats import arm_table, mean_ci, paired_ci, welch_ci


def erlang_c_wait_s(lam_per_h: float, mean_service_h: float, c: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C), in seconds."""
    a = lam_per_h * mean_service_h
    top = a**c / math.factorial(c) * c / (c - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return 3600.0 * p_wait / (c / mean_service_h - lam_per_h)


def test_erlang_c_value_of_the_bundled_check() -> None:
    assert erlang_c_wait_s(1.5, 1.0, 3) == pytest.approx(0.1579 * 3600, rel=1e-3)


def test_ci_coverage_of_the_erlang_c_mean_wait(tmp_path: Path) -> None:
    """The test: 30 independent small studies (arms differing only in an idle factor, the number of
    call-takers, with independent seeds), each 3 replications of an M/M/3 queue (instant travel,
    400 h, the first 20 h left out as warm-up). Each arm's 95% CI of the mean wait for a unit should
    contain the Erlang C value with probability 0.95, so the count that do is Binomial(30, 0.95) if the
    CIs are right. Tolerance: fail when P(X <= count) < 0.001 (CIs too narrow or biased) or when the
    CIs are too wide: their mean half-width / t(0.975, 2) must be within 0.6x-1.6x of the spread
    (standard deviation) of the arm means, which is what it estimates."""
    truth = erlang_c_wait_s(1.5, 1.0, 3)
    study = tmp_path / "coverage.yaml"
    study.write_text(textwrap.dedent(f"""\
        name: erlang-coverage
        base: mmc-erlang
        set: {{duration: 400h}}
        factors:
          call_handling.takers: {list(range(50, 80))}
        replications: 3
        seeds: independent
        warmup: 20h
        kpis: [queue.mean_wait_for_unit_s]
        """))  # fmt: skip
    out = tmp_path / "cov"
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 90 and runs["seed"].is_unique
    table = arm_table(runs, yaml.safe_load((out / "study.yaml").read_text()))
    mean, hw = table["queue_mean_wait_for_unit_s"], table["queue_mean_wait_for_unit_s_hw"]
    covered = int(((mean - hw <= truth) & (truth <= mean + hw)).sum())
    assert stats.binom.cdf(covered, 30, 0.95) >= 0.001, (covered, truth)
    ratio = (hw / stats.t.ppf(0.975, 2)).mean() / mean.std(ddof=1)
    assert 0.6 < ratio < 1.6, ratio
    assert abs(mean.mean() - truth) < 3 * mean.std(ddof=1) / math.sqrt(30)  # no bias either


def test_mean_ci_matches_the_t_interval() -> None:
    x = [1.0, 2.0, 4.0, 7.0]
    mean, hw = mean_ci(x)
    assert mean == pytest.approx(3.5)
    assert hw == pytest.approx(stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2)
    assert mean_ci([5.0]) == (5.0, None)
    assert mean_ci([None, float("nan")]) == (None, None)


def test_paired_ci_uses_common_replications_and_is_narrower_with_shared_noise() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 10, 8)
    a = pd.Series(noise + 1.0 + rng.normal(0, 0.1, 8), index=range(8))
    b = pd.Series(noise, index=range(8)).drop(7)  # one replication missing in the baseline
    diff, half, n = paired_ci(a, b)
    assert n == 7 and diff == pytest.approx(1.0, abs=0.2)
    _, welch = welch_ci(a, b)
    assert half < welch / 10


def test_ci_target_adds_replications_until_reached(tmp_path: Path) -> None:
    """``replications: {kpi, half_width, min, max}``: an arm gets more runs while its CI is wider than the
    target, and the set of runs is decided from finished runs only (the same on every rerun)."""
    study = tmp_path / "target.yaml"
    study.write_text(textwrap.dedent("""\
        base: mmc-erlang
        set: {duration: 100h}
        factors:
          units.count: [3, 6]
        replications: {kpi: queue_mean_wait_for_unit_s, half_width: 60, min: 3, max: 12}
        warmup: 5h
        kpis: [queue.mean_wait_for_unit_s]
        """))  # fmt: skip
    out = tmp_path / "target"
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    n = runs.groupby("count").size()
    assert n[6] == 3  # 6 units hardly ever wait: the CI is narrow at once
    assert n[3] > 3  # 3 units: waits vary, more replications were needed
    hw = mean_ci(runs[runs["count"] == 3]["queue_mean_wait_for_unit_s"])[1]
    assert hw <= 60 or n[3] == 12
