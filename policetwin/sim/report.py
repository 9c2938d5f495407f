"""One self-contained HTML page that explains a simulation run to a police planner.

The page embeds the plotly.js bundle once (no CDN, no tile server, no external URL), so it opens
offline. Figures come from :mod:`policetwin.sim.report_figures` (their tables from
:mod:`policetwin.sim.report_tables`); KPI figures from ``summary``.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from policetwin import clock
from policetwin.sim import report_figures as rf
from policetwin.sim import report_html as rh
from policetwin.sim import report_tables as rt
from policetwin.sim.report_clock import clock_axis, start_label
from policetwin.sim.report_command import command_section
from policetwin.sim.report_event import event_sections

if TYPE_CHECKING:
    from policetwin.maps.network import RoadNetwork

MAX_MAP_SEGMENTS = 40_000  # undirected street segments drawn on the map
MAX_MAP_INCIDENTS = 20_000  # incident points drawn on the map

_CSS = rh.REPORT_CSS


# --------------------------------------------------------------------------- page parts


def _run_start(summary: Mapping) -> tuple[str, list[str]]:
    """The run's canonical start and any problem reading it.

    Summaries written before runs had a start have none: those runs began Monday 00:00. An unreadable
    start is drawn from Monday 00:00 too, with a warning, rather than losing the whole report."""
    value = summary.get("start")
    if value is None or value == "":
        return clock.DEFAULT_START, []
    try:
        return clock.parse_start(value), []
    except ValueError as exc:
        return clock.DEFAULT_START, [f"report: {exc}; times are drawn from {clock.DEFAULT_START}"]


def _warning_lines(summary: Mapping) -> list[str]:
    """The summary's ``warnings`` as a list of strings (absent, None or empty: none)."""
    raw = summary.get("warnings")
    if not raw:
        return []
    if not isinstance(raw, list | tuple):
        return [str(raw)]
    return [str(w) for w in raw]


def _warnings_section(lines: list[str]) -> str:
    """A highlighted list of what the run warned about (e.g. stations snapped far to a road), so a
    planner sees it before trusting the figures; nothing at all when there are no warnings."""
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<section class="warnings" id="warnings"><h2>Warnings</h2><ul>{items}</ul></section>'


def _megabytes(value) -> str:
    number = rh.num(value)
    return rh.DASH if number is None else f"{number:,.0f} MB"


def _header(summary: Mapping, network, start: str) -> tuple[str, str]:
    scenario = rh.get(summary, "scenario_name") or "PoliceTwin run"
    map_name = rh.get(summary, "map", "name") or getattr(network, "name", None)
    sha = rh.get(summary, "scenario_sha256")
    km = rh.num(rh.get(summary, "map", "street_km"))
    meta = [
        ("Map", rh.esc(map_name)),
        (
            "Map size",
            f"{rh.fmt_int(rh.get(summary, 'map', 'nodes'))} nodes, "
            f"{rh.fmt_int(rh.get(summary, 'map', 'edges'))} edges, "
            f"{rh.DASH if km is None else f'{km:,.1f}'} street km",
        ),
        ("Duration", rh.fmt_duration(rh.get(summary, "duration_s"))),
        ("Starts", html.escape(start_label(start))),
        ("Seed", rh.esc(rh.get(summary, "seed"))),
        ("Version", rh.esc(rh.get(summary, "version"))),
        ("Wall time", rh.fmt_seconds(rh.get(summary, "wall_s"))),
        ("Routing", rh.esc(rh.get(summary, "engine", "routing") or rh.DASH)),
        ("Peak memory", _megabytes(rh.get(summary, "engine", "peak_rss_mb"))),
        ("Scenario sha256", rh.esc(str(sha)[:12]) if sha else rh.DASH),
    ]
    spans = "".join(f"<span><b>{k}:</b> {v}</span>" for k, v in meta)
    title = f"PoliceTwin report: {scenario}"
    return html.escape(
        title
    ), f'<header><h1>{html.escape(title)}</h1><div class="meta">{spans}</div></header>'


def _priority_keys(summary: Mapping, incidents: pd.DataFrame) -> list[int]:
    keys: set[int] = set()
    for key in rh.get(summary, "priorities") or {}:
        try:
            keys.add(int(key))
        except (TypeError, ValueError):
            continue
    keys.update(int(p) for p in incidents["priority"].unique() if int(p) > 0)
    return sorted(keys)


