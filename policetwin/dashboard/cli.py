"""``policetwin dashboard``: serve the Dash front end (binds 127.0.0.1 by default)."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path
from typing import Annotated

import typer


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served (in use, no permission, unknown address), else None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"error: cannot bind {host}:{port}: {exc.strerror or exc}"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # as the server will: a port only in TIME_WAIT is free, one with a listener is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"error: port {port} on {host} is in use (choose another with --port)"
            return f"error: cannot bind {host}:{port}: {exc.strerror or exc}"
    return None


def dashboard(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[DIR]...",
            help="Run directories, directories holding runs, sweep directories (policetwin sweep) and demand "
            "folders or files (demand fit / predict / score) (default: --runs-dir).",
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", metavar="ADDR", help="Address to bind (a non-loopback one is warned about)."),
    ] = ("127.0.0.1"),
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=1, max=65535, help="Port to serve on.")
    ] = 8050,
    lang: Annotated[
        str, typer.Option("--lang", metavar="en|zh", help="Language of the pages: en or zh.")
    ] = "en",
    runs_dir: Annotated[
        Path,
        typer.Option("--runs-dir", metavar="DIR", help="Where the Run page writes new runs (also listed)."),
    ] = Path("runs"),
) -> None:
    """Serve the dashboard: run scenarios, replay them on the map, KPIs and comparisons (offline)."""
    err = typer.echo
    if lang not in ("en", "zh"):
        err(f"error: --lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    if not is_loopback(host):
        err(
            f"warning: serving on {host}, reachable from other machines: the dashboard has no login and can "
            "start runs; use 127.0.0.1 unless you mean it",
            err=True,
        )
    problem = port_problem(host, port)
    if problem:
        err(problem, err=True)
        raise typer.Exit(2)
    from policetwin.dashboard.app import create_app

    app = create_app(list(run_dirs or []), runs_dir=runs_dir, lang=lang)
    for p in app_problems():
        err(f"warning: {p}", err=True)
    shown = f"[{host}]" if ":" in host else host
    err(f"PoliceTwin dashboard on http://{shown}:{port}/ (Ctrl-C to stop)", err=True)
    app.run(host=host, port=port, debug=False)


def app_problems() -> list[str]:
    """The run-directory problems found at start (also shown on the Run page)."""
    from policetwin.dashboard.app import current

    return [p.message("en") for p in current().discovery().problems]
