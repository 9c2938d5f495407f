"""``units.groups[].forecast``: hotspot units patrol the top cells of a ``demand predict`` forecast (snapped to
their beat's nodes) instead of the demand weights; the file is checked when the scenario is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.demandfit.space import Grid, Projection
from policetwin.errors import ScenarioError
from policetwin.maps.snap import Snapper
from policetwin.maps.synthetic import synthetic_city
from policetwin.scenarios import load_scenario
from policetwin.sim.model import PoliceModel
from policetwin.sim.recorder import TRIP_PURPOSES

SCENARIO = """\
seed: 4
duration: 8h
map: synthetic:2500:1
stations: [{{name: S0, lon: {lon}, lat: {lat}}}]
units:
  groups:
    - {{name: p, count: 3, station: S0, idle: hotspot, hotspots: 4, forecast: {forecast}}}
demand:
  rate_per_hour: 0.05
  profile: flat
  kinds: [{{name: k, priority: 1, share: 1, units: 1, target: 600, on_scene: {{dist: exponential, mean: 20min}}}}]
outputs: {{report: false}}
"""


@pytest.fixture(scope="module")
def city():
    return synthetic_city(n_nodes=2500, seed=1)


@pytest.fixture(scope="module")
def forecast(tmp_path_factory, city) -> Path:
    """A forecast from incidents clustered around three nodes (most at the first)."""
    folder = tmp_path_factory.mktemp("fc")
    rng = np.random.default_rng(5)
    centres = [500, 1300, 2100]
    sizes = [300, 150, 80]
    node = np.concatenate([np.full(n, c) for c, n in zip(centres, sizes, strict=True)])
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.random(node.size) * 60 * 86400, unit="s")
    pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%S"), "lon": city.lon[node] + rng.normal(0, 3e-4, node.size),
                  "lat": city.lat[node] + rng.normal(0, 3e-4, node.size)}).to_csv(folder / "inc.csv", index=False)  # fmt: skip
    out = folder / "forecast.parquet"
    result = CliRunner().invoke(app, ["demand", "predict", str(folder / "inc.csv"), "--train-until", "2024-02-20",
                                      "--origins", "2", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _scenario(tmp_path: Path, city, forecast: str) -> Path:
    path = tmp_path / "sc.yaml"
    path.write_text(
        SCENARIO.format(lon=float(np.median(city.lon)), lat=float(np.median(city.lat)), forecast=forecast)
    )
    return path


def expected_nodes(path: Path, city, *, count: int, method: str) -> list[int]:
    """The forecast's top cells of the latest origin, centres snapped to the nearest node, distinct."""
    import json

    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"policetwin"])
    fc = table.to_pandas()
    fc = fc[(fc["method"] == method) & (fc["origin"] == fc["origin"].max())].sort_values(
        "score", ascending=False
    )
    grid, proj = Grid(*meta["grid"]), Projection(meta["lon0"], meta["lat0"])
    cells = fc["cell"].to_numpy()
    lon, lat = proj.to_lonlat(grid.x0 + (cells // grid.ny + 0.5) * grid.cell_m,
                              grid.y0 + (cells % grid.ny + 0.5) * grid.cell_m)  # fmt: skip
    x, y = Snapper(city).to_xy(lon, lat)
    _, nodes = cKDTree(np.column_stack([city.x, city.y])).query(np.column_stack([x, y]))
    return list(dict.fromkeys(nodes.tolist()))[:count]


def test_hotspot_units_visit_the_forecasts_top_cells(tmp_path: Path, city, forecast: Path) -> None:
    (tmp_path / "fc.parquet").write_bytes(forecast.read_bytes())
    sc = load_scenario(_scenario(tmp_path, city, "fc.parquet"))  # relative: read from the scenario's folder
    assert sc.units.groups[0].forecast.file == str((tmp_path / "fc.parquet").resolve())
    model = PoliceModel(sc, network=city)
    picks = model.patrol.waypoints[0].tolist()
    assert picks == expected_nodes(forecast, city, count=4, method="hawkes")  # default: hawkes, latest origin
    centres = [500, 1300, 2100]
    d = np.hypot(city.x[picks[0]] - city.x[centres[0]], city.y[picks[0]] - city.y[centres[0]])
    assert d < 300  # the top cell is at the biggest cluster
    weights_top = np.argsort(-model.demand_weights, kind="stable")[:4].tolist()
    assert picks != weights_top  # not the demand weights
    model.run()
    rec = model.recorder
    patrol = np.frombuffer(rec.tr_purpose, dtype=np.int8) == TRIP_PURPOSES.index("patrol")
    visited = set(np.frombuffer(rec.tr_dest, dtype=np.int64)[patrol].tolist())
    assert visited == set(picks)


def test_method_option_and_bad_forecasts(tmp_path: Path, city, forecast: Path) -> None:
    path = _scenario(tmp_path, city, f"{{file: {forecast}, method: kde}}")
    model = PoliceModel(load_scenario(path), network=city)
    assert model.patrol.waypoints[0].tolist() == expected_nodes(forecast, city, count=4, method="kde")
    with pytest.raises(
        ScenarioError, match=r"sc.yaml:7: units.groups.0.forecast: forecast file not found: nope"
    ):
        load_scenario(_scenario(tmp_path, city, "nope.parquet"))
    (tmp_path / "plain.parquet").write_bytes(forecast.read_bytes()[:100])
    with pytest.raises(ScenarioError, match=r"units.groups.0.forecast: .*not a forecast written by"):
        load_scenario(_scenario(tmp_path, city, "plain.parquet"))
    with pytest.raises(ScenarioError, match=r"has no origin 1999-01-01; origins: 2024-02-20"):
        load_scenario(_scenario(tmp_path, city, f"{{file: {forecast}, origin: 1999-01-01}}"))
    text = (
        _scenario(tmp_path, city, str(forecast))
        .read_text()
        .replace("idle: hotspot, hotspots: 4", "idle: station")
    )
    path.write_text(text)
    with pytest.raises(
        ScenarioError, match=r"forecast sets the hotspots of hotspot units; this group's idle is station"
    ):
        load_scenario(path)
