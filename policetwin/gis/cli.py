"""The ``export`` command (registered in :mod:`policetwin.cli`; it uses the CLI's consoles and error
handling: a bad run directory or output exits 2 with a one-line message). Heavy modules load when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_command(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory (policetwin run).")],
    fmt: Annotated[
        str, typer.Option("--format", metavar="gpkg|geojson", help="GeoPackage or GeoJSON.")
    ] = "gpkg",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="PATH",
            help="gpkg: the file (default RUN_DIR.gpkg beside the run); geojson: a folder, one file per "
            "layer (default RUN_DIR-geojson/).",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Export a run as GIS layers for QGIS/ArcGIS: incidents (points with stage times), unit trips (lines),
    stations, posts, districts and coverage areas (WGS84)."""
    from policetwin import cli

    def action() -> None:
        from policetwin.gis.export import (
            FORMATS,
            ExportError,
            build_export,
            default_out,
            layer_rows,
            write_export,
        )

        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt!r}: use gpkg or geojson")
        target = out or default_out(run_dir, fmt)
        if target.exists() and not overwrite:  # before reading the run
            raise ExportError(f"--out {target}: exists; add --overwrite to replace it")
        export = build_export(run_dir)
        written = write_export(export, target, fmt=fmt, overwrite=overwrite)
        rows = ", ".join(f"{name} {n:,}" for name, n in layer_rows(export).items())
        for note in export.notes:
            cli.out.print(f"note: {note}")
        where = written[0] if fmt == "gpkg" else target
        cli.out.print(f"wrote {where} ({fmt}, {len(export.layers)} layers, WGS84): {rows}")

    cli._guard(action)
