"""Runs batched together: several runs on one problem whose populations are evaluated in shared calls.

Every run is an ask/tell optimizer (:class:`~optsuite.optimizer.AskTell`) driven by a
:class:`~optsuite.run.RunLoop`, all from one thread: each round, every live run asks for its
population; the populations of the runs that share a draw (runs with the same seed see the same
draw at the same step) are evaluated in one ``evaluate`` call, and each run is told its slice. A
problem's evaluation of a candidate does not depend on the other candidates of its population, so
every run's numbers are bit-identical to running it alone; only its wall-clock seconds differ (they
include the others' work), so a budget in seconds is not batched. A low-rank population
(:class:`~optsuite.population.LowRank`) shares its mean's products within itself already: it gets a
call of its own.

Optimizers that draw from process-global random state (``batchable = False``: pycma, which
samples from numpy's global generator) would interleave their draws across runs, and are never
batched; neither are those that do not ask and tell (``gd``'s gradients have no population).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .budget import Budget
from .errors import UserError
from .optimizer import Optimizer
from .population import LowRank, Population, evaluate
from .problem import Draw, Problem
from .run import RunLoop, RunResult


def batchable(optimizer: Optimizer, budget: Budget) -> bool:
    """Whether a run of ``optimizer`` under ``budget`` can join a batch (see the module's note)."""
    return bool(optimizer.batchable and optimizer.asks) and budget.seconds is None


class Member:
    """One run of a batch: its loop and, once it has ended, its result."""

    def __init__(self, loop: RunLoop) -> None:
        self.loop, self.result = loop, None

    def guarded(self, fn: Callable[[], Any]) -> Any:
        """``fn()``; where it raises an exception that is not a UserError, the run is recorded failed and None."""
        try:
            return fn()
        except UserError:
            raise
        except Exception as exc:  # recorded, not raised: one failing run must not stop the others
            self.result = self.loop.failed(exc)
            return None

    def end(self) -> None:
        result = self.guarded(self.loop.finish)
        self.result = self.result or result


def run_batched(problem: Problem, runs: Sequence[tuple[Optimizer, Budget, int]],
                checkpoints: Sequence[float] = ()) -> tuple[list[RunResult], int]:
    """Run every ``(optimizer, budget, seed)`` on ``problem`` together; -> their results, in order, and the
    number of shared evaluate calls. Each result equals :func:`~optsuite.run.run` of that run alone, but
    for its seconds. A run that raises is recorded failed, as alone; the others go on."""
    for optimizer, _, _ in runs:
        if not optimizer.asks:
            raise UserError(f"optimizer {optimizer.name!r} does not ask and tell: it cannot run batched")
    members = [Member(RunLoop(problem, optimizer, budget, seed, checkpoints)) for optimizer, budget, seed in runs]
    for member in members:
        member.guarded(member.loop.start)
    calls = 0
    while live := [m for m in members if m.result is None]:
        asked: dict[Member, tuple[Draw, Population]] = {}
        for member in live:
            draw = member.guarded(member.loop.next_draw)
            if draw is None:
                if member.result is None:
                    member.end()
                continue
            population = member.guarded(member.loop.optimizer.ask)
            if population is not None:
                asked[member] = (draw, population)
        for group in groups(asked):
            calls += 1
            outcome = shared_call(problem, [asked[m][1] for m in group], asked[group[0]][0])
            for member, losses in zip(group, outcome):
                member.loop.metered.charge(asked[member][1], asked[member][0])
                if isinstance(losses, Exception):
                    member.result = member.loop.failed(losses)
                elif not member.guarded(lambda: member.loop.record(member.loop.optimizer.tell(losses))):
                    if member.result is None:
                        member.end()
    return [m.result for m in members], calls


def groups(asked: dict[Member, tuple[Draw, Population]]) -> list[list[Member]]:
    """Runs whose populations share one call: dense populations of one draw together, a low-rank one alone."""
    out: dict[tuple, list[Member]] = {}
    for member, (draw, population) in asked.items():
        key = (draw.seed, draw.step, id(member) if isinstance(population, LowRank) else None)
        out.setdefault(key, []).append(member)
    return list(out.values())


def shared_call(problem: Problem, populations: list[Population], draw: Draw) -> list[torch.Tensor | Exception]:
    """The losses of each population from one ``evaluate`` call; every entry the exception where it raised."""
    try:
        with torch.no_grad():
            if len(populations) == 1:
                return [evaluate(problem, populations[0], draw)]
            losses = evaluate(problem, torch.cat(populations), draw)
        return list(losses.split([p.shape[0] for p in populations]))
    except UserError:
        raise
    except Exception as exc:  # every run of the call records the failure, as it would alone
        return [exc] * len(populations)
