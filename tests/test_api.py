"""The public API: ``policetwin.__all__`` matches docs/api.md, every name resolves, the import stays light,
and a run can be made, read back and compared from Python."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import policetwin as pt

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented_names() -> set[str]:
    """The names docs/api.md documents (its ``### policetwin.NAME`` headings)."""
    return set(re.findall(r"^### policetwin\.(\w+)\s*$", DOCS.read_text(encoding="utf-8"), flags=re.M))


def test_all_matches_the_docs() -> None:
    assert set(pt.__all__) == documented_names()
    assert len(pt.__all__) == len(set(pt.__all__))


def test_every_public_name_resolves() -> None:
    for name in pt.__all__:
        assert getattr(pt, name) is not None, name
    with pytest.raises(AttributeError):
        _ = pt.no_such_name  # type: ignore[attr-defined]


def test_import_is_light() -> None:
    code = "import sys, policetwin; print(sorted(m for m in sys.modules if m.startswith(('policetwin.', 'pandas', 'numpy'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_run_load_run_and_compare(tmp_path: Path) -> None:
    base = pt.run("mmc-erlang", overrides=["duration=2h", "outputs.report=false"], out_dir=tmp_path / "a")
    sc = pt.load_scenario("mmc-erlang", overrides=["duration=2h", "outputs.report=false"])
    assert isinstance(sc, pt.Scenario)
    more = pt.run(sc.model_copy(update={"seed": 5}), out_dir=tmp_path / "b")
    run = pt.load_run(tmp_path / "a")
    assert isinstance(run, pt.Run)
    assert len(run.incidents) == base.summary["overall"]["count"] == len(base.incidents)
    assert run.summary["scenario_name"] == sc.name
    comparison = pt.compare(tmp_path / "a", tmp_path / "b")
    assert comparison.labels == ("a", "b")
    assert more.summary["seed"] == 5


def test_errors_are_policetwin_errors(tmp_path: Path) -> None:
    with pytest.raises(pt.PoliceTwinError):
        pt.load_run(tmp_path)
    with pytest.raises(pt.ScenarioError):
        pt.load_scenario("coquimbo", overrides=["units.count=-1"])
