"""The ``init`` command (registered in :mod:`policetwin.cli`; it uses the CLI's consoles and error handling:
bad input exits 2 with a one-line message, internal errors 1). Heavy modules are imported when it runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def init_command(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="A bundled city (coquimbo, helsinki), an .osm/.osm.pbf/.graphml file, or a place name "
            "('La Serena, Chile'; needs internet).",
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="Scenario file to write.")] = Path(
        "scenarios/mycity.yaml"
    ),
    units: Annotated[
        int | None, typer.Option("--units", metavar="N", min=1, help="Units (default: the suggestion).")
    ] = None,
    stations: Annotated[
        Path | None,
        typer.Option(
            "--stations", metavar="FILE", help="Stations: GeoJSON/GeoPackage points or CSV lon,lat."
        ),
    ] = None,
    incidents: Annotated[
        Path | None,
        typer.Option(
            "--incidents", metavar="CSV", help="Past incidents (lon, lat[, date, hour]) for hotspots."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="Scenario name.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
) -> None:
    """Write a runnable, commented scenario for a city: network check, stations (OSM amenity=police, a
    file, or placed by p-median), a demand surface from the map's points of interest (or --incidents),
    a default hour-of-week profile and a suggested unit count, with the reasoning and a city summary."""
    from policetwin import cli

    def action() -> None:
        from policetwin.cityinit.plan import plan_city
        from policetwin.cityinit.writer import write_scenario
        from policetwin.outputs import check_file_target

        started = time.perf_counter()
        check_file_target(out_file, overwrite=overwrite)  # before any work
        plan = plan_city(source, units=units, stations_file=stations, incidents_file=incidents, name=name)
        target, warnings = write_scenario(plan, out_file, overwrite=overwrite)
        cli._print_warnings(warnings)
        cli.out.print(summary_table(plan))
        cli.out.print(f"stations: {plan.station_origin}")
        cli.out.print(f"demand: {plan.demand.surface}")
        for note in plan.notes:
            cli.out.print(f"note: {note}")
        cli.out.print("units, reasoning:")
        for line in plan.reasoning:
            cli.out.print(f"  - {line}")
        cli.out.print("ASSUMPTIONS to replace with local figures: the call rate, the hour-of-week profile "
                      "(unless fitted), the incident kinds and their on-scene times.")  # fmt: skip
        cli.out.print(
            f"wrote {target} in {time.perf_counter() - started:.1f}s: run it with  policetwin run {target}"
        )

    cli._guard(action)


def summary_table(plan):
    """The city summary: area, streets, nodes, what was dropped, stations, demand within 8 minutes."""
    from rich.table import Table

    s = plan.summary
    table = Table(title=f"city {s['city']}", show_header=False)
    dropped = s["nodes_dropped_not_strongly_connected"]
    rows = [
        ("source", s["source"]),
        ("area (convex hull of roads)", f"{s['area_km2']:,} km²"),
        ("streets", f"{s['street_km']:,} km"),
        ("road nodes / edges", f"{s['nodes']:,} / {s['edges']:,}"),
        (
            "dropped",
            f"{dropped:,} nodes not in the largest strongly connected part (one-way traps, islands); "
            f"{s['edges_dropped']:,} edges to missing nodes or loops",
        ),
        ("stations", str(s["stations"])),
        ("demand within 8 min of a station", f"{100 * s['demand_within_8min']:.1f}%"),
        ("units", str(s["units"])),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table
