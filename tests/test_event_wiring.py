"""The event wired into the twin: a bundled event scenario end to end through the CLI (crowd.parquet,
gates.parquet, the summary's event block, report sections), crowd incidents as dispatched calls,
identical routine calls with and without the event, routine-only runs unchanged, bad input exit 2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.scenarios import bundled_scenarios
from policetwin.sim.event_cost import CALL_KEY, routine_calls

SMALL = ["--set", "event.attendees.total=3000", "--set", "duration=3h", "--set", "event.end=23:45",
         "--set", "event.start=23:00", "--set", "event.attendees.arrival.before=1h"]  # fmt: skip


@pytest.fixture(scope="module")
def event_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ev") / "run"
    result = CliRunner().invoke(app, ["run", "helsinki-newyear", "--out", str(out), "--quiet",
                                      "--set", "event.incidents.kinds=[{name: medical, rate_per_10k_per_hour: 200, priority: 1}]", *SMALL])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_event_run_writes_its_outputs(event_run: Path) -> None:
    summary = json.loads((event_run / "summary.json").read_text())
    block = summary["event"]
    assert block["attendees"] == 3000 and block["arrived_inside"] > 0
    assert block["walk_network"]["kind"] == "walking" and block["road_closures"]["edges"] > 0
    crowd, gates = pd.read_parquet(event_run / "crowd.parquet"), pd.read_parquet(event_run / "gates.parquet")
    assert len(crowd) and crowd["density_p_m2"].max() <= 4.0 + 1e-9 and len(gates)
    assert {"crowd.parquet", "gates.parquet", "walk_links.parquet"} <= set(summary["files"])
    assert (
        "event-gates" in block["police"] and summary["units"]["count"] == 7 + 14 + 6
    )  # 2 cars from the city
    report = (event_run / "report.html").read_text()
    for title in ("Gate waits over time", "Peak crowd density", "Minutes at LOS E/F", "Arrival and egress",
                  "Crowd incidents and their response times", "What the event costs the city"):  # fmt: skip
        assert title in report
    assert (
        "event:" in (event_run / "scenario.yaml").read_text()
    )  # the scenario as given, not the expanded one
    assert "event-gates" not in (event_run / "scenario.yaml").read_text()


def test_crowd_incidents_become_dispatched_calls(event_run: Path) -> None:
    incidents = pd.read_parquet(event_run / "incidents.parquet")
    crowd = incidents[incidents["source"].astype(str) == "crowd"]
    assert len(crowd) > 5 and crowd["kind"].astype(str).str.startswith("crowd-").all()
    served = crowd[crowd["outcome"].astype(str) == "served"]
    assert (
        served["t_dispatch"].notna().all() and served["first_unit"].astype(str).str.startswith("event-").all()
    )
    routine = incidents[incidents["source"].astype(str) != "crowd"]
    assert (
        not routine["first_unit"].astype(str).str.startswith("event-").any()
    )  # event units stay at the event


def test_routine_calls_identical_without_the_event(event_run: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(bundled_scenarios()["helsinki-newyear"].read_text())
    data.pop("event")
    data["duration"] = "3h"
    path = tmp_path / "no-event.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "base"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    a = routine_calls(pd.read_parquet(event_run / "incidents.parquet"))
    b = routine_calls(pd.read_parquet(out / "incidents.parquet"))
    assert len(a) == len(b) > 0
    assert (a[CALL_KEY].to_numpy() == b[CALL_KEY].to_numpy()).all()
    summary = json.loads((event_run / "summary.json").read_text())
    assert summary["event"]["city_cost"]["same_routine_calls"] is True


#: sha256 prefixes of (t_call, node) of the routine-only bundled runs, taken before the event was wired in
ROUTINE_GOLDEN = {"helsinki": ("6f85deef44d428b4", 47), "coquimbo": ("bf1ad00c6b9c64f8", 429)}


@pytest.mark.parametrize("name", sorted(ROUTINE_GOLDEN))
def test_routine_only_runs_are_unchanged(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    result = CliRunner().invoke(
        app, ["run", name, "--out", str(out), "--quiet", "--set", "outputs.report=false"]
    )
    assert result.exit_code == 0, result.output
    incidents = pd.read_parquet(out / "incidents.parquet")
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(incidents[["t_call", "node"]], index=False).values.tobytes()
    )
    assert (digest.hexdigest()[:16], len(incidents)) == ROUTINE_GOLDEN[name]
    summary = json.loads((out / "summary.json").read_text())
    assert "event" not in summary and not (out / "crowd.parquet").exists()


BAD = [
    ("event.rings.1.buffer_m=900", "event.rings.0", "must nest"),
    ("event.gates.0.lat=60.1800", "event.gates.0", "must be on its ring"),
    ("event.gates.0.lanes=0", "event.gates.0.lanes", "greater than or equal to 1"),
    ("event.attendees.total=20000000", "event.attendees.total", "less than or equal to 10000000"),
    ("event.interventions=[{at: 9h, action: evacuate}]", "event.interventions.0.at", "outside the run"),
    ("event.police.2.drawn_from=Nowhere", "event.police.2.drawn_from", "no station is named"),
]


@pytest.mark.parametrize(("override", "field", "words"), BAD)
def test_bad_event_input_exits_2_with_file_and_line(
    override: str, field: str, words: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", "helsinki-newyear", "--out", str(out), "--quiet", "--set", override]
    )
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if field in ln and words in ln]
    assert lines, result.output
    assert lines[0].split(":")[0].endswith("helsinki-newyear.yaml") and int(lines[0].split(":")[1]) > 1
    assert not out.exists()


def test_venue_outside_the_map_exits_2_with_file_and_line(tmp_path: Path) -> None:
    """The whole event (venue, gates, origins) moved 20 km east: valid geometry, but off the map."""
    data = yaml.safe_load(bundled_scenarios()["helsinki-newyear"].read_text())
    event = data["event"]
    for item in [event["venue"], *event["gates"], *event["attendees"]["origins"]]:
        item["lon"] += 0.4
    path = tmp_path / "off-map.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert any(ln.startswith(f"{path}:") and "event." in ln and int(ln.split(":")[1]) > 1
               for ln in result.output.splitlines()), result.output  # fmt: skip
    assert "outside the map" in result.output or "walk way" in result.output
    assert not (tmp_path / "run").exists()


def _off_map_scenario(tmp_path: Path) -> Path:
    data = yaml.safe_load(bundled_scenarios()["helsinki-newyear"].read_text())
    event = data["event"]
    for item in [event["venue"], *event["gates"], *event["attendees"]["origins"]]:
        item["lon"] += 0.4
    path = tmp_path / "off-map.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [(None, "event.venue", "outside the map"),
     ("event.attendees.origins.0.lon=25.1", "event.attendees.origins.0", "walk way")],
)  # fmt: skip
def test_validate_finds_event_map_problems(
    override: str | None, field: str, words: str, tmp_path: Path
) -> None:
    """``validate`` (no run) reports the event's map problems as ``run`` does: exit 2, file:line."""
    path = _off_map_scenario(tmp_path) if override is None else bundled_scenarios()["helsinki-newyear"]
    args = ["validate", str(path)] + (["--set", override] if override else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if field in ln and words in ln]
    assert lines, result.output
    assert lines[0].startswith(f"{path}:") and int(lines[0].split(":")[1]) > 1


def test_validate_accepts_the_bundled_events() -> None:
    names = ["helsinki-newyear", "helsinki-newyear-evacuation", "coquimbo-newyear"]
    result = CliRunner().invoke(app, ["validate", *names])
    assert result.exit_code == 0, result.output
