"""Validation (DESIGN.md §4): the queueing core against Erlang C, conservation, determinism.

Statistical method for the M/M/c checks. One long run per case (fixed seed). Each figure (P(wait),
mean wait Wq, P(wait > 1/(c mu - lam))) is the mean over all calls; its standard error SE is the
larger of
- the batch-means SE of the run itself: calls split by ready time into B = 20 consecutive batches of
  equal length, SE = sd(batch means) / sqrt(B). Batches are hundreds of hours long while the M/M/c
  relaxation time is a few hours (about 1 / (c mu (1 - sqrt(rho))^2): 3.9 h for c=3, rho=0.5; 9 h
  for c=10, rho=0.8), so batch means are close to independent;
- the SD of the same estimator over independent replications of exactly the same configuration,
  measured once in a pilot study (``PILOT_SD``). Waits are skewed, and a run whose batch means
  happen to be low also gets a small batch SE; the pilot SD stops that from failing good runs.
A check passes when |sim - theory| < 4 SE (a false alarm rate of about 1e-4 for a normal estimator,
~1e-3 for a t with 19 df). Each check also asserts SE < ``max_rel_se`` x theory so the tolerance can't
silently become vacuous. The empty start biases by about (relaxation time / run length) < 0.1%.

Pilot study (seeds 1000.., ``simulate`` as in these tests; mean +- its SE over the seeds):
- c=3, 48 000 h (~72k calls), 20 seeds: P(wait) 0.2373 +- 0.0008 (theory 0.23684), Wq 0.1590 +- 0.0013 h
  (0.15789), P(W > 2/3 h) 0.0880 +- 0.0006 (0.08713).
- c=10, 8 000 h (~64k calls), 24 seeds: P(wait) 0.4137 +- 0.0024 (theory 0.40918), Wq 0.2131 +- 0.0039 h
  (0.20459); a second set of 24 seeds at 4 000 h: 0.4084 +- 0.0028 and 0.2024 +- 0.0029 h. No bias.
- bundled mmc-erlang as shipped (2 000 h, ~3k calls), 24 seeds: P(wait) 0.2408 +- 0.0041 (0.23684),
  Wq 0.1588 +- 0.0045 h (0.15789).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from policetwin.maps import RoadNetwork
from policetwin.scenarios import Scenario, load_scenario, resolve_scenario_path
from policetwin.sim.run import simulate, write_run_dir
from policetwin.verify.queueing import PILOT_SD_C3, erlang_c, mmc_figures, mmc_scenario

HOUR = 3600.0
K_SE = 4.0
#: SD of one run's estimate over independent seeds (pilot study, see the module docstring).
PILOT_SD = {
    "c3": PILOT_SD_C3,  # 0.0035 / 0.0057 / 0.0029, kept with the shared check (policetwin.verify.queueing)
    "c10": {"p_wait": 0.0120, "wq_h": 0.0192, "p_wait_gt_1_over_cmu_minus_lam": 0.0115},
    # the bundled scenario runs 20 000 h; its SDs are the 2 000 h pilot's scaled by 1/sqrt(10)
    "bundled": {"p_wait": 0.0063, "wq_h": 0.0070, "p_wait_gt_1_over_cmu_minus_lam": 0.0039},
}


def check_mmc(
    result, *, c: int, lam: float, mu: float, horizon_s: float, pilot_sd: dict[str, float], max_rel_se: float
) -> dict:
    """Compare a run with Erlang C; returns the measured figures (for the report in the docstring)."""
    inc = result.incidents
    assert len(inc) == len(result.model.calls)
    p_theory, wq_theory = erlang_c(c, lam, mu)
    wait_h = (inc["t_dispatch"] - inc["t_ready"]).to_numpy() / HOUR
    assert np.all(np.isfinite(wait_h)) and np.all(wait_h >= 0)
    # instant travel, no call-taker wait, no handling: response == wait for a unit
    np.testing.assert_array_equal(inc["t_arrive"], inc["t_dispatch"])
    np.testing.assert_array_equal(inc["t_answer"], inc["t_call"])
    np.testing.assert_array_equal(inc["t_ready"], inc["t_call"])
    np.testing.assert_allclose(inc["t_arrive"] - inc["t_call"], wait_h * HOUR, rtol=0, atol=1e-6)

    out = {"n": len(inc)}
    figures = mmc_figures(result, c=c, lam=lam, mu=mu, horizon_s=horizon_s)
    assert figures["p_wait"][1] == p_theory and figures["wq_h"][1] == wq_theory
    # P(W > t) = C exp(-(c mu - lam) t): C / e at t = 1 / (c mu - lam)
    assert figures["p_wait_gt_1_over_cmu_minus_lam"][1] == pytest.approx(p_theory / math.e, rel=1e-15)
    for name, (est, theory, batch_se) in figures.items():
        se = max(batch_se, pilot_sd[name])
        out[name] = (est, theory, batch_se, se)
        assert se < max_rel_se * theory, f"{name}: SE {se:.4g} too large for a meaningful check"
        assert abs(est - theory) < K_SE * se, f"{name}: sim {est:.5f} vs Erlang C {theory:.5f} (SE {se:.5f})"

    # the summary KPIs are the same figures
    queue = result.summary["queue"]
    assert queue["p_wait_for_unit"] == pytest.approx(float((wait_h > 1e-9).mean()), rel=1e-12)
    assert queue["mean_wait_for_unit_s"] == pytest.approx(float(wait_h.mean() * HOUR), rel=1e-9)
    # busy share of unit time == offered load per unit rho = lam / (c mu): the total on-scene time is
    # a compound Poisson sum with relative SE sqrt(2 / n) (Poisson count and exponential times, cv 1)
    rho = lam / (c * mu)
    saturation = result.summary["units"]["saturation_index"]
    assert abs(saturation - rho) < K_SE * math.sqrt(2.0 / len(inc)) * rho, (saturation, rho)
    out["saturation"] = (saturation, rho)
    return out


def test_erlang_c_formula_reproduces_larson_odoni():
    """Larson & Odoni's 3-unit example: lambda = 1.5, mu = 1 -> P(wait) = 9/38, Wq = 0.1579 / mu."""
    p_wait, wq = erlang_c(3, 1.5, 1.0)
    assert p_wait == pytest.approx(9 / 38, rel=1e-12)
    assert p_wait == pytest.approx(0.23684, abs=5e-6)
    assert wq == pytest.approx(0.1579, abs=5e-5)
    assert erlang_c(1, 0.5, 1.0) == pytest.approx((0.5, 1.0))  # M/M/1: P = rho, Wq = rho / (mu - lam)