def _kpi_section(summary: Mapping, incidents: pd.DataFrame, targets: Mapping[int, float]) -> str:
    prios = rh.get(summary, "priorities") or {}
    header = ["Priority", "Calls", "Served", "Mean response", "P50", "P90", "Target", "Within target",
              "Time to know", "Time to help"]  # fmt: skip
    rows = []
    for p in _priority_keys(summary, incidents):
        rec = prios.get(str(p), prios.get(p)) if isinstance(prios, Mapping) else None
        rec = rec if isinstance(rec, Mapping) else {}
        target = rec.get("target_s", targets.get(p))
        rows.append(
            [
                f"P{p}",
                rh.fmt_int(rec.get("count")),
                rh.fmt_int(rec.get("served")),
                rh.fmt_minutes(rec.get("response_mean_s")),
                rh.fmt_minutes(rec.get("response_p50_s")),
                rh.fmt_minutes(rec.get("response_p90_s")),
                rh.fmt_minutes(target),
                rh.fmt_share(rec.get("within_target")),
                rh.fmt_minutes(rec.get("time_to_know_mean_s")),
                rh.fmt_minutes(rec.get("time_to_help_mean_s")),
            ]
        )
    ov = rh.get(summary, "overall") or {}
    ov = ov if isinstance(ov, Mapping) else {}
    count = ov.get("count", rh.get(summary, "incidents", "count"))
    served = ov.get("served", rh.get(summary, "incidents", "served"))
    rows.append(
        [
            "All",
            rh.fmt_int(count),
            rh.fmt_int(served),
            rh.fmt_minutes(ov.get("response_mean_s")),
            rh.fmt_minutes(ov.get("response_p50_s")),
            rh.fmt_minutes(ov.get("response_p90_s")),
            rh.DASH,
            rh.fmt_share(ov.get("within_target")),
            rh.fmt_minutes(ov.get("time_to_know_mean_s")),
            rh.fmt_minutes(ov.get("time_to_help_mean_s")),
        ]
    )
    kpi = rh.table(header, rows, overall_last=True)

    units_rows = [
        ["Units", rh.fmt_int(rh.get(summary, "units", "count"))],
        ["Utilisation", rh.fmt_share(rh.get(summary, "units", "utilisation"))],
        ["Saturation index", rh.fmt_share(rh.get(summary, "units", "saturation_index"))],
        ["Mean wait for a unit", rh.fmt_seconds(rh.get(summary, "queue", "mean_wait_for_unit_s"))],
        ["Share of calls that wait for a unit", rh.fmt_share(rh.get(summary, "queue", "p_wait_for_unit"))],
        ["Max calls waiting at once", rh.fmt_int(rh.get(summary, "queue", "max_waiting"))],
        ["Mean wait for a call-taker", rh.fmt_seconds(rh.get(summary, "queue", "mean_wait_for_taker_s"))],
    ]
    stages = rh.get(summary, "stages_mean_s") or {}
    stage_rows = [
        [name.replace("_", " "), rh.fmt_seconds(stages.get(name) if isinstance(stages, Mapping) else None)]
        for name, _, _ in rt.STAGES
    ]
    return (
        "<section><h2>Key figures</h2>"
        '<p class="note">Response time = unit arrives on scene minus call received. '
        "Within target = share of served calls of that priority reached within its target. "
        "Time to know = call minus incident; time to help = unit on scene minus incident.</p>"
        f'<div class="tables"><div>{kpi}</div><div>{rh.table(["Units and queues", ""], units_rows)}</div>'
        f"<div>{rh.table(['Stage', 'Mean'], stage_rows)}</div></div></section>"
    )


