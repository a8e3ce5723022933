"""Runs batched together: several runs on one problem whose populations are evaluated in shared calls.

Each run steps in a thread of its own, behind the usual Optimizer interface, one thread at a
time (threads that step at once contend for the interpreter at every small torch operation,
which made their steps more than twice as slow on the CPU); its
``evaluate`` calls wait at a :class:`Batcher`, which, once every live run waits (or has
ended), evaluates what they asked for in one ``evaluate`` call per distinct draw (runs with
the same seed see the same draw at the same step, so their populations share one call),
and hands each run its slice. A problem's evaluation of a candidate does not depend on the
other candidates of its population, so every run's numbers are bit-identical to running it
alone; only its wall-clock seconds differ (they include the wait for the others), so a
budget in seconds is not batched.

Optimizers that draw from process-global random state (``batchable = False``: pycma, which
samples from numpy's global generator) would interleave their draws across threads, and
are never batched; neither are optimizers that call ``evaluate`` only now and then
(``gd``'s gradients bypass the batcher, so it would only make the others wait).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .budget import Budget
from .optimizer import Optimizer
from .problem import Draw, Problem
from .run import RunResult, run


@dataclass
class Request:
    params: torch.Tensor
    draw: Draw
    result: torch.Tensor | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class Batcher:
    """Gathers the ``evaluate`` calls of ``live`` runs and answers them together (see the module's note)."""

    problem: Problem
    live: int
    pending: list[Request] = field(default_factory=list)
    calls: int = 0  # shared evaluate calls made
    condition: threading.Condition = field(default_factory=threading.Condition)

    def evaluate(self, params: torch.Tensor, draw: Draw) -> torch.Tensor:
        request = Request(params, draw)
        with self.condition:
            self.pending.append(request)
            self.flush_if_all_wait()
            while not request.done:
                self.condition.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def ended(self) -> None:
        """A run has ended: the others no longer wait for it."""
        with self.condition:
            self.live -= 1
            self.flush_if_all_wait()

    def flush_if_all_wait(self) -> None:
        if not self.pending or len(self.pending) < self.live:
            return
        groups: dict[tuple[int, int], list[Request]] = {}
        for request in self.pending:
            groups.setdefault((request.draw.seed, request.draw.step), []).append(request)
        self.pending = []
        for group in groups.values():
            self.answer(group)
        self.condition.notify_all()

    def answer(self, group: list[Request]) -> None:
        """One evaluate call for the requests of one draw; each request gets its rows."""
        self.calls += 1
        try:
            with torch.no_grad():
                losses = self.problem.evaluate(torch.cat([r.params for r in group]), group[0].draw)
            for request, part in zip(group, losses.split([r.params.shape[0] for r in group])):
                request.result = part
        except Exception as exc:  # every run of the call records the failure, as it would alone
            for request in group:
                request.error = exc
        for request in group:
            request.done = True


class BatchedView:
    """The problem as one batched run sees it: ``evaluate`` goes through the batcher, the rest to the problem."""

    def __init__(self, problem: Problem, batcher: Batcher) -> None:
        self._problem, self._batcher = problem, batcher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._problem, name)

    def evaluate(self, params: torch.Tensor, draw: Draw) -> torch.Tensor:
        return self._batcher.evaluate(params, draw)


def batchable(optimizer: Optimizer, budget: Budget) -> bool:
    """Whether a run of ``optimizer`` under ``budget`` can join a batch (see the module's note)."""
    return bool(getattr(optimizer, "batchable", False)) and budget.seconds is None


def run_batched(problem: Problem, runs: Sequence[tuple[Optimizer, Budget, int]],
                checkpoints: Sequence[float] = ()) -> tuple[list[RunResult], int]:
    """Run every ``(optimizer, budget, seed)`` on ``problem`` together; -> their results, in order, and the
    number of shared evaluate calls. Each result equals :func:`~optsuite.run.run` of that run alone, but
    for its seconds."""
    batcher = Batcher(problem, len(runs))
    results: list[RunResult | None] = [None] * len(runs)

    def one(k: int, optimizer: Optimizer, budget: Budget, seed: int) -> None:
        with batcher.condition:  # one run steps at a time, letting go only while it waits for an evaluation
            try:
                results[k] = run(BatchedView(problem, batcher), optimizer, budget, seed, checkpoints)
            finally:
                batcher.ended()

    threads = [threading.Thread(target=one, args=(k, *spec), name=f"batched-run-{k}") for k, spec in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, batcher.calls
