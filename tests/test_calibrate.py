"""``policetwin calibrate``: a simulated run's log exported as CAD records gives back the scenario's
on-scene and handling means and its speed factor (round trip); fits, out-of-order timestamps, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.demandfit.cad import read_cad
from policetwin.demandfit.calibrate import fit_duration
from policetwin.demandfit.read import DataError

ON_SCENE_S = {"violent": 2400.0, "property": 1500.0, "disorder": 900.0}
HANDLING_MEAN_S, TURNOUT_MEAN_S, SPEED_FACTOR = 120.0, 60.0, 0.8
SCENARIO = f"""
name: cad-roundtrip
seed: 3
start: 2024-03-04T00:00
duration: 4d
map: coquimbo
stations:
  - {{name: LaSerena-Centro, lon: -71.2489, lat: -29.9045}}
  - {{name: Coquimbo-Centro, lon: -71.3380, lat: -29.9533}}
  - {{name: Las-Companias, lon: -71.2300, lat: -29.8750}}
  - {{name: Tierras-Blancas, lon: -71.2900, lat: -29.9650}}
units: {{count: 20}}
demand:
  rate_per_hour: 8
  kinds:
    - {{name: violent, priority: 1, share: 0.2, target: 10min, on_scene: {{dist: lognormal, mean: {ON_SCENE_S["violent"]}, sd: 900}}}}
    - {{name: property, priority: 2, share: 0.4, target: 20min, on_scene: {{dist: lognormal, mean: {ON_SCENE_S["property"]}, sd: 600}}}}
    - {{name: disorder, priority: 3, share: 0.4, target: 60min, on_scene: {{dist: exponential, mean: {ON_SCENE_S["disorder"]}}}}}
call_handling:
  takers: 6
  handling: {{dist: lognormal, mean: {HANDLING_MEAN_S}, sd: 50}}
travel:
  speed_factor: {SPEED_FACTOR}
  turnout: {{dist: lognormal, mean: {TURNOUT_MEAN_S}, sd: 20}}
