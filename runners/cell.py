"""A cell of a benchmark matrix: one problem, one optimizer with settings, one seed, one budget.

``result_rows`` runs a cell in the current process and returns plain records (a result
row and its trace rows), so any executor (loky, Dask) can ship them back to the driver.
Importing this module is cheap: torch loads only when a cell is built or run.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import socket
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable, Iterable

from optsuite.budget import Budget
from optsuite.errors import UserError, one_line
from optsuite.keys import identity, solver_key
from optsuite.registry import OPTIMIZERS, PROBLEMS

PACKAGES = ("optsuite", "torch", "numpy", "cma", "nevergrad")
SOURCE_PACKAGES = ("optsuite", "optsuite.problems", "optsuite.runners")  # the code a cell's result depends on


@dataclass(frozen=True)
class Cell:
    problem: str
    optimizer: str
    seed: int
    budget: Budget | None  # None: the optimizer's default budget
    problem_args: dict[str, Any] = field(default_factory=dict)
    hyper: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # part label -> {"name", "hyper"} overrides
    role: str = "evaluate"  # or "tune": a trial of a tuning grid (runners/tuning.py)
    group: str = ""  # the tuning this cell belongs to, as trial or as evaluation with the pick
    tuned: tuple[str, ...] = ()  # hyperparameters whose values the tuning picked

    @property
    def budget_limits(self) -> dict[str, float]:
        """The budget's limits as given (``{}``: the optimizer's default)."""
        return self.budget.as_dict() if self.budget else {}

    @property
    def cell_id(self) -> str:
        """A hash of the whole configuration: a changed setting is a new cell (where the data lies is no setting:
        :func:`~optsuite.keys.identity`)."""
        config = {"problem": self.problem, "optimizer": self.optimizer, "seed": self.seed,
                  "budget": self.budget_limits, "problem_args": identity(self.problem_args), "hyper": self.hyper}
        if self.parts:
            config["parts"] = self.parts
        if self.group:
            config.update(role=self.role, group=self.group, tuned=list(self.tuned))
        text = json.dumps(config, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """``gd(lr=0.01)``, with any part overrides: ``cma(separable=True) + head: analytic``; a tuned value reads
        ``tuned`` (``snes(sigma0=tuned)``), so one entry has one label on every problem."""
        return solver_key(self.optimizer, {**self.hyper, **{k: "tuned" for k in self.tuned}}, self.parts)

    @property
    def device(self) -> str:
        """The problem's ``device`` setting ("cpu" when it has none)."""
        return str(self.problem_args.get("device", "cpu"))

    def data_fingerprint(self) -> str | None:
        """The fingerprint of the dataset files the problem reads from its ``data_root``; None where it reads none
        (:func:`optsuite.problems.datasets.data_fingerprint`). Raises UserError where they cannot be read."""
        if self.problem_args.get("data_root") is None:
            return None
        from optsuite.problems.datasets import data_fingerprint

        return data_fingerprint(self.problem_args.get("dataset", "digits"), self.problem_args["data_root"])

    def make_problem(self):
        return PROBLEMS.create(self.problem, **self.problem_args)

    def make_optimizer(self):
        return OPTIMIZERS.create(self.optimizer, **self.hyper)

    def unsupported(self, problem) -> str | None:
        """Why this cell's optimizer (with its part overrides) cannot train ``problem``; None if it can."""
        from optsuite.parts import unsupported

        return unsupported(problem, self.optimizer, self.hyper, self.parts)

    def build(self, problem=None):
        """(problem, optimizer, budget) objects, the budget the optimizer's default if the cell names
        none; raises UserError on bad settings. ``problem``: this cell's problem, where already built."""
        problem, optimizer = problem or self.make_problem(), self.make_optimizer()
        reason = self.unsupported(problem)
        if reason:
            raise UserError(reason)
        return problem, optimizer, Budget.or_default(self.budget, optimizer)


