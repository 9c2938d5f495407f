"""The report's "Sense, command and dispatch" section: how calls ended (outcomes), who detected the
incidents, what the dispatch policy did (pre-emptions, backup, units sent out of their district) and
how busy each district's units were."""

from __future__ import annotations

from collections.abc import Mapping

from policetwin.sim import report_html as rh


def _shares_table(title: str, block: Mapping | None) -> str:
    if not isinstance(block, Mapping) or not block:
        return ""
    rows = [
        [rh.esc(name), rh.fmt_int(rh.get(v, "count")), rh.fmt_share(rh.get(v, "share"))]
        for name, v in block.items()
    ]
    return rh.table([title, "Calls", "Share"], rows)


def command_section(summary: Mapping) -> str:
    """The section's HTML (empty when the summary has none of these figures, e.g. an older run)."""
    dispatch = rh.get(summary, "dispatch")
    parts = [_shares_table("Outcome", rh.get(summary, "outcomes")),
             _shares_table("Detected by", rh.get(summary, "detected_by"))]  # fmt: skip
    if isinstance(dispatch, Mapping):
        figures = [
            ["Policy", rh.esc(dispatch.get("policy"))],
            ["Units sent", rh.fmt_int(dispatch.get("units_sent"))],
            ["Pre-emptions", rh.fmt_int(dispatch.get("preemptions"))],
            ["Backup units requested", rh.fmt_int(dispatch.get("backup_units_requested"))],
            ["Sent outside their district", rh.fmt_share(dispatch.get("out_of_district_share"))],
            ["Mutual aid", rh.fmt_share(dispatch.get("mutual_aid_share"))],
        ]
        parts.append(rh.table(["Dispatch", ""], figures))
        districts = dispatch.get("districts")
        if isinstance(districts, Mapping) and districts:
            rows = [[rh.esc(name), rh.fmt_int(rh.get(d, "units")), rh.fmt_int(rh.get(d, "calls")),
                     rh.fmt_share(rh.get(d, "saturation_index"))] for name, d in districts.items()]  # fmt: skip
            parts.append(rh.table(["District", "Units", "Calls", "Saturation index"], rows))
    groups = rh.get(summary, "groups")
    if isinstance(groups, Mapping) and groups:
        rows = [[rh.esc(name), rh.fmt_int(rh.get(g, "count")), rh.fmt_share(rh.get(g, "utilisation")),
                 rh.fmt_share(rh.get(g, "saturation_index")), rh.fmt_duration(rh.get(g, "meal_break_s")),
                 rh.fmt_duration(rh.get(g, "self_initiated_s")), rh.fmt_duration(rh.get(g, "overtime_s")),
                 rh.fmt_share(rh.get(g, "patrol", "coverage_mean"))]
                for name, g in groups.items()]  # fmt: skip
        parts.append(rh.table(["Group", "Units", "Utilisation", "Saturation index", "Meal breaks",
                               "Officer-initiated", "Overtime", "Patrol coverage"], rows))  # fmt: skip
        shifts = [[rh.esc(name), rh.esc(window), rh.fmt_share(rh.get(figures, "saturation_index")),
                   rh.fmt_share(rh.get(g, "patrol", "shifts", window, "coverage_mean"))]
                  for name, g in groups.items() if isinstance(rh.get(g, "shifts"), Mapping)
                  for window, figures in g["shifts"].items()]  # fmt: skip
        if shifts:
            parts.append(rh.table(["Group", "Shift", "Saturation index", "Patrol coverage"], shifts))
    body = "".join(p for p in parts if p)
    if not body:
        return ""
    note = ("Outcomes: served (units sent), phone (resolved at triage), duplicate (a further call about a known "
            "incident), abandoned (the caller hung up before a call-taker answered). Saturation index: share of "
            "the district's unit time spent en route or on scene (the \"Rule of 60\" keeps it under ~60%). Meal "
            "breaks and officer-initiated work are on-duty time when units are not available for calls. Patrol "
            "coverage: the share of the beat's street length a group's patrols drove along in a shift.")  # fmt: skip
    return rh.section("Sense, command and dispatch", f'<div class="tables">{body}</div>', note)