outputs: {{report: false}}
"""


def cad_from_run(run_dir: Path, network, start: str) -> pd.DataFrame:
    """A run's log as CAD records: one row per incident with its first unit's times and position."""
    inc = pd.read_parquet(run_dir / "incidents.parquet")
    trips = pd.read_parquet(run_dir / "trips.parquet")
    to_call = trips[trips["purpose"] == "to_call"].sort_values("t_start")
    first = to_call.drop_duplicates(["incident_id", "unit_id"]).set_index(["incident_id", "unit_id"])
    index = pd.Series(np.arange(network.n_nodes), index=network.node_id)
    inc = inc[inc["t_arrive"].notna()]
    origin = [
        first.loc[(i, u), "route"][0] for i, u in zip(inc["incident_id"], inc["first_unit"], strict=True)
    ]
    node = index[origin].to_numpy()
    t0 = pd.Timestamp(start)

    def stamp(col: str) -> pd.Series:
        return (t0 + pd.to_timedelta(inc[col].round(), unit="s")).dt.strftime("%Y-%m-%dT%H:%M:%S")

    return pd.DataFrame({"call_id": inc["incident_id"], "type": inc["kind"], "received": stamp("t_call"),
                         "answered": stamp("t_answer"), "entered": stamp("t_ready"), "dispatched": stamp("t_dispatch"),
                         "enroute": stamp("t_enroute"), "onscene": stamp("t_arrive"), "cleared": stamp("t_clear"),
                         "lon": inc["lon"], "lat": inc["lat"], "unit_lon": network.lon[node],
                         "unit_lat": network.lat[node]})  # fmt: skip


@pytest.fixture(scope="module")
def cad_csv(tmp_path_factory, coquimbo_network) -> tuple[Path, Path]:
    from policetwin.api import run

    base = tmp_path_factory.mktemp("cad")
    scenario = base / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    run(scenario, out_dir=base / "run")
    cad = cad_from_run(base / "run", coquimbo_network, "2024-03-04T00:00")
    cad.loc[cad.index[:3], ["enroute", "onscene"]] = cad.loc[cad.index[:3], ["onscene", "enroute"]].to_numpy()
    cad.to_csv(base / "cad.csv", index=False)
    return base / "cad.csv", scenario


def test_round_trip_recovers_on_scene_handling_and_speed(cad_csv, tmp_path: Path) -> None:
    cad, scenario = cad_csv
    out = tmp_path / "service.yaml"
    result = CliRunner().invoke(app, ["calibrate", str(cad), "--map", "coquimbo", "--out", str(out),
                                      "--scenario", str(scenario)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 rows: timestamps out of order: arrival before en-route" in result.output
    block = yaml.safe_load(out.read_text())
    for kind, mean in ON_SCENE_S.items():  # on-scene means within 10%
        assert block["on_scene"][kind]["mean"] == pytest.approx(mean, rel=0.10), kind
    assert block["on_scene"]["violent"]["dist"] == "lognormal"
    assert block["on_scene"]["disorder"]["dist"] == "exponential"
    assert block["call_handling"]["handling"]["mean"] == pytest.approx(HANDLING_MEAN_S, rel=0.05)
    assert block["travel"]["turnout"]["mean"] == pytest.approx(TURNOUT_MEAN_S, rel=0.08)
    assert block["travel"]["speed_factor"] == pytest.approx(SPEED_FACTOR, rel=0.03)
    report = (tmp_path / "service.yaml.report.txt").read_text()
    assert "simulated, calibrated" in report and "KS D" in report
    assert "--set 'travel.speed_factor=" in result.output


def test_speed_table_per_class_and_band(cad_csv, coquimbo_network) -> None:
    from policetwin.demandfit.calibrate_speed import fit_speed

    cad = read_cad(cad_csv[0])
    fit = fit_speed(coquimbo_network, from_lon=cad.unit_lon, from_lat=cad.unit_lat, to_lon=cad.lon, to_lat=cad.lat,
                    travel_s=cad.interval_s("enroute", "arrive"), hour=(cad.times["enroute"] % 86400) // 3600)  # fmt: skip
    assert fit.classes[-1] == "all classes" and fit.bands[0] == "00-06"
    main = fit.table[:-1, -1]  # every main class, all day: the scenario's one factor
    assert np.nanmax(np.abs(main[np.isfinite(main)] - SPEED_FACTOR)) < 0.1
    assert np.all(np.abs(fit.table[-1, :-1][np.isfinite(fit.table[-1, :-1])] - SPEED_FACTOR) < 0.05)


def test_fit_duration_families(rng) -> None:
    assert fit_duration(rng.exponential(300.0, 3000)).dist == "exponential"
    ln = fit_duration(rng.lognormal(np.log(500), 0.4, 3000))
    assert ln.dist == "lognormal" and ln.mean_s == pytest.approx(500 * np.exp(0.08), rel=0.05)
    assert ln.ks_p > 0.01
    assert fit_duration(np.full(50, 42.0)).dist == "fixed"


def test_out_of_order_and_missing_columns(tmp_path: Path) -> None:
    rows = pd.DataFrame({"call": ["2024-01-01T10:00:00", "2024-01-01T11:00:00"],
                         "dispatch": ["2024-01-01T10:01:00", "2024-01-01T10:59:00"],
                         "enroute": ["2024-01-01T10:02:00", "2024-01-01T11:02:00"],
                         "arrive": ["2024-01-01T10:09:00", "2024-01-01T11:09:00"],
                         "clear": ["2024-01-01T10:30:00", "2024-01-01T11:30:00"]})  # fmt: skip
    rows.to_csv(tmp_path / "cad.csv", index=False)
    cad = read_cad(tmp_path / "cad.csv")
    assert cad.problems == {"timestamps out of order: dispatch before call": 1}
    assert cad.in_order.tolist() == [True, False]
    with pytest.raises(DataError, match="--strict: 1 rows: timestamps out of order: dispatch before call"):
        read_cad(tmp_path / "cad.csv", strict=True)
    rows.drop(columns=["clear"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(
        DataError, match=r"no column for the clear \(--clear COL\) time; columns in the file: call"
    ):
        read_cad(tmp_path / "bad.csv")
    result = CliRunner().invoke(app, ["calibrate", str(tmp_path / "bad.csv"), "--map", "coquimbo", "--out",
                                      str(tmp_path / "s.yaml")])  # fmt: skip
    assert result.exit_code == 2 and "no column for the clear" in result.output
