"""Problems trained part by part: independent parts, each its own run, assembled into one parameter vector.

A :class:`Decomposable` problem (a NoProp-DT network: T blocks and a head) splits into
parts whose losses share no parameters, so each part can be trained alone by any
optimizer, in any order or in parallel, and :meth:`Decomposable.assemble` puts the
trained parts back together. :func:`run_parts` does that under one budget for the whole
problem, split over the parts (:func:`split_budget`), and reads the assembled
parameters' metrics at the same fractions of every part's budget, so that a network
trained part by part compares with networks trained whole at equal total cost.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from .budget import UNITS, Budget
from .errors import UserError
from .keys import config_key
from .optimizer import Optimizer
from .parent import watch_parent
from .problem import Problem
from .registry import OPTIMIZERS, PROBLEMS
from .run import RunResult, run, warm_up

SPLITS = ("equal", "size")  # a whole budget's split over the parts: equal shares, or by parameter count
CHECKPOINTS = tuple(2.0**-k for k in range(7, -1, -1))  # fractions of each part's budget, log-spaced
SUMMED = tuple(u for u in UNITS if u != "peak_memory_bytes")  # peak memory: the largest part's


@dataclass(frozen=True)
class Part:
    """One independent part: its ``label`` (``"block 1"``, ``"head"``) and its problem as registered name and
    settings, so that any process can build it."""

    label: str
    problem: str
    settings: dict[str, Any]

    def build(self) -> Problem:
        return PROBLEMS.create(self.problem, **self.settings)


class Decomposable:
    """Mixin of a :class:`~optsuite.problem.Problem` whose parameters are independent parts.

    ``budget_split``: how a whole budget is shared (:data:`SPLITS`). A subclass implements
    ``part_labels``, ``parts`` and ``assemble``; runners train it part by part.
    """

    budget_split: str = "equal"

    def part_labels(self) -> list[str]:
        raise NotImplementedError

    def parts(self, needs: Mapping[str, Sequence[str]] | None = None) -> list[Part]:
        """The parts in :meth:`part_labels` order. ``needs``: label -> capabilities its solver requires; a
        part may take a form that offers them (a head with a squared loss for a closed-form solve)."""
        raise NotImplementedError

    def assemble(self, bests: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The problem's parameters ``[dim]`` from each part's trained parameters, by label."""
        raise NotImplementedError


def plan(problem: Decomposable, name: str, hyper: dict[str, Any],
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[Part, Problem, Optimizer]]:
    """Each part, built, with its solver: ``name(**hyper)`` unless ``overrides`` names another for its label
    (``{"head": {"name": "analytic", "hyper": {}}}``). An unknown label or a solver that cannot run its part
    is a one-line UserError."""
    overrides = dict(overrides or {})
    labels = problem.part_labels()
    unknown = sorted(set(overrides) - set(labels))
    if unknown:
        raise UserError(f"problem {problem.name!r} has no part {unknown[0]!r}; parts: {', '.join(labels)}")
    chosen = {label: overrides.get(label, {"name": name, "hyper": hyper}) for label in labels}
    solvers = {label: OPTIMIZERS.create(c["name"], **c.get("hyper", {})) for label, c in chosen.items()}
    out = []
    for part in problem.parts({label: s.requires for label, s in solvers.items()}):
        built = part.build()
        reason = solvers[part.label].supports(built)
        if reason:
            raise UserError(f"{part.label}: {reason}")
        out.append((part, built, solvers[part.label]))
    return out


def solver_pairs(problem: Problem, name: str, hyper: dict[str, Any],
                 overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[str | None, Problem, Optimizer]]:
    """What would train ``problem``: (part label, part problem, solver) for each part of a decomposable problem
    (:func:`plan`), else ``(None, problem, name(**hyper))``. A solver that cannot run its problem, or part
    ``overrides`` on a problem that has no parts, is a one-line UserError."""
    if isinstance(problem, Decomposable):
        return [(part.label, built, solver) for part, built, solver in plan(problem, name, hyper, overrides)]
    if overrides:
        raise UserError(f"part overrides ({', '.join(sorted(overrides))}) need a problem trained part by part; "
                        f"{problem.name!r} is not")
    optimizer = OPTIMIZERS.create(name, **hyper)
    reason = optimizer.supports(problem)
    if reason:
        raise UserError(reason)
    return [(None, problem, optimizer)]


