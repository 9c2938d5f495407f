"""The Sweep and Demand pages in a real (headless) browser: each loads in both languages without console
errors or untranslated strings and shows its figures (screenshots ``sweep-*.png``, ``demand-*.png``); a
click on an arm's value opens a kept run in Replay.

Test data is small: a 6-run sweep of the M/M/c scenario (24 h, ``--keep-runs``, ~10 s) and a demand fit,
forecast and score from ~2,500 synthetic calls (~10 s)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By
from test_dashboard_demand import make_demand_folder

from browser.test_browser_dashboard import goto, text_nodes, untranslated
from policetwin.dashboard.app import create_app

STUDY = """\
name: tiny-mmc
base: mmc-erlang
set:
  duration: 24h
factors:
  units.count: [3, 4, 5]
replications: 2
warmup: 2h
kpis:
  - queue.mean_wait_for_unit_s
  - overall.within_target
"""


@pytest.fixture(scope="module")
def extra_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny sweep with kept runs (made with the CLI) and a demand folder."""
    root = tmp_path_factory.mktemp("extra_pages")
    study = root / "study.yaml"
    study.write_text(textwrap.dedent(STUDY), encoding="utf-8")
    sweep = root / "sweeps" / "tiny-mmc"
    cmd = [sys.executable, "-m", "policetwin", "sweep", str(study), "--out", str(sweep), "--workers", "1",
           "--quiet", "--keep-runs"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"sweep": sweep, "demand": make_demand_folder(root / "demand"), "new": root / "new-runs"}


def _check_and_shoot(dash_duo, page: str, lang: str, screenshots: Path) -> None:
    time.sleep(0.5)  # let plotly finish its last redraw
    texts = text_nodes(dash_duo.driver)
    if lang == "zh":
        assert not untranslated(texts), f"{page}: English strings on the Chinese page: {untranslated(texts)}"
        assert any(re.search(r"[\u4e00-\u9fff]", s) for s in texts)
    else:
        assert not any(re.search(r"[\u4e00-\u9fff]", s) for s in texts if s != "中文"), page
    assert dash_duo.get_logs() == [], f"{page} {lang}: browser console errors"
    height = dash_duo.driver.execute_script("return document.body.scrollHeight")
    dash_duo.driver.set_window_size(1400, min(max(height + 120, 1000), 3000))
    time.sleep(0.5)
    dash_duo.driver.save_screenshot(str(screenshots / f"{page}-{lang}.png"))
    dash_duo.driver.set_window_size(1400, 1000)


def test_sweep_page_both_languages_and_a_click_opens_replay(dash_duo, extra_dirs, screenshots):
    dash_duo.start_server(create_app([extra_dirs["sweep"].parent], runs_dir=extra_dirs["new"]))
    dash_duo.driver.set_window_size(1400, 1000)
    for lang in ("en", "zh"):
        goto(dash_duo, f"/sweep?lang={lang}", "sweep")
        dash_duo.wait_for_element("#sweep-arms", timeout=20)
        until(
            lambda: (
                len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#page-sweep .js-plotly-plot .main-svg"))
                >= 2
            ),
            20,
        )
        # the KPI figure: a CI band and a line with a point per arm
        n_points = dash_duo.driver.execute_script(
            "return document.querySelectorAll('#page-sweep .js-plotly-plot')[0].querySelectorAll('.point').length"
        )
        assert n_points >= 3
        rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#sweep-arms tbody tr")
        assert len(rows) == 3
        _check_and_shoot(dash_duo, "sweep", lang, screenshots)
    link = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#sweep-arms a.pt-sweep-link")[0]
    href = link.get_attribute("href")
    assert "run=" in href and "lang=zh" in href
    link.click()
    dash_duo.wait_for_element("#page-replay", timeout=20)
    until(lambda: "run=" in dash_duo.driver.current_url, 10)
    key = href.split("run=")[1]
    until(lambda: dash_duo.driver.find_element(By.CSS_SELECTOR, "#replay-run").text.strip() != "", 10)
    assert key in dash_duo.driver.current_url


def test_demand_page_both_languages_shows_profile_maps_and_scores(dash_duo, extra_dirs, screenshots):
    dash_duo.start_server(create_app([extra_dirs["demand"]], runs_dir=extra_dirs["new"]))
    dash_duo.driver.set_window_size(1400, 1000)
    for lang in ("en", "zh"):
        goto(dash_duo, f"/demand?lang={lang}", "demand")
        dash_duo.wait_for_element("#dem-profile .main-svg", timeout=20)
        dash_duo.wait_for_element("#dem-scores", timeout=20)
        # both maps drawn by the map library (offline style, no tiles): a WebGL canvas each
        until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#page-demand canvas")) >= 2, 30)
        assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#dem-profile .scatterlayer .trace")) == 3
        assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#dem-scores tbody tr")) == 15
        time.sleep(1.0)  # the maps' first frames
        _check_and_shoot(dash_duo, "demand", lang, screenshots)
