"""``report.html`` of a sweep: one self-contained page (plotly.js embedded once, no external URL), built
from the sweep directory alone (``runs.parquet``, ``study.yaml``, ``manifest.json``).

It shows each KPI against the factors with 95% CI bands, the arm table with differences to the
baseline (paired under common random numbers, with the unpaired half-width beside it so the variance
reduction is visible), Sobol or Morris indices with their CIs when the study sampled for them, and
the failed runs.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import yaml
from plotly.offline import get_plotlyjs

from policetwin.errors import PoliceTwinError
from policetwin.experiments.sweep_stats import arm_table, sensitivity
from policetwin.experiments.sweep_store import write_atomic
from policetwin.sim import report_html as rh

_CSS = (
    rh.REPORT_CSS
    + """
section { overflow-x: auto; }
table.kpi { font-size: 13px; }
table.kpi th, table.kpi td { padding: 4px 10px; }
"""
)
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def read_sweep(out_dir: Path) -> tuple[pd.DataFrame, dict, dict]:
    """``runs.parquet``, the resolved study and the manifest of a sweep directory (PoliceTwinError if it
    is not one)."""
    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        study = yaml.safe_load((out_dir / "study.yaml").read_text(encoding="utf-8"))
        runs = pd.read_parquet(out_dir / "runs.parquet")
    except (OSError, ValueError) as exc:
        raise PoliceTwinError(f"{out_dir}: not a sweep directory ({exc})") from None
    return runs, study, manifest


def _fmt(value, hw=None) -> str:
    x = rh.num(value)
    if x is None:
        return rh.DASH
    digits = 3 if abs(x) < 10 else 1
    h = rh.num(hw)
    return f"{x:.{digits}f}" + ("" if h is None else f" ± {h:.{digits}f}")


def _figure(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def kpi_figure(table: pd.DataFrame, study: dict, kpi: str) -> go.Figure:
    """The KPI's arm means against the first numeric factor (else the first factor), one line with its
    95% CI band per combination of the other factors."""
    factors = [f["column"] for f in study["factors"]]
    fig = go.Figure()
    if not factors:
        fig.add_trace(go.Bar(x=["base"], y=table[kpi], error_y={"type": "data", "array": table[f"{kpi}_hw"]}))
        return fig
    x_col = next((c for c in factors if _numeric(table[c].tolist())), factors[0])
    others = [c for c in factors if c != x_col]
    groups = table.groupby(others, sort=False, dropna=False) if others else [((), table)]
    sampled = study.get("sample") is not None
    for i, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{c}={v}" for c, v in zip(others, key, strict=True)) or kpi
        colour = _COLOURS[i % len(_COLOURS)]
        group = group.sort_values(x_col)
        y, hw = group[kpi].astype(float), group[f"{kpi}_hw"].astype(float)
        if _numeric(group[x_col].tolist()) and not sampled and len(group) > 1:
            x = group[x_col].tolist()
            band = hw.notna()
            if band.any():
                xs = [v for v, b in zip(x, band, strict=True) if b]
                fig.add_trace(
                    go.Scatter(
                        x=xs + xs[::-1],
                        y=list((y + hw)[band]) + list((y - hw)[band])[::-1],
                        fill="toself",
                        fillcolor=colour,
                        opacity=0.18,
                        line={"width": 0},
                        hoverinfo="skip",
                        showlegend=False,
                        legendgroup=name,
                    )
                )
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="lines+markers", name=name, line={"color": colour}, legendgroup=name
                )
            )
        else:
            fig.add_trace(
                go.Scatter(
                    x=group[x_col],
                    y=y,
                    mode="markers",
                    name=name,
                    marker={"color": colour},
                    error_y={"type": "data", "array": hw, "visible": True},
                )
            )
    fig.update_layout(
        height=360,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        xaxis_title=x_col,
        yaxis_title=f"{kpi} (mean, 95% CI)",
        legend={"orientation": "h", "y": -0.25},
        title={"text": kpi, "font": {"size": 14}},
    )
    return fig


def _arm_rows(table: pd.DataFrame, study: dict) -> tuple[list[str], list[list[str]]]:
    factors = [f["column"] for f in study["factors"]]
    kpis = list(study["kpis"])
    base = study.get("baseline_arm")
    paired = study.get("seeds") == "common"
    header = ["arm", *factors, "runs"] + [html.escape(k) for k in kpis]
    if base is not None:
        header += [f"Δ {html.escape(k)} {'(paired)' if paired else ''}" for k in kpis]
        if paired:
            header += [f"± {html.escape(k)} unpaired" for k in kpis]
    rows = []
    for _, r in table.iterrows():
        mark = " (baseline)" if r["arm"] == base else ""
        row = [
            f"{int(r['arm'])}{mark}",
            *(rh.esc(r[c]) for c in factors),
            f"{int(r['n'])}" + (f" ({int(r['failed'])} failed)" if r["failed"] else ""),
        ]
        row += [_fmt(r[k], r[f"{k}_hw"]) for k in kpis]
        if base is not None:
            row += [rh.DASH if r["arm"] == base else _fmt(r[f"{k}_diff"], r[f"{k}_diff_hw"]) for k in kpis]
            if paired:
                row += [rh.DASH if r["arm"] == base else _fmt(r[f"{k}_diff_hw_unpaired"]) for k in kpis]
        rows.append(row)
    return header, rows


def _sensitivity_sections(runs: pd.DataFrame, study: dict) -> list[str]:
    parts = []
    method = (study.get("sample") or {}).get("method")
    for kpi, frame in sensitivity(runs, study).items():
        cols = [c for c in frame.columns if c != "factor" and not c.endswith("_conf")]
        fig = go.Figure()
        for c in cols:
            conf = frame.get(f"{c}_conf")
            fig.add_trace(
                go.Bar(
                    x=frame["factor"],
                    y=frame[c],
                    name=c,
                    error_y=None if conf is None else {"type": "data", "array": conf},
                )
            )
        fig.update_layout(barmode="group", height=300, margin={"l": 60, "r": 20, "t": 30, "b": 40})
        header = ["factor", *frame.columns[1:]]
        rows = [[rh.esc(r["factor"]), *(_fmt(r[c]) for c in frame.columns[1:])] for _, r in frame.iterrows()]
        note = (
            "Sobol indices (Saltelli sampling, SALib): S1 first order, ST total; ± is the 95% CI (bootstrap)."
            if method == "saltelli"
            else "Morris elementary effects (SALib): mu* mean absolute effect (95% CI), sigma its spread."
        )
        parts.append(
            rh.section(
                f"Sensitivity of {kpi}", _figure(fig, f"fig-sens-{kpi}") + rh.table(header, rows), note
            )
        )
    return parts


def sweep_report_html(runs: pd.DataFrame, study: dict, manifest: dict) -> str:
    """The report page of a sweep (see the module doc)."""
    table = arm_table(runs, study)
    ok = int((runs["status"] == "ok").sum())
    failed = runs[runs["status"] != "ok"]
    title = html.escape(f"Sweep {study.get('name', '')}")
    meta = [
        f"{len(study['arms'])} arms",
        f"{ok} runs ok",
        f"{len(failed)} failed",
        f"seeds: {study.get('seeds')}",
        f"warm-up {rh.fmt_duration(study.get('warmup_s'))}",
        f"base {Path(str(study.get('base', ''))).name}",
        "maps " + ", ".join(f"{m['name']} ({m['sha256'][:12]})" for m in manifest.get("maps", [])),
    ]
    header = (
        f"<header><h1>{title}</h1><div class='meta'>"
        + "".join(f"<span>{html.escape(m)}</span>" for m in meta)
        + "</div></header>"
    )
    parts = []
    note = (
        "Mean over replications per arm; bands and ± are 95% confidence intervals (Student t). "
        f"Columns and paths: {', '.join(f'{k} = {v}' for k, v in study['kpis'].items())}."
    )
    figs = "".join(_figure(kpi_figure(table, study, k), f"fig-kpi-{i}") for i, k in enumerate(study["kpis"]))
    parts.append(rh.section("KPIs against the factors", figs, note))
    head, rows = _arm_rows(table, study)
    arm_note = "Arms with mean ± 95% CI half-width."
    if study.get("baseline_arm") is not None:
        arm_note += (
            " Δ: difference to the baseline arm; under common random numbers paired by replication "
            "(same calls in both arms), with the unpaired (Welch) half-width beside it for comparison."
            if study.get("seeds") == "common"
            else " Δ: difference to the baseline arm (Welch CI)."
        )
    parts.append(rh.section("Arms", rh.table(head, rows), arm_note))
    parts += _sensitivity_sections(runs, study)
    if len(failed):
        rows = [[rh.esc(r["run_id"]), rh.esc(r["error"])] for _, r in failed.head(50).iterrows()]
        parts.append(rh.section("Failed runs", rh.table(["run", "error"], rows), "Run again with --resume."))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f'<style>{_CSS}</style><script type="text/javascript" id="plotly-bundle">{get_plotlyjs()}</script>'
        f"</head><body>{header}<main>{''.join(parts)}</main></body></html>\n"
    )


def write_sweep_report(out_dir: Path) -> Path:
    """(Re)build ``report.html`` of a sweep directory, written atomically."""
    out_dir = Path(out_dir)
    runs, study, manifest = read_sweep(out_dir)
    page = sweep_report_html(runs, study, manifest)
    path = out_dir / "report.html"
    write_atomic(path, page.encode("utf-8"))
    return path