def unsupported(problem: Problem, name: str, hyper: dict[str, Any],
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str | None:
    """Why ``name(**hyper)``, with part ``overrides``, cannot train ``problem`` (one line); None if it can
    (see :func:`solver_pairs`)."""
    try:
        solver_pairs(problem, name, hyper, overrides)
    except UserError as exc:
        return str(exc)
    return None


def memory_mistake(pairs: Sequence[tuple[str | None, Problem, Optimizer]]) -> str | None:
    """Of :func:`solver_pairs`, the first whose generation cannot fit in memory
    (:meth:`~optsuite.optimizer.Optimizer.memory_mistake`), named by its part; None if all fit."""
    for label, problem, solver in pairs:
        mistake = solver.memory_mistake(problem)
        if mistake:
            return f"{label}: {mistake}" if label else mistake
    return None


def split_budget(budget: Budget, sizes: Sequence[int], how: str = "equal") -> list[Budget]:
    """Each part's share of ``budget`` for parts of ``sizes`` parameters: equal shares, or shares
    proportional to the sizes (``how="size"``). Counted units are rounded down (at least 1); peak memory
    is not split: it limits each part."""
    if how not in SPLITS:
        raise UserError(f"unknown budget split {how!r}; known: {', '.join(SPLITS)}")
    total = sum(sizes)
    return [budget.scaled(1 / len(sizes) if how == "equal" else size / total) for size in sizes]


@dataclass
class PartsResult:
    """A decomposable problem trained part by part.

    ``status``: "ok", or the first part's that was not ("nan", "failed", "timeout"), with ``error``
    naming the part; ``metrics`` of the assembled parameters (empty unless every part finished);
    ``spent`` summed over parts (peak memory: the largest); ``parts`` one record per part;
    ``checkpoints``: per fraction of the parts' budgets, the summed spend and the assembled metrics.
    """

    status: str
    stop: str
    error: str | None
    metrics: dict[str, float]
    spent: dict[str, float]
    parts: list[dict[str, Any]]
    checkpoints: list[dict[str, float]] = field(default_factory=list)
    best: torch.Tensor | None = None


def part_record(part: Part, problem: Problem, solver: Optimizer, budget: Budget, result: RunResult,
                status: str) -> dict[str, Any]:
    return {"part": part.label, "solver": config_key(solver.name, solver.hyper), "status": status,
            "stop": result.stop, "error": result.error or "", "dim": problem.dim, "budget": budget.as_dict(),
            **{f"metric_{k}": v for k, v in result.metrics.items()}, **{f"spent_{k}": v for k, v in result.spent.items()}}


def summed(spends: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Totals over parts: every unit summed, peak memory the largest part's."""
    out = {unit: sum(s[unit] for s in spends) for unit in SUMMED}
    out["peak_memory_bytes"] = max(s["peak_memory_bytes"] for s in spends)
    return out


def run_part(index: int, part: Part, solver: Optimizer, budget: Budget, seed: int,
             checkpoints: Sequence[float]) -> tuple[int, RunResult]:
    """Part ``index``'s run, its problem built here (in a worker process, where parts run in parallel, its
    one-time costs paid before the clock starts)."""
    warm_up()
    return index, run(part.build(), solver, budget, seed, checkpoints)


def part_news(label: str, result: RunResult, done: int, total: int) -> str:
    """``"block 2 done (2 of 4 parts): ok, train_loss 0.0123, 1.5 s"``: a line of progress."""
    loss = result.metrics.get("train_loss")
    fit = f", train_loss {loss:.4g}" if loss is not None else f" ({result.error})" if result.error else ""
    return f"{label} done ({done} of {total} parts): {result.status}{fit}, {result.spent.get('seconds', 0):.1f} s"


def run_parts(problem: Decomposable, planned: list[tuple[Part, Problem, Optimizer]], budget: Budget | None,
              seed: int, jobs: int = 1, time_limit: float | None = None,
              checkpoints: Sequence[float] = CHECKPOINTS, news: Callable[[str], None] | None = None) -> PartsResult:
    """Train every part of ``problem`` with its solver (:func:`plan`) and assemble them.

    ``budget``: for the whole problem, split over the parts by ``problem.budget_split`` (None: each solver's
    default budget). Parts whose solver is closed-form (``Optimizer.closed_form``: it spends what its solve
    needs) run first, and what they leave of the budget is split over the other parts, so the network
    spends its whole budget (not for a budget in steps, a count per part rather than a common currency:
    its shares stay). ``jobs`` > 1 trains that many parts at once (joblib processes).
    ``time_limit``: seconds for the whole problem; each part may take its share (``time_limit * jobs /
    parts``; after closed-form parts, the others share what those left), and a part stopped by it makes
    the result "timeout". Every part runs with ``seed``, so each
    sees the draws it would see trained alone. ``news`` hears a line (:func:`part_news`) as each part
    finishes.
    """
    sizes = [built.dim for _, built, _ in planned]
    budgets = (split_budget(budget, sizes, problem.budget_split) if budget else
               [Budget.or_default(None, s) for _, _, s in planned])
    share = lambda seconds, parts: None if seconds is None else seconds * min(jobs, parts) / parts
    shares = [share(time_limit, len(planned))] * len(planned)
    capped = [b.capped(shares[0]) for b in budgets]
    results: list[RunResult] = [None] * len(planned)
    done = iter(range(1, len(planned) + 1))

    def train(indices: list[int]) -> None:
        for i, result in run_indices(planned, indices, capped, seed, jobs, checkpoints):
            results[i] = result
            if news is not None:
                news(part_news(planned[i][0].label, result, next(done), len(planned)))

    first = [i for i, (_, _, solver) in enumerate(planned) if budget and budget.steps is None and solver.closed_form]
    rest = [i for i in range(len(planned)) if i not in first]
    if first and rest:
        started = time.monotonic()
        train(first)
        left = budget.less(summed([results[i].spent for i in first]))
        seconds = None if time_limit is None else max(1e-3, time_limit - (time.monotonic() - started))
        for i, b in zip(rest, split_budget(left, [sizes[i] for i in rest], problem.budget_split)):
            shares[i] = share(seconds, len(rest))
            budgets[i], capped[i] = b, b.capped(shares[i])
        train(rest)
    else:
        train(list(range(len(planned))))
    records, failure = [], None
    for (part, built, solver), own, used, result, seconds in zip(planned, budgets, capped, results, shares):
        status = "timeout" if own.cut_short(used, result.status, result.stop) else result.status
        records.append(part_record(part, built, solver, used, result, status))
        if status != "ok" and failure is None:
            failure = (status, f"{part.label}: {result.error or f'stopped at its {seconds:g} s share of the time limit'}")
    spent = summed([r.spent for r in results])
    stop = "done" if all(r.stop == "done" for r in results) else next(r.stop for r in results if r.stop != "done")
    if failure:
        return PartsResult(failure[0], "error" if failure[0] != "timeout" else "time_limit", failure[1], {}, spent,
                           records, assembled_checkpoints(problem, planned, results))
    best = problem.assemble({part.label: r.best for (part, _, _), r in zip(planned, results)})
    metrics = problem.metrics(best)
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    status, error = ("nan", f"metric {bad[0]} is {metrics[bad[0]]}") if bad else ("ok", None)
    return PartsResult(status, stop, error, metrics, spent, records, assembled_checkpoints(problem, planned, results),
                       best)


def run_indices(planned: list[tuple[Part, Problem, Optimizer]], indices: list[int], budgets: list[Budget], seed: int,
                jobs: int, checkpoints: Sequence[float]) -> Iterator[tuple[int, RunResult]]:
    """``(i, result)`` of each part ``i`` in ``indices`` under ``budgets[i]``, in the order they finish
    (``jobs`` > 1: in joblib processes that end with this one, however it dies)."""
    from joblib import Parallel, delayed

    if jobs > 1 and len(indices) > 1:
        pool = Parallel(n_jobs=jobs, return_as="generator_unordered", initializer=watch_parent, initargs=(os.getpid(),))
        yield from pool(delayed(run_part)(i, planned[i][0], planned[i][2], budgets[i], seed, checkpoints) for i in indices)
    else:
        yield from ((i, run(planned[i][1], planned[i][2], budgets[i], seed, checkpoints)) for i in indices)


def assembled_checkpoints(problem: Decomposable, planned: list[tuple[Part, Problem, Optimizer]],
                          results: list[RunResult]) -> list[dict[str, float]]:
    """Per checkpoint fraction that every part reached: the spend summed over parts so far and the metrics
    of the parameters assembled from the parts' checkpoints."""
    rows = []
    for marks in zip(*(r.checkpoints for r in results)):
        params = problem.assemble({part.label: m.best for (part, _, _), m in zip(planned, marks)})
        rows.append({"fraction": marks[0].fraction, **summed([m.spent for m in marks]), **problem.metrics(params)})
    return rows
