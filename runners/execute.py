"""Running the cells of a matrix in parallel with joblib: loky on one machine, Dask on several.

Workers run each cell in their sandbox (sandbox.py) and send back plain records; the
driver alone writes them to the store as they arrive (flush.py). Results stream back in
the order cells finish, so a kill loses only the cells in flight.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator

import pandas as pd
from joblib import Parallel, delayed, parallel_config

from optsuite.errors import UserError, one_line

from .cell import Cell, code_hash
from .flush import Flusher
from .progress import Display
from .sandbox import Job, in_sandbox
from .store import Store

BACKENDS = ("loky", "dask")


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
    """A client of the scheduler at ``backend.scheduler``, or of a LocalCluster started here."""
    from dask.distributed import Client, LocalCluster

    if backend.scheduler:
        try:
            client = Client(backend.scheduler, timeout="20s")
        except OSError as exc:
            raise UserError(f"cannot reach the Dask scheduler at {backend.scheduler} ({one_line(exc)})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=backend.jobs, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@contextmanager
def parallel_map(backend: Backend) -> Iterator[tuple[Parallel, int]]:
    """A joblib Parallel that yields results as they finish, and the number of workers."""
    options = dict(batch_size=1, return_as="generator_unordered")
    if backend.name == "loky":
        yield Parallel(n_jobs=backend.jobs, backend="loky", **options), backend.jobs
        return
    with dask_client(backend) as client, parallel_config(backend="dask"):
        yield Parallel(n_jobs=-1, **options), max(1, sum(client.nthreads().values()))


def dispatch(cells: list[Cell], store: Store, job: Job, backend: Backend, mode: str = "auto",
             flush_seconds: float = 2.0) -> None:
    """Send ``cells`` to the workers and store every result as it returns; cells that fail are recorded,
    never raised.

    Torch runs single-threaded in each sandbox when cells run in parallel; a loky worker trains the parts
    of a problem trained part by part in parallel where it has cores to itself.
    """
    with parallel_map(backend) as (parallel, workers):
        if workers > 1 or backend.name == "dask":
            job = replace(job, threads=1)
        if backend.name == "loky" and not job.part_jobs:
            job = replace(job, part_jobs=max(1, (os.cpu_count() or 1) // workers))
        with Flusher(store, flush_seconds) as flusher, Display(len(cells), workers, mode) as display:
            results = parallel(delayed(in_sandbox)(cell, job) for cell in cells)
            try:
                for row, trace in results:
                    flusher.add(row, trace)
                    display.finished(row)
            finally:
                results.close()


def foreign(cells: list[Cell], stored: pd.DataFrame) -> int:
    """How many of the ``stored`` cells are not among ``cells``: another matrix's (or this one's before an edit)."""
    return len(set(stored["cell_id"]) - {cell.cell_id for cell in cells}) if len(stored) else 0


def resume(cells: list[Cell], store: Store, job: Job, backend: Backend, retry: bool = False,
           mode: str = "auto", rerun_stale: bool = False, add: bool = False) -> pd.DataFrame:
    """Run the cells not yet in ``store`` (with ``retry``, also those that failed or timed out; with
    ``rerun_stale``, also those made by other code); -> the stored rows of all ``cells``.

    Stored cells made by other code than this (``code_hash``) are kept unless ``rerun_stale``,
    with a warning either way. A store holding cells that are not among ``cells`` is refused unless
    ``add``: a matrix is written into another's store only when asked.
    """
    with store:
        others = foreign(cells, store.cells())
        if others and not add:
            raise UserError(f"results store {store.path} holds {others} cells that are not in this matrix (another "
                            f"matrix's, or this one's before an edit); --add writes this matrix beside them, or choose "
                            f"another --out")
        finished = store.finished_ids(retry)
        current = store.finished_ids(retry, code=code_hash())
        stale = sum(cell.cell_id in finished - current for cell in cells)
        todo = [cell for cell in cells if cell.cell_id not in (current if rerun_stale else finished)]
        if stale:
            action = "running them again" if rerun_stale else "keeping them; --rerun-stale runs them again"
            print(f"warning: {stale} stored cells were made by other code than this (source hash {code_hash()}); "
                  f"{action}", file=sys.stderr)
        if mode != "quiet" and len(todo) < len(cells):
            print(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already stored", file=sys.stderr)
        if todo:
            dispatch(todo, store, job, backend, mode)
        stored = store.cells()
    ids = {cell.cell_id for cell in cells}
    return stored[stored["cell_id"].isin(ids)].reset_index(drop=True)
