"""``policetwin sweep``: the study file (validated like scenarios: exit 2, ``file:line`` problems, all of
them before any run, nothing written), the results store, the report, and common random numbers.

Most studies run the bundled M/M/3 scenario (instant travel on the small Helsinki map: ~0.05 s a run);
the common-random-numbers test uses the default city for a few hours of simulated time.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.experiments.design import kpi_column, run_seed
from policetwin.experiments.study import load_study
from policetwin.experiments.sweep import run_task
from policetwin.experiments.sweep_stats import arm_table

MMC = """\
name: mmc
base: mmc-erlang
set:
  duration: 200h
factors:
  units.count: [3, 4]
  dispatch.policy: [nearest, priority_preempt]
replications: 3
warmup: 10h
kpis:
  - queue.mean_wait_for_unit_s
  - overall.within_target
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    return "".join(text.split())


def test_sweep_writes_runs_study_manifest_and_report(tmp_path: Path) -> None:
    study = write(tmp_path, MMC)
    out = tmp_path / "sweeps" / "mmc"
    result = invoke("sweep", study, "--out", out, "--workers", "2", "--quiet", "--keep-runs")
    assert result.exit_code == 0, result.output + result.stderr
    kept = out / "runs" / "a0003-r0002"
    assert (kept / "incidents.parquet").is_file() and (kept / "scenario.yaml").is_file()
    summary = json.loads((kept / "summary.json").read_text())
    assert summary["sweep_warmup"]["warmup_s"] == 36000.0 and summary["units"]["count"] == 4
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 4 * 3 and runs["run_id"].is_unique and (runs["status"] == "ok").all()
    assert list(runs.columns) == ["run_id", "arm", "replication", "seed", "count", "policy",
                                  "queue_mean_wait_for_unit_s", "all_within_target", "status", "error",
                                  "wall_s", "sim_s"]  # fmt: skip
    # common random numbers: replication r has one seed in every arm
    assert runs.groupby("replication")["seed"].nunique().eq(1).all()
    assert runs["seed"].nunique() == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "policetwin-sweep" and len(manifest["maps"][0]["sha256"]) == 64
    assert manifest["base"]["file_sha256"] and manifest["study_sha256"]
    assert "arms" in (out / "study.yaml").read_text()
    page = (out / "report.html").read_text()
    assert "KPIs against the factors" in page and "Arms" in page and "(paired)" in page
    # self-contained: the plotly bundle once, no external script, style or link outside it
    assert page.count('id="plotly-bundle"') == 1 and "<script src" not in page.lower()
    start = page.index('id="plotly-bundle">')
    rest = page[:start] + page[page.index("</script>", start) :]
    assert "http://" not in rest and "https://" not in rest and "<link" not in rest.lower()
    assert "12runs,0failed" in squash(result.output)
    # more units, less waiting: the M/M/4 wait is far below the M/M/3 one
    means = runs.groupby("count")["queue_mean_wait_for_unit_s"].mean()
    assert means[4] < 0.5 * means[3]


def test_same_seed_same_row_and_the_map_check_cache_changes_nothing() -> None:
    study = load_study(Path(__file__).parents[1] / "experiments" / "units-vs-policy.yaml")
    short = study.scenarios[0].model_copy(update={"duration": 3 * 3600.0})
    task = {"run_id": "a0000-r0000", "seed": 7, "scenario": short.model_dump(mode="json"),
            "filename": str(study.base), "warmup_s": 1800.0, "kpis": study.kpis, "keep_dir": None}  # fmt: skip
    first, second = run_task(task), run_task(task)  # the second reuses the worker's map and map check
    assert first["status"] == "ok", first["error"]
    assert {k: first[k] for k in study.kpis} == {k: second[k] for k in study.kpis}


