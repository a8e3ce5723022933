"""The cost ledger: what a run has spent, in every unit, checked against its :class:`~optsuite.budget.Budget`.

Optimizers never report their own costs. They receive a :class:`MeteredProblem`
that charges every loss, gradient and readout call to the ledger.
"""
from __future__ import annotations

import math
import os
import resource
import sys
import time

import torch

from .budget import UNITS, Budget
from .capabilities import LinearReadout
from .population import Population, evaluate
from .problem import Cost, Draw, Problem


_STATUS: dict[int, int] = {}  # process id -> a descriptor of its /proc/self/status, kept open (a fork gets its own)


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory since the last reset: the CUDA allocator's on a GPU, the process's resident set on the CPU.

    On Linux the resident high-water mark ``VmHWM`` (which :func:`reset_peak_memory` clears), read with one
    ``pread`` of ``/proc/self/status`` kept open: a run reads it every step, and opening the file took three
    times as long as reading it. Elsewhere, the lifetime peak.
    """
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        pid = os.getpid()
        if pid not in _STATUS:
            _STATUS[pid] = os.open("/proc/self/status", os.O_RDONLY)
        data = os.pread(_STATUS[pid], 1 << 14, 0)
        start = data.index(b"VmHWM:") + 6
        return int(data[start : data.index(b"kB", start)]) * 1024
    except (OSError, ValueError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak, so each run reports its own rather than the process's lifetime peak."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current resident size
    except OSError:
        pass


PEAK_READ_SECONDS = 0.01  # a trace row's peak memory may be this old: reading it took most of a fast step's cost


class Ledger:
    """Running totals of a run, and one trace row per step.

    The peak memory of a trace row is read afresh when the last reading is older than
    :data:`PEAK_READ_SECONDS` (on the CPU a reading costs about 10 us, more than the rest of
    the run loop's own work per step), so rows of steps faster than that may repeat the last
    reading; :meth:`spent` with ``fresh=True`` (a run's final totals) always reads it.
    """

    def __init__(self, device: torch.device = torch.device("cpu")) -> None:
        self.device = device
        self.steps = 0
        self.cost = Cost()
        self.started = time.perf_counter()
        self.trace: list[dict[str, float]] = []
        self.best_loss = math.inf
        self.peak = (-math.inf, 0)  # (when, bytes) of the last reading
        reset_peak_memory(device)

    def charge(self, cost: Cost) -> None:
        self.cost = self.cost + cost

    def peak_memory(self, fresh: bool = False) -> int:
        """Peak memory: the last reading where it is younger than :data:`PEAK_READ_SECONDS`, unless ``fresh``."""
        now = time.perf_counter()
        if fresh or now - self.peak[0] >= PEAK_READ_SECONDS:
            self.peak = (now, peak_memory_bytes(self.device))
        return self.peak[1]

    def spent_in(self, unit: str) -> float:
        """The total in one unit of :data:`UNITS` (peak memory is read only when asked for)."""
        if unit == "seconds":
            return time.perf_counter() - self.started
        if unit == "peak_memory_bytes":
            return self.peak_memory()
        return self.steps if unit == "steps" else getattr(self.cost, unit)

    def spent(self, fresh: bool = False) -> dict[str, float]:
        """Totals in every unit of :data:`UNITS` (``fresh``: peak memory read now)."""
        if fresh:
            self.peak_memory(fresh=True)
        return {unit: self.spent_in(unit) for unit in UNITS}

    def exhausted(self, budget: Budget) -> str | None:
        """The first unit of ``budget`` that is used up, or None."""
        for unit, limit in budget.as_dict().items():
            if self.spent_in(unit) >= limit:
                return unit
        return None

    def record_step(self, loss: float) -> dict[str, float]:
        """Close a step: append a trace row of the totals and the best loss so far."""
        self.steps += 1
        if loss < self.best_loss:
            self.best_loss = loss
        row = {**self.spent(), "loss": loss, "best_loss": self.best_loss}
        self.trace.append(row)
        return row


class MeteredProblem:
    """A read-through view of a problem that charges every call to a ledger."""

    def __init__(self, problem: Problem, ledger: Ledger) -> None:
        self._problem = problem
        self._ledger = ledger

    def __getattr__(self, name: str):
        return getattr(self._problem, name)

    def evaluate(self, params: Population, draw: Draw) -> torch.Tensor:
        """Losses of ``params`` (dense or low-rank: both are charged as the same P candidates)."""
        self.charge(params, draw)
        with torch.no_grad():
            return evaluate(self._problem, params, draw)

    def charge(self, params: Population, draw: Draw) -> None:
        """Charge the evaluation of ``params`` on ``draw`` (where a caller evaluates it with others' populations)."""
        self._ledger.charge(self._problem.cost(params.shape[0], draw))

    def loss_and_grad(self, params: torch.Tensor, draw: Draw) -> tuple[torch.Tensor, torch.Tensor]:
        self._ledger.charge(self._problem.cost(1, draw, grad=True))
        return self._problem.loss_and_grad(params, draw)

    def linear_readout(self) -> LinearReadout | None:
        readout = self._problem.linear_readout()
        if readout is None:
            return None
        ledger = self._ledger

        def batches():
            for phi, y in readout.batches():
                n = phi.shape[0]
                ledger.charge(Cost(0, n, n * readout.flops_per_sample))
                yield phi, y

        return LinearReadout(batches, readout.pack, readout.ridge, readout.flops_per_sample)
