"""``policetwin init``: scenarios for the bundled city and a real extract that validate and run as
written; stations from a file; incidents; and clear exit-2 errors for bad sources (no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app

runner = CliRunner()
CAMPO_GRANDE = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "campo-grande.osm.pbf"
SHORT_RUN = [
    "--quiet",
    "--set",
    "duration=1h",
    "--set",
    "outputs.report=false",
    "--set",
    "outputs.trips=false",
]


def init(*args: str) -> object:
    return runner.invoke(app, ["init", *args])


def validates_and_runs(scenario: Path, tmp_path: Path) -> None:
    checked = runner.invoke(app, ["validate", str(scenario)])
    assert checked.exit_code == 0, checked.output
    ran = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "run"), *SHORT_RUN])
    assert ran.exit_code == 0, ran.output


def test_bundled_city(tmp_path: Path) -> None:
    out = tmp_path / "scenarios" / "coq.yaml"
    result = init("coquimbo", "--out", str(out))
    assert result.exit_code == 0, result.output
    for words in ("km²", "PLACED by p-median", "reasoning", "Erlang C", "demand within 8 min", "ASSUMPTION"):
        assert words in result.output, words
    text = out.read_text(encoding="utf-8")
    assert "# ASSUMPTION" in text and "profile: default" in text
    data = yaml.safe_load(text)
    assert data["map"] == "coquimbo" and len(data["stations"]) == 5
    assert data["units"]["count"] >= len(data["stations"])
    validates_and_runs(out, tmp_path)
    again = init("coquimbo", "--out", str(out))
    assert again.exit_code == 2 and "--overwrite" in again.output


@pytest.mark.skipif(not CAMPO_GRANDE.is_file(), reason="shared/data/osm/campo-grande.osm.pbf not present")
def test_real_extract(tmp_path: Path) -> None:
    out = tmp_path / "campo.yaml"
    result = init(str(CAMPO_GRANDE), "--out", str(out), "--units", "9")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert Path(data["map"]).resolve() == CAMPO_GRANDE.resolve() and data["units"]["count"] == 9
    assert "using --units 9" in result.output
    validates_and_runs(out, tmp_path)


BALTIMORE = CAMPO_GRANDE.with_name("baltimore.osm.pbf")


@pytest.mark.skipif(not BALTIMORE.is_file(), reason="shared/data/osm/baltimore.osm.pbf not present")
def test_second_real_extract_with_osm_police_stations(tmp_path: Path) -> None:
    """A second real city: its stations come from OSM amenity=police (not placed), and it runs."""
    out = tmp_path / "baltimore.yaml"
    result = init(str(BALTIMORE), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "PLACED by p-median" not in result.output
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert len(data["stations"]) >= 1 and data["units"]["count"] >= len(data["stations"])
    validates_and_runs(out, tmp_path)


def test_stations_file_and_incidents(tmp_path: Path) -> None:
    """Helsinki (bundled, small): stations from a CSV, hotspots from synthetic incidents near one corner."""
    from policetwin.maps import load_map

    net = load_map("helsinki")
    stations = tmp_path / "stations.csv"
    stations.write_text(
        f"name,lon,lat\nSenaatintori,{net.lon[0]},{net.lat[0]}\nEsplanadi,{net.lon[-1]},{net.lat[-1]}\n"
    )
    rng = np.random.default_rng(1)
    pick = rng.integers(0, net.n_nodes, 400)
    days = rng.integers(0, 120, 400)
    rows = [f"2024-01-01 00:00,{h},{net.lon[i] + rng.normal(0, 1e-4):.6f},{net.lat[i]:.6f},Theft"
            .replace("2024-01-01", str(np.datetime64("2024-01-01") + d))
            for i, d, h in zip(pick, days, rng.integers(0, 24, 400), strict=True)]  # fmt: skip
    incidents = tmp_path / "incidents.csv"
    incidents.write_text("date,hour,lon,lat,category\n" + "\n".join(rows) + "\n")
    out = tmp_path / "hel.yaml"
    result = init("helsinki", "--out", str(out), "--stations", str(stations), "--incidents", str(incidents))
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [s["name"] for s in data["stations"]] == ["Senaatintori", "Esplanadi"]
    assert data["demand"]["hotspots"], "incidents give hotspots"
    assert "from stations.csv" in result.output
    validates_and_runs(out, tmp_path)


def no_roads_osm(path: Path) -> Path:
    path.write_text('<?xml version="1.0"?>\n<osm version="0.6"><node id="1" lat="0" lon="0"/>'
                    '<way id="2"><nd ref="1"/><tag k="building" v="yes"/></way></osm>\n')  # fmt: skip
    return path


@pytest.mark.parametrize(
    "case", ["missing", "not_osm", "garbage_osm", "no_roads", "stations_off_map", "empty"]
)
def test_bad_input_exits_2(tmp_path: Path, case: str) -> None:
    far = tmp_path / "far.csv"
    far.write_text("name,lon,lat\nNowhere,0.0,0.0\n")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad.osm").write_text("not xml at all")
    source, extra, words = {
        "missing": (str(tmp_path / "city.osm.pbf"), [], "not found"),
        "not_osm": (str(tmp_path / "notes.txt"), [], "not an OpenStreetMap file"),
        "garbage_osm": (str(tmp_path / "bad.osm"), [], "not XML"),
        "no_roads": (str(no_roads_osm(tmp_path / "empty.osm")), [], "no drivable roads"),
        "stations_off_map": ("helsinki", ["--stations", str(far)], "from the road network"),
        "empty": (" ", [], "SOURCE is empty"),
    }[case]
    out = tmp_path / "out.yaml"
    result = init(source, "--out", str(out), *extra)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert not out.exists()


def test_place_offline_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A place name without internet: exit 2, saying internet is needed and how to use an extract."""
    import osmnx

    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Max retries exceeded (name resolution failed)")

    monkeypatch.setenv("POLICETWIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(osmnx, "graph_from_place", offline)
    result = init("Nowhere Town, Atlantis", "--out", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2, result.output
    assert "needs internet" in result.output and ".osm.pbf" in result.output


def test_incidents_without_the_fit_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If `demand fit` cannot be used, init's own coarse fit (k-means hotspots) still gives hotspots."""
    import policetwin.cityinit.fitted as fitted
    from policetwin.maps import load_map

    monkeypatch.setattr(fitted, "fitted_demand", lambda *args: None)
    net = load_map("helsinki")
    rows = [f"{net.lon[i]:.6f},{net.lat[i]:.6f}" for i in np.arange(200) % net.n_nodes]
    incidents = tmp_path / "incidents.csv"
    incidents.write_text("longitude,latitude\n" + "\n".join(rows) + "\n")
    out = tmp_path / "hel.yaml"
    result = init("helsinki", "--out", str(out), "--incidents", str(incidents))
    assert result.exit_code == 0, result.output
    assert "weighted k-means" in result.output
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["demand"]["hotspots"]
