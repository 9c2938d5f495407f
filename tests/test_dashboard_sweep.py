"""The Sweep page without a browser: sweep directories found (and their kept runs listed for Replay), the
arm table from ``sweep_stats`` (paired differences), the KPI figures with 95% CI bands in both languages,
links and clicks that open a kept run in Replay, and unreadable sweeps reported, not raised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_dashboard import CJK, _english_patterns, _strings
from test_dashboard_data import make_run

from policetwin.dashboard.figures_sweep import diff_figure, kpi_figure, x_factor
from policetwin.dashboard.rundata import discover, run_key
from policetwin.dashboard.sweepdata import find_sweeps, fmt_value, kept_run, read_sweep
from policetwin.experiments.sweep_stats import arm_table

ARMS = [
    {"arm": i, "count": u, "policy": p}
    for i, (u, p) in enumerate((u, p) for u in (3, 4, 5) for p in ("a", "b"))
]


def make_sweep(path: Path, *, keep: tuple[str, ...] = ("a0002-r0000", "a0002-r0001"), reps: int = 3) -> Path:
    """A hand-made sweep directory (6 arms x ``reps`` replications, common seeds) with a few kept runs."""
    path.mkdir(parents=True)
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 5, reps)  # common random numbers: the same noise per replication in every arm
    rows = []
    for arm in ARMS:
        for r in range(reps):
            wait = 200.0 / arm["count"] + (10 if arm["policy"] == "b" else 0) + noise[r]
            rows.append({"run_id": f"a{arm['arm']:04d}-r{r:04d}", "arm": arm["arm"], "replication": r, "seed": r,
                         "count": arm["count"], "policy": arm["policy"], "wait_s": wait,
                         "p1_within_target": 0.5 + arm["count"] / 20 + noise[r] / 100,
                         "status": "ok", "error": None, "wall_s": 0.1, "sim_s": 0.05})  # fmt: skip
    rows[-1].update(status="failed", error="boom", wait_s=None, p1_within_target=None)
    pd.DataFrame(rows).to_parquet(path / "runs.parquet", index=False)
    study = {"name": "tiny", "factors": [{"path": "units.count", "column": "count", "values": [3, 4, 5]},
                                         {"path": "dispatch.policy", "column": "policy", "values": ["a", "b"]}],
             "sample": None, "seeds": "common", "warmup_s": 3600.0, "baseline_arm": 0, "arms": ARMS,
             "kpis": {"wait_s": "queue.mean_wait_for_unit_s", "p1_within_target": "priorities.1.within_target"}}  # fmt: skip
    (path / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    (path / "manifest.json").write_text(
        json.dumps({"kind": "policetwin-sweep", "maps": []}), encoding="utf-8"
    )
    for run_id in keep:
        make_run(path / "runs" / run_id)
    return path


@pytest.fixture
def sweep_app(tmp_path: Path):
    """A dashboard over a sweep (and a plain run)."""
    from policetwin.dashboard.app import create_app
    from policetwin.dashboard.pages import sweep as sweep_page

    sweep = make_sweep(tmp_path / "sweeps" / "tiny")
    create_app([tmp_path / "sweeps", make_run(tmp_path / "plain")], runs_dir=tmp_path / "new")
    return sweep_page, sweep


def test_arm_table_and_kept_runs_come_from_the_sweep_files(tmp_path: Path):
    sweep = make_sweep(tmp_path / "s")
    data = read_sweep(sweep)
    assert data.factors == ["count", "policy"] and data.kpis == ["wait_s", "p1_within_target"]
    pd.testing.assert_frame_equal(data.table, arm_table(data.runs, data.study))  # one home: sweep_stats
    assert data.baseline == 0 and data.paired
    # under common random numbers the paired CI is (much) narrower than Welch's
    arm2 = data.table.set_index("arm").loc[2]
    assert arm2["wait_s_diff_hw"] < 0.1 * arm2["wait_s_diff_hw_unpaired"]
    assert data.table.set_index("arm").loc[5, "failed"] == 1
    mean = data.runs[data.runs["arm"] == 2]["wait_s"].mean()
    closest = data.runs[data.runs["arm"] == 2].assign(gap=lambda f: (f["wait_s"] - mean).abs())
    closest = closest[closest["replication"] < 2].sort_values("gap")["run_id"].iloc[0]
    assert kept_run(data, 2, "wait_s") == sweep / "runs" / closest  # only kept replications count
    assert kept_run(data, 1, "wait_s") is None
    assert (
        fmt_value(0.93123, 0.0412) == "0.931 ± 0.041"
        and fmt_value(None) == "-"
        and fmt_value(150.06) == "150.1"
    )


def test_discovery_lists_sweeps_and_their_kept_runs_without_problems(tmp_path: Path):
    sweep = make_sweep(tmp_path / "sweeps" / "tiny")
    for root in (sweep, tmp_path / "sweeps"):  # the sweep itself, or a folder of sweeps
        found = discover([root])
        assert not found.problems
        assert sorted(r.label for r in found.runs) == ["a0002-r0000", "a0002-r0001"]
        assert {r.set_label for r in found.runs} == {"tiny"} and list(found.sets) == ["tiny/a0002"]
        assert [s.path for s in find_sweeps([root])] == [sweep.resolve()]


def test_kpi_figure_has_ci_bands_per_line_and_arms_to_click():
    data_table = pd.DataFrame({"arm": [0, 1, 2, 3], "units": [3, 4, 3, 4], "policy": ["a", "a", "b", "b"],
                               "k": [10.0, 8.0, 12.0, 9.0], "k_hw": [1.0, 0.5, None, 0.7]})  # fmt: skip
    assert x_factor(data_table, ["policy", "units"]) == "units"
    fig = kpi_figure(data_table, ["units", "policy"], "k", "en")
    bands = [tr for tr in fig.data if tr.meta == "band"]
    lines = [tr for tr in fig.data if tr.meta != "band"]
    assert len(bands) == 2 and len(lines) == 2 and [tr.name for tr in lines] == ["policy=a", "policy=b"]
    assert list(bands[0].y) == [11.0, 8.5, 7.5, 9.0]  # upper 3, 4 then lower 4, 3
    assert list(bands[1].x) == [4, 4]  # arm 2 has no CI: the band covers arm 3 only
    assert list(lines[1].customdata) == [2, 3]
    assert fig.layout.yaxis.title.text == "k (mean, 95% CI)"
    zh = kpi_figure(data_table, ["units", "policy"], "k", "zh")
    assert CJK.search(zh.layout.yaxis.title.text)
    sampled = kpi_figure(data_table, ["units", "policy"], "k", "en", sampled=True)
    assert all(tr.error_y.visible for tr in sampled.data) and not any(
        tr.meta == "band" for tr in sampled.data
    )


def test_diff_figure_shows_paired_beside_welch(tmp_path: Path):
    data = read_sweep(make_sweep(tmp_path / "s"))
    fig = diff_figure(data.table, "wait_s", 0, "zh", paired=True)
    assert len(fig.data) == 2 and len(fig.data[0].x) == 5 and CJK.search(fig.data[0].name)
    assert fig.data[0].error_y.array[0] < fig.data[1].error_y.array[0]
    assert len(diff_figure(data.table, "wait_s", 0, "en", paired=False).data) == 1


def test_sweep_page_in_both_languages_links_kept_runs_to_replay(sweep_app):
    page, sweep = sweep_app
    kept = (
        run_key((sweep / "runs" / "a0002-r0000").resolve()),
        run_key((sweep / "runs" / "a0002-r0001").resolve()),
    )
    pats = _english_patterns()
    for lang in ("en", "zh"):
        layout = page.layout(lang=lang)
        strings = _strings(layout)
        text = " ".join(strings)
        assert "wait_s" in text and "tiny" in text
        if lang == "zh":
            assert not [s for s in strings if any(p.match(s) for p in pats)]
            assert sum(bool(CJK.search(s)) for s in strings) > 10
        links = [h for h in _hrefs(layout) if h.startswith("/replay") and "run=" in h]
        assert links and all(f"lang={lang}" in h and any(f"run={k}" in h for k in kept) for h in links)
    assert "Δ wait_s (paired)" in " ".join(_strings(page.layout(lang="en")))


def test_a_click_on_a_point_opens_a_kept_run(sweep_app, monkeypatch):
    import dash

    page, sweep = sweep_app
    key = find_sweeps([sweep])[0].key
    monkeypatch.setattr(dash, "ctx", type("Ctx", (), {"triggered_id": {"type": "sweep-kpi", "index": 0}})())
    href = page._clicked([{"points": [{"customdata": 2}]}, None], "zh", key)
    assert href.startswith("/replay?lang=zh&run=") and href.split("run=")[1] in {
        run_key((sweep / "runs" / r).resolve()) for r in ("a0002-r0000", "a0002-r0001")
    }
    assert page._clicked([{"points": [{"customdata": 1}]}, None], "en", key) is dash.no_update  # none kept


def test_unreadable_and_missing_sweeps_give_messages(sweep_app, tmp_path: Path):
    page, sweep = sweep_app
    (sweep / "runs.parquet").write_bytes(b"not parquet")
    text = " ".join(_strings(page.layout(lang="zh")))
    assert "runs.parquet" in text and "无法作为扫描结果读取" in text and "Traceback" not in text
    from policetwin.dashboard.app import create_app

    create_app([make_run(tmp_path / "only")], runs_dir=tmp_path / "new2")
    assert "`policetwin sweep`" in " ".join(_strings(page.layout(lang="en")))


def _hrefs(component) -> list[str]:
    out: list[str] = []

    def walk(obj) -> None:
        if isinstance(obj, list | tuple):
            for x in obj:
                walk(x)
        elif hasattr(obj, "to_plotly_json"):
            props = obj.to_plotly_json().get("props", {})
            if isinstance(props.get("href"), str):
                out.append(props["href"])
            walk(props.get("children"))

    walk(component)
    return out
