"""The Run page's event parameters — attendees, the lanes of a gate, an evacuation time — offered when the
chosen scenario has an ``event:`` block, and the ``--set`` assignments they make."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dash import dcc, html

from policetwin.dashboard.i18n import t
from policetwin.errors import ScenarioError

MAX_ATTENDEES = 10_000_000
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def event_facts(scenario: str | Path | None) -> dict | None:
    """The event of a bundled or uploaded scenario (attendees, gates with lanes, interventions as plain
    data), or None without one (or if it cannot be read)."""
    if scenario is None:
        return None
    from policetwin.scenarios import load_scenario

    try:
        event = load_scenario(scenario).event
    except ScenarioError:
        return None
    if event is None:
        return None
    return {
        "name": event.name,
        "attendees": event.attendees.total,
        "gates": [{"name": g.name, "ring": g.ring, "lanes": g.lanes} for g in event.gates],
        "interventions": [i.model_dump(mode="json", exclude_none=True) for i in event.interventions],
        "start": str(event.start),
        "end": str(event.end),
    }


def check(
    attendees: object, gate: object, lanes: object, evacuate: object, facts: dict
) -> list[tuple[str, str]]:
    """Problems with the typed-in event parameters as (field key, problem key)."""
    problems = []
    if attendees not in (None, "") and not (
        isinstance(attendees, int | float)
        and 1 <= attendees <= MAX_ATTENDEES
        and float(attendees).is_integer()
    ):
        problems.append(("ev.run_attendees", "ev.run_bad_attendees"))
    if lanes not in (None, ""):
        names = [g["name"] for g in facts.get("gates") or []]
        if gate not in names:
            problems.append(("ev.run_gate", "ev.run_choose_gate"))
        if not (isinstance(lanes, int | float) and 1 <= lanes <= 100 and float(lanes).is_integer()):
            problems.append(("ev.run_lanes", "ev.run_bad_lanes"))
    if evacuate not in (None, "") and not _CLOCK.fullmatch(str(evacuate).strip()):
        problems.append(("ev.run_evacuate", "ev.run_bad_clock"))
    return problems


def overrides(attendees: object, gate: object, lanes: object, evacuate: object, facts: dict) -> list[str]:
    """``--set`` assignments: ``event.attendees.total``, ``event.gates.<i>.lanes`` and the evacuation (the
    scenario's interventions with any evacuation replaced by one at the given clock time). Check first."""
    out: list[str] = []
    if attendees not in (None, ""):
        out.append(f"event.attendees.total={int(attendees)}")  # type: ignore[arg-type]
    if lanes not in (None, ""):
        names = [g["name"] for g in facts["gates"]]
        out.append(f"event.gates.{names.index(gate)}.lanes={int(lanes)}")  # type: ignore[arg-type]
    if evacuate not in (None, ""):
        m = _CLOCK.fullmatch(str(evacuate).strip())
        assert m is not None
        steps = [s for s in facts.get("interventions") or [] if s.get("action") != "evacuate"]
        steps.append({"at": f"{int(m[1]):02d}:{m[2]}", "action": "evacuate"})
        out.append("event.interventions=" + json.dumps(steps, separators=(",", ":")))
    return out


def gate_options(facts: dict | None, lang: str) -> list[dict]:
    """The gates of the event (name, ring and lanes) for the gate dropdown."""
    return [{"label": t("ev.run_gate_option", lang, name=g["name"], ring=g["ring"], lanes=g["lanes"]),
             "value": g["name"]} for g in (facts or {}).get("gates") or []]  # fmt: skip


def hint(facts: dict | None, lang: str) -> str:
    """What the scenario's event has now (shown under the fields)."""
    if not facts:
        return ""
    evac = [s["at"] for s in facts.get("interventions") or [] if s.get("action") == "evacuate"]
    return t("ev.run_hint", lang, name=facts["name"], attendees=f"{facts['attendees']:,}", start=facts["start"],
             end=facts["end"], evacuate=", ".join(str(e) for e in evac) or t("ev.run_no_evacuation", lang))  # fmt: skip


def params_box(facts: dict | None, lang: str, dropdown_labels: dict) -> html.Div:
    """The event fields (hidden when the scenario has no event)."""

    def field(label_key: str, component) -> html.Div:
        return html.Div(
            [html.Label(t(label_key, lang), htmlFor=component.id), component], className="pt-field"
        )

    as_scenario = t("run.as_scenario", lang)
    return html.Div(
        [
            html.H4(t("ev.run_params", lang)),
            html.Div([
                field("ev.run_attendees", dcc.Input(id="run-ev-attendees", type="number", min=1, step=1,
                                                    debounce=True, placeholder=as_scenario)),
                field("ev.run_gate", dcc.Dropdown(id="run-ev-gate", labels=dropdown_labels, placeholder=as_scenario,
                                                  options=gate_options(facts, lang))),
                field("ev.run_lanes", dcc.Input(id="run-ev-lanes", type="number", min=1, max=100, step=1,
                                                debounce=True, placeholder=as_scenario)),
                field("ev.run_evacuate", dcc.Input(id="run-ev-evacuate", type="text", debounce=True,
                                                   placeholder=t("ev.run_clock_placeholder", lang))),
            ], className="pt-params"),
            html.Div(hint(facts, lang), id="run-ev-hint", className="pt-hint"),
        ],
        id="run-event", style={} if facts else {"display": "none"},
    )  # fmt: skip
