"""``policetwin query DIR "SQL"``: DuckDB over a sweep's ``runs`` (and ``arms``) or a run directory's tables;
SQL that DuckDB rejects, or a directory without tables, is bad input (exit 2 with the message)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from policetwin.cli import app
from policetwin.experiments.query import run_query


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """A sweep directory as ``policetwin sweep`` writes it (runs.parquet and study.yaml), made by hand."""
    out = tmp_path / "sweep"
    out.mkdir()
    rows = [{"run_id": f"a{a:04d}-r{r:04d}", "arm": a, "replication": r, "seed": 100 + r, "units": u,
             "policy": p, "p1_within_target": 0.5 + 0.1 * a + 0.01 * r, "status": "ok", "error": None,
             "wall_s": 1.0, "sim_s": 0.9}
            for a, (u, p) in enumerate([(18, "nearest"), (18, "priority_preempt"), (22, "nearest")])
            for r in range(3)]  # fmt: skip
    pd.DataFrame(rows).to_parquet(out / "runs.parquet", index=False)
    study = {"name": "q", "factors": [{"path": "units.count", "column": "units"},
                                      {"path": "dispatch.policy", "column": "policy"}]}  # fmt: skip
    (out / "study.yaml").write_text(yaml.safe_dump(study))
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from policetwin.scenarios import load_scenario
    from policetwin.sim.run import run

    out = tmp_path_factory.mktemp("query") / "run"
    run(load_scenario("mmc-erlang", ["duration=100h"]), out_dir=out)
    return out


def test_query_a_sweep_groups_runs_by_factor(sweep_dir: Path) -> None:
    frame = run_query(sweep_dir, "select policy, avg(p1_within_target) as p1 from runs where units = 18 "
                                 "group by policy order by policy")  # fmt: skip
    assert frame["policy"].tolist() == ["nearest", "priority_preempt"]
    assert frame["p1"].tolist() == pytest.approx([0.51, 0.61])
    arms = run_query(sweep_dir, "select * from arms order by arm")
    assert arms.columns.tolist() == ["arm", "units", "policy", "runs"] and arms["runs"].tolist() == [3, 3, 3]


def test_query_cli_prints_table_csv_and_json(sweep_dir: Path) -> None:
    result = invoke("query", sweep_dir, "select count(*) as n from runs")
    assert result.exit_code == 0, result.stderr
    assert "9" in result.output and "1 rows" in result.output
    result = invoke("query", sweep_dir, "select arm, max(replication) as r from runs group by arm order by arm",
                    "--format", "csv")  # fmt: skip
    assert result.output.splitlines() == ["arm,r", "0,2", "1,2", "2,2"]
    result = invoke("query", sweep_dir, "select distinct units from runs order by units", "--format", "json")
    assert json.loads(result.output) == [{"units": 18}, {"units": 22}]


def test_query_a_run_directory_has_its_tables(run_dir: Path) -> None:
    frame = run_query(run_dir, "select count(*) as n from incidents")
    incidents = pd.read_parquet(run_dir / "incidents.parquet")
    assert frame["n"].iloc[0] == len(incidents) > 50
    joined = run_query(run_dir, "select count(distinct a.unit_id) as units from assignments a "
                                "join incidents i using (incident_id)")  # fmt: skip
    assert joined["units"].iloc[0] == 3
    assert run_query(run_dir, "select count(*) as n from units")["n"].iloc[0] > 0


def test_sql_that_duckdb_rejects_exits_2_with_its_message(sweep_dir: Path, tmp_path: Path) -> None:
    result = invoke("query", sweep_dir, "select nope from runs")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: SQL: Binder Error") and "nope" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    result = invoke("query", sweep_dir, "selec 1")
    assert result.exit_code == 2 and "Parser Error" in result.stderr
    result = invoke("query", tmp_path / "missing", "select 1")
    assert result.exit_code == 2 and "no such directory" in result.stderr
    (tmp_path / "empty").mkdir()
    result = invoke("query", tmp_path / "empty", "select 1")
    assert result.exit_code == 2 and "no Parquet tables" in result.stderr
    result = invoke("query", sweep_dir, "select 1", "--format", "xml")
    assert result.exit_code == 2 and "--format" in result.stderr
