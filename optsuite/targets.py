"""Runs to loss targets: a run that stops at its smallest target, read as the evaluations to each target.

For problems with a known optimum (synthetic functions, BBOB's f - f_opt), targets are
absolute losses such as 1e-8. A run hits target t at the first step whose best loss is
<= t; evaluations count whole generations. As in COCO, a run stops at its final
(smallest) target. :mod:`optsuite.report.ert` turns such runs into expected running times.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .budget import Budget
from .optimizer import Optimizer, StepInfo, Wrapper
from .problem import Draw, Problem
from .registry import OPTIMIZERS, PROBLEMS
from .run import run


def evaluations_to_targets(trace: list[dict[str, float]], targets: list[float]) -> list[float]:
    """Evaluations ``[targets]`` at the first trace row whose ``best_loss`` is <= each target (inf: never)."""
    hits = [math.inf] * len(targets)
    for row in trace:
        for k, target in enumerate(targets):
            if math.isinf(hits[k]) and row["best_loss"] <= target:
                hits[k] = float(row["evaluations"])
    return hits


@dataclass(frozen=True)
class TargetRun:
    """One run read against targets: ``hits [targets]`` (evaluations, inf: missed), ``spent`` evaluations."""

    hits: list[float]
    spent: float
    status: str
    error: str | None = None


class StopAtTarget(Wrapper):
    """``optimizer`` unchanged, except that it also reports done once a step's loss is <= ``target``."""

    def __init__(self, optimizer: Optimizer, target: float) -> None:
        super().__init__(optimizer)
        self.target = target

    def reached(self, info: StepInfo) -> StepInfo:
        return StepInfo(info.loss, info.done or info.loss <= self.target)

    def tell(self, losses: torch.Tensor) -> StepInfo:
        return self.reached(self.inner.tell(losses))

    def step(self, problem: Problem, draw: Draw) -> StepInfo:
        return self.reached(self.inner.step(problem, draw))


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
