"""The ``verify`` command (registered in :mod:`policetwin.cli`): the twin's own checks against theory,
printed as one table and written to ``verify.html``. Exit 0: all pass; 1: a check failed (named on
stderr); 2: bad options. Heavy modules load when it runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def verify_command(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Shorter runs (under 2 min on 2 cores); tolerances follow the SEs."),
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", metavar="PATH", help="The HTML page to write (self-contained).")
    ] = Path("verify.html"),
    only: Annotated[
        str | None,
        typer.Option(
            "--only", metavar="KEYS", help="Comma-separated checks to run (default: all), e.g. gates,hawkes."
        ),
    ] = None,
) -> None:
    """Check the twin against theory: Erlang C, hypercube, square-root law, Weidmann, RiMEA 1, bottleneck,
    gate M/M/c and Hawkes recovery; print figure, theory, simulated, 95% CI, tolerance, pass/fail."""
    from policetwin import cli
    from policetwin.verify.runner import TITLES

    keys = None
    if only is not None:
        keys = [k.strip() for k in only.split(",") if k.strip()]
        unknown = [k for k in keys if k not in TITLES]
        if unknown or not keys:
            cli._fail(f"error: --only {only!r}: unknown check(s) {', '.join(unknown) or '(none given)'}; "
                      f"choose from {', '.join(TITLES)}")  # fmt: skip
    if out.exists() and out.is_dir():
        cli._fail(f"error: --out {out}: is a directory; give a file name such as verify.html")
    if not out.parent.exists():
        cli._fail(f"error: --out {out}: folder {out.parent} does not exist")
    failed: list = []

    def action() -> None:
        from rich.console import Console

        from policetwin.verify.report import console_table, write_verify_html
        from policetwin.verify.runner import run_checks

        mode = "quick" if quick else "full"
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        results = run_checks(
            quick=quick,
            only=keys,
            on_start=lambda key: cli.err.print(f"verify: {TITLES[key]} ..."),
            on_done=lambda r: cli.err.print(
                f"verify: {r.title}: {'pass' if r.passed else 'FAIL'} ({r.wall_s:.1f} s)"
            ),
        )
        console = cli.out
        if not console.is_terminal:  # pipes and logs: wide rows instead of rich's 80-column wrapping
            console = Console(file=cli.out.file, width=150, markup=False, emoji=False, highlight=False)
        console.print(console_table(results, mode=mode))
        path = write_verify_html(out, results, mode=mode, load_avg=load)
        cli.out.print(f"wrote {path}")
        failed.extend(r for r in results if not r.passed)

    cli._guard(action)
    if failed:
        for r in failed:
            what = r.error or ", ".join(r.failed_figures)
            cli.err.print(f"verify: FAILED {r.key} ({r.title}): {what}")
        raise typer.Exit(1)