def test_mmc_three_units_larson_odoni(helsinki_network: RoadNetwork):
    """c = 3, lambda = 1.5/h, mu = 1/h over 48 000 h (~72k calls); Erlang C: P(wait) = 9/38, Wq = 0.15789 h.

    Measured (seed 3, 71 931 calls): P(wait) 0.2395 (SE 0.0035), Wq 0.1574 h (SE 0.0057),
    P(W > 2/3 h) 0.0888 vs 0.08713 (SE 0.0029); saturation 0.4991 vs rho = 0.5.
    """
    scenario = mmc_scenario(c=3, lam_per_h=1.5, mean_service_h=1.0, hours=48_000, seed=3)
    result = simulate(scenario, network=helsinki_network)
    figures = check_mmc(
        result, c=3, lam=1.5, mu=1.0, horizon_s=scenario.duration, pilot_sd=PILOT_SD["c3"], max_rel_se=0.05
    )
    assert figures["n"] > 60_000


def test_mmc_ten_units_rho_08(helsinki_network: RoadNetwork):
    """c = 10, lambda = 8/h, mu = 1/h (rho = 0.8) over 8 000 h (~64k calls); Erlang C: P(wait) = 0.40918,
    Wq = 0.20459 h. Wq is the noisiest figure here (pilot SD 9% of theory), P(wait) the sharpest (3%).

    Measured (seed 5, 63 904 calls): P(wait) 0.3875 (SE 0.012, -1.8 SE), Wq 0.1804 h (SE 0.019, -1.3 SE),
    P(W > 1/2 h) 0.1327 vs 0.15053 (SE 0.012); saturation 0.7924 vs rho = 0.8.
    """
    scenario = mmc_scenario(c=10, lam_per_h=8.0, mean_service_h=1.0, hours=8_000, seed=5)
    result = simulate(scenario, network=helsinki_network)
    figures = check_mmc(
        result, c=10, lam=8.0, mu=1.0, horizon_s=scenario.duration, pilot_sd=PILOT_SD["c10"], max_rel_se=0.1
    )
    assert figures["n"] > 60_000


