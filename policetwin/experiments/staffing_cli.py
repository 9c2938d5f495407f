"""The ``optimize staffing`` command (registered in :mod:`policetwin.cli` beside ``optimize posts``; it uses
the CLI's consoles and error handling: bad input exits 2 with a one-line message, internal errors 1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def staffing_command(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help="Scenario file or bundled name.")],
    target: Annotated[
        str,
        typer.Option(
            "--target", metavar='"priority P: S% within T"', help='e.g. "priority 1: 90% within 10min".'
        ),
    ],
    per: Annotated[
        str, typer.Option("--per", metavar="shift|hour", help="Staff each shift or clock hour.")
    ] = "shift",
    replications: Annotated[
        int, typer.Option("--replications", metavar="N", min=1, help="Simulated replications per plan.")
    ] = 5,
    workers: Annotated[
        int | None,
        typer.Option("--workers", metavar="N", min=1, help="Local worker processes (default: the cores)."),
    ] = None,
    max_units: Annotated[
        int, typer.Option("--max-units", metavar="N", min=1, help="Most units the search tries per period.")
    ] = 500,
    out_file: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write the scenario with the plan.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Fewest units per shift (or hour) meeting a compliance target: an Erlang C start per period, then
    simulation with replications and common random numbers; prints the plan, its unit-hours and the
    simulated compliance with its 95% CI, and writes a scenario with the plan (--out)."""
    from policetwin import cli

    def action() -> None:
        from policetwin.experiments.staffing import parse_target
        from policetwin.experiments.staffing_search import optimize_staffing
        from policetwin.outputs import check_file_target, output_lock
        from policetwin.scenarios import load_scenario, resolve_scenario_path
        from policetwin.sim.run import load_scenario_map

        dest = check_file_target(out_file, overwrite=overwrite) if out_file is not None else None
        path = resolve_scenario_path(scenario)
        sc = load_scenario(path)
        goal = parse_target(target, sc)
        if per not in ("shift", "hour"):
            from policetwin.experiments.staffing import StaffingError

            raise StaffingError(f"--per {per!r}: use shift or hour")
        network = load_scenario_map(sc, filename=str(path), base_dir=path.parent)
        result = optimize_staffing(sc, network=network, target=goal, per=per, replications=replications,
                                   filename=str(path), workers=workers, max_units=max_units,
                                   progress=None if quiet else lambda line: cli.err.print(line))  # fmt: skip
        cli.out.print(staffing_table(result))
        mean, half = result.evaluation.overall_ci()
        hw = "" if half is None else f" ± {100 * half:.1f} pp"
        cli.out.print(
            f"unit-hours per day: {result.unit_hours:g} (the scenario: {result.unit_hours_before:g}); "
            f"priority {goal.priority} within {goal.label().split('within ')[1]}: "
            f"{'-' if mean is None else f'{100 * mean:.1f}%'}{hw} (95% CI over {result.replications} "
            f"replications, common random numbers); {result.simulations} simulations"
        )
        if not result.met:
            from policetwin.experiments.staffing import StaffingError

            raise StaffingError(
                f"target not met: {result.failure} (last plan tried: {result.counts}); nothing written"
            )
        if dest is not None:
            import yaml

            text = (f"# {sc.name} staffed per {per} for {goal.label()}: {result.counts} units "
                    f"({result.unit_hours:g} unit-hours per day)\n")  # fmt: skip
            text += yaml.safe_dump(result.scenario, sort_keys=False, allow_unicode=True)
            with output_lock(dest):
                check_file_target(dest, overwrite=overwrite)
                tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, dest)
            cli.out.print(f"wrote {dest}: run it with  policetwin run {dest}")

    cli._guard(action)


def staffing_table(result):
    """The plan per period: the queueing start, the units found, unit-hours, simulated compliance ± CI."""
    from rich.table import Table

    t = result.target
    table = Table(title=f"staffing per {result.per} for {t.label()} ({result.replications} replications)")
    for col in ("period", "jobs/h", "load", "Erlang C", "units", "unit-h", "within", "95% CI"):
        table.add_column(col, justify="right")
    ev = result.evaluation
    for p, (period, load) in enumerate(zip(result.periods, result.loads, strict=True)):
        _, half = ev.period_ci(p)
        approx = result.approx[p]
        table.add_row(
            period.label,
            f"{3600 * load.rate_s:.2f}",
            f"{load.offered:.2f}",
            "-" if approx is None else str(approx),
            str(result.counts[p]),
            f"{result.counts[p] * period.hours:g}",
            f"{100 * ev.period_share(p):.1f}%",
            "-" if half is None else f"±{100 * half:.1f}pp",
        )
    table.caption = ("jobs/h: unit jobs per hour; load: offered load (Erlangs); Erlang C: the queueing start; "
                     "within: pooled over replications (served calls, by call time); CI: Student t over "
                     "replications")  # fmt: skip
    return table
