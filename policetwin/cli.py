"""The ``policetwin`` command line: run, validate, maps. Exit codes: 0 ok, 2 bad input, 1 internal error."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from policetwin import __version__
from policetwin.cityinit.cli import init_command
from policetwin.dashboard.cli import dashboard as dashboard_command
from policetwin.demandfit.calibrate_cli import calibrate_command
from policetwin.demandfit.cli import demand_app
from policetwin.durations import format_duration
from policetwin.errors import MapError, PoliceTwinError, ScenarioError
from policetwin.experiments.staffing_cli import staffing_command
from policetwin.experiments.sweep_cli import query_command, report_command, sweep_command
from policetwin.gis.cli import export_command
from policetwin.verify.cli import verify_command

# rich_markup_mode=None: plain click help ("-q, --quiet  No progress bar."), not "--quiet <bool>"
app = typer.Typer(
    help="PoliceTwin: a digital twin of citywide policing on real road networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
optimize_app = typer.Typer(
    help="Deployment optimisation: posts and staffing.", no_args_is_help=True, rich_markup_mode=None
)
maps_app = typer.Typer(
    help="Road networks: inspect and import OSM data.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(maps_app, name="maps")
app.add_typer(optimize_app, name="optimize")
app.add_typer(demand_app, name="demand")
app.command("calibrate")(calibrate_command)
optimize_app.command("staffing")(staffing_command)
app.command("dashboard")(dashboard_command)
app.command("sweep")(sweep_command)
app.command("query")(query_command)
app.command("report")(report_command)
app.command("init")(init_command)
app.command("export")(export_command)
app.command("verify")(verify_command)
# names and paths are printed as written: no rich markup ("[old]"), emoji codes (":fire:") or highlighting
out = Console(soft_wrap=True, markup=False, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)
_state = {"debug": False}
_IMPORTED_AT = time.perf_counter()


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: nothing half-written is left, exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def command_wall_s() -> float:
    """Seconds since this process started (Linux ``/proc``; else since the CLI module was imported)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED_AT


def _fail(lines: list[str] | str, code: int = 2) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _guard(action):
    """Run ``action`` turning known errors into exit 2 and anything else into exit 1 (no traceback)."""
    try:
        return action()
    except ScenarioError as exc:
        from policetwin.scenarios import locate_problems

        _fail(locate_problems(exc.problems, _state.get("overrides") or ()))
    except PoliceTwinError as exc:
        _fail(f"error: {exc}")
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt as exc:
        signal_name, code = ("SIGTERM", 143) if isinstance(exc, Terminated) else ("Ctrl-C", 130)
        _fail(f"interrupted ({signal_name}): nothing was written", code)
    except Exception as exc:
        if _state["debug"]:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)