def test_bundled_mmc_erlang_scenario(helsinki_network: RoadNetwork):
    """The shipped ``mmc-erlang`` scenario is the Larson & Odoni case and reproduces Erlang C.

    As shipped (20 000 h, ~30k calls) one run's Wq has an SD of ~4.5% of theory (the 2 000 h pilot's
    14% scaled by 1/sqrt(10)); the tightest check is ``test_mmc_three_units_larson_odoni``.
    """
    scenario = load_scenario(resolve_scenario_path("mmc-erlang"))
    assert scenario.units.count == 3
    assert scenario.demand.rate_per_hour == 1.5
    assert scenario.demand.profile == "flat"
    (kind,) = scenario.demand.kinds
    assert (kind.on_scene.dist, kind.on_scene.mean, kind.units) == ("exponential", HOUR, 1)
    assert scenario.travel.mode == "instant"
    assert (scenario.call_handling.handling.dist, scenario.call_handling.handling.mean) == ("fixed", 0.0)
    result = simulate(scenario, network=helsinki_network)
    check_mmc(
        result,
        c=3,
        lam=1.5,
        mu=1.0,
        horizon_s=scenario.duration,
        pilot_sd=PILOT_SD["bundled"],
        max_rel_se=0.08,
    )


# ------------------------------------------------------------------ conservation and determinism
def busy_network_scenario(*, seed: int = 11) -> Scenario:
    """Central Helsinki, 10 h, 7 units, 2 call-takers, 18 calls/h with 2-unit assaults: units saturate
    (offered load ~ 18/h x (0.2 x 2 x 40 + 0.5 x 25 + 0.3 x 15) min ~ 10 unit-hours per hour)."""
    return load_scenario(
        resolve_scenario_path("helsinki"),
        overrides=[
            f"seed={seed}", "duration=10h", "units.count=7", "demand.rate_per_hour=18",
            "demand.profile=flat", "outputs.report=false",
        ],
    )  # fmt: skip


@pytest.fixture(scope="module")
def busy_run(helsinki_network: RoadNetwork):
    return simulate(busy_network_scenario(), network=helsinki_network)


ALLOWED_STATES = {"idle", "patrol", "enroute", "onscene", "returning", "off_shift"}


def test_every_generated_call_is_logged_once(busy_run, helsinki_network: RoadNetwork):
    inc = busy_run.incidents
    calls = busy_run.model.calls
    n = len(calls)
    assert n > 100
    assert inc["incident_id"].tolist() == list(range(n))
    assert inc["incident_id"].is_unique
    np.testing.assert_array_equal(inc["t_call"].to_numpy(), calls.t_call)
    np.testing.assert_array_equal(inc["node"].to_numpy(), helsinki_network.node_id[calls.node])
    names = np.array([k.name for k in busy_run.model.kinds])
    assert inc["kind"].tolist() == names[calls.kind].tolist()
    assert set(inc["source"]) == {"generated"}
    assert busy_run.summary["incidents"] == {"count": n, "served": n}


