"""Statistics of a sweep: 95% confidence intervals of KPI means per arm (Student t over replications),
differences to the baseline arm (paired by replication under common random numbers, Welch otherwise),
and Sobol / Morris sensitivity indices with their confidence intervals (SALib).

Everything reads ``runs.parquet`` and the resolved ``study.yaml`` only, so a report can be rebuilt from a
sweep directory alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95


def _clean(values: Iterable) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values: Iterable, *, level: float = LEVEL) -> tuple[float | None, float | None]:
    """Mean and half-width of its ``level`` CI (t with n-1 degrees of freedom); missing values are
    dropped; the half-width is None with fewer than two values."""
    x = _clean(values)
    if x.size == 0:
        return None, None
    if x.size == 1:
        return float(x[0]), None
    t = stats.t.ppf(0.5 + level / 2, x.size - 1)
    return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(x.size))


def welch_ci(a: Iterable, b: Iterable, *, level: float = LEVEL) -> tuple[float | None, float | None]:
    """Difference of means mean(a) - mean(b) and its CI half-width for independent samples (Welch)."""
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return None, None
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return diff, None
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se2 = vx + vy
    if se2 == 0:
        return diff, 0.0
    df = se2**2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    return diff, float(stats.t.ppf(0.5 + level / 2, df) * math.sqrt(se2))


def paired_ci(a: pd.Series, b: pd.Series, *, level: float = LEVEL) -> tuple[float | None, float | None, int]:
    """Mean of the differences a[r] - b[r] over the replications both have (indexed by replication),
    its CI half-width, and the number of pairs: common random numbers make these CIs narrow."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1).dropna()
    mean, half = mean_ci((both["a"] - both["b"]).to_numpy())
    return mean, half, len(both)


def arm_table(runs: pd.DataFrame, study: dict) -> pd.DataFrame:
    """One row per arm: factor values, runs ok and failed, and per KPI the mean, its CI half-width
    (``_hw``), and against the baseline the difference (``_diff``) with its half-width: paired under
    common seeds (``_diff_hw``) and unpaired (``_diff_hw_unpaired``, Welch) to show what CRN gained."""
    kpis = list(study["kpis"])
    columns = [f["column"] for f in study["factors"]]
    ok = runs[runs["status"] == "ok"]
    baseline = study.get("baseline_arm")
    paired = study.get("seeds") == "common"
    base = ok[ok["arm"] == baseline].set_index("replication") if baseline is not None else None
    rows = []
    for arm in study["arms"]:
        mine = ok[ok["arm"] == arm["arm"]].set_index("replication")
        row = {
            "arm": arm["arm"],
            **{c: arm[c] for c in columns},
            "n": len(mine),
            "failed": int(((runs["arm"] == arm["arm"]) & (runs["status"] != "ok")).sum()),
        }
        for k in kpis:
            row[k], row[f"{k}_hw"] = mean_ci(mine[k])
            if base is not None:
                diff, row[f"{k}_diff_hw_unpaired"] = welch_ci(mine[k], base[k])
                row[f"{k}_diff"], row[f"{k}_diff_hw"] = diff, row[f"{k}_diff_hw_unpaired"]
                if paired:
                    row[f"{k}_diff"], row[f"{k}_diff_hw"], _ = paired_ci(mine[k], base[k])
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity(runs: pd.DataFrame, study: dict) -> dict[str, pd.DataFrame]:
    """Sobol (first-order and total, with CIs) or Morris (mu*, its CI, sigma) indices per KPI, from the
    arms' mean KPI over replications in sample order; empty when the study did not sample for them or
    an arm has no value yet."""
    sample = study.get("sample") or {}
    method = sample.get("method")
    if method not in ("saltelli", "morris") or not study.get("sample_x"):
        return {}
    factors = study["factors"]
    problem = {
        "num_vars": len(factors),
        "names": [f["column"] for f in factors],
        "bounds": [[f["min"], f["max"]] for f in factors],
    }
    x = np.asarray(study["sample_x"], dtype=float)
    means = runs[runs["status"] == "ok"].groupby("arm")[list(study["kpis"])].mean()
    out = {}
    for kpi in study["kpis"]:
        y = means[kpi].reindex(range(len(x))).to_numpy(dtype=float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            continue
        if method == "saltelli":
            from SALib.analyze import sobol

            res = sobol.analyze(problem, y, calc_second_order=False, conf_level=LEVEL, seed=0)
            out[kpi] = pd.DataFrame(
                {
                    "factor": problem["names"],
                    "S1": res["S1"],
                    "S1_conf": res["S1_conf"],
                    "ST": res["ST"],
                    "ST_conf": res["ST_conf"],
                }
            )
        else:
            from SALib.analyze import morris

            res = morris.analyze(problem, x, y, conf_level=LEVEL, num_levels=sample.get("levels", 4), seed=0)
            out[kpi] = pd.DataFrame(
                {
                    "factor": problem["names"],
                    "mu_star": np.asarray(res["mu_star"]),
                    "mu_star_conf": np.asarray(res["mu_star_conf"]),
                    "sigma": np.asarray(res["sigma"]),
                }
            )
    return out
