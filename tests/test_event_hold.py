"""Holding attendees in a waiting area (``hold`` / ``release`` interventions, policetwin.event.hold).

- A corridor with a waiting area at its middle node: while the hold lasts nobody passes the node (people
  already past it go on), held people stand at the end of the link into it within its holding cap, on
  Fruin's queuing scale; after the release everyone goes on and arrives. Conservation every step (held
  people are on an edge: counted once, as ``edge``).
- The same through the event engine on Helsinki: a hold over the venue from T1 to T2 (``until``) keeps
  the number inside constant in between; everyone gets in afterwards; ``summary.holds``.
- Bad input: a release before its hold, ``until`` before ``at``, an unknown hold name, ``until`` on
  another action, a waiting area off the map.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import simpy
from test_event_scenario import LAT0, LON0, event_data, problems_of

from policetwin.errors import ScenarioError
from policetwin.event.crowd import EDGE, GONE, INSIDE, Crowd
from policetwin.event.engine import EventCrowd
from policetwin.event.walknet import load_walk_network
from policetwin.scenarios.event import Event, check_event_times
from policetwin.verify.crowd import corridor

T1, T2 = 60.0, 400.0


def test_hold_on_a_corridor():
    """20 links of 10 m (2 m wide), waiting area at node 10, held from T1 to T2."""
    net = corridor(20, 10.0, 2.0)
    n = 600
    crowd = Crowd(net, n_people=n, rng=np.random.default_rng(3))
    venue = crowd.add_target([20], arrive=GONE)
    crowd.depart(np.arange(n), node=np.zeros(n, dtype=np.int64), at_s=np.linspace(0, 300, n), target=venue)
    past = None
    peak_held = 0
    while crowd.now < 1200:
        if crowd.now == T1:
            crowd.set_hold([10], on=True)
            beyond = ((crowd.state == EDGE) & (crowd.edge >= 20)) | (crowd.state == GONE)
            past = beyond.copy()
        if crowd.now == T2:
            crowd.set_hold([10], on=False)
        crowd.step()
        census = crowd.census()
        assert census.sum() == n and np.array_equal(census, np.bincount(crowd.state, minlength=5))
        assert crowd.link_counts().max() <= crowd.hold.max() + 1e-9  # 4 p/m2 at most
        held = crowd.held_people()
        assert (crowd.state[held] == EDGE).all()  # held people are on an edge, counted once
        if T1 < crowd.now <= T2:
            beyond = ((crowd.state == EDGE) & (crowd.edge >= 20)) | (crowd.state == GONE)
            assert not (beyond & ~past).any()  # nobody passed node 10 during the hold
            assert (crowd.edge[held] == 18).all()  # link 9 forwards: into node 10
            peak_held = max(peak_held, held.size)
        else:
            assert held.size == 0
    assert peak_held >= 50 and past.sum() < n
    crowd.finish()
    rows = crowd.recorder.crowd_table()
    scale = rows[(rows["edge"] == 9) & (rows["t_start_s"] >= T1) & (rows["t_end_s"] <= T2)]["los_scale"]
    assert len(scale) and (scale == "queuing").all()  # the waiting link rated on the queuing scale
    assert (crowd.state == GONE).all()  # all continued after the release
    assert np.nanmin(crowd.t_gone[~past]) > T2


@pytest.fixture(scope="module")
def walk():
    return load_walk_network("helsinki")


def test_hold_in_the_engine(walk):
    """A hold over the venue from 50 min to 70 min (the event starts at 1 h): nobody enters meanwhile."""
    data = event_data(walk, total=3000)
    data["interventions"] = [{"at": "50min", "action": "hold", "name": "pen", "lon": LON0, "lat": LAT0,
                              "radius_m": 80, "until": "70min"}]  # fmt: skip
    event = Event.model_validate(data)
    assert check_event_times(event, duration_s=4 * 3600.0, scenario_start="Mon 00:00") == []
    run = EventCrowd(event, walk, rng=np.random.default_rng(2))
    inside_at = {}

    def check(crowd):
        census = crowd.census()
        assert census.sum() == 3000
        assert (crowd.state[crowd.held_people()] == EDGE).all()
        if 3000 <= crowd.now <= 4500:
            inside_at[crowd.now] = census[INSIDE]

    run.crowd.on_step.append(check)
    env = simpy.Environment()
    run.start(env, until_s=5400.0)
    env.run(until=5400.0)
    values = [v for t, v in inside_at.items() if 3000 < t <= 4200]
    assert len(set(values)) == 1 and values[0] > 0  # nobody entered during the hold
    assert inside_at[4500] > values[0] + 100  # they go on after it
    holds = run.summary()["holds"]
    assert holds == [
        {"name": "pen", "at_s": 3000.0, "released_s": 4200.0, "peak_held": holds[0]["peak_held"]}
    ]
    assert holds[0]["peak_held"] > 100
    t_in = run.crowd.t_inside[np.isfinite(run.crowd.t_inside)]
    assert t_in.size >= 2990 and ((t_in > 3000) & (t_in < 4200)).sum() == 0  # all but late comers got in


def hold(at: str, **extra) -> dict:
    return {"at": at, "action": "hold", "lon": LON0, "lat": LAT0, "radius_m": 40, **extra}


@pytest.mark.parametrize(
    ("steps", "where", "words"),
    [
        ([hold("1h", name="a"), {"at": "30min", "action": "release", "name": "a"}], ("interventions", 1, "at"),
         "comes before hold 'a'"),
        ([{"at": "30min", "action": "release"}], ("interventions", 0, "action"), "without any hold"),
        ([hold("1h", until="40min")], ("interventions", 0, "until"), "must be after"),
    ],
)  # fmt: skip
def test_bad_hold_times(walk, steps, where, words):
    event = Event.model_validate({**event_data(walk), "interventions": steps})
    found = check_event_times(event, duration_s=4 * 3600.0, scenario_start="Mon 00:00")
    assert any(loc[: len(where)] == where and words in msg for loc, msg in found), found


@pytest.mark.parametrize(
    ("steps", "where", "words"),
    [
        ([hold("1h", name="a"), {"at": "70min", "action": "release", "name": "b"}], ("interventions", 1, "name"),
         "no hold is named 'b'"),
        ([{"at": "1h", "action": "evacuate", "until": "2h"}], ("interventions", 0, "until"), "only used by hold"),
        ([{"at": "1h", "action": "hold", "radius_m": 30}], ("interventions", 0, "lon"), "hold needs lon"),
        ([hold("1h", name="a"), hold("1h", name="a")], ("interventions", 1, "name"), "used twice"),
    ],
)  # fmt: skip
def test_bad_hold_input(walk, steps, where, words):
    data = copy.deepcopy(event_data(walk))
    data["interventions"] = steps
    found = problems_of(data)
    assert any(tuple(loc)[: len(where)] == where and words in msg for loc, msg in found), found


def test_hold_off_the_map(walk):
    data = {**event_data(walk), "interventions": [{**hold("1h"), "lon": LON0 + 0.2}]}
    with pytest.raises(ScenarioError, match=r"interventions\.0: no walk node within 40 m"):
        EventCrowd(Event.model_validate(data), walk, rng=np.random.default_rng(0))