def _version(value: bool) -> None:
    if value:
        out.print(f"policetwin {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    """PoliceTwin command line."""
    _state["debug"] = debug


def default_run_name(scenario_name: str) -> str:
    """A directory name for ``runs/`` from a scenario name: one path component, never ``..`` or hidden."""
    name = re.sub(r"[^\w.-]+", "-", scenario_name).strip(".-")
    return name or "run"


def kpi_table(summary: dict, *, command_s: float | None = None) -> Table:
    """The KPI table printed after a run; its caption gives the command's wall time and the engine's."""
    table = Table(title=f"{summary['scenario_name']} — seed {summary['seed']} — {summary['map']['name']}")
    for col in ("priority", "calls", "served", "mean resp.", "p50", "p90", "target", "within target"):
        table.add_column(col, justify="right")

    def row(label: str, s: dict, target: float | None) -> list[str]:
        fmt = lambda v: "-" if v is None else format_duration(v)  # noqa: E731
        share = s.get("within_target")
        return [label, str(s["count"]), str(s["served"]), fmt(s.get("response_mean_s")),
                fmt(s.get("response_p50_s")), fmt(s.get("response_p90_s")), fmt(target),
                "-" if share is None else f"{100 * share:.1f}%"]  # fmt: skip

    for p, s in summary["priorities"].items():
        table.add_row(*row(f"P{p}", s, s.get("target_s")))
    table.add_row(*row("all", summary["overall"], None), style="bold")
    units, queue = summary["units"], summary["queue"]
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    table.caption = (
        f"units {units['count']} · utilisation {pct(units['utilisation'])} · saturation index "
        f"{pct(units['saturation_index'])} · P(wait for unit) {pct(queue['p_wait_for_unit'])} · "
        f"max waiting {queue['max_waiting']} · "
        + (f"wall {command_s:.1f}s (simulation {summary['wall_s']:.1f}s)" if command_s is not None
           else f"simulation {summary['wall_s']:.1f}s")
    )  # fmt: skip
    return table


@app.command()
def run(
    scenario: Annotated[
        str | None,
        typer.Argument(metavar="SCENARIO", help="Scenario file or bundled name (default: coquimbo)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Run directory to write (default: runs/<scenario name>)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", metavar="N", min=0, help="Random seed (default: the scenario's).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="PATH=VALUE", help="Override a scenario value, e.g. units.count=12 (repeatable)."
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Write into a directory that holds other files too (they are kept)."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    progress_file: Annotated[
        Path | None,
        typer.Option(
            "--progress-file",
            metavar="FILE",
            help='Also write the progress to FILE for programs: one JSON line per step, {"sim_t": '
            'seconds simulated, "duration_s": the scenario\'s duration, "calls": calls so far}.',
        ),
    ] = None,
) -> None:
    """Run a scenario, print its KPI table and write the run directory.

    The directory is checked (writable, not locked by another run, no foreign files unless
    --overwrite) before simulating, and written atomically.
    """

    def action() -> None:
        from policetwin.outputs import check_target, output_lock
        from policetwin.scenarios import load_scenario, locate_problems, resolve_scenario_path
        from policetwin.sim.run import write_run_dir

        _state["overrides"] = overrides or []
        path = resolve_scenario_path(scenario)
        sc = load_scenario(path, overrides or [])
        target = check_target(out_dir or Path("runs") / default_run_name(sc.name), overwrite=overwrite)
        network, check = _checked_map(sc, path, overrides or [])
        _print_warnings(check.warnings)
        with output_lock(target):
            result = _simulate(
                sc,
                seed=seed,
                network=network,
                path=path,
                check=check,
                quiet=quiet,
                progress_file=progress_file,
            )
            warnings = result.summary["warnings"]  # those found after the run follow the map check's
            warnings[len(check.warnings) :] = after = locate_problems(
                warnings[len(check.warnings) :], overrides or []
            )
            _print_warnings(after)
            write_run_dir(result, target, overwrite=overwrite)
        out.print(kpi_table(result.summary, command_s=command_wall_s()))
        out.print(f"run directory: {target}  (open {target / 'report.html'})" if sc.outputs.report else
                  f"run directory: {target}")  # fmt: skip

    _guard(action)


def _print_warnings(lines: list[str]) -> None:
    """Warnings on stderr: yellow, and bold red when queues would grow without bound."""
    for line in lines:
        err.print(line, style="bold red" if "without bound" in line else "yellow")


def _checked_map(sc, path: Path, overrides: list[str]):
    """The scenario's map and its map check (problems raised, warnings given their YAML lines)."""
    from policetwin.maps import Snapper
    from policetwin.scenarios import locate_problems
    from policetwin.sim.checks import check_dispatch, check_on_map
    from policetwin.sim.run import load_scenario_map

    network = load_scenario_map(sc, filename=str(path), base_dir=path.parent)
    check = check_on_map(sc, network, Snapper(network), filename=str(path))
    if check.problems:
        raise ScenarioError(check.problems)
    check_dispatch(sc, network, check, filename=str(path))
    check.warnings = locate_problems(check.warnings, overrides)
    return network, check


def _simulate(
    sc, *, seed: int | None, network, path: Path, check, quiet: bool, progress_file: Path | None = None
):
    """Simulate with a progress bar on stderr (unless ``quiet``) and progress lines in ``progress_file``."""
    from policetwin.sim.run import simulate

    with _progress_lines(progress_file, sc.duration) as note:
        if quiet:
            return simulate(sc, seed=seed, network=network, filename=str(path), progress=note, checked=check)
        # the bar starts with the first progress report, i.e. after setup: setup may fork worker
        # processes, which is only safe while no progress thread runs
        bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[sim]}"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err, transient=True,
        )  # fmt: skip
        task: list = []
        started = time.perf_counter()

        def progress(sim_t: float, calls: int) -> None:
            if note is not None:
                note(sim_t, calls)
            if not task:
                bar.start()
                task.append(bar.add_task("simulating", total=sc.duration, sim="", rate=""))
            rate = calls / max(time.perf_counter() - started, 1e-9)
            bar.update(task[0], completed=min(sim_t, sc.duration),
                       sim=f"t={format_duration(sim_t)}", rate=f"{rate:,.0f} calls/s")  # fmt: skip

        try:
            return simulate(
                sc, seed=seed, network=network, filename=str(path), progress=progress, checked=check
            )
        finally:
            bar.stop()


