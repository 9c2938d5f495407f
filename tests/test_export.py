"""``policetwin export``: a run's layers as GeoPackage and GeoJSON, readable by geopandas with the run's
row counts; bad run directories and outputs exit 2."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app

runner = CliRunner()
LAYERS = {"incidents", "trips", "stations", "posts", "districts", "coverage"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-hour run of the bundled posts scenario (stations, posts, districts, trips)."""
    out = tmp_path_factory.mktemp("export") / "posts"
    args = ["run", "coquimbo-whatif-posts", "--out", str(out), "--quiet", "--set", "duration=1h",
            "--set", "outputs.report=false"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def expected_rows(run_dir: Path) -> dict[str, int]:
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    districts = pd.read_parquet(run_dir / "nodes.parquet")["district"].dropna()
    return {
        "incidents": len(pd.read_parquet(run_dir / "incidents.parquet")),
        "trips": len(pd.read_parquet(run_dir / "trips.parquet")),
        "stations": len(scenario["stations"]),
        "posts": sum(len(g.get("posts") or []) for g in scenario["units"]["groups"]),
        "districts": districts[districts != ""].nunique(),
        "coverage": 2,
    }


def test_gpkg_layers_and_rows(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.gpkg"
    result = runner.invoke(app, ["export", str(run_dir), "--format", "gpkg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {str(n) for n, _ in pyogrio.list_layers(out)} == LAYERS
    for layer, rows in expected_rows(run_dir).items():
        frame = gpd.read_file(out, layer=layer)
        assert len(frame) == rows, layer
        assert frame.crs.to_epsg() == 4326
    incidents = gpd.read_file(out, layer="incidents")
    assert {"t_call", "t_dispatch", "t_arrive", "t_clear", "response_s", "kind", "priority"} <= set(
        incidents.columns
    )
    assert (gpd.read_file(out, layer="trips").geom_type == "LineString").all()
    again = runner.invoke(app, ["export", str(run_dir), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert runner.invoke(app, ["export", str(run_dir), "--out", str(out), "--overwrite"]).exit_code == 0


def test_geojson_folder_one_file_per_layer(run_dir: Path) -> None:
    result = runner.invoke(app, ["export", str(run_dir), "--format", "geojson"])
    assert result.exit_code == 0, result.output
    folder = run_dir.with_name(f"{run_dir.name}-geojson")  # beside the run, never inside it
    assert {p.stem for p in folder.glob("*.geojson")} == LAYERS
    for layer, rows in expected_rows(run_dir).items():
        assert len(gpd.read_file(folder / f"{layer}.geojson")) == rows, layer


@pytest.mark.parametrize("case", ["missing", "not_a_run", "bad_format"])
def test_bad_input_exits_2(run_dir: Path, tmp_path: Path, case: str) -> None:
    args = {
        "missing": ["export", str(tmp_path / "nowhere")],
        "not_a_run": ["export", str(tmp_path)],
        "bad_format": ["export", str(run_dir), "--format", "shp", "--out", str(tmp_path / "x")],
    }[case]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:")
