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
from .optimizer import Optimizer, StepInfo
from .problem import Draw, Problem


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


class RunLoop:
    """One run in the pieces :func:`run` is made of, for a caller that drives several runs at once
    (:mod:`optsuite.batch`): :meth:`start`, then per step :meth:`next_draw` (None once a budget unit is
    spent), the optimizer's step on :attr:`metered` and :meth:`record` of its :class:`StepInfo` (False:
    stop), then :meth:`finish`; :meth:`failed` where any piece raised an exception that is not a UserError.
    """

    def __init__(self, problem: Problem, optimizer: Optimizer, budget: Budget | None = None, seed: int = 0,
                 checkpoints: Sequence[float] = ()) -> None:
        reason = optimizer.supports(problem)
        if reason:
            raise UserError(reason)
        self.problem, self.optimizer, self.seed = problem, optimizer, seed
        self.budget = Budget.or_default(budget, optimizer)
        self.ledger = Ledger(problem.device)
        self.metered = MeteredProblem(problem, self.ledger)
        self.status, self.stop, self.error = "ok", "", None
        self.pending, self.kept = sorted(checkpoints), []

    def start(self) -> None:
        self.optimizer.init(self.metered, self.seed)

    def next_draw(self) -> Draw | None:
        """The next step's draw, or None (and the unit as :attr:`stop`) once a unit of the budget is spent."""
        unit = self.ledger.exhausted(self.budget)
        if unit is not None:
            self.stop = unit
            return None
        return self.problem.draw(self.ledger.steps, self.seed)

    def record(self, info: StepInfo) -> bool:
        """Close a step: trace it, keep the checkpoints it passed; False where the run ends here (a non-finite
        loss, or the optimizer done)."""
        loss = float(info.loss)
        row = self.ledger.record_step(loss)
        if not math.isfinite(loss):
            self.status, self.stop, self.error = "nan", "nan", f"loss turned {loss} at step {self.ledger.steps}"
            return False
        self.keep(self.budget.progress(row))
        if info.done:
            self.stop = "done"
            return False
        return True

    def keep(self, progress: float) -> None:
        while self.pending and self.pending[0] <= progress:
            best = self.optimizer.best().detach().clone()
            self.kept.append(Checkpoint(self.pending.pop(0), self.ledger.steps, self.ledger.spent(), best))

    def finish(self) -> RunResult:
        """The result: the optimizer's best and its metrics."""
        self.keep(math.inf)
        best = self.optimizer.best().detach()
        metrics = self.problem.metrics(best)
        status, error = self.status, self.error
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad and status == "ok":
            status, error = "nan", f"metric {bad[0]} is {metrics[bad[0]]}"
        return RunResult(status, self.stop, metrics, self.ledger.spent(fresh=True), self.ledger.trace, best, error,
                         self.kept)

    def failed(self, exc: BaseException) -> RunResult:
        """The result of a run that raised ``exc``: recorded, with the trace so far."""
        return RunResult("failed", "error", {}, self.ledger.spent(fresh=True), self.ledger.trace, None, one_line(exc),
                         self.kept)


def run(problem: Problem, optimizer: Optimizer, budget: Budget | None = None, seed: int = 0,
        checkpoints: Sequence[float] = ()) -> RunResult:
    """Run ``optimizer`` on ``problem`` until ``budget`` (default: the optimizer's) is spent.

    ``checkpoints``: increasing fractions of the budget (:meth:`Budget.progress`) at which to keep the
    optimizer's best parameters; those a run does not reach are taken at its end.
    """
    loop = RunLoop(problem, optimizer, budget, seed, checkpoints)
    try:
        loop.start()
        while (draw := loop.next_draw()) is not None and loop.record(optimizer.step(loop.metered, draw)):
            pass
        return loop.finish()
    except UserError:
        raise
    except Exception as exc:  # recorded, not raised: one failure must not lose a matrix
        return loop.failed(exc)
