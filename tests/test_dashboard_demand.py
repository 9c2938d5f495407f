"""The Demand page without a browser: demand folders found (files of ``demand fit`` / ``predict`` /
``score`` made from a small synthetic CSV), the profile parsed from the fit report, the intensity surface
and forecast maps (offline style), the score table, both languages, and unreadable files reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_dashboard import CJK, _english_patterns, _strings
from typer.testing import CliRunner

from policetwin.cli import app as cli_app
from policetwin.dashboard.demanddata import (
    find_demand,
    parse_report,
    read_fit,
    read_forecast_cells,
    read_scores,
)
from policetwin.dashboard.figures_demand import (
    GROUND_STYLE,
    forecast_figure,
    profile_figure,
    squares,
    surface_figure,
)
from policetwin.dashboard.rundata import discover


def synthetic_calls(path: Path, *, weeks: int = 5, seed: int = 3) -> Path:
    """~2,500 calls: a daily cycle (peak mid-afternoon), half of them in one hotspot near Coquimbo."""
    rng = np.random.default_rng(seed)
    hours = np.arange(168 * weeks)
    counts = rng.poisson(3.0 * (1 + 0.6 * np.sin(2 * np.pi * (hours % 24 - 9) / 24)))
    h = np.repeat(hours, counts)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(h * 3600 + rng.random(h.size) * 3600, unit="s")
    hot = rng.random(h.size) < 0.5
    lon = np.where(hot, -71.34 + rng.normal(0, 0.002, h.size), -71.33 + rng.normal(0, 0.012, h.size))
    lat = np.where(hot, -29.95 + rng.normal(0, 0.002, h.size), -29.96 + rng.normal(0, 0.012, h.size))
    pd.DataFrame({"time": t.strftime("%Y-%m-%d %H:%M:%S"), "lon": lon, "lat": lat}).to_csv(path, index=False)
    return path


def make_demand_folder(folder: Path) -> Path:
    """``demand fit`` (no Hawkes), ``demand predict`` (2 origins of 3 days) and ``demand score`` outputs."""
    folder.mkdir(parents=True)
    calls = synthetic_calls(folder.parent / f"{folder.name}-calls.csv")
    runner = CliRunner()
    for args in (["fit", calls, "--out", folder / "demand.yaml", "--no-hawkes"],
                 ["predict", calls, "--train-until", "2024-01-29", "--horizon", "3d", "--origins", "2",
                  "--out", folder / "forecast.parquet"],
                 ["score", folder / "forecast.parquet", calls, "--out", folder / "forecast-scores.csv"]):  # fmt: skip
        result = runner.invoke(cli_app, ["demand", *map(str, args)])
        assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def demand_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demand_folder(tmp_path_factory.mktemp("demand") / "fit1")


@pytest.fixture
def demand_app(demand_folder: Path, tmp_path: Path):
    """A dashboard over the demand folder."""
    from policetwin.dashboard.app import create_app
    from policetwin.dashboard.pages import demand as demand_page

    create_app([demand_folder], runs_dir=tmp_path / "new")
    return demand_page


def test_folders_and_files_are_found_and_not_run_directory_problems(demand_folder: Path):
    for given in (demand_folder, demand_folder.parent, demand_folder / "forecast.parquet"):
        refs = find_demand([given])
        assert [r.path for r in refs] == [demand_folder.resolve()]
        assert not discover([given]).problems
    ref = refs[0]
    assert (ref.fit.name, ref.forecast.name, ref.scores.name) == (
        "demand.yaml",
        "forecast.parquet",
        "forecast-scores.csv",
    )
    assert find_demand([demand_folder.parent / "fit1-calls.csv"]) == []


def test_fit_profile_surface_and_scores_are_read(demand_folder: Path):
    fit = read_fit(demand_folder / "demand.yaml")
    assert fit.has_report and len(fit.profile) == 168 and fit.rate_per_hour > 2
    assert abs(fit.profile["fitted"].mean() - 1) < 0.01 and fit.profile["observed"].notna().all()
    assert (fit.profile["lower"] <= fit.profile["observed"]).all() and len(fit.spots) > 5
    # the daily cycle: afternoon above night
    assert fit.profile.loc[15, "fitted"] > 2 * fit.profile.loc[3, "fitted"]
    line = parse_report("  Tue 05  0.500  0.400  [0.200, 0.700]\n")
    assert line.iloc[0].tolist() == [29, 0.5, 0.4, 0.2, 0.7]
    fc = read_forecast_cells(demand_folder / "forecast.parquet")
    assert fc.method == "hawkes" and fc.methods == ["kde", "prospective", "hawkes"] and len(fc.origins) == 2
    assert fc.origin == fc.origins[-1] and fc.cell_m == 250.0
    assert fc.cells["lon"].between(-71.45, -71.2).all() and fc.cells["lat"].between(-30.1, -29.8).all()
    kde = read_forecast_cells(demand_folder / "forecast.parquet", "kde", fc.origins[0])
    assert (kde.method, kde.origin) == ("kde", fc.origins[0])
    scores = read_scores(demand_folder / "forecast-scores.csv")
    assert set(scores["method"]) == {"kde", "prospective", "hawkes", "last_period", "uniform"}
    assert (scores["origins"] == 2).all() and scores.set_index(["method", "coverage"]).loc[
        ("uniform", 0.01), "pai"
    ] <= 1


def test_figures_are_pure_offline_and_translated(demand_folder: Path):
    fit = read_fit(demand_folder / "demand.yaml")
    for lang in ("en", "zh"):
        prof = profile_figure(fit.profile, lang)
        assert [tr.name for tr in prof.data][-1] == ("fitted" if lang == "en" else "拟合")
        assert prof.layout.xaxis.ticktext[0] == ("Mon" if lang == "en" else "周一")
        surf = surface_figure(fit.spots, lang)
        assert surf.layout.map.style == GROUND_STYLE and len(surf.data[0].z) == len(fit.spots)
        assert (CJK.search(surf.layout.title.text) is not None) == (lang == "zh")
    fc = read_forecast_cells(demand_folder / "forecast.parquet")
    fig = forecast_figure(fc.cells, fc.cell_m, "x", "zh")
    assert len(fig.data[0].geojson["features"]) == len(fc.cells) and fig.layout.map.style == GROUND_STYLE
    ring = squares(np.array([0.0]), np.array([0.0]), 111.32)["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == [-0.001, -0.001] and ring[2] == [0.001, 0.001]


def test_demand_page_in_both_languages(demand_app):
    pats = _english_patterns()
    for lang in ("en", "zh"):
        layout = demand_app.layout(lang=lang)
        strings = _strings(layout)
        text = " ".join(strings)
        assert "demand.yaml" in text and "forecast-scores.csv" in text
        if lang == "zh":
            assert not [s for s in strings if any(p.match(s) for p in pats)]
            assert sum(bool(CJK.search(s)) for s in strings) > 10
    fig = demand_app._redraw("kde", None, "zh", find_demand(list(_paths()))[0].key)
    assert "核密度估计" in fig.layout.title.text


def test_unreadable_files_give_messages_and_no_folder_a_note(demand_app, tmp_path: Path):
    from policetwin.dashboard.app import create_app

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "demand.yaml").write_text("profile: [not, numbers]\n", encoding="utf-8")
    (bad / "demand.yaml.report.txt").write_text("report\n", encoding="utf-8")
    (bad / "scores.csv").write_text(
        'origin,method,coverage,hit_rate,pai,pei\n2024-01-01,kde,0.01,x,y\n"', encoding="utf-8"
    )
    create_app([bad], runs_dir=tmp_path / "new")
    text = " ".join(_strings(demand_app.layout(lang="zh")))
    assert "demand.yaml" in text and "无法读取" in text and "Traceback" not in text
    create_app([tmp_path / "nothing"], runs_dir=tmp_path / "new")
    assert "`demand fit`" in " ".join(_strings(demand_app.layout(lang="en")))


def _paths() -> list[Path]:
    from policetwin.dashboard.app import current

    return list(current().paths)
