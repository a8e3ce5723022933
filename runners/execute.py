"""Running the cells of a matrix in parallel: loky processes (through joblib) on one machine, Dask on several.

Workers run each cell in their sandbox (sandbox.py) and send back plain records; the
driver alone writes them to the store as they arrive (flush.py). Results stream back in
the order cells finish, so a kill loses only the cells in flight. Loky workers end with
the driver; a loky worker that dies costs a retry of its cell, not the matrix; a Dask
cluster that loses every worker stops the run within :data:`LOST_SECONDS`.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Iterator, Sequence

import pandas as pd
from joblib import Parallel, delayed
from joblib.externals.loky.process_executor import BrokenProcessPool

from optsuite.errors import UserError, one_line
from optsuite.keys import config_key, identity
from optsuite.parent import watch_parent

from .batching import cells_of, tasks
from .cell import Cell, code_hash, lost_row
from .flush import Flusher
from .progress import Display
from .sandbox import Job, in_sandbox, listening
from optsuite.store import Store
from .tuning import Tuning

BACKENDS = ("loky", "dask")
RETRIES = 1  # a cell in flight when its loky worker died runs again this often, then it is recorded as failed
POLL_SECONDS = 1.0  # how often the driver looks at a Dask cluster while it waits for cells
LOST_SECONDS = 30.0  # a Dask cluster without workers this long is lost: the run stops, its finished cells kept


@dataclass(frozen=True)
class Backend:
    """``name``: "loky" or "dask"; ``jobs``: loky workers, or LocalCluster workers when
    Dask has no ``scheduler`` address (with one, the cluster's workers are used)."""

    name: str = "loky"
    jobs: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise UserError(f"unknown backend {self.name!r}; known: {', '.join(BACKENDS)}")
        if self.jobs < 1:
            raise UserError(f"jobs={self.jobs} must be at least 1")
        if self.scheduler and self.name != "dask":
            raise UserError("--scheduler needs --backend dask")


@contextmanager
def dask_client(backend: Backend) -> Iterator[object]:
    """A client of the scheduler at ``backend.scheduler``, or of a LocalCluster started here.

    A local cluster serves no dashboard: its scheduler's HTTP server (which it always starts) listens on a
    free loopback port with no routes, not on the dashboard's 8787.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if backend.scheduler:
        try:
            client = Client(backend.scheduler, timeout="20s")
        except OSError as exc:
            raise UserError(f"cannot reach the Dask scheduler at {backend.scheduler} ({one_line(exc)})") from None
        with client:
            yield client
        return
    with dask.config.set({"distributed.scheduler.http.routes": []}), \
            LocalCluster(n_workers=backend.jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, Client(cluster) as client:
        yield client


Records = Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]
Runner = Callable[[list[Cell], Job, Callable[[str], None]], Records]


@contextmanager
def cell_runner(backend: Backend) -> Iterator[tuple[Runner, int]]:
    """A function that runs cells on the backend's workers and yields each one's records as it finishes
    (``runner(cells, job, warn)``, ``warn`` taking one line of news), and the number of workers."""
    if backend.name == "loky":  # a worker ends with the driver (watch_parent), whatever killed the driver
        pool = partial(Parallel, n_jobs=backend.jobs, backend="loky", initializer=watch_parent,
                       initargs=(os.getpid(),), batch_size=1, return_as="generator_unordered")
        yield partial(loky_results, pool, backend.jobs), backend.jobs
        return
    with dask_client(backend) as client:
        yield partial(dask_results, client), max(1, sum(client.nthreads().values()))


def loky_results(pool: Callable[[], Parallel], workers: int, cells: list[Cell], job: Job,
                 warn: Callable[[str], None]) -> Records:
    """The cells through joblib (loky processes; the driver itself at one worker), each cell's records once.

    A worker process that dies (killed, out of memory) breaks loky's pool: the cells not yet returned run
    again in a fresh ``pool()``, and a cell that was in flight at :data:`RETRIES` + 1 such deaths is recorded
    as failed. Cells are sent in order, so those in flight are the first ``workers`` not yet returned. A
    result that arrives for a cell already returned (a broken pool's late one) is dropped."""
    pending, deaths, returned = list(cells), Counter(), set()
    while pending:
        results = pool()(delayed(in_sandbox)(cell, job) for cell in pending)
        try:
            for records in results:
                task = "+".join(row["cell_id"] for row, _ in records)
                if task not in returned:
                    returned.add(task)
                    yield from records
            return
        except BrokenProcessPool as exc:
            pending = [cell for cell in pending if cell.cell_id not in returned]
            deaths.update(cell.cell_id for cell in pending[:workers])
            lost = [cell for cell in pending[:workers] if deaths[cell.cell_id] > RETRIES]
            pending = [cell for cell in pending if cell not in lost]
            warn(f"a worker process died ({worker_death(exc)}); running {len(pending)} unfinished cells again"
                 + (f", {len(lost)} recorded as failed" if lost else ""))
            for cell in (c for task in lost for c in cells_of(task)):
                yield lost_row(cell, "failed", f"its worker process died {RETRIES + 1} times ({worker_death(exc)})",
                               job.time_limit), []
        finally:
            with warnings.catch_warnings():  # joblib's note on the tasks it cancels when the driver stops early
                warnings.filterwarnings("ignore", ".*unnecessary computation time", UserWarning)
                results.close()


def worker_death(exc: BaseException) -> str:
    """``"TerminatedWorkerError, exit codes {SIGKILL(-9)}"``: loky's many-line message on one line."""
    codes = re.search(r"exit codes of the workers are (\{.*?\})", str(exc))
    return type(exc).__name__ + (f", exit codes {codes.group(1)}" if codes else "")


def dask_results(client, cells: list[Cell], job: Job, warn: Callable[[str], None]) -> Records:
    """The cells as tasks of the Dask cluster (never run on the driver, however few its workers), yielded as
    they finish. Dask runs a task again when its worker dies; a task that fails for good (``KilledWorker``)
    is recorded as failed. A cluster with no workers (or no scheduler) for :data:`LOST_SECONDS` stops the
    run with a UserError; the cells already yielded are kept."""
    from distributed import wait

    futures = {client.submit(in_sandbox, cell, job, pure=False): cell for cell in cells}
    pending, alone_since = set(futures), None
    while pending:
        try:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
        except (TimeoutError, asyncio.TimeoutError):  # two classes before Python 3.11, one since
            done = set()
        for future in done:  # released as it is read, so that the cluster lets go of its result
            task = futures.pop(future)
            if future.status == "finished":
                yield from future.result()
            else:
                for cell in cells_of(task):
                    yield lost_row(cell, "failed", one_line(future.exception()), job.time_limit), []
        if not pending or cluster_workers(client):
            alone_since = None
            continue
        alone_since = alone_since or time.monotonic()
        if time.monotonic() - alone_since > LOST_SECONDS:
            if client.status == "running":
                client.cancel(list(pending))
            raise UserError(f"the Dask cluster has had no workers for {LOST_SECONDS:g} s; stopped with "
                            f"{len(pending)} cells not run (the finished ones are stored; run again to resume)")


def cluster_workers(client) -> int:
    """The number of workers the scheduler has now; 0 when it cannot be asked."""
    try:
        return len(client.nthreads()) if client.status == "running" else 0
    except (OSError, TimeoutError, asyncio.TimeoutError):
        return 0


def dispatch(cells: list[Cell], store: Store, job: Job, backend: Backend, mode: str = "auto",
             flush_seconds: float = 2.0) -> None:
    """Send ``cells`` to the workers and store every result as it returns; cells that fail are recorded,
    never raised.

    Torch runs single-threaded in each sandbox when cells run in parallel; a loky worker trains the parts
    of a problem trained part by part in parallel where it has cores to itself. Where the driver runs the
    cells itself (one loky worker), the display shows each part as it finishes.
    """
    with cell_runner(backend) as (runner, workers):
        if workers > 1 or backend.name == "dask":
            job = replace(job, threads=1)
        if backend.name == "loky" and not job.part_jobs:
            job = replace(job, part_jobs=max(1, (os.cpu_count() or 1) // workers))
        with Flusher(store, flush_seconds) as flusher, Display(len(cells), workers, mode) as display, \
                listening(display.part if backend.name == "loky" and workers == 1 else None):
            for row, trace in runner(tasks(cells, job.batch_runs), job, display.warn):
                flusher.add(row, trace)
                display.finished(row)


def known_cells(cells: list[Cell], tunings: Sequence[Tuning], stored: pd.DataFrame) -> list[Cell]:
    """A matrix's cells as far as ``stored`` rows tell: its cells, its tunings' trials, and the evaluation cells
    of the tunings whose picks the stored trials make."""
    return cells + [c for t in tunings for c in (*t.trials, *t.evaluation_cells(t.pick(stored)))]


def foreign(cells: list[Cell], stored: pd.DataFrame) -> int:
    """How many of the ``stored`` cells are not among ``cells``: another matrix's (or this one's before an edit)."""
    return len(set(stored["cell_id"]) - {cell.cell_id for cell in cells}) if len(stored) else 0


def other_data(cells: list[Cell], stored: pd.DataFrame) -> str | None:
    """Why ``stored`` cannot take ``cells`` (a matrix's :func:`known_cells`): it holds one of their problems made with
    other data of the same name (another fingerprint of the files under ``data_root``, which is not part of a
    problem's key), or runs of their problem written when ``data_root`` was part of its key; None if neither."""
    if not len(stored):
        return None
    seen = set()
    for cell in cells:
        key = (cell.problem, json.dumps(identity(cell.problem_args), sort_keys=True))
        if key in seen or cell.problem_args.get("data_root") is None:
            continue
        seen.add(key)
        name = config_key(cell.problem, identity(cell.problem_args))
        mine = stored[stored["problem"] == key[0]]
        if mine["problem_args"].str.contains('"data_root"', regex=False).any():
            return (f"{name}: the store's runs of {cell.problem} name their data_root in the problem's key (written "
                    f"before a key left out where the data lies), so they cannot be resumed; choose another --out")
        if "data" not in stored:
            continue
        here = cell.data_fingerprint()
        there = sorted(set(mine.loc[mine["problem_args"] == key[1], "data"].dropna()) - {here})
        if there:
            return (f"{name}: the store's runs read other data of that name (files with fingerprint {there[0]}; "
                    f"those in {cell.problem_args['data_root']} give {here}); choose another --out")
    return None


def resume(cells: list[Cell], store: Store, job: Job, backend: Backend, retry: bool = False,
           mode: str = "auto", rerun_stale: bool = False, tunings: Sequence[Tuning] = (),
           add: bool = False) -> pd.DataFrame:
    """Run the cells not yet in ``store`` (with ``retry``, also those that failed or timed out; with
    ``rerun_stale``, also those made by other code); -> the stored rows of all cells.

    ``tunings``: their trials run with ``cells``; then each tuning's evaluation cells with its pick.
    Stored cells made by other code than this (``code_hash``) are kept unless ``rerun_stale``,
    with a warning either way. A store holding cells that are not among this matrix's is refused unless
    ``add``: a matrix is written into another's store only when asked.
    """
    with store:
        stored = store.cells()
        trials = [t for tuning in tunings for t in tuning.trials]
        if mixed := other_data(known_cells(cells, tunings, stored), stored):
            raise UserError(f"results store {store.path}: {mixed}")
        others = foreign(known_cells(cells, tunings, stored), stored)
        if others and not add:
            raise UserError(f"results store {store.path} holds {others} cells that are not in this matrix (another "
                            f"matrix's, or this one's before an edit); --add writes this matrix beside them, or choose "
                            f"another --out")
        run_missing(cells + trials, store, job, backend, retry, mode, rerun_stale, "tuning and evaluation" if trials else "")
        stored = store.cells()
        evaluations = [c for tuning in tunings for c in tuning.evaluation_cells(tuning.pick(stored))]
        if evaluations:
            run_missing(evaluations, store, job, backend, retry, mode, rerun_stale, "evaluation with the tuned values")
            stored = store.cells()
        store.compact()  # one trace part, not one per flush, for whoever reads the store next
    ids = {cell.cell_id for cell in cells + trials + evaluations}
    return stored[stored["cell_id"].isin(ids)].reset_index(drop=True)


def run_missing(cells: list[Cell], store: Store, job: Job, backend: Backend, retry: bool, mode: str,
                rerun_stale: bool, what: str) -> None:
    """Run those of ``cells`` that the (open) store lacks, as :func:`resume` says; ``what`` names them in messages."""
    finished = store.finished_ids(retry)
    current = store.finished_ids(retry, code=code_hash())
    stale = sum(cell.cell_id in finished - current for cell in cells)
    todo = [cell for cell in cells if cell.cell_id not in (current if rerun_stale else finished)]
    if stale:
        action = "running them again" if rerun_stale else "keeping them; --rerun-stale runs them again"
        print(f"warning: {stale} stored cells were made by other code than this (source hash {code_hash()}); "
              f"{action}", file=sys.stderr)
    if mode != "quiet" and len(todo) < len(cells):
        print(f"resuming: {len(cells) - len(todo)} of {len(cells)} {what + ' ' if what else ''}cells already stored",
              file=sys.stderr)
    if todo:
        dispatch(todo, store, job, backend, mode)
