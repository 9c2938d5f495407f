"""Demand generation: the hour-of-week profile follows the scenario's clock (``start:``), and a run that
starts Monday 00:00 (the default) draws exactly the calls it drew before ``start`` existed."""

from __future__ import annotations

import numpy as np
import pytest

from policetwin.clock import parse_start, week_offset_s
from policetwin.scenarios.schema import Demand, Distribution
from policetwin.sim.demand import PoissonDemand

HANDLING = Distribution(dist="fixed", mean=60.0)
FRIDAY_18 = 4 * 24 + 18  # hour of the week (Monday 00-01 = 0)


def calls(profile: list[float], *, start: str, duration_s: float, rate_per_hour: float = 200.0) -> np.ndarray:
    demand = Demand.model_validate({"rate_per_hour": rate_per_hour, "profile": profile})
    gen = PoissonDemand(demand, HANDLING, np.full(4, 0.25), week_offset_s=week_offset_s(parse_start(start)))
    batch = gen.generate(duration_s=duration_s, demand_rng=np.random.default_rng(5),
                         service_rng=np.random.default_rng(6))  # fmt: skip
    return batch.t_call


def only_hour(hour_of_week: int) -> list[float]:
    profile = [0.0] * 168
    profile[hour_of_week] = 1.0
    return profile


def test_calls_follow_the_clock_of_the_start() -> None:
    """All demand sits in Friday 18:00-19:00: a run starting then gets it in its first hour."""
    t = calls(only_hour(FRIDAY_18), start="Fri 18:00", duration_s=6 * 3600)
    assert t.size > 1000 and t.max() < 3600.0
    assert calls(only_hour(FRIDAY_18), start="Mon 00:00", duration_s=6 * 3600).size == 0


def test_a_start_within_the_hour_gets_the_rest_of_that_clock_hour() -> None:
    t = calls(only_hour(FRIDAY_18), start="Fri 18:30", duration_s=6 * 3600)
    assert t.size > 1000 and t.max() < 1800.0
    # about half the hour's calls: 168 * 200 / 2 expected (profile normalised to mean 1)
    assert abs(t.size - 16800) < 5 * np.sqrt(16800)


def test_calendar_start_uses_its_weekday() -> None:
    """2026-12-31 is a Thursday: Thursday 20:00 is hour 3 * 24 + 20 of the week."""
    t = calls(only_hour(3 * 24 + 20), start="2026-12-31T20:00", duration_s=2 * 3600)
    assert t.size > 1000 and t.max() < 3600.0


def test_the_week_wraps_around() -> None:
    """A run starting Sunday 23:00 reaches Monday 00:00 after one hour."""
    t = calls(only_hour(0), start="Sun 23:00", duration_s=3 * 3600)
    assert t.size > 1000 and t.min() >= 3600.0 and t.max() < 7200.0


@pytest.mark.parametrize("duration_s", [7200.0, 5400.0, 86400.0 * 3 + 1234.0])
def test_default_start_draws_the_calls_of_whole_hours_from_zero(duration_s: float) -> None:
    """The generator before ``start`` existed binned whole hours from 0; a Monday 00:00 start must give
    identical calls (old scenarios keep byte-identical logs)."""
    demand = Demand.model_validate({"rate_per_hour": 30.0})
    gen = PoissonDemand(demand, HANDLING, np.full(4, 0.25))
    new = gen.generate(
        duration_s=duration_s, demand_rng=np.random.default_rng(1), service_rng=np.random.default_rng(2)
    )
    rng = np.random.default_rng(1)  # the old binning, written out
    n_hours = int(np.ceil(duration_s / 3600.0))
    hour_start = np.arange(n_hours) * 3600.0
    hour_len = np.minimum(3600.0, duration_s - hour_start)
    counts = rng.poisson(demand.rate_per_hour / 3600.0 * gen.profile[np.arange(n_hours) % 168] * hour_len)
    old = np.repeat(hour_start, counts) + rng.random(int(counts.sum())) * np.repeat(hour_len, counts)
    np.testing.assert_array_equal(new.t_call, np.sort(old))
