"""Sweep figures: pure functions from a sweep's arm table (``sweep_stats.arm_table``) to plotly figures, in
either language. Unit-tested without a browser."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from policetwin.dashboard.figures import _layout
from policetwin.dashboard.i18n import t

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _numeric(values: list) -> bool:
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def x_factor(table: pd.DataFrame, factors: list[str]) -> str | None:
    """The factor on the x axis: the first numeric one, else the first (None without factors)."""
    return next((c for c in factors if _numeric(table[c].tolist())), factors[0] if factors else None)


def kpi_figure(
    table: pd.DataFrame, factors: list[str], kpi: str, lang: str, *, sampled: bool = False
) -> go.Figure:
    """The KPI's arm means against the x factor with 95% CI bands, one line per combination of the other
    factors (points with error bars when the x factor is not numeric or the study sampled). Every point
    carries its arm in ``customdata`` (a click opens a kept run of that arm)."""
    fig = go.Figure()
    x_col = x_factor(table, factors)
    if x_col is None:
        fig.add_scatter(x=[t("sweep.base", lang)] * len(table), y=table[kpi], mode="markers", customdata=table["arm"],
                        error_y={"type": "data", "array": table[f"{kpi}_hw"], "visible": True}, name=kpi)  # fmt: skip
        return _layout(fig, kpi, height=340)
    others = [c for c in factors if c != x_col]
    groups = table.groupby(others, sort=False, dropna=False) if others else [((), table)]
    for i, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{c}={v}" for c, v in zip(others, key, strict=True)) or kpi
        colour = COLOURS[i % len(COLOURS)]
        group = group.sort_values(x_col)
        y, hw = group[kpi].astype(float), group[f"{kpi}_hw"].astype(float)
        x = group[x_col].tolist()
        hover = [t("sweep.hover", lang, arm=int(a)) for a in group["arm"]]
        if _numeric(x) and not sampled and len(group) > 1:
            band = hw.notna().to_numpy()
            if band.any():
                xs = [v for v, b in zip(x, band, strict=True) if b]
                fig.add_scatter(x=xs + xs[::-1], y=list((y + hw)[band]) + list((y - hw)[band])[::-1], fill="toself",
                                fillcolor=colour, opacity=0.18, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                legendgroup=name, meta="band")  # fmt: skip
            fig.add_scatter(x=x, y=y, mode="lines+markers", name=name, line={"color": colour}, legendgroup=name,
                            customdata=group["arm"].tolist(), hovertext=hover, marker={"size": 9})  # fmt: skip
        else:
            fig.add_scatter(x=[str(v) for v in x], y=y, mode="markers", name=name, marker={"color": colour, "size": 9},
                            customdata=group["arm"].tolist(), hovertext=hover,
                            error_y={"type": "data", "array": hw, "visible": True})  # fmt: skip
    fig.update_xaxes(title=x_col)
    fig.update_yaxes(title=t("sweep.axis", lang, kpi=kpi))
    return _layout(fig, kpi, height=340)


def diff_figure(table: pd.DataFrame, kpi: str, baseline: int, lang: str, *, paired: bool) -> go.Figure:
    """Each arm's difference to the baseline with its 95% CI: paired (common random numbers) beside the
    unpaired Welch interval, so the variance reduction is visible."""
    rows = table[table["arm"] != baseline]
    labels = [t("sweep.arm_n", lang, arm=int(a)) for a in rows["arm"]]
    fig = go.Figure()
    fig.add_bar(x=labels, y=rows[f"{kpi}_diff"], name=t("sweep.paired" if paired else "sweep.welch", lang),
                error_y={"type": "data", "array": rows[f"{kpi}_diff_hw"], "visible": True}, marker_color="#2980b9",
                customdata=rows["arm"].tolist())  # fmt: skip
    if paired:
        fig.add_bar(x=labels, y=rows[f"{kpi}_diff"], name=t("sweep.welch", lang), marker_color="#bdc3c7",
                    error_y={"type": "data", "array": rows[f"{kpi}_diff_hw_unpaired"], "visible": True},
                    customdata=rows["arm"].tolist())  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=t("sweep.diff_axis", lang, kpi=kpi), zeroline=True)
    return _layout(fig, t("sweep.diff_title", lang, kpi=kpi, arm=baseline), height=320)
