"""``policetwin report RUN_DIR`` rebuilds a run directory's report.html from its files: the same page as
the run would write (map loaded again), or, when the map no longer loads, the streets from
nodes/roads.parquet without the coverage map."""

from __future__ import annotations

import json
import shutil

import yaml
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.scenarios import load_scenario
from policetwin.sim.report import write_report
from policetwin.sim.run import simulate, write_run_dir


def test_report_rebuilds_a_run_directory(tmp_path):
    sc = load_scenario("helsinki", ["outputs.report=false", "duration=2h"])
    result = simulate(sc)
    run = write_run_dir(result, tmp_path / "run")
    assert not (run / "report.html").exists()
    summary = json.loads((run / "summary.json").read_text())
    stations = [{"name": s.name, "lon": s.lon, "lat": s.lat} for s in sc.stations]
    write_report(tmp_path / "expected.html", incidents=result.incidents, units=result.units, summary=summary,
                 network=result.model.network, stations=stations, coverage=result.coverage)  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(app, ["report", str(run)])
    assert out.exit_code == 0, out.output
    assert (run / "report.html").read_bytes() == (tmp_path / "expected.html").read_bytes()
    assert (
        "report.html" in json.loads((run / "summary.json").read_text())["files"]
    )  # ours: replaced by later runs

    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    scenario = yaml.safe_load((moved / "scenario.yaml").read_text())
    scenario["map"] = str(tmp_path / "gone.osm.pbf")
    (moved / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    out = runner.invoke(app, ["report", str(moved)])
    assert out.exit_code == 0, out.output
    assert "did not load" in out.output and "no coverage map" in out.output
    page = (moved / "report.html").read_text()
    assert "Coverage within" not in page and 'id="fig-map"' in page

    (moved / "incidents.parquet").unlink()
    out = runner.invoke(app, ["report", str(moved)])
    assert out.exit_code == 2 and "missing incidents.parquet" in out.output
    out = runner.invoke(app, ["report", str(tmp_path)])
    assert out.exit_code == 2 and "not a sweep directory, nor a run directory" in out.output
