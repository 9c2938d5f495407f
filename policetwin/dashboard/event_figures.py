"""Event figures: pure functions from small frames (made by :mod:`policetwin.dashboard.event_kpis`) to
plotly figures, in either language. Unit-tested without a browser (tests/test_dashboard_event.py)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from policetwin.dashboard.event_data import LOS_COLOURS, LOS_LEVELS
from policetwin.dashboard.figures import _clock_axis, _layout
from policetwin.dashboard.i18n import t

_GATE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                 "#7f7f7f")  # fmt: skip


def _horizon(frame: pd.DataFrame, column: str = "t_s") -> float:
    return float(frame[column].max() + 1) if len(frame) else 3600.0


def _event_lines(fig: go.Figure, times: tuple[float | None, float | None], lang: str) -> None:
    for t_s, key in zip(times, ("ev.start_line", "ev.end_line"), strict=True):
        if t_s is not None:
            fig.add_vline(x=t_s / 3600, line_dash="dot", line_color="#6a1b9a", annotation_text=t(key, lang),
                          annotation_position="top left")  # fmt: skip


def gate_wait_figure(waits: pd.DataFrame, start: str, lang: str, times=(None, None)) -> go.Figure:
    """p95 wait per gate over time (minutes; gates that screened anyone). ``waits``: ``gate, t_s,
    wait_p95_s, queue``."""
    fig = go.Figure()
    for i, (gate, rows) in enumerate(waits.groupby("gate", sort=False)):
        fig.add_scatter(
            x=rows["t_s"] / 3600, y=rows["wait_p95_s"] / 60, mode="lines", name=str(gate), connectgaps=False,
            line={"color": _GATE_COLOURS[i % len(_GATE_COLOURS)], "shape": "hv"},
        )  # fmt: skip
    _event_lines(fig, times, lang)
    _clock_axis(fig, _horizon(waits), start, lang)
    fig.update_yaxes(title=t("ev.wait_axis", lang), rangemode="tozero")
    return _layout(fig, t("ev.gate_waits", lang))


def gate_queue_figure(waits: pd.DataFrame, start: str, lang: str, times=(None, None)) -> go.Figure:
    """People waiting at each gate over time (the longest queue in each bin)."""
    fig = go.Figure()
    for i, (gate, rows) in enumerate(waits.groupby("gate", sort=False)):
        fig.add_scatter(
            x=rows["t_s"] / 3600, y=rows["queue"], mode="lines", name=str(gate),
            line={"color": _GATE_COLOURS[i % len(_GATE_COLOURS)], "shape": "hv"},
        )  # fmt: skip
    _event_lines(fig, times, lang)
    _clock_axis(fig, _horizon(waits), start, lang)
    fig.update_yaxes(title=t("ev.people", lang), rangemode="tozero")
    return _layout(fig, t("ev.gate_queues", lang))


def los_time_figure(los: pd.DataFrame, start: str, lang: str, times=(None, None)) -> go.Figure:
    """Walk links in use by level of service over time (stacked). ``los``: index ``t_s``, columns A-F."""
    fig = go.Figure()
    x = los.index.to_numpy() / 3600
    for level, colour in zip(LOS_LEVELS, LOS_COLOURS, strict=True):
        if level in los and los[level].max() > 0:
            fig.add_scatter(x=x, y=los[level], stackgroup="los", name=t("ev.los", lang, level=level),
                            line={"width": 0.5, "color": colour}, line_shape="hv")  # fmt: skip
    _event_lines(fig, times, lang)
    _clock_axis(fig, float(los.index.max() + 1) if len(los) else 3600.0, start, lang)
    fig.update_yaxes(title=t("ev.links_axis", lang), rangemode="tozero")
    return _layout(fig, t("ev.los_time", lang))


def los_minutes_figure(minutes: pd.Series, lang: str) -> go.Figure:
    """Link-minutes at each level of service (``minutes``: index A-F)."""
    levels = [level for level in LOS_LEVELS if level in minutes.index]
    fig = go.Figure(go.Bar(
        x=[t("ev.los", lang, level=level) for level in levels], y=[float(minutes[level]) for level in levels],
        marker_color=[LOS_COLOURS[LOS_LEVELS.index(level)] for level in levels],
        text=[f"{float(minutes[level]):,.0f}" for level in levels], textposition="auto",
    ))  # fmt: skip
    fig.update_yaxes(title=t("ev.link_minutes", lang), type="log" if len(levels) > 1 else "linear")
    return _layout(fig, t("ev.los_minutes", lang))


def egress_figure(people: pd.DataFrame, start: str, lang: str, times=(None, None)) -> go.Figure:
    """People on the walk ways and inside the outer ring's gates (cumulative screened) over time: arrival
    and egress. ``people``: ``t_s, walking, screened``."""
    fig = go.Figure()
    x = people["t_s"] / 3600
    fig.add_scatter(x=x, y=people["walking"], name=t("ev.walking", lang), line={"color": "#e67e22"})
    if "screened" in people:
        fig.add_scatter(x=x, y=people["screened"], name=t("ev.screened", lang), line={"color": "#1565c0"})
    _event_lines(fig, times, lang)
    _clock_axis(fig, _horizon(people), start, lang)
    fig.update_yaxes(title=t("ev.people", lang), rangemode="tozero")
    return _layout(fig, t("ev.egress", lang))


def city_cost_figure(cost: pd.DataFrame, lang: str) -> go.Figure:
    """Routine calls' mean and p90 response with and without the event (minutes). ``cost``: index
    ``with_event`` / ``without_event``, columns ``response_mean_s``, ``response_p90_s``."""
    fig = go.Figure()
    labels = [t("ev.col_mean", lang), t("ev.col_p90", lang)]
    for case, colour in (("without_event", "#7f8c8d"), ("with_event", "#c0392b")):
        if case not in cost.index:
            continue
        row = cost.loc[case]
        fig.add_bar(x=labels, y=[row["response_mean_s"] / 60, row["response_p90_s"] / 60],
                    name=t(f"ev.{case}", lang), marker_color=colour)  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=t("kpi.minutes", lang), rangemode="tozero")
    return _layout(fig, t("ev.city_cost_fig", lang))
