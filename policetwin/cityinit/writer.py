"""Write ``init``'s plan as a commented scenario, check it like ``policetwin validate`` does, and save it.

Every block says where its values came from, and which are starting assumptions to replace with local
figures. The text is validated (schema and map checks) before it is written, atomically and only with
``--overwrite`` over an existing file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from policetwin.cityinit.demand import CALLS_PER_HOUR_PER_KM
from policetwin.cityinit.plan import STANDARD_S, CityPlan
from policetwin.errors import PoliceTwinError, ScenarioError


def _flow(value: object) -> str:
    """A value in YAML flow style (JSON is valid YAML; strings that YAML would misread are quoted)."""
    if isinstance(value, dict):
        return _mapping(value)
    return json.dumps(value, ensure_ascii=False)


def _mapping(items: dict) -> str:
    return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in items.items()) + "}"


def scenario_text(plan: CityPlan) -> str:
    """The scenario YAML with comments."""
    data = plan.scenario_data()
    s, d = plan.summary, plan.demand
    lines = [
        f"# {plan.name}: a starting scenario written by `policetwin init` — check every ASSUMPTION below.",
        f"# Map: {plan.network.source}; {s['nodes']:,} nodes, {s['street_km']:,} km of streets, ~{s['area_km2']:,} km² "
        f"(largest strongly connected part; {s['nodes_dropped_not_strongly_connected']:,} nodes dropped).",
        "# Road data (c) OpenStreetMap contributors, ODbL.",
        f"name: {_flow(data['name'])}",
        "seed: 42",
        "duration: 24h",
        f"map: {_flow(data['map'])}",
        f"# Stations {plan.station_origin}.",
        "stations:",
        *[f"  - {_mapping(st)}" for st in data["stations"]],
        "# Units: suggested by `init` (see its printed reasoning); spread evenly over the stations.",
        f"units: {{count: {data['units']['count']}}}",
        "demand:",
        f"  # ASSUMPTION: {CALLS_PER_HOUR_PER_KM:g} calls per hour per street km; replace with the city's own rate.",
        f"  rate_per_hour: {d.rate_per_hour:g}",
    ]
    if d.profile == "default":
        lines += ["  # ASSUMPTION: the default hour-of-week profile (trough before dawn, evening peak, Fri/Sat",
                  "  # nights x1.3); replace with 24 or 168 multipliers from local calls.",
                  "  profile: default"]  # fmt: skip
    else:
        lines += ["  # Hour-of-week profile fitted from --incidents (168 multipliers, Monday 00:00 first).",
                  f"  profile: {_flow(d.profile)}"]  # fmt: skip
    lines += [f"  # Where calls happen: {d.surface}.", f"  background_weight: {d.background_weight:g}"]
    if d.hotspots:
        lines += ["  hotspots:", *[f"    - {_mapping(h)}" for h in d.hotspots]]
    lines += ["  # ASSUMPTION: kinds, shares, on-scene times and targets as in the bundled Coquimbo scenario.",
              "  kinds:", *[f"    - {_mapping(k)}" for k in data["demand"]["kinds"]],
              "call_handling:", f"  takers: {plan.takers}  # Erlang C at the peak hour: P(wait) <= 10%",
              f"  handling: {_mapping(data['call_handling']['handling'])}",
              "dispatch:", "  policy: nearest",
              "travel:", "  mode: network", "  speed_factor: 1.0  # free-flow speeds from maxspeed or road class",
              f"# Summary: {s['demand_within_8min']:.1%} of demand lies within {STANDARD_S / 60:g} min of a station."]  # fmt: skip
    return "\n".join(lines) + "\n"


def check_text(text: str, plan: CityPlan, *, filename: str) -> list[str]:
    """Validate the text like ``policetwin validate``: schema, then the map checks; returns the warnings."""
    from policetwin.maps import Snapper
    from policetwin.scenarios import scenario_from_text
    from policetwin.sim.checks import check_on_map

    sc = scenario_from_text(text, filename)
    check = check_on_map(sc, plan.network, Snapper(plan.network), filename=filename)
    if check.problems:
        raise ScenarioError(check.problems)
    return list(check.warnings)


def write_scenario(plan: CityPlan, out_file: Path, *, overwrite: bool = False) -> tuple[Path, list[str]]:
    """Validate and write the scenario (atomically; refusing an existing file without ``overwrite``)."""
    from policetwin.outputs import check_file_target, output_lock

    target = check_file_target(out_file, overwrite=overwrite)
    text = scenario_text(plan)
    try:
        warnings = check_text(text, plan, filename=str(target))
    except ScenarioError as exc:  # our own output must validate: a bug, reported with its lines
        raise PoliceTwinError("the written scenario does not validate: " + "; ".join(exc.problems)) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(target):
        check_file_target(target, overwrite=overwrite)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return target, warnings
