"""One run: an optimizer on a problem under a budget, traced and measured.

A run never raises for a failure of the optimizer or the loss: it returns a result
whose ``status`` says what happened ("ok", "nan", "failed") with the trace so far.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .errors import UserError, one_line
from .budget import Budget
from .ledger import Ledger, MeteredProblem
from .optimizer import Optimizer
from .problem import Problem


@dataclass
class RunResult:
    status: str  # "ok", "nan" (a loss or metric turned non-finite), "failed" (an exception)
    stop: str  # the budget unit exhausted, "done", or the failure
    metrics: dict[str, float]
    spent: dict[str, float]
    trace: list[dict[str, float]] = field(default_factory=list)
    best: torch.Tensor | None = None
    error: str | None = None


def run(problem: Problem, optimizer: Optimizer, budget: Budget | None = None, seed: int = 0) -> RunResult:
    """Run ``optimizer`` on ``problem`` until ``budget`` (default: the optimizer's) is spent."""
    reason = optimizer.supports(problem)
    if reason:
        raise UserError(reason)
    budget = budget or optimizer.default_budget
    ledger = Ledger(problem.device)
    metered = MeteredProblem(problem, ledger)
    status, stop, error = "ok", "", None
    try:
        optimizer.init(metered, seed)
        while (unit := ledger.exhausted(budget)) is None:
            info = optimizer.step(metered, problem.draw(ledger.steps, seed))
            loss = float(info.loss)
            ledger.record_step(loss)
            if not math.isfinite(loss):
                status, stop, error = "nan", "nan", f"loss turned {loss} at step {ledger.steps}"
                break
            if info.done:
                unit = "done"
                break
        stop = stop or unit
        best = optimizer.best().detach()
        metrics = problem.metrics(best)
    except UserError:
        raise
    except Exception as exc:  # recorded, not raised: one failure must not lose a matrix
        return RunResult("failed", "error", {}, ledger.spent(), ledger.trace, None, one_line(exc))
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad and status == "ok":
        status, error = "nan", f"metric {bad[0]} is {metrics[bad[0]]}"
    return RunResult(status, stop, metrics, ledger.spent(), ledger.trace, best, error)
