"""Every bundled scenario runs end to end through the CLI and writes a complete run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.scenarios import bundled_scenarios


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_bundled_scenario_smoke_runs(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    # (the full-size crowd is a benchmark: here fewer people, stepped every 5 s)
    smaller = (
        ["--set", "event.attendees.total=2000", "--set", "event.crowd.step=5"] if "newyear" in name else []
    )
    result = CliRunner().invoke(app, ["run", name, "--out", str(out), "--quiet", *smaller])
    assert result.exit_code == 0, result.output
    assert "all" in result.output  # the KPI table's overall row
    summary = json.loads((out / "summary.json").read_text())
    incidents = pd.read_parquet(out / "incidents.parquet")
    assert summary["incidents"]["count"] == len(incidents) > 0
    assert summary["overall"]["served"] == len(incidents)  # the run drains: every call is served
    assert (out / "units.parquet").is_file() and (out / "scenario.yaml").is_file()
    report = out / "report.html"
    if summary["scenario_name"] != "mmc-erlang":  # the queueing check turns its report off
        assert report.is_file() and report.stat().st_size > 1_000_000  # plotly.js is inlined
    else:
        assert not report.exists()


def test_other_modules_can_record_extra_tables(tmp_path: Path) -> None:
    """A module that appends rows to ``recorder.table(name)`` gets ``<name>.parquet`` in the run dir."""
    from policetwin.scenarios import load_scenario
    from policetwin.sim.run import simulate, write_run_dir

    result = simulate(load_scenario("helsinki", ["duration=1h", "outputs.report=false"]))
    table = result.model.recorder.table("crowd")
    table.extend([{"t": 0.0, "edge": 1, "people": 3}, {"t": 60.0, "edge": 1, "people": 5}])
    out = write_run_dir(result, tmp_path / "run")
    crowd = pd.read_parquet(out / "crowd.parquet")
    assert crowd["people"].tolist() == [3, 5]
    with pytest.raises(ValueError, match="identifier"):
        result.model.recorder.table("../evil")
