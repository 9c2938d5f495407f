"""Safe output paths: never delete a file PoliceTwin did not write, one writer per output, writability
checked before any work, and no temp directories left behind by killed runs.

A run directory is written to ``.NAME.tmp-PID-XXXX`` beside it and renamed into place; while a run
prepares and writes it, it holds an exclusive lock on ``.NAME.lock`` in the same parent. A later run
to that parent removes temp directories (and unheld locks) left by processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from policetwin.errors import PoliceTwinError

#: Files an older run directory may hold without a ``files`` list in its summary.json.
KNOWN_RUN_FILES = frozenset(
    {"incidents.parquet", "units.parquet", "summary.json", "scenario.yaml", "report.html"}
)
_LEFTOVER = re.compile(r"^\..+\.(?:tmp|old)-(?P<pid>\d+)(?:-.*)?$")
_LOCK = re.compile(r"^\..+\.lock$")


class OutputError(PoliceTwinError):
    """An output path cannot be used as asked (exists, foreign files, locked, not writable)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_files(out_dir: Path) -> frozenset[str]:
    """The names of the files PoliceTwin wrote into an earlier run directory (from its summary.json)."""
    try:
        listed = json.loads((out_dir / "summary.json").read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return frozenset()
    if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
        return frozenset(listed) | {"summary.json"}
    return KNOWN_RUN_FILES


def foreign_files(out_dir: Path) -> list[str]:
    """Entries of ``out_dir`` that PoliceTwin did not write there (all of them if it is no run directory)."""
    if not out_dir.is_dir():
        return []
    ours = run_files(out_dir)
    return sorted(p.name for p in out_dir.iterdir() if p.name not in ours or not p.is_file())


def check_target(out_dir: Path, *, overwrite: bool = False, option: str = "--out") -> Path:
    """The absolute run directory path, or OutputError saying why it cannot be used.

    An earlier run directory is replaced; a directory holding anything else is refused unless
    ``overwrite`` (then PoliceTwin's files are replaced and the others are kept).
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if not out_dir.name or out_dir.name in (".", ".."):
        raise OutputError(f"{option} {out_dir}: give a directory name for the run, e.g. runs/baseline")
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"{option} {out_dir}: exists and is not a directory")
        for parent in out_dir.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{option} {out_dir}: {parent} is a file, not a directory")
                break
        foreign = foreign_files(out_dir)
    except OSError as exc:
        raise OutputError(f"{option} {out_dir}: cannot use this path: {exc.strerror or exc}") from None
    if foreign and not overwrite:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"{option} {out_dir}: holds files PoliceTwin did not write ({shown}); refusing to touch them. "
            "Choose another directory, or add --overwrite to replace the run's files and keep yours"
        )
    return out_dir


def check_file_target(path: Path, *, overwrite: bool = False, option: str = "--out") -> Path:
    """The absolute path of a file to write, or OutputError (exists without ``overwrite``, a directory)."""
    path = Path(path).expanduser().absolute()
    try:
        if path.is_dir():
            raise OutputError(f"{option} {path}: is a directory; give a file name")
        if path.exists() and not overwrite:
            raise OutputError(f"{option} {path}: exists; add --overwrite to replace it")
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot use this path: {exc.strerror or exc}") from None
    return path


def clean_leftovers(parent: Path) -> list[str]:
    """Remove temp directories and unheld lock files that dead PoliceTwin processes left in ``parent``."""
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and not pid_alive(int(m["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        elif _LOCK.match(entry.name) and entry.is_file():
            with contextlib.suppress(OSError), open(entry, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while a live run holds it
                entry.unlink()
                removed.append(entry.name)
    return removed


@contextlib.contextmanager
def output_lock(out: Path, *, option: str = "--out") -> Iterator[None]:
    """Hold the exclusive lock of an output path; creates missing parent directories (removed again
    if the work fails) and so proves the parent is writable before any work starts."""
    out = Path(out)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    lock_path = out.with_name(f".{out.name}.lock")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(out.parent)
        fh = _acquire(lock_path, out, option)
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(f"{option} {out}: cannot write in {out.parent}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_empty(created)
        raise
    ok = False
    try:
        yield
        ok = True
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        fh.close()
        if not ok:
            _remove_empty(created)


def _acquire(lock_path: Path, out: Path, option: str):
    while True:
        fh = open(lock_path, "a+")  # noqa: SIM115 (held open while the lock is)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise OutputError(
                f"{option} {out}: another PoliceTwin process (pid {holder}) is writing there; wait for it "
                "to finish or choose another directory"
            ) from None
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not unlinked by the holder we waited for
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            return fh
        fh.close()


def _remove_empty(dirs: list[Path]) -> None:
    for path in dirs:  # deepest first
        with contextlib.suppress(OSError):
            path.rmdir()