@contextmanager
def _progress_lines(file: Path | None, duration_s: float):
    """A progress callback writing one JSON line per step to ``file`` (line-buffered, so a reader sees
    each step at once); None without a file. A file that cannot be written is bad input (exit 2)."""
    if file is None:
        yield None
        return
    try:
        sink = open(file, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise PoliceTwinError(f"--progress-file {file}: {exc.strerror or exc}") from None

    def note(sim_t: float, calls: int) -> None:
        sink.write(
            json.dumps({"sim_t": round(float(sim_t), 3), "duration_s": duration_s, "calls": calls}) + "\n"
        )

    try:
        yield note
    finally:
        sink.close()


@app.command()
def validate(
    scenarios: Annotated[
        list[str], typer.Argument(metavar="SCENARIO", help="Scenario files or bundled names.")
    ],
    overrides: Annotated[
        list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help="Override values as in run.")
    ] = None,
) -> None:
    """Check scenarios (schema, map, stations): exit 0, or exit 2 with one line per problem.

    Warnings (e.g. a station far from any road) are printed as file:line: field: warning: ... and do
    not change the exit code.
    """

    def action() -> None:
        from policetwin.scenarios import load_scenario, locate_problems, resolve_scenario_path

        _state["overrides"] = overrides or []
        problems: list[str] = []
        for name in scenarios:
            path = resolve_scenario_path(name)
            try:
                sc = load_scenario(path, overrides or [])
                network, check = _checked_map(sc, path, overrides or [])
                _print_warnings(check.warnings)
                out.print(f"{path}: ok ({sc.name}, map {network.name}, {network.n_nodes} nodes)")
            except ScenarioError as exc:
                problems.extend(locate_problems(exc.problems, overrides or []))
        if problems:
            _fail(problems)

    _guard(action)


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_OR_SET...", help="Run directories, folders of runs or SWEEP_DIR:ARM."),
    ],
) -> None:
    """Compare run directories: KPIs side by side with deltas against the first, and how their
    resolved scenarios differ. Sets of replications (folders of run directories, or sweep arms
    SWEEP_DIR:ARM with ARM an index or col=value,...): mean ± 95% CI and the difference to the first,
    paired by seed when both have the same seeds."""

    def action() -> None:
        from policetwin.experiments.compare_sets import compare_command_output

        compare_command_output(run_dirs, out)

    _guard(action)


@optimize_app.command("posts")
def optimize_posts(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help="Scenario file or bundled name.")],
    units: Annotated[int, typer.Option("--units", metavar="N", min=1, help="Units to place.")],
    standard: Annotated[
        str, typer.Option("--standard", metavar="DURATION", help="Response standard, e.g. 8min.")
    ] = "8min",
    method: Annotated[
        str, typer.Option("--method", metavar="mclp|pmedian|mexclp", help="Location model.")
    ] = "mexclp",
    busy: Annotated[
        float, typer.Option("--busy", metavar="Q", help="MEXCLP: probability that a unit is busy.")
    ] = 0.4,
    candidates: Annotated[
        int,
        typer.Option("--candidates", metavar="K", min=1, help="Candidate posts (demand-weighted k-means)."),
    ] = 200,
    out_file: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write the scenario with units at the posts.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
) -> None:
    """Propose posts for N units (MCLP, p-median with spopt; MEXCLP with PuLP/CBC) and write a scenario
    whose units wait there; prints the coverage within the standard before and after."""

    def action() -> None:
        from policetwin.experiments.posts import optimize_posts as solve
        from policetwin.experiments.posts import posts_scenario_yaml
        from policetwin.outputs import check_file_target, output_lock
        from policetwin.scenarios import load_scenario, resolve_scenario_path
        from policetwin.sim.run import load_scenario_map

        target = check_file_target(out_file, overwrite=overwrite) if out_file is not None else None
        path = resolve_scenario_path(scenario)
        sc = load_scenario(path)
        network = load_scenario_map(sc, filename=str(path), base_dir=path.parent)
        result = solve(sc, network=network, units=units, standard_s=standard, method=method, busy=busy,
                       candidates=candidates, filename=str(path))  # fmt: skip
        table = Table(title=f"{method}: {units} units at {len(result.nodes)} posts, standard {standard}")
        for col in ("", "coverage", "expected coverage", "mean travel"):
            table.add_column(col, justify="right")
        table.add_row(
            "before (the scenario)",
            f"{100 * result.coverage_before:.1f}%",
            f"{100 * result.expected_before:.1f}%",
            format_duration(result.mean_time_before_s),
        )
        table.add_row("after (the posts)", f"{100 * result.coverage_after:.1f}%",
                      f"{100 * result.expected_after:.1f}%", format_duration(result.mean_time_after_s))  # fmt: skip
        out.print(table)
        if target is not None:
            with output_lock(target):
                check_file_target(target, overwrite=overwrite)
                tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
                tmp.write_text(posts_scenario_yaml(sc, result), encoding="utf-8")
                os.replace(tmp, target)
            out.print(f"wrote {target}: run it with  policetwin run {target}")

    _guard(action)


