"""The event parts of the dashboard in a real (headless) browser: Replay of a small Helsinki New Year run
with the event layers on (walk links by level of service, gates sized by queue, crowd incidents, venue and
rings) and switched off, the KPIs page's event section, and the Run page's event parameters — in both
languages, without console errors or untranslated strings; screenshots in docs/screenshots/*-event-*.png."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from dash.testing.wait import until

from browser.runs import cli_run, ensure_map_files
from browser.test_browser_dashboard import (
    goto,
    start,
    text_nodes,
    untranslated,
    wait_map_ready,
    wait_units_drawn,
)
from policetwin.dashboard import event_replay
from policetwin.dashboard.catalogue import CATALOGUE
from policetwin.dashboard.rundata import open_run

MAP = "replay-map-0"


@pytest.fixture(scope="module")
def event_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small event run: 4,000 attendees, 5 s crowd steps, the busiest gate with 2 lanes (queues)."""
    root = tmp_path_factory.mktemp("event_runs")
    out = cli_run("helsinki-newyear", root / "newyear", "event.attendees.total=4000", "event.crowd.step=5",
                  "event.gates.0.lanes=2")  # fmt: skip
    ensure_map_files(out)
    return out


def _busiest_time(run_dir: Path) -> float:
    """A slider time (whole minutes) inside the bin with the longest gate queue."""
    p = event_replay.payload(open_run(run_dir))
    totals = [sum(q[b] for q in p["gates"]["q"]) for b in range(p["n_bins"])]
    b = max(range(len(totals)), key=totals.__getitem__)
    return float(int((p["t0"] + (b + 0.5) * p["bin_s"]) // 60 * 60))


def _full_page_screenshot(dash_duo, file: Path) -> None:
    height = dash_duo.driver.execute_script("return document.body.scrollHeight")
    dash_duo.driver.set_window_size(1400, min(max(height + 120, 1000), 3200))
    time.sleep(0.5)
    dash_duo.driver.save_screenshot(str(file))
    dash_duo.driver.set_window_size(1400, 1000)


def _check_texts(dash_duo, lang: str, page: str) -> None:
    texts = text_nodes(dash_duo.driver)
    assert texts, f"{page} {lang}: empty page"
    if lang == "zh":
        assert not untranslated(texts), f"{page}: English strings on the Chinese page: {untranslated(texts)}"
    else:
        assert not any(re.search(r"[\u4e00-\u9fff]", s) for s in texts if s != "中文"), page
    assert dash_duo.get_logs() == [], f"{page} {lang}: browser console errors"


def test_event_replay_and_kpis_both_languages(dash_duo, event_run, screenshots, tmp_path):
    start(dash_duo, [event_run], tmp_path / "new")
    busy = _busiest_time(event_run)
    for lang in ("en", "zh"):
        goto(dash_duo, f"/replay?lang={lang}", "replay")
        wait_units_drawn(dash_duo.driver, MAP)
        wait_map_ready(dash_duo.driver)
        labels = dash_duo.driver.execute_script(
            "return [...document.querySelectorAll('#replay-layers input')].map(e => e.value)"
        )
        for key in ("event_links", "event_venue", "event_rings", "event_gates", "event_incidents"):
            assert key in labels, key
        dash_duo.driver.execute_script(f"dash_clientside.set_props('replay-t', {{value: {busy}}})")
        until(
            lambda: dash_duo.driver.execute_script(f"const l=PT.last['{MAP}']; return l && l.t") == busy, 10
        )
        state = dash_duo.driver.execute_script(
            f"const e=PT.last['{MAP}'].event; return [e.b, Math.max(...e.gates.q), e.gates.lon.length,"
            " e.ev.links.los.filter(s => s.charAt(e.b) !== ' ').length]"
        )
        assert state[0] >= 0 and state[1] > 0 and state[2] >= 6 and state[3] > 0, state
        # the venue and ring traces are on the map (plotly), the gates and links on the overlay canvas
        metas = dash_duo.driver.execute_script(
            f"return document.getElementById('{MAP}').querySelector('.js-plotly-plot').data.map(d => d.meta)"
        )
        assert "event_venue" in metas and "event_rings" in metas
        time.sleep(0.5)
        _check_texts(dash_duo, lang, "replay")
        dash_duo.driver.save_screenshot(str(screenshots / f"replay-event-{lang}.png"))
        # switch the walk links and the rings off, then on again
        click = "document.querySelector('#replay-layers input[value=\"{}\"]').click()"
        dash_duo.driver.execute_script(click.format("event_links") + ";" + click.format("event_rings"))
        until(lambda: dash_duo.driver.execute_script(f"return PT.visible['{MAP}'].event_links") is False, 10)
        until(
            lambda: dash_duo.driver.execute_script(
                f"const g=document.getElementById('{MAP}').querySelector('.js-plotly-plot');"
                "return g.data.filter(d => d.meta === 'event_rings').every(d => d.visible === 'legendonly')"
            ),
            10,
        )
        dash_duo.driver.execute_script(click.format("event_links") + ";" + click.format("event_rings"))
        until(lambda: dash_duo.driver.execute_script(f"return PT.visible['{MAP}'].event_links") is True, 10)
        assert dash_duo.get_logs() == []

        goto(dash_duo, f"/kpis?lang={lang}", "kpis")
        dash_duo.wait_for_element("#kpi-ev-waits .main-svg", timeout=20)
        dash_duo.wait_for_element("#kpi-ev-city .main-svg", timeout=20)
        assert dash_duo.find_element("#kpi-event").text == CATALOGUE["ev.section"][lang]
        time.sleep(0.5)
        _check_texts(dash_duo, lang, "kpis")
        dash_duo.driver.execute_script("document.getElementById('kpi-event').scrollIntoView()")
        time.sleep(0.3)
        dash_duo.driver.save_screenshot(str(screenshots / f"kpis-event-{lang}.png"))


def test_run_page_offers_event_parameters_for_event_scenarios(dash_duo, event_run, tmp_path):
    start(dash_duo, [event_run], tmp_path / "new")
    for lang in ("en", "zh"):
        goto(dash_duo, f"/?lang={lang}", "run")
        assert not dash_duo.find_element("#run-event").is_displayed()  # helsinki: no event
        dash_duo.driver.execute_script(
            "dash_clientside.set_props('run-scenario', {value: 'bundled:helsinki-newyear-evacuation'})"
        )
        until(lambda: dash_duo.find_element("#run-event").is_displayed(), 10)
        until(lambda: "23:30" in dash_duo.find_element("#run-ev-hint").text, 10)
        _check_texts(dash_duo, lang, "run")
        _full_page_screenshot(dash_duo, Path(str(tmp_path / f"run-event-{lang}.png")))
