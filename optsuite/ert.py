"""Evaluations to reach absolute loss targets, and COCO's expected running time (ERT).

For problems with a known optimum (synthetic functions, BBOB's f - f_opt), targets
are absolute losses such as 1e-8. A run hits target t at the first step whose best
loss is <= t; evaluations count whole generations. As in COCO, a run stops at its
final (smallest) target.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .anytime import cost_to_reach
from .ledger import Budget
from .optimizer import Optimizer, StepInfo
from .problem import Draw, Problem
from .registry import OPTIMIZERS, PROBLEMS
from .run import run


def evaluations_to_targets(trace: list[dict[str, float]], targets: list[float]) -> list[float]:
    """Evaluations ``[targets]`` at the first trace row whose ``best_loss`` is <= each target (inf: never)."""
    frame = pd.DataFrame(trace, columns=["evaluations", "best_loss"])
    return [float(h) for h in cost_to_reach(frame, "evaluations", targets)]


@dataclass(frozen=True)
class TargetRun:
    """One run read against targets: ``hits [targets]`` (evaluations, inf: missed), ``spent`` evaluations."""

    hits: list[float]
    spent: float
    status: str
    error: str | None = None


class StopAtTarget(Optimizer):
    """``optimizer`` unchanged, except that it also reports done once a step's loss is <= ``target``."""

    def __init__(self, optimizer: Optimizer, target: float) -> None:
        self.inner, self.target = optimizer, target
        self.name, self.hyper = optimizer.name, optimizer.hyper

    def supports(self, problem: Problem) -> str | None:
        return self.inner.supports(problem)

    def init(self, problem: Problem, seed: int) -> None:
        self.inner.init(problem, seed)

    def step(self, problem: Problem, draw: Draw) -> StepInfo:
        info = self.inner.step(problem, draw)
        return StepInfo(info.loss, info.done or info.loss <= self.target)

    def best(self):
        return self.inner.best()


def run_to_targets(problem: Problem, optimizer: Optimizer, seed: int, targets: list[float],
                   max_evaluations: int) -> TargetRun:
    """Run until the smallest target, ``max_evaluations`` or the optimizer's own stop.

    A failed run keeps the hits of its trace so far.
    """
    result = run(problem, StopAtTarget(optimizer, min(targets)), Budget(evaluations=max_evaluations), seed=seed)
    return TargetRun(evaluations_to_targets(result.trace, targets), result.spent["evaluations"], result.status,
                     result.error)


def run_named_to_targets(problem: str, problem_args: dict, optimizer: str, hyper: dict, seed: int,
                         targets: list[float], max_evaluations: int) -> TargetRun:
    """:func:`run_to_targets` on registered names: a picklable job for a process pool."""
    return run_to_targets(PROBLEMS.create(problem, **problem_args), OPTIMIZERS.create(optimizer, **hyper), seed,
                          targets, max_evaluations)


def expected_running_time(hits: list[float], spent: list[float]) -> float:
    """ERT of one target over runs ``hits [runs]``, ``spent [runs]``: all evaluations (to the hit, else all
    spent) divided by the number of hits; inf when no run hit."""
    successes = sum(math.isfinite(h) for h in hits)
    if not successes:
        return math.inf
    return sum(h if math.isfinite(h) else s for h, s in zip(hits, spent)) / successes