def test_stage_times_are_ordered_and_finite(busy_run):
    inc = busy_run.incidents
    cols = ["t_call", "t_answer", "t_ready", "t_dispatch", "t_arrive", "t_clear"]
    times = inc[cols].to_numpy()
    assert np.all(np.isfinite(times)), "the engine drains: every call reaches every stage"
    assert np.all(np.diff(times, axis=1) >= 0), inc.loc[~np.all(np.diff(times, axis=1) >= 0, axis=1), cols]
    # the load is high enough that calls queue for a unit and for a call-taker, and pairs are sent
    assert (inc["t_dispatch"] > inc["t_ready"]).mean() > 0.2
    assert (inc["t_answer"] > inc["t_call"]).any()
    assert (inc["n_units"] == 2).any()
    assert busy_run.summary["queue"]["max_waiting"] >= 5


def test_unit_intervals_are_contiguous_and_cover_the_run(busy_run):
    units = busy_run.units
    end = busy_run.model.env.now
    assert set(units["state"]) <= ALLOWED_STATES
    assert set(units["unit_id"]) == set(busy_run.model.unit_names)
    assert np.all(units["t_end"] > units["t_start"])
    for unit_id, rows in units.groupby("unit_id", sort=False):
        start, stop = rows["t_start"].to_numpy(), rows["t_end"].to_numpy()
        assert start[0] == 0.0, unit_id
        np.testing.assert_array_equal(start[1:], stop[:-1], err_msg=str(unit_id))  # contiguous, no overlap
        assert stop[-1] == end, unit_id
        # a new row means a new state or a new incident (a unit can go straight from one call to the
        # next at the same node: onscene, onscene with a zero-length trip in between)
        key = rows["state"].astype(str) + "/" + rows["incident_id"].astype("string").fillna("-")
        assert not np.any(key.to_numpy()[1:] == key.to_numpy()[:-1]), (
            f"{unit_id}: a row repeats its predecessor"
        )
    on_call = units["state"].isin(["enroute", "onscene"])
    assert units.loc[on_call, "incident_id"].notna().all()
    assert units.loc[~on_call, "incident_id"].isna().all()


def test_units_sent_match_the_unit_log(busy_run):
    """n_units == distinct units with an enroute or onscene interval for the incident.

    (A unit that is already at the call's node has a zero-length trip; zero-length intervals are not
    logged, so 'enroute' alone may miss it. Every dispatched unit works on scene, so the union counts
    every unit.) The call's work lasts its on-scene time from the first arrival (t_arrive); every unit
    there is released when it ends, and a unit arriving later is released on arrival.
    """
    inc = busy_run.incidents.set_index("incident_id")
    units = busy_run.units
    work = units[units["state"].isin(["enroute", "onscene"])]
    sent = work.groupby("incident_id")["unit_id"].nunique()
    n_units = inc["n_units"]
    assert (n_units >= 1).all()
    pd.testing.assert_series_equal(sent.reindex(inc.index, fill_value=0), n_units, check_names=False,
                                   check_dtype=False, check_index_type=False)  # fmt: skip
    enroute = units[units["state"] == "enroute"].groupby("incident_id")["unit_id"].nunique()
    assert (enroute.reindex(inc.index, fill_value=0) <= n_units).all()
    onscene = units[units["state"] == "onscene"]
    on_scene_s = busy_run.model.calls.on_scene_s
    ids = onscene["incident_id"].to_numpy(dtype=np.int64)
    np.testing.assert_allclose(
        onscene["t_end"].to_numpy(), inc["t_arrive"].to_numpy()[ids] + on_scene_s[ids], rtol=1e-9, atol=1e-6
    )
    first_arrival = onscene.groupby("incident_id")["t_start"].min()
    np.testing.assert_allclose(first_arrival.reindex(inc.index).to_numpy(), inc["t_arrive"].to_numpy())
    last_leave = work.groupby("incident_id")["t_end"].max()
    np.testing.assert_allclose(last_leave.reindex(inc.index).to_numpy(), inc["t_clear"].to_numpy())
    # first_unit is one of the units whose work on the call started at t_dispatch
    started = work.merge(inc[["t_dispatch", "first_unit"]], left_on="incident_id", right_index=True)
    at_dispatch = started[started["t_start"] == started["t_dispatch"]]
    assert (
        (at_dispatch["unit_id"] == at_dispatch["first_unit"]).groupby(at_dispatch["incident_id"]).any().all()
    )
    assert at_dispatch["incident_id"].nunique() == len(inc)


