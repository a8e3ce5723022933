"""A child process per worker that runs cells, so a cell can be killed at a hard time limit.

Each worker (a loky process, a Dask worker thread, or the driver itself at ``-j 1``)
keeps one sandbox: a Python process, started once, that imports torch and the
registries and then runs cells one at a time sent over a pipe (sending back a line of
news as each part of a cell trained part by part finishes, then the cell's rows). A
cell that overruns its hard limit, or takes its process down (a segfault, an
out-of-memory kill), costs only the sandbox: the worker kills it, records the cell as
"timeout" or "failed" and starts a fresh sandbox for the next cell, so the worker pool
is never disturbed. A sandbox ends itself soon after its worker dies
(:func:`optsuite.parent.watch_parent`).

Two limits guard a cell with ``time_limit`` seconds: the run itself stops at the first
step boundary past ``time_limit`` (status "timeout", trace and metrics kept), and the
worker kills the sandbox at :func:`hard_limit` seconds (a step or metric that hangs).
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator

from optsuite.errors import one_line
from optsuite.parent import watch_parent
from optsuite.run import warm_up  # loaded with this module, as "import optsuite" once did: loaded later, the
# sandbox sometimes exited before its loky workers were cleaned up (leaked semaphores at exit)

from .batching import Batch, Task, cells_of
from .cell import Cell, batch_rows, lost_row, result_rows
from .gpu import gpu_slot

START_SECONDS = 300.0  # a fresh sandbox must import its modules within this
EXIT_GRACE_SECONDS = 5.0  # an idle sandbox's time to end by itself when its worker exits


@dataclass(frozen=True)
class Job:
    """How a worker runs each cell of a matrix.

    ``time_limit``: seconds per cell (None: no limit); ``threads``: torch threads in
    the sandbox (None: torch's default); ``plugins``: files to import (see plugins.py);
    ``gpu_slots``: concurrent cells per CUDA device on one machine; ``part_jobs``: parts of a
    problem trained part by part that run at once inside the cell (0: the worker's share of the cores).
    """

    time_limit: float | None = None
    threads: int | None = None
    plugins: tuple[str, ...] = ()
    gpu_slots: int = 1
    part_jobs: int = 0
    batch_runs: int = 1  # cells of one problem run together, their evaluations shared (runners/batching.py)


def hard_limit(time_limit: float) -> float:
    """Seconds after which a cell's process is killed: 1.5 x its time limit plus 2 s."""
    return 1.5 * time_limit + 2.0


def died(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the cell's process died of {signal.Signals(-code).name}"
    return f"the cell's process died (exit code {code})"


class Sandbox:
    """The worker's side: start the child, send it cells, enforce the hard limit."""

    def __init__(self) -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "optsuite.runners.sandbox", str(task_r), str(result_w), str(os.getpid())],
            pass_fds=(task_r, result_w), stdin=subprocess.DEVNULL)
        os.close(task_r)
        os.close(result_w)
        self.tasks = Connection(task_w, readable=False)
        self.results = Connection(result_r, writable=False)
        self.busy = False
        atexit.register(self.close, EXIT_GRACE_SECONDS)
        try:
            started = self.results.poll(START_SECONDS)
            if started:
                self.results.recv()  # "ready"
        except EOFError:  # it exited while starting
            self.close()
            raise RuntimeError(f"the cell process did not start: {died(self.process.returncode)}") from None
        if not started:
            self.close()
            raise RuntimeError(f"the cell process was not ready within {START_SECONDS:g} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def submit(self, task: Task, job: Job) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Send ``task`` (a cell, or a batch of cells run together) to the child and wait for its cells' rows, at
        most the hard limit (a batch: that of its cells one after another); the child's news of parts finished on
        the way goes to the process's listener (:func:`listening`)."""
        cells = cells_of(task)
        limit = None if job.time_limit is None else hard_limit(job.time_limit) * len(cells)
        deadline = None if limit is None else time.monotonic() + limit
        self.busy = True  # until the rows arrive: an interrupted wait leaves a cell running
        try:
            self.tasks.send((task, job))
            # poll is also true when the process died: recv raises
            while self.results.poll(None if deadline is None else max(0.0, deadline - time.monotonic())):
                kind, message = self.results.recv()
                if kind == "rows":
                    self.busy = False
                    return message
                if _listener is not None:
                    _listener(cells[0], message)
        except (EOFError, OSError):
            code = self.process.wait()
            self.close()
            return [(lost_row(cell, "failed", died(code), job.time_limit), []) for cell in cells]
        self.close()
        return [(lost_row(cell, "timeout", f"killed at the hard limit of {limit:g} s", job.time_limit), [])
                for cell in cells]

    def close(self, grace: float = 0.0) -> None:
        """End the child: killed at once (a cell overran, took it down or is still running), or, idle, first
        given ``grace`` seconds to exit by itself once its task pipe closes (at the worker's exit, so that it
        ends its own processes)."""
        for conn in (self.tasks, self.results):
            if not conn.closed:
                conn.close()
        try:
            self.process.wait(0.0 if self.busy else grace)
        except subprocess.TimeoutExpired:
            pass
        if self.alive():
            self.process.kill()
        self.process.wait()


_local = threading.local()
_listener: Callable[[Cell, str], None] | None = None  # who hears the news of a cell's parts (see listening)


@contextmanager
def listening(listener: Callable[[Cell, str], None] | None) -> Iterator[None]:
    """Within the block, ``listener(cell, line)`` hears each part that finishes in a sandbox this process
    drives: the driver's display, where the driver runs its cells itself (one loky worker). Other workers'
    sandboxes keep their news to themselves."""
    global _listener
    before, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = before


def in_sandbox(task: Task, job: Job) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Run ``task`` (a cell or a batch) in this worker's sandbox (started on first use); its cells' rows.
    Never raises."""
    with gpu_slot(task.device, job.gpu_slots):
        sandbox = getattr(_local, "sandbox", None)
        if sandbox is None or not sandbox.alive():
            try:
                sandbox = _local.sandbox = Sandbox()
            except Exception as exc:
                return [(lost_row(cell, "failed", one_line(exc), job.time_limit), []) for cell in cells_of(task)]
        return sandbox.submit(task, job)


# -- the child's side ------------------------------------------------------------------
def serve(tasks: Connection, results: Connection) -> None:
    import torch

    from .plugins import load_plugins

    warm_up()
    results.send("ready")
    while True:
        try:
            task, job = tasks.recv()
        except EOFError:
            return
        if job.threads:
            torch.set_num_threads(job.threads)
        try:
            load_plugins(job.plugins)
        except Exception as exc:
            results.send(("rows", [(lost_row(cell, "failed", str(exc), job.time_limit), []) for cell in cells_of(task)]))
            continue
        if isinstance(task, Batch):
            results.send(("rows", batch_rows(list(task.cells), job.time_limit)))
            continue
        news = lambda line: results.send(("news", line))
        results.send(("rows", [result_rows(task, job.time_limit, max(1, job.part_jobs), news)]))


if __name__ == "__main__":
    os.dup2(2, 1)  # stray prints go to stderr; results travel only through the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and ends its workers
    watch_parent(int(sys.argv[3]))
    try:
        serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
    except BrokenPipeError:  # the worker died while this sandbox started or ran a cell
        os._exit(1)
