"""What a replay reads besides the event log: trips.parquet (every movement with its route and times),
nodes.parquet and roads.parquet. A viewer that interpolates along the trips must find each unit where
the engine had it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policetwin.scenarios import load_scenario
from policetwin.sim.fleet import Fleet
from policetwin.sim.run import simulate, write_run_dir


def _where(trips: pd.DataFrame, unit: str, t: float) -> tuple[list, list] | None:
    """The route and times of ``unit``'s trip under way at ``t`` (the latest started), or None."""
    mine = trips[(trips["unit_id"] == unit) & (trips["t_start"] <= t) & (trips["t_end"] >= t)]
    if mine.empty:
        return None
    row = mine.sort_values("t_start").iloc[-1]
    return list(row["route"]), list(row["route_t"])


@pytest.fixture(scope="module")
def shifts_run(tmp_path_factory, coquimbo_network):
    """coquimbo-shifts (stations, posts, random_beat and hotspot patrol, breaks), recording where every
    unit sent to a call was (its next node and when it reaches it) at the moment it was sent."""
    seen = []
    send = Fleet.send

    def spy(self, unit, incident, eta_s):
        now = self.env.now
        nxt, offset = unit.position(now)
        seen.append((unit.name, now, self.model.network.node_id[nxt], now + offset, unit.state.name))
        send(self, unit, incident, eta_s)

    Fleet.send = spy
    try:
        result = simulate(
            load_scenario("coquimbo-shifts", ["outputs.report=false"]), network=coquimbo_network
        )
    finally:
        Fleet.send = send
    out = write_run_dir(result, tmp_path_factory.mktemp("replay") / "run")
    return out, result, seen


def test_the_run_directory_carries_trips_nodes_and_roads(shifts_run, coquimbo_network):
    out, result, _ = shifts_run
    trips = pd.read_parquet(out / "trips.parquet")
    assert set(trips["purpose"]) == {"to_call", "return", "patrol"}
    assert result.summary["trips"] == {"rows": len(trips), "bytes": (out / "trips.parquet").stat().st_size}
    nodes = pd.read_parquet(out / "nodes.parquet")
    roads = pd.read_parquet(out / "roads.parquet")
    assert len(nodes) == coquimbo_network.n_nodes and set(nodes["district"]) >= {"LaSerena-Centro"}
    assert set(roads["u"]) | set(roads["v"]) <= set(nodes["node"])
    assert {"trips.parquet", "nodes.parquet", "roads.parquet"} <= set(result.summary["files"])
    for route, times in zip(trips["route"], trips["route_t"], strict=True):
        assert len(route) == len(times) and (np.diff(times) >= -1e-9).all()


def test_every_call_trip_ends_at_its_incident_when_the_unit_arrives(shifts_run):
    out, _, _ = shifts_run
    trips = pd.read_parquet(out / "trips.parquet")
    asg = pd.read_parquet(out / "assignments.parquet")
    inc = pd.read_parquet(out / "incidents.parquet").set_index("incident_id")
    calls = trips[trips["purpose"] == "to_call"]
    assert len(calls) == len(asg)
    arrived = asg.dropna(subset=["t_arrive"])
    merged = calls.merge(arrived, left_on=["unit_id", "incident_id"], right_on=["unit_id", "incident_id"])
    assert len(merged) == len(arrived)
    for row in merged.itertuples():
        assert row.route[-1] == inc.loc[row.incident_id, "node"]
        assert row.route_t[-1] == pytest.approx(row.t_arrive, abs=1e-6)
        assert row.t_end == pytest.approx(row.t_arrive, abs=1e-6)


def test_a_unit_is_on_one_trip_at_a_time(shifts_run):
    trips = pd.read_parquet(shifts_run[0] / "trips.parquet")
    for _, mine in trips.groupby("unit_id"):
        start, end = mine["t_start"].to_numpy(), mine["t_end"].to_numpy()
        assert (start[1:] >= end[:-1] - 1e-6).all()


def test_replay_finds_every_unit_sent_from_the_road_where_the_engine_had_it(shifts_run):
    """Each unit sent while patrolling or driving home: the trip it was on reaches the node the engine
    dispatched it from at the time the engine said."""
    out, _, seen = shifts_run
    trips = pd.read_parquet(out / "trips.parquet")
    moving = [s for s in seen if s[4] in ("patrol", "returning") and s[3] > s[1]]
    assert len(moving) > 30
    for unit, t, nxt, t_next, _ in moving:
        found = _where(trips, unit, t)
        assert found is not None, (unit, t)
        route, times = found
        hits = [k for k, node in enumerate(route) if node == nxt]
        assert any(times[k] == pytest.approx(t_next, abs=1e-3) for k in hits), (unit, t, nxt)  # float32 rows


def test_trips_can_be_switched_off(helsinki_network, tmp_path):
    sc = load_scenario("helsinki", ["outputs.report=false", "outputs.trips=false", "duration=2h"])
    out = write_run_dir(simulate(sc, network=helsinki_network), tmp_path / "run")
    assert not (out / "trips.parquet").exists() and (out / "nodes.parquet").exists()
