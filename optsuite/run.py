"""One run: an optimizer on a problem under a budget, traced and measured.

A run never raises for a failure of the optimizer or the loss: it returns a result
whose ``status`` says what happened ("ok", "nan", "failed") with the trace so far.
It can keep the optimizer's best parameters at fixed fractions of its budget
(checkpoints), from which anytime figures of a network's accuracy are drawn.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .errors import UserError, one_line
from .budget import Budget
from .ledger import Ledger, MeteredProblem
from .optimizer import Optimizer
from .problem import Problem


@dataclass(frozen=True)
class Checkpoint:
    """The optimizer's ``best`` parameters ``[dim]`` once ``fraction`` of the budget was spent (or at the
    end of a run that stopped earlier), after ``step`` steps that had spent ``spent``."""

    fraction: float
    step: int
    spent: dict[str, float]
    best: torch.Tensor


@dataclass
class RunResult:
    status: str  # "ok", "nan" (a loss or metric turned non-finite), "failed" (an exception)
    stop: str  # the budget unit exhausted, "done", or the failure
    metrics: dict[str, float]
    spent: dict[str, float]
    trace: list[dict[str, float]] = field(default_factory=list)
    best: torch.Tensor | None = None
    error: str | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)


@functools.lru_cache(maxsize=None)
def warm_up() -> None:
    """Import every built-in and pay torch's one-time costs (the first optimizer step loads torch._dynamo:
    seconds) before any run's clock starts; once per process."""
    from .registry import OPTIMIZERS, PROBLEMS

    OPTIMIZERS.names(), PROBLEMS.names()
    x = torch.zeros(1, requires_grad=True)
    (x * x).sum().backward()
    torch.optim.AdamW([x]).step()


def run(problem: Problem, optimizer: Optimizer, budget: Budget | None = None, seed: int = 0,
        checkpoints: Sequence[float] = ()) -> RunResult:
    """Run ``optimizer`` on ``problem`` until ``budget`` (default: the optimizer's) is spent.

    ``checkpoints``: increasing fractions of the budget (:meth:`Budget.progress`) at which to keep the
    optimizer's best parameters; those a run does not reach are taken at its end.
    """
    reason = optimizer.supports(problem)
    if reason:
        raise UserError(reason)
    budget = budget or optimizer.default_budget
    ledger = Ledger(problem.device)
    metered = MeteredProblem(problem, ledger)
    status, stop, error = "ok", "", None
    pending, kept = sorted(checkpoints), []

    def keep(progress: float) -> None:
        while pending and pending[0] <= progress:
            kept.append(Checkpoint(pending.pop(0), ledger.steps, ledger.spent(), optimizer.best().detach().clone()))

    try:
        optimizer.init(metered, seed)
        while (unit := ledger.exhausted(budget)) is None:
            info = optimizer.step(metered, problem.draw(ledger.steps, seed))
            loss = float(info.loss)
            ledger.record_step(loss)
            if not math.isfinite(loss):
                status, stop, error = "nan", "nan", f"loss turned {loss} at step {ledger.steps}"
                break
            keep(budget.progress(ledger.spent()))
            if info.done:
                unit = "done"
                break
        stop = stop or unit
        keep(math.inf)
        best = optimizer.best().detach()
        metrics = problem.metrics(best)
    except UserError:
        raise
    except Exception as exc:  # recorded, not raised: one failure must not lose a matrix
        return RunResult("failed", "error", {}, ledger.spent(), ledger.trace, None, one_line(exc), kept)
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad and status == "ok":
        status, error = "nan", f"metric {bad[0]} is {metrics[bad[0]]}"
    return RunResult(status, stop, metrics, ledger.spent(), ledger.trace, best, error, kept)