@lru_cache(maxsize=1)
def versions() -> str:
    """Installed versions of the packages that shape results, as JSON."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return json.dumps(out, sort_keys=True)


def source_hash(roots: Iterable[Path]) -> str:
    """16 hex digits of SHA-256 over every ``.py`` file under ``roots`` (relative path and bytes, sorted)."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(Path(root).rglob("*.py")):
            digest.update(f"{Path(root).name}/{path.relative_to(root)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def code_hash() -> str:
    """:func:`source_hash` of optsuite's own code (the problems and runners included; not a matrix's imports).

    Stored with every result, so that resuming a store can tell results made by other code.
    """
    roots = {Path(d) for name in SOURCE_PACKAGES for d in (find_spec(name).submodule_search_locations or [])}
    return source_hash(sorted(roots))


def stored_fingerprint(cell: Cell) -> str | None:
    """The cell's data fingerprint for its row; None where it reads no files, or cannot (its run then fails on it
    and says why)."""
    try:
        return cell.data_fingerprint()
    except UserError:
        return None


def config_row(cell: Cell, time_limit: float | None = None) -> dict[str, Any]:
    """The configuration part of a result row; ``run_id`` names this attempt."""
    return {
        "cell_id": cell.cell_id,
        "run_id": uuid.uuid4().hex[:16],
        "problem": cell.problem,
        "problem_args": json.dumps(identity(cell.problem_args), sort_keys=True),
        **({"data": data} if (data := stored_fingerprint(cell)) else {}),
        "optimizer": cell.optimizer,
        "label": cell.label,
        "hyper": json.dumps(cell.hyper, sort_keys=True),
        **({"part_solvers": json.dumps(cell.parts, sort_keys=True)} if cell.parts else {}),
        **({"role": cell.role, "tuning_group": cell.group, "tuned": json.dumps(list(cell.tuned))} if cell.group else {}),
        "seed": cell.seed,
        "budget": json.dumps(cell.budget_limits, sort_keys=True),
        "time_limit": math.nan if time_limit is None else float(time_limit),
        "device": cell.device,
        "versions": versions(),
        "code": code_hash(),
        "machine": f"{socket.gethostname()} {platform.machine()} {platform.processor() or ''}".strip(),
        "started": time.time(),
    }


def lost_row(cell: Cell, status: str, error: str, time_limit: float | None = None) -> dict[str, Any]:
    """The row of a cell whose process never returned (killed at its hard limit, or crashed)."""
    row = config_row(cell, time_limit)
    row.update(status=status, stop="error" if status == "failed" else "time_limit", error=error,
               trace_rows=0, finished=time.time())
    return row


def result_rows(cell: Cell, time_limit: float | None = None, part_jobs: int = 1,
                news: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``cell``; never raises for a failure of the run itself (it is recorded).

    ``time_limit``: seconds the run may take; a run stopped by it has status "timeout"
    and keeps its trace and final metrics. A problem trained part by part runs through
    :func:`optsuite.parts.run_parts` (``part_jobs`` parts at once): its row has the assembled
    network's metrics, the parts' summed costs and a ``parts`` column (JSON, one record per
    part), and its trace one row per checkpoint. ``minibatch``: whether the trace's losses are
    minibatch losses. A network's trace rows at its checkpoints carry its metrics there
    (``test_accuracy``, ...), for anytime accuracy. ``news`` hears a line as each part finishes.
    """
    from optsuite.parts import Decomposable, plan, run_parts
    from optsuite.run import run

    row = config_row(cell, time_limit)
    try:
        problem = cell.make_problem()
        row["network"] = bool(problem.network)
        if isinstance(problem, Decomposable):
            planned = plan(problem, cell.optimizer, cell.hyper, cell.parts)
            result = run_parts(problem, planned, cell.budget, cell.seed, part_jobs, time_limit, news=news)
            row.update(status=result.status, stop=result.stop, error=result.error or "", dim=problem.dim,
                       parts=json.dumps(result.parts), minibatch=False)  # its trace: full train losses
            return finished(row, result, checkpoint_rows(result.checkpoints))
        problem, optimizer, own_budget = cell.build(problem)
        budget = own_budget.capped(time_limit)
        return run_row(row, problem, own_budget, budget, run(problem, optimizer, budget, cell.seed, checkpoints_of(problem)),
                       time_limit)
    except Exception as exc:
        row.update(status="failed", stop="error", error=one_line(exc))
        return finished(row, None, [])


def batch_rows(cells: list[Cell], time_limit: float | None = None) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Run ``cells`` (of one problem configuration, their optimizers batchable) batched together
    (:func:`optsuite.batch.run_batched`); each cell's rows as :func:`result_rows` would give them, and its
    row's ``batched`` column the number of runs it shared its evaluations with. Never raises."""
    from optsuite.batch import run_batched

    rows = [dict(config_row(cell, time_limit), batched=len(cells)) for cell in cells]
    try:
        problem = cells[0].make_problem()
        built = [cell.build(problem)[1:] for cell in cells]
        budgets = [own.capped(time_limit) for _, own in built]
        results, _ = run_batched(problem, [(opt, b, c.seed) for (opt, _), b, c in zip(built, budgets, cells)],
                                 checkpoints_of(problem))
    except Exception as exc:
        return [finished(dict(row, status="failed", stop="error", error=one_line(exc)), None, []) for row in rows]
    return [run_row(dict(row, network=bool(problem.network)), problem, own, budget, result, time_limit)
            for row, (_, own), budget, result in zip(rows, built, budgets, results)]


def checkpoints_of(problem) -> tuple[float, ...]:
    """Where a run keeps its parameters: a network at :data:`optsuite.parts.CHECKPOINTS`, anything else nowhere."""
    from optsuite.parts import CHECKPOINTS

    return CHECKPOINTS if problem.network else ()


def run_row(row: dict[str, Any], problem, own_budget, budget, result, time_limit: float | None):
    """The rows of one run (``budget``: its own, capped by ``time_limit``): status, metrics, costs, trace."""
    row.update(status=result.status, stop=result.stop, error=result.error or "", dim=problem.dim,
               minibatch=problem.minibatched)
    if own_budget.cut_short(budget, result.status, result.stop):
        row.update(status="timeout", stop="time_limit", error=f"stopped at the {time_limit:g} s time limit")
    return finished(row, result, with_checkpoint_metrics(problem, result))


def finished(row: dict[str, Any], result, steps: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The row with the result's metrics and costs, and its trace rows (``steps``); stamped finished now."""
    if result is not None:
        row.update({f"metric_{k}": v for k, v in result.metrics.items()})
        row.update({f"spent_{k}": v for k, v in result.spent.items()})
    trace = [{"cell_id": row["cell_id"], "run_id": row["run_id"], "step": i + 1, **r} for i, r in enumerate(steps)]
    row.update(trace_rows=len(trace), finished=time.time())
    return row, trace


def with_checkpoint_metrics(problem, result) -> list[dict[str, Any]]:
    """The run's trace rows, those where it kept a checkpoint with the problem's metrics of its parameters."""
    rows = [dict(r) for r in result.trace]
    for mark in result.checkpoints:
        if mark.step:
            rows[mark.step - 1].update(problem.metrics(mark.best), checkpoint=mark.fraction)
    return rows


def checkpoint_rows(checkpoints: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Trace rows of a problem trained part by part: one per checkpoint, its loss the assembled parameters'
    full train loss (``best_loss`` the lowest so far)."""
    rows, best = [], math.inf
    for mark in checkpoints:
        loss = mark.get("train_loss", math.nan)
        best = min(best, loss) if math.isfinite(loss) else best
        rows.append({**{k: v for k, v in mark.items() if k != "fraction"}, "checkpoint": mark["fraction"],
                     "loss": loss, "best_loss": best})
    return rows
