"""Evaluations to reach absolute loss targets, and COCO's expected running time (ERT).

For problems with a known optimum (synthetic functions, BBOB's f - f_opt), targets
are absolute losses such as 1e-8. A run hits target t at the first step whose best
loss is <= t; evaluations count whole generations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .anytime import cost_to_reach
from .ledger import Budget
from .optimizer import Optimizer
from .problem import Problem
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


def run_to_targets(problem: Problem, optimizer: Optimizer, seed: int, targets: list[float],
                   max_evaluations: int) -> TargetRun:
    """Run until ``max_evaluations`` or the optimizer's own stop; a failed run keeps its trace's hits."""
    result = run(problem, optimizer, Budget(evaluations=max_evaluations), seed=seed)
    return TargetRun(evaluations_to_targets(result.trace, targets), result.spent["evaluations"], result.status,
                     result.error)


def expected_running_time(hits: list[float], spent: list[float]) -> float:
    """ERT of one target over runs ``hits [runs]``, ``spent [runs]``: all evaluations (to the hit, else all
    spent) divided by the number of hits; inf when no run hit."""
    successes = sum(math.isfinite(h) for h in hits)
    if not successes:
        return math.inf
    return sum(h if math.isfinite(h) else s for h, s in zip(hits, spent)) / successes
