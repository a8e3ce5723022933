"""A cell of a benchmark matrix: one problem, one optimizer with settings, one seed, one budget.

``execute`` runs a cell in the current process and returns plain records (a result
row and its trace rows), so any executor (loky, Dask) can ship them back to the driver.
"""
from __future__ import annotations

import hashlib
import json
import platform
import socket
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from optsuite.errors import UserError
from optsuite.ledger import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

PACKAGES = ("optsuite", "torch", "numpy", "cma", "nevergrad")


@dataclass(frozen=True)
class Cell:
    problem: str
    optimizer: str
    seed: int
    budget: dict[str, float]
    problem_args: dict[str, Any] = field(default_factory=dict)
    hyper: dict[str, Any] = field(default_factory=dict)

    @property
    def cell_id(self) -> str:
        """A hash of the whole configuration: a changed setting is a new cell."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        hyper = ",".join(f"{k}={v}" for k, v in sorted(self.hyper.items()))
        return f"{self.optimizer}({hyper})" if hyper else self.optimizer

    def build(self):
        """(problem, optimizer, budget) objects; raises UserError on bad settings."""
        problem = PROBLEMS.create(self.problem, **self.problem_args)
        optimizer = OPTIMIZERS.create(self.optimizer, **self.hyper)
        budget = Budget.parse(self.budget) if self.budget else None
        reason = optimizer.supports(problem)
        if reason:
            raise UserError(reason)
        return problem, optimizer, budget


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def execute(cell: Cell) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``cell``; never raises for a failure of the run itself (it is recorded)."""
    started = time.time()
    row: dict[str, Any] = {
        "cell_id": cell.cell_id,
        "problem": cell.problem,
        "problem_args": json.dumps(cell.problem_args, sort_keys=True),
        "optimizer": cell.optimizer,
        "label": cell.label,
        "hyper": json.dumps(cell.hyper, sort_keys=True),
        "seed": cell.seed,
        "budget": json.dumps(cell.budget, sort_keys=True),
        "versions": json.dumps(versions(), sort_keys=True),
        "machine": f"{socket.gethostname()} {platform.machine()} {platform.processor() or ''}".strip(),
        "started": started,
    }
    trace: list[dict[str, Any]] = []
    try:
        problem, optimizer, budget = cell.build()
        result = run(problem, optimizer, budget, cell.seed)
        row.update(status=result.status, stop=result.stop, error=result.error or "", dim=problem.dim)
        row.update({f"metric_{k}": v for k, v in result.metrics.items()})
        row.update({f"spent_{k}": v for k, v in result.spent.items()})
        trace = [{"cell_id": cell.cell_id, "step": i + 1, **r} for i, r in enumerate(result.trace)]
    except Exception as exc:
        row.update(status="failed", stop="error", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
    row["finished"] = time.time()
    return row, trace
