"""``policetwin demand fit``: a fitted file validates in a scenario; the hour-of-week profile beats a flat
one on held-out weeks; bad input exits 2 with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.demandfit.profile import fit_profile, hour_of_week, profile_error
from policetwin.scenarios import load_scenario
from policetwin.sim.demand import hour_of_week_profile

runner = CliRunner()
MONDAY = pd.Timestamp("2024-01-01")


def synthetic(n_weeks: int, *, seed: int, rate_per_hour: float = 4.0) -> pd.DataFrame:
    """Calls following the default profile around central Coquimbo, with categories."""
    rng = np.random.default_rng(seed)
    rates = rate_per_hour * hour_of_week_profile("default")
    counts = rng.poisson(np.tile(rates, n_weeks))
    hours = np.repeat(np.arange(counts.size), counts)
    t = MONDAY + pd.to_timedelta(hours * 3600 + rng.random(hours.size) * 3600, unit="s")
    return pd.DataFrame({"occurred": t.strftime("%Y-%m-%d %H:%M:%S"),
                         "longitude": -71.34 + rng.normal(0, 0.01, hours.size),
                         "latitude": -29.95 + rng.normal(0, 0.01, hours.size),
                         "type": rng.choice(["theft", "assault", "noise"], hours.size, p=[0.5, 0.2, 0.3])})  # fmt: skip


def test_held_out_profile_beats_flat() -> None:
    """Fitted on 8 weeks, scored on the next 8: the mean absolute relative error per hour of the fitted
    profile is at least 20% lower than that of a flat profile."""
    data = synthetic(16, seed=1)
    t = pd.to_datetime(data["occurred"]).to_numpy().astype("datetime64[s]").astype(float)
    cut = (MONDAY + pd.Timedelta(weeks=8)).value / 1e9
    lo = MONDAY.value / 1e9
    fitted = fit_profile(t[t < cut], lo, cut)
    test_counts = np.bincount(hour_of_week(t[t >= cut]), minlength=168).astype(float)
    fit_err, flat_err = profile_error(fitted.relative, test_counts), profile_error(np.ones(168), test_counts)
    assert fit_err < 0.8 * flat_err, (fit_err, flat_err)
    assert np.all(fitted.lower <= fitted.observed) and np.all(fitted.observed <= fitted.upper)


def test_fit_writes_a_demand_file_a_scenario_runs_with(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    synthetic(6, seed=2).to_csv("calls.csv.gz", index=False)
    result = runner.invoke(app, ["demand", "fit", "calls.csv.gz", "--out", "demand.yaml"])
    assert result.exit_code == 0, result.output
    assert "columns used: time=occurred, lon=longitude, lat=latitude, category=type" in result.output
    text = Path("demand.yaml").read_text()
    assert "-71.34" not in text.split("hotspots")[0]  # nothing but aggregates before the hotspots
    Path("sc.yaml").write_text("name: fitted\nduration: 2h\nstations: [{name: a, lon: -71.34, lat: -29.95}]\n"
                               "units: {count: 6}\ndemand: demand.yaml\n")  # fmt: skip
    sc = load_scenario("sc.yaml")
    assert {k.name for k in sc.demand.kinds} == {"theft", "assault", "noise"} and len(
        sc.demand.profile
    ) == 168
    assert sc.demand.hawkes is not None
    run = runner.invoke(app, ["run", "sc.yaml", "--out", "r", "--quiet"])
    assert run.exit_code == 0, run.output
    Path("sc2.yaml").write_text(Path("sc.yaml").read_text().replace("demand: demand.yaml",
                                "demand: {file: demand.yaml, model: hawkes}"))  # fmt: skip
    assert load_scenario("sc2.yaml").demand.model == "hawkes"


def _fails(tmp_path: Path, content: bytes | str, *extra: str, name: str = "bad.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = runner.invoke(app, ["demand", "fit", str(path), "--out", str(tmp_path / "d.yaml"), *extra])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "d.yaml").exists()
    return result.output


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    assert "empty file" in _fails(tmp_path, "")
    assert "empty file" in _fails(tmp_path, "time,lon,lat\n")
    assert "not a table" in _fails(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00binary\xff\xfe")
    out = _fails(tmp_path, "when,where,what\n1,2,3\n")
    assert "no usable column" in out and "columns in the file: when, where, what" in out
    out = _fails(tmp_path, "time,lon,lat\nyesterday,-71.3,-29.9\nlast week,-71.3,-29.9\n")
    assert "cannot read any value as a date" in out and "row 1: time=yesterday, lon=-71.3" in out
    good = "time,lon,lat,category\n2024-01-01T10:00,-71.3,-29.9,theft\n2024-01-01T11:00,,,theft\n"
    out = _fails(tmp_path, good, "--strict")
    assert "1 rows: no coordinates (first: line 3)" in out
    mapping = tmp_path / "map.yaml"
    mapping.write_text("kinds:\n  - {name: property, priority: 3}\ncategories:\n  theft: propety\n")
    out = _fails(tmp_path, good, "--mapping", str(mapping))
    assert "categories.theft: unknown kind 'propety' (kinds: property)" in out and "map.yaml:4" in out
