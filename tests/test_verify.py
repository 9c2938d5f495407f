"""``policetwin verify``: the quick run passes through the CLI and writes a self-contained verify.html; a
broken or crashing check gives exit 1 naming it; bad options give exit 2. (The full-size checks run in the
theory tests, which call the same functions: test_validation, test_hypercube, test_sqrt_law,
test_event_crowd, test_event_gates, test_hawkes_fit.)"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.verify import crowd, hawkes
from policetwin.verify.record import CheckResult, Figure, within_rel, within_se
from policetwin.verify.runner import TITLES


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_exit(result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def test_figure_pass_rule_and_ci() -> None:
    ok = within_se("p", theory=0.5, simulated=0.51, se=0.005)
    assert ok.passed and ok.tolerance == pytest.approx(0.02) and ok.rule == "4 SE"
    assert ok.ci_95 == pytest.approx((0.51 - 1.959964 * 0.005, 0.51 + 1.959964 * 0.005))
    assert not within_se("p", theory=0.5, simulated=0.53, se=0.005).passed
    assert within_rel("v", theory=2.0, simulated=2.09, rel=0.05).passed
    assert not within_rel("v", theory=2.0, simulated=2.11, rel=0.05).passed
    assert not Figure("nan", 1.0, math.nan, 1.0).passed
    assert not CheckResult("x", "X").passed  # no figures: nothing was shown
    assert not CheckResult("x", "X", [ok], error="boom").passed


def test_verify_quick_passes_and_writes_the_page(tmp_path: Path) -> None:
    """The whole quick verify through the CLI (~30 s on 2 loaded cores): every check runs and passes."""
    out = tmp_path / "verify.html"
    result = invoke("verify", "--quick", "--out", out)
    assert_clean_exit(result, 0)
    text = result.output
    assert f"{len(TITLES)}/{len(TITLES)} checks passed" in text
    for title in TITLES.values():
        assert title in text
    assert "FAIL" not in text
    for header in ("figure", "theory", "simulated", "95% CI", "tolerance", "pass"):
        assert header in text
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert f"{len(TITLES)}/{len(TITLES)} checks passed" in page
    for title in TITLES.values():
        assert title in page
    # self-contained and offline: no scripts, no links or resources elsewhere
    assert "<script" not in page and not re.search(r"(src|href)=", page) and "http" not in page
    assert page.count('class="pass"') >= 25  # one per figure


def _broken_rimea_1() -> CheckResult:
    """RiMEA 1 as if the walkers were 20% too slow."""
    theory = 40.0 / 1.33
    return CheckResult(
        "rimea_1", TITLES["rimea_1"], [Figure("time to walk 40 m", theory, 1.2 * theory, 3.92)]
    )


def test_a_broken_check_exits_1_and_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crowd, "check_rimea_1", _broken_rimea_1)
    out = tmp_path / "v.html"
    result = invoke("verify", "--quick", "--only", "rimea_1,bottleneck", "--out", out)
    assert_clean_exit(result, 1)
    assert "FAILED rimea_1 (RiMEA test 1): time to walk 40 m" in result.output
    assert "1/2 checks passed" in result.output
    assert "FAILED bottleneck" not in result.output
    page = out.read_text(encoding="utf-8")  # written all the same, with the failure marked
    assert "1/2 checks passed" in page and 'class="fail"' in page


def test_a_crashing_check_exits_1_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> CheckResult:
        raise RuntimeError("fit diverged")

    monkeypatch.setattr(hawkes, "check_hawkes", boom)
    result = invoke("verify", "--quick", "--only", "hawkes,rimea_1", "--out", tmp_path / "v.html")
    assert_clean_exit(result, 1)
    assert "FAILED hawkes (Hawkes parameter recovery): RuntimeError: fit diverged" in result.output
    assert "RiMEA test 1: pass" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "erlang,gates"], "unknown check(s) erlang"),
        (["--only", ","], "(none given)"),
        (["--out", "{tmp}/missing/verify.html"], "does not exist"),
        (["--out", "{tmp}"], "is a directory"),
        (["--fast"], "No such option"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("verify", "--quick", *[a.format(tmp=tmp_path) for a in args])
    assert_clean_exit(result, 2)
    assert message in result.output
    assert not (tmp_path / "verify.html").exists()