def _figure_html(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def _duration(summary: Mapping, incidents: pd.DataFrame, units: pd.DataFrame) -> float:
    d = rh.num(rh.get(summary, "duration_s"))
    if d and d > 0:
        return d
    times = [incidents[c].to_numpy(float) for c in rt.TIME_COLUMNS]
    if units is not None and "t_end" in units:
        times.append(pd.to_numeric(units["t_end"], errors="coerce").to_numpy(float))
    flat = np.concatenate(times) if times else np.array([])
    flat = flat[np.isfinite(flat)]
    return float(flat.max()) if flat.size else 0.0


def render_report(
    *,
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    summary: dict,
    network: RoadNetwork,
    stations: list[dict],
    coverage: dict | None = None,
    event: dict | None = None,
) -> str:
    """The report page as one HTML string (see :func:`write_report`)."""
    summary = summary if isinstance(summary, Mapping) else {}
    start, start_problems = _run_start(summary)
    inc = rt.normalise_incidents(incidents)
    units = units if units is not None else pd.DataFrame()
    duration = _duration(summary, inc, units)
    targets = rt.priority_targets(inc, rh.get(summary, "priorities"))
    title, header = _header(summary, network, start)
    map_fig, map_note = rf.map_figure(
        network, inc, stations, max_segments=MAX_MAP_SEGMENTS, max_points=MAX_MAP_INCIDENTS, start=start
    )
    parts = [
        _warnings_section(_warning_lines(summary) + start_problems),
        _kpi_section(summary, inc, targets),
        command_section(summary),
        rh.section(
            "Response time against targets",
            _figure_html(rf.response_ecdf_figure(inc, targets), "fig-response"),
            "Dashed lines mark each priority's target; curves are over served calls "
            "(unserved calls are counted in the legend).",
        ),
        rh.section(
            "Stage breakdown",
            _figure_html(rf.stage_breakdown_figure(inc), "fig-stages"),
            "answer = call to answer, handling = answer to ready, queue = waiting for a unit, "
            "travel = dispatch to arrival, on scene = arrival to clear.",
        ),
        rh.section(
            "Demand and queue over the run",
            _figure_html(rf.calls_and_queue_figure(inc, duration, start=start), "fig-queue"),
            "Bars: calls received per clock hour (the first and last bars may cover only part of their "
            "hour). Line: most calls waiting for a unit at once (per bin).",
        ),
        rh.section(
            "Unit utilisation over the run",
            _figure_html(rf.utilisation_figure(units, duration, start=start), "fig-util"),
            "enroute + onscene = saturation index; + returning = utilisation (share of on-duty unit time).",
        ),
        rh.section("Map", _figure_html(map_fig, "fig-map"), f"Drawn: {map_note}. Hover a point for details."),
        _coverage_section(network, coverage),
        event_sections(event, summary, inc, clock_axis(start), _figure_html) if event else "",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f'<style>{_CSS}</style><script type="text/javascript" id="plotly-bundle">{get_plotlyjs()}</script>'
        f"</head><body>{header}<main>{''.join(parts)}</main></body></html>\n"
    )


def _coverage_section(network, coverage: dict | None) -> str:
    """Streets reachable within the standard from where units wait (empty without coverage data)."""
    if not coverage:
        return ""
    from policetwin.sim.coverage import coverage_figure

    sources = coverage["sources"]
    fig = coverage_figure(network, coverage["times_s"], standard_s=coverage["standard_s"],
                          sources_lonlat=[(s["lon"], s["lat"]) for s in sources],
                          source_names=[s["name"] for s in sources], weights=coverage.get("weights"))  # fmt: skip
    return rh.section(
        f"Coverage within {rh.fmt_minutes(coverage['standard_s'])}",
        _figure_html(fig, "fig-coverage"),
        "Streets by travel time from the nearest station or post (free-flow driving; units that are busy "
        "elsewhere do not cover anything). Export them with: policetwin maps coverage SCENARIO --out file.gpkg",
    )


def write_report(
    path: Path,
    *,
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    summary: dict,
    network: RoadNetwork,
    stations: list[dict],
    coverage: dict | None = None,
    event: dict | None = None,
) -> None:
    """Write one self-contained, offline HTML report of a run to ``path`` (atomically).

    ``incidents`` / ``units`` follow the engine's output tables, ``summary`` the run summary dict
    (missing keys show as "-"; ``start`` gives the time axes clock times, Monday 00:00 when absent;
    ``warnings`` lists lines shown near the top), ``network`` needs ``lon``, ``lat``, ``edge_u``, ``edge_v``
    (and ``highway`` to thin big maps), ``stations`` dicts with ``name``, ``lon``, ``lat``; ``coverage``
    (optional): ``times_s`` per node from the nearest source, ``standard_s``, ``sources`` (name, lon, lat)
    and ``weights`` (demand per node) for the coverage map; ``event`` (optional): what the event
    sections draw (:meth:`policetwin.sim.event_glue.EventGlue.report_data`).
    """
    page = render_report(
        incidents=incidents,
        units=units,
        summary=summary,
        network=network,
        stations=stations,
        coverage=coverage,
        event=event,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
