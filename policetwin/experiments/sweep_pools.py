"""Where a sweep's tasks run: a local process pool (forkserver workers that exit with the sweep) or a
Dask distributed cluster, behind one small interface (``submit``, ``wait``, ``close``)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import select
import signal
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from policetwin.errors import PoliceTwinError
from policetwin.outputs import pid_alive


def _init_local_worker(sweep_pid: int) -> None:
    """A local pool worker: ignores Ctrl-C (the sweep handles it) and exits as soon as the sweep process
    is gone, even after SIGKILL (a thread waits on a pidfd of it; the pool's processes are children of
    the forkserver, so the parent-death signal alone would not do). That thread also keeps a run's row
    precompute from forking more processes: it forks only while a process has a single thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fd = os.pidfd_open(sweep_pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll the pid instead
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while pid_alive(sweep_pid):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="policetwin-sweep-watch", daemon=True).start()


# --------------------------------------------------------------------------- pools


class LocalPool:
    """A process pool of ``workers`` processes (forkserver: started from a clean, preloaded process)."""

    def __init__(self, workers: int) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["policetwin.experiments.sweep", "policetwin.sim.run"])
        self.workers = workers
        self.capacity = 2 * workers
        self.executor = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_local_worker, initargs=(os.getpid(),)
        )

    def submit(self, task: dict) -> Any:
        from policetwin.experiments.sweep import run_task

        return self.executor.submit(run_task, task)

    def wait(self, futures: list, timeout: float) -> set:
        return wait_futures(futures, timeout=timeout, return_when=FIRST_COMPLETED).done

    def close(self, *, cancel: bool = False) -> None:
        if cancel:
            for proc in list((getattr(self.executor, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    proc.kill()
        self.executor.shutdown(wait=not cancel, cancel_futures=cancel)


def check_scheduler(address: str, *, timeout_s: float = 5.0) -> None:
    """PoliceTwinError at once when a ``tcp://host:port`` scheduler address is malformed or refuses
    connections (instead of the Dask client retrying until its timeout); other protocols are left to
    the client."""
    m = re.fullmatch(r"(?:tcp://)?\[?(?P<host>[^\]/]+?)\]?:(?P<port>\d+)", address.strip())
    try:
        if m is None:
            if address.startswith("tcp://") or "://" not in address:
                raise ValueError("expected tcp://HOST:PORT")
            return
        with socket.create_connection((m["host"], int(m["port"])), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        msg = f"--scheduler {address}: cannot reach the Dask scheduler ({type(exc).__name__}: {exc})"
        raise PoliceTwinError(msg) from None


class DaskPool:
    """Tasks on a Dask distributed cluster (``tcp://host:8786``); each worker keeps its maps too."""

    def __init__(self, address: str, *, timeout_s: float = 10.0) -> None:
        check_scheduler(address, timeout_s=min(timeout_s, 5.0))
        try:
            from distributed import Client

            self.client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
            threads = sum(self.client.nthreads().values())
        except Exception as exc:
            msg = f"--scheduler {address}: cannot reach the Dask scheduler ({type(exc).__name__}: {exc})"
            raise PoliceTwinError(msg) from None
        self.workers = threads
        self.capacity = max(2 * threads, 2)

    def submit(self, task: dict) -> Any:
        from policetwin.experiments.sweep import run_task

        return self.client.submit(
            run_task, task, pure=False, key=f"policetwin-{task['run_id']}-{os.getpid()}-{time.monotonic_ns()}"
        )

    def wait(self, futures: list, timeout: float) -> set:
        from distributed import wait

        try:
            with self.client.as_current():
                return set(wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return set()

    def close(self, *, cancel: bool = False) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)


def result_of(future: Any) -> dict:
    """A finished task's row, or a failed run's row when its worker died."""
    try:
        return future.result()
    except BaseException as exc:  # a worker died (killed, out of memory): the run failed
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"status": "failed", "error": f"worker failed: {type(exc).__name__}: {exc}"[:2000]}