@maps_app.command("coverage")
def maps_coverage(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help="Scenario file or bundled name.")],
    standard: Annotated[
        str, typer.Option("--standard", metavar="DURATION", help="Response standard, e.g. 8min.")
    ] = "8min",
    out_file: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="coverage.geojson or coverage.gpkg (with areas).")
    ] = Path("coverage.geojson"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
) -> None:
    """Streets reachable within the standard from the scenario's stations and posts, as GeoJSON or a
    GeoPackage (with the covered areas as a second layer), for GIS tools."""

    def action() -> None:
        from policetwin.durations import parse_duration
        from policetwin.outputs import check_file_target, output_lock
        from policetwin.scenarios import load_scenario, resolve_scenario_path
        from policetwin.sim.coverage import coverage_area, coverage_edges, coverage_share, write_coverage
        from policetwin.sim.model import PoliceModel
        from policetwin.sim.run import coverage_input

        try:
            standard_s = parse_duration(standard)
        except ValueError as exc:
            raise PoliceTwinError(f"--standard: {exc}") from None
        if standard_s <= 0:
            raise PoliceTwinError(f"--standard must be positive, got {standard!r}")
        target = check_file_target(out_file, overwrite=overwrite)
        path = resolve_scenario_path(scenario)
        sc = load_scenario(path, ["outputs.report=false", "duration=1s", "travel.mode=network"])
        network, check = _checked_map(sc, path, [])
        model = PoliceModel(sc, network=network, filename=str(path), checked=check, base_dir=path.parent)
        times = coverage_input(model)["times_s"]
        edges = coverage_edges(network, times, standard_s=standard_s)
        layers = edges if target.suffix.lower() != ".gpkg" else {
            "streets": edges, "areas": coverage_area(network, times, standard_s=standard_s)}  # fmt: skip
        with output_lock(target):
            write_coverage(layers, target)
        share = coverage_share(times, standard_s=standard_s, weights=model.demand_weights)
        out.print(f"wrote {target}: {int(edges['covered'].sum())} of {len(edges)} street segments within "
                  f"{standard} ({100 * share:.1f}% of demand)")  # fmt: skip

    _guard(action)


@maps_app.command("info")
def maps_info(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="coquimbo, helsinki, a .osm/.osm.pbf/.graphml file, place:..., or synthetic:N",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load a map and print its size, extent and what was dropped."""

    def action() -> None:
        from policetwin.maps import load_map
        from policetwin.maps.router import default_backend

        started = time.perf_counter()
        info = load_map(source).info()
        info["load_s"] = round(time.perf_counter() - started, 2)
        info["routing"] = default_backend(info["nodes"])  # how runs on this map find travel times
        if as_json:
            out.print_json(json.dumps(info))
            return
        table = Table(title=f"map {info['name']}", show_header=False)
        for key, value in info.items():
            table.add_row(key, str(value))
        out.print(table)

    _guard(action)


@maps_app.command("import")
def maps_import(
    file: Annotated[Path | None, typer.Argument(metavar="FILE", help="An .osm or .osm.pbf extract.")] = None,
    out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="GraphML file to write.")] = Path(
        "city.graphml"
    ),
    place: Annotated[
        str | None,
        typer.Option("--place", metavar="'NAME, COUNTRY'", help="Fetch a place with osmnx (needs internet)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
) -> None:
    """Import an OSM extract (or a place, with internet) into a GraphML road network."""

    def action() -> None:
        from policetwin.maps import load_map
        from policetwin.maps.osmfile import save_graphml
        from policetwin.outputs import check_file_target, output_lock

        if (file is None) == (place is None):
            raise MapError("give exactly one of FILE or --place 'Name, Country'")
        target = check_file_target(out_file, overwrite=overwrite)
        with output_lock(target):
            network = load_map(f"place:{place}" if place else str(file))
            check_file_target(target, overwrite=overwrite)  # still free after loading
            save_graphml(network, target)
        info = network.info()
        out.print(f"wrote {out_file}: {info['nodes']} nodes, {info['edges']} edges, {info['street_km']} km of streets "
                  f"(largest strongly connected part; dropped {info.get('nodes_dropped_not_strongly_connected', 0)} "
                  f"nodes)")  # fmt: skip
        from policetwin.maps.router import prepare_routing

        backend = prepare_routing(load_map(str(target)))  # as runs will load it (and cache it)
        out.print(
            f"routing: {backend}" + (" (contraction hierarchy node order cached)" if backend == "cch" else "")
        )

    _guard(action)


def main() -> None:
    """Console-script entry point (SIGTERM is handled like Ctrl-C)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except SystemExit as exc:
        code = exc.code
        if code not in (None, 0, 1, 2, 130) and not isinstance(code, int):
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
