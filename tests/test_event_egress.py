"""Leaving the event: people inside spread over the venue's exits, routes out weigh the crowd on them
(:meth:`~policetwin.event.crowd_gates.CrowdGates.balance_out`), and layout warnings (gates into dead-end
pockets, :mod:`policetwin.event.layout_check`) reach ``validate`` with file:line.

Leaving by the shortest way only, 40,000 people at Helsinki's Senate Square left from the one venue node
they had come in by, down one 8 m street narrowing to 4 m: ~11,000 were still there an hour later.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_event_crowd import CRS
from test_event_scenario import event_data
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.event.crowd import GONE, Crowd
from policetwin.event.engine import EventCrowd
from policetwin.event.layout import venue_exits
from policetwin.event.layout_check import layout_warnings
from policetwin.event.walknet import WalkNetwork, build_walk_network, load_walk_network
from policetwin.scenarios import bundled_scenarios
from policetwin.scenarios.event import Event


def two_ways_out() -> WalkNetwork:
    """V -(30 m, 1 m passage)- D; V -(30 m)- B -(40 m)- D (4 m wide): the short way is narrow."""
    x, y = np.array([0.0, 30.0, 0.0]), np.array([0.0, 0.0, 30.0])
    return build_walk_network(
        name="two-ways", source="hand-built", kind="walking", node_id=np.arange(1, 4), lon=x / 111_320.0,
        lat=y / 110_574.0, link_u_id=np.array([1, 1, 3]), link_v_id=np.array([2, 3, 2]),
        length_m=np.array([30.0, 30.0, 40.0]), width_m=np.array([1.0, 4.0, 4.0]),
        highway=np.full(3, "footway", dtype=object), xy=(x, y, CRS),
    )  # fmt: skip


def clearance_s(n: int, *, balance: bool) -> float:
    """Seconds until ``n`` people leaving V at once have all reached D."""
    crowd = Crowd(two_ways_out(), n_people=n, rng=np.random.default_rng(5), free_speed_mps=1.34)
    out = crowd.add_target([1], mode="out", arrive=GONE)
    crowd.depart(np.arange(n), node=np.zeros(n, dtype=np.int64), at_s=np.zeros(n), target=out)
    while crowd.census()[GONE] < n and crowd.now < 3600:
        if balance and crowd.now % 30.0 < crowd.step_s:
            crowd.balance_out()
        crowd.step()
    return crowd.now


def test_routes_out_weigh_the_crowd_on_them():
    """800 people: the 1 m passage alone needs ~650 s; with the crowd in the route cost the wide detour
    takes most of them and everyone is out in a fraction of that."""
    by_length, by_cost = clearance_s(800, balance=False), clearance_s(800, balance=True)
    assert by_length > 800 / 1.2249 * 0.95
    assert by_cost < 0.5 * by_length


@pytest.fixture(scope="module")
def walk():
    return load_walk_network("helsinki")


def test_people_inside_leave_by_all_the_venue_exits(walk):
    event = Event.model_validate(event_data(walk))
    run = EventCrowd(event, walk, rng=np.random.default_rng(2))
    nodes, width = venue_exits(run.layout)
    assert nodes.size >= 4 and (width > 0).all()
    pids = np.arange(4000)
    exits = run._exit_nodes(pids, np.full(pids.size, run.dest_targets[0]))
    assert np.isin(exits, nodes).all()
    share = np.bincount(np.searchsorted(nodes, exits), minlength=nodes.size) / pids.size
    assert (share > 0.02).sum() >= 3 and share.max() < 0.7  # not all by one exit


def test_layout_warns_of_dead_end_gates_and_unreachable_places(walk):
    data = event_data(walk)
    assert layout_warnings(Event.model_validate(data), EventCrowd(Event.model_validate(data), walk,
                           rng=np.random.default_rng(1)).layout) == []  # fmt: skip
    data["attendees"]["total"] = 300_000  # exits ~55 m wide: over an hour to step off the venue
    run = EventCrowd(Event.model_validate(data), walk, rng=np.random.default_rng(1))
    found = layout_warnings(run.event, run.layout)
    assert [path for path, _ in found] == [("venue",)] and "min to step off" in found[0][1]


def test_validate_warns_of_a_gate_into_a_dead_end_pocket(tmp_path: Path):
    """Coquimbo's old outer-6 gate (on a street whose inside ends before the inner ring): a warning with
    the gate's YAML line, and the run still valid (exit 0)."""
    data = yaml.safe_load(bundled_scenarios()["coquimbo-newyear"].read_text())
    data["event"]["gates"].append({"name": "outer-6", "ring": "outer", "lon": -71.270524, "lat": -29.901521,
                                   "lanes": 8})  # fmt: skip
    path = tmp_path / "pocket.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "dead-end pocket" in ln]
    assert len(lines) == 1 and "event.gates.8: warning:" in lines[0] and "'outer-6'" in lines[0]
    assert lines[0].startswith(f"{path}:") and int(lines[0].split(":")[1]) > 1


def test_bundled_events_have_no_layout_warnings():
    names = ["helsinki-newyear", "helsinki-newyear-evacuation", "coquimbo-newyear"]
    result = CliRunner().invoke(app, ["validate", *names])
    assert result.exit_code == 0 and "event." not in result.output, result.output