def test_utilisation_is_a_share(busy_run):
    shares = busy_run.summary["units"]
    assert 0.0 <= shares["saturation_index"] <= shares["utilisation"] <= 1.0
    assert shares["utilisation"] > 0.5  # saturated run
    units = busy_run.units
    span = units["t_end"] - units["t_start"]
    away = span[units["state"].isin(["enroute", "onscene", "returning"])].groupby(units["unit_id"]).sum()
    total = span.groupby(units["unit_id"]).sum()
    assert ((away / total).between(0.0, 1.0)).all()


def test_same_seed_same_logs_and_identical_files(busy_run, helsinki_network: RoadNetwork, tmp_path):
    """Same scenario and seed twice: identical frames and byte-identical Parquet files."""
    again = simulate(busy_network_scenario(), network=helsinki_network)
    pd.testing.assert_frame_equal(busy_run.incidents, again.incidents)
    pd.testing.assert_frame_equal(busy_run.units, again.units)
    for key in ("priorities", "overall", "stages_mean_s", "units", "queue", "scenario_sha256", "seed"):
        assert busy_run.summary[key] == again.summary[key], key
    a = write_run_dir(busy_run, tmp_path / "a")
    b = write_run_dir(again, tmp_path / "b")
    for name in ("incidents.parquet", "units.parquet", "scenario.yaml"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(a / "incidents.parquet"), busy_run.incidents)
    pd.testing.assert_frame_equal(pd.read_parquet(a / "units.parquet"), busy_run.units)


def test_log_columns_follow_the_contract(busy_run):
    """DESIGN.md §3 run-directory columns and types."""
    inc, units = busy_run.incidents, busy_run.units
    ints = ["incident_id", "priority", "node", "n_units"]
    floats = ["t_call", "t_answer", "t_dispatch", "t_arrive", "t_clear", "lon", "lat"]
    strings = ["kind", "first_unit", "source"]
    assert set(ints + floats + strings) <= set(inc.columns)
    assert all(pd.api.types.is_integer_dtype(inc[c]) for c in ints)
    assert all(pd.api.types.is_float_dtype(inc[c]) for c in floats)
    assert all(pd.api.types.is_string_dtype(inc[c]) for c in strings)
    assert list(units.columns) == ["unit_id", "state", "t_start", "t_end", "incident_id"]
    assert pd.api.types.is_integer_dtype(units["incident_id"]) and units["incident_id"].hasnans


def test_different_seed_different_calls(busy_run, helsinki_network: RoadNetwork):
    other = simulate(busy_network_scenario(seed=12), network=helsinki_network)
    calls_a, calls_b = busy_run.model.calls, other.model.calls
    assert len(calls_a) != len(calls_b) or not np.array_equal(calls_a.t_call, calls_b.t_call)
    assert not np.array_equal(calls_a.t_call[:10], calls_b.t_call[:10])
    # and the --seed argument overrides the scenario's seed the same way
    via_arg = simulate(busy_network_scenario(), seed=12, network=helsinki_network)
    np.testing.assert_array_equal(via_arg.model.calls.t_call, calls_b.t_call)
    pd.testing.assert_frame_equal(via_arg.incidents, other.incidents)
