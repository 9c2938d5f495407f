"""The ``sweep``, ``query`` and ``report`` commands (registered in :mod:`policetwin.cli`; they use its
consoles and its error handling: bad input exits 2 with ``file:line`` messages, internal errors 1)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer


def _cli():
    from policetwin import cli  # imported when a command runs (cli imports this module)

    return cli


def sweep_command(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY.yaml", help="The study file.")],
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", help="Sweep directory to write.")],
    workers: Annotated[
        int | None,
        typer.Option("--workers", metavar="N", min=1, help="Local worker processes (default: the cores)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this Dask scheduler's workers."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a killed or interrupted sweep in DIR.")
    ] = False,
    keep_runs: Annotated[
        bool, typer.Option("--keep-runs", help="Also write every run's directory (DIR/runs/RUN_ID).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a study: every arm x replication, with common random numbers, on local processes or Dask.

    Writes runs.parquet (one row per run, saved as runs finish), study.yaml (resolved), manifest.json
    and report.html. The study is checked whole before any run (exit 2 with file:line problems).
    """
    cli = _cli()

    def action() -> None:
        from policetwin.experiments.study import load_study
        from policetwin.experiments.study_check import check_study
        from policetwin.experiments.sweep import run_sweep
        from policetwin.experiments.sweep_pools import check_scheduler
        from policetwin.experiments.sweep_report import write_sweep_report
        from policetwin.experiments.sweep_store import check_sweep_target

        study = load_study(study_file)
        target = check_sweep_target(out_dir, resume=resume, study_sha256=study.sha256())
        if scheduler:
            check_scheduler(scheduler)
        networks = check_study(study)
        bar = _progress_bar(cli.err) if not quiet else None
        task: list = []

        def progress(done: int, total: int, failed: int) -> None:
            if bar is None:
                return
            if not task:
                bar.start()
                task.append(bar.add_task("sweep", total=total, failed=""))
            bar.update(task[0], completed=done, total=total, failed=f"{failed} failed" if failed else "")

        try:
            outcome = run_sweep(
                study,
                target,
                networks=networks,
                workers=workers,
                scheduler=scheduler,
                resume=resume,
                keep_runs=keep_runs,
                progress=progress,
            )
        except KeyboardInterrupt as exc:
            signal_name, code = ("SIGTERM", 143) if isinstance(exc, cli.Terminated) else ("Ctrl-C", 130)
            cli._fail(
                f"interrupted ({signal_name}): finished runs are in {target / 'runs.parquet'}; "
                f"continue with --resume",
                code,
            )
        finally:
            if bar is not None:
                bar.stop()
        report = write_sweep_report(target)
        cli.out.print(_arm_summary(target))
        per_run = (
            ""
            if outcome.sim_s is None
            else (f"; per run: simulation {outcome.sim_s:.2f} s, overhead {outcome.overhead_s:.2f} s")
        )
        reused = f" (+{outcome.reused} from before)" if outcome.reused else ""
        cli.out.print(
            f"{outcome.ran} runs{reused}, {outcome.failed} failed, in {outcome.wall_s:.1f} s on "
            f"{outcome.workers} workers{per_run}"
        )
        cli.out.print(f"sweep directory: {target}  (open {report})")

    cli._guard(action)


def _progress_bar(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs {task.fields[failed]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _arm_summary(out_dir: Path):
    """The arm table printed after a sweep: factor values and each KPI's mean ± 95% CI half-width."""
    from rich.table import Table

    from policetwin.experiments.sweep_report import read_sweep
    from policetwin.experiments.sweep_stats import arm_table

    runs, study, _ = read_sweep(out_dir)
    frame = arm_table(runs, study)
    factors = [f["column"] for f in study["factors"]]
    table = Table(title=f"sweep {study['name']}: mean ± 95% CI over replications")
    for col in ["arm", *factors, "runs", *study["kpis"]]:
        table.add_column(col, justify="right")
    for _, r in frame.iterrows():
        cells = [str(int(r["arm"])) + (" *" if r["arm"] == study.get("baseline_arm") else "")]
        cells += [str(r[c]) for c in factors] + [str(int(r["n"]))]
        for k in study["kpis"]:
            mean, hw = r[k], r[f"{k}_hw"]
            ok = mean is not None and not (isinstance(mean, float) and math.isnan(mean))
            digits = 3 if ok and abs(mean) < 10 else 1
            cells.append(
                "-"
                if not ok
                else f"{mean:.{digits}f}"
                + ("" if hw is None or (isinstance(hw, float) and math.isnan(hw)) else f" ± {hw:.{digits}f}")
            )
        table.add_row(*cells)
    if study.get("baseline_arm") is not None:
        table.caption = "* baseline; differences to it (paired under common seeds) are in report.html"
    return table


def query_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A sweep or run directory.")],
    sql: Annotated[str, typer.Argument(metavar="SQL", help='DuckDB SQL, e.g. "select count(*) from runs".')],
    fmt: Annotated[str, typer.Option("--format", metavar="table|csv|json", help="Output format.")] = "table",
) -> None:
    """DuckDB SQL over a sweep's runs (table runs, and arms) or a run's tables (incidents, units,
    assignments, nodes, roads, trips, ...). SQL that DuckDB rejects: exit 2 with its message."""
    cli = _cli()

    def action() -> None:
        from rich.table import Table

        from policetwin.experiments.query import QueryError, run_query

        if fmt not in ("table", "csv", "json"):
            raise QueryError(f"--format: table, csv or json (got {fmt!r})")
        started = time.perf_counter()
        frame = run_query(directory, sql)
        if fmt == "csv":
            typer.echo(frame.to_csv(index=False), nl=False)
        elif fmt == "json":
            typer.echo(frame.to_json(orient="records", date_format="iso"))
        else:
            table = Table(caption=f"{len(frame)} rows in {time.perf_counter() - started:.2f} s")
            for col in frame.columns:
                table.add_column(str(col), justify="right")
            for row in frame.itertuples(index=False):
                table.add_row(
                    *(
                        "NULL"
                        if v is None or (isinstance(v, float) and math.isnan(v))
                        else f"{v:.6g}"
                        if isinstance(v, float)
                        else str(v)
                        for v in row
                    )
                )
            cli.out.print(table)

    cli._guard(action)


def report_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A sweep or run directory.")],
) -> None:
    """(Re)build report.html of a sweep directory (from runs.parquet and study.yaml) or of a run directory
    (from its Parquet logs, summary.json and scenario.yaml; nothing is simulated again)."""
    cli = _cli()

    def action() -> None:
        from policetwin.errors import PoliceTwinError
        from policetwin.experiments.run_report import rebuild_run_report
        from policetwin.experiments.sweep_report import write_sweep_report
        from policetwin.experiments.sweep_store import is_sweep_dir

        if is_sweep_dir(directory):
            cli.out.print(f"wrote {write_sweep_report(directory)}")
        elif (directory / "summary.json").is_file():
            path, notes = rebuild_run_report(directory)
            for note in notes:
                cli.err.print(f"note: {note}", style="yellow")
            cli.out.print(f"wrote {path}")
        else:
            raise PoliceTwinError(
                f"{directory}: not a sweep directory, nor a run directory (no summary.json)"
            )

    cli._guard(action)