def test_common_random_numbers_same_calls_in_every_arm() -> None:
    """Replication r gets the same seed in every arm, and the engine then draws the same calls (times,
    places, kinds) and on-scene times whatever the fleet size or dispatch policy."""
    from policetwin.sim.model import PoliceModel
    from policetwin.sim.run import load_scenario_map

    study = load_study(Path(__file__).parents[1] / "experiments" / "units-vs-policy.yaml")
    seeds = {run_seed(study.seed, arm=a, replication=2, common=True) for a in range(len(study.design.arms))}
    assert len(seeds) == 1
    independent = {run_seed(study.seed, arm=a, replication=2, common=False) for a in range(6)}
    assert len(independent) == 6
    network = load_scenario_map(study.scenarios[0])
    seed = seeds.pop()
    calls = []
    for arm in (0, 5):  # 14 units dispatched to the nearest vs 22 units with priority pre-emption
        sc = study.scenarios[arm].model_copy(update={"duration": 4 * 3600.0})
        calls.append(PoliceModel(sc, seed=seed, network=network).calls)
    a, b = calls
    assert len(a) > 20 and len(a) == len(b)
    for field in ("t_call", "t_occur", "kind", "node", "handling_s", "on_scene_s"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_paired_difference_ci_is_narrower_than_unpaired(tmp_path: Path) -> None:
    """Common random numbers: on the default city (18 vs 22 units, 5 replications of 8 h, a fixed study
    seed) the paired CI of the difference to the baseline is narrower than the unpaired (Welch) one,
    for utilisation (~5x) and the mean response time (the bundled study shows the same, slower)."""
    study = write(tmp_path, """\
        name: crn
        base: coquimbo
        seed: 1
        set: {duration: 8h, outputs.report: false}
        factors:
          units.count: [18, 22]
        replications: 5
        warmup: 1h
        kpis: [units.utilisation, overall.response_mean_s]
        """)  # fmt: skip
    out = tmp_path / "crn"
    result = invoke("sweep", study, "--out", out, "--workers", "2", "--quiet")
    assert result.exit_code == 0, result.output + result.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    table = arm_table(runs, yaml.safe_load((out / "study.yaml").read_text()))
    row = table[table["arm"] == 1].iloc[0]
    assert row["units_utilisation_diff_hw"] < 0.5 * row["units_utilisation_diff_hw_unpaired"]
    assert row["all_response_mean_s_diff_hw"] < row["all_response_mean_s_diff_hw_unpaired"]


def test_kpi_columns_are_documented_names() -> None:
    assert kpi_column("priorities.1.within_target") == "p1_within_target"
    assert kpi_column("overall.response_mean_s") == "all_response_mean_s"
    assert kpi_column("queue.mean_wait_for_unit_s") == "queue_mean_wait_for_unit_s"
    assert kpi_column("units.utilisation") == "units_utilisation"


def test_saltelli_study_reports_sobol_indices(tmp_path: Path) -> None:
    study = write(tmp_path, """\
        base: mmc-erlang
        set: {duration: 100h}
        factors:
          demand.rate_per_hour: {min: 0.5, max: 2.0}
          units.count: {min: 3, max: 5, integer: true}
        sample: {method: saltelli, n: 4}
        kpis: [queue.mean_wait_for_unit_s]
        """)  # fmt: skip
    loaded = load_study(study)
    assert len(loaded.design.arms) == 4 * (2 + 2)
    assert all(isinstance(a["units.count"], int) for a in loaded.design.arms)
    assert loaded.baseline_arm is None
    out = tmp_path / "sobol"
    result = invoke("sweep", study, "--out", out, "--workers", "2", "--quiet")
    assert result.exit_code == 0, result.output + result.stderr
    page = (out / "report.html").read_text()
    assert "Sensitivity of queue_mean_wait_for_unit_s" in page and "ST" in page


def test_lhs_and_morris_designs_are_deterministic(tmp_path: Path) -> None:
    text = """\
        base: mmc-erlang
        factors:
          demand.rate_per_hour: {{min: 0.5, max: 2.0}}
          units.count: {{min: 3, max: 6, integer: true}}
        sample: {{method: {method}, n: 5}}
        """
    lhs = load_study(write(tmp_path, text.format(method="lhs")))
    assert len(lhs.design.arms) == 5
    assert lhs.design.arms == load_study(write(tmp_path, text.format(method="lhs"))).design.arms
    morris = load_study(write(tmp_path, text.format(method="morris")))
    assert len(morris.design.arms) == 5 * (2 + 1)


def problems_of(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


BAD = [
    ("unknown key", "replicates: 3\n", [r"study.yaml:13: replicates: unknown key \(allowed: name, .*\)"]),
    ("unknown factor path", "", [r"study.yaml:6: factors.units.cont: unknown scenario path 'units.cont' "
                                 r"\(nearest valid path: units.count\)"], {"units.count": "units.cont"}),
    ("empty grid", "", [r"study.yaml:6: factors.units.count: empty grid"], {"[3, 4]": "[]"}),
    ("replications 0", "", [r"study.yaml:8: replications: must be at least 1 \(got 0\)"],
     {"replications: 3": "replications: 0"}),
    ("bad values, all reported", "", [
        r"study.yaml:6: factors.units.count: value 0: Input should be greater than or equal to 1 \(got 0\)",
        r"study.yaml:7: factors.dispatch.policy: value 'fastest': unknown dispatch policy 'fastest'"],
     {"[3, 4]": "[0, 4]", "[nearest, priority_preempt]": "[nearest, fastest]"}),
    ("unknown kpi", "", [r"study.yaml:11: kpis.0: not a numeric summary path 'queue.mean_wait_for_units' "
                         r"\(nearest valid path: queue.mean_wait_for_unit_s\)"],
     {"- queue.mean_wait_for_unit_s": "- queue.mean_wait_for_units"}),
    ("warm-up too long", "", [r"study.yaml:9: warmup: must be shorter than the run's duration"],
     {"warmup: 10h": "warmup: 300h"}),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_studies_exit_2_with_file_line_problems_and_write_nothing(tmp_path: Path, case) -> None:
    _, extra, patterns, *edits = case
    text = MMC + extra
    for old, new in (edits[0] if edits else {}).items():
        text = text.replace(old, new, 1)
    study = write(tmp_path, text)
    out = tmp_path / "never"
    result = invoke("sweep", study, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    lines = problems_of(result)
    assert len(lines) == len(patterns), lines
    for pattern, line in zip(patterns, lines, strict=True):
        assert re.match(str(study.parent) + "/" + pattern, line), (pattern, line)
    assert not out.exists()


def test_unreachable_scheduler_and_resume_of_a_non_sweep_exit_2(tmp_path: Path) -> None:
    study = write(tmp_path, MMC)
    result = invoke("sweep", study, "--out", tmp_path / "x", "--scheduler", "tcp://127.0.0.1:1", "--quiet")
    assert result.exit_code == 2 and "cannot reach the Dask scheduler" in result.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    result = invoke("sweep", study, "--out", tmp_path / "plain", "--resume", "--quiet")
    assert result.exit_code == 2 and "not a sweep directory" in result.stderr
    result = invoke("sweep", study, "--out", tmp_path / "plain", "--quiet")
    assert result.exit_code == 2 and "holds other files" in result.stderr
    assert (tmp_path / "plain" / "notes.txt").read_text() == "mine"
    result = invoke("report", tmp_path / "plain")
    assert result.exit_code == 2 and "not a sweep directory" in result.stderr


def test_common_random_numbers_narrow_every_difference_on_the_bundled_study(tmp_path: Path):
    """The bundled study as shipped (30 runs, common seeds): for every arm and KPI the paired 95% CI of
    the difference to the baseline (22 units, nearest) is narrower than the unpaired (Welch) one."""
    study_file = Path(__file__).resolve().parents[1] / "experiments" / "units-vs-policy.yaml"
    out = tmp_path / "uvp"
    result = invoke("sweep", study_file, "--out", out, "--workers", 2, "-q")
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 30 and (runs["status"] == "ok").all()
    table = arm_table(runs, yaml.safe_load((out / "study.yaml").read_text(encoding="utf-8")))
    others = table[~((table["units"] == 22) & (table["policy"] == "nearest"))]
    kpis = [c[: -len("_diff_hw")] for c in table.columns if c.endswith("_diff_hw")]
    assert len(others) == 5 and len(kpis) == 5
    for _, row in others.iterrows():
        for kpi in kpis:
            assert row[f"{kpi}_diff_hw"] < row[f"{kpi}_diff_hw_unpaired"], (row["arm"], kpi)
