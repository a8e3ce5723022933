"""Which cells of a matrix run batched together (``--batch-runs K``), as one task of a worker.

Cells of one problem configuration (name, settings and so device) whose optimizers can be
batched (:mod:`optsuite.batch`) go in batches of up to K, cells of one seed side by side,
so that their populations share each step's evaluation call; a problem trained part by
part, part overrides and budgets in seconds run alone, as every other cell does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import groupby

from optsuite.budget import Budget
from optsuite.parts import Decomposable
from optsuite.registry import OPTIMIZERS, PROBLEMS

from .cell import Cell


@dataclass(frozen=True)
class Batch:
    """Cells run together in one sandbox; ``cell_id`` names the task (the cells' ids joined)."""

    cells: tuple[Cell, ...]

    @property
    def cell_id(self) -> str:
        return "+".join(c.cell_id for c in self.cells)

    @property
    def device(self) -> str:
        return self.cells[0].device


Task = Cell | Batch


def cells_of(task: Task) -> tuple[Cell, ...]:
    return task.cells if isinstance(task, Batch) else (task,)


def can_batch(cell: Cell) -> bool:
    """Whether ``cell`` may share its evaluations (see the module's note)."""
    budget = Budget.or_default(cell.budget, OPTIMIZERS.get(cell.optimizer))
    return (getattr(OPTIMIZERS.get(cell.optimizer), "batchable", False) and not cell.parts and budget.seconds is None
            and not issubclass(PROBLEMS.get(cell.problem), Decomposable))


def tasks(cells: list[Cell], size: int) -> list[Task]:
    """``cells`` as tasks: batches of up to ``size`` cells of one problem configuration (one seed's cells side by
    side), every other cell alone; in the cells' order as far as batching allows."""
    if size <= 1:
        return list(cells)
    config = lambda c: (c.problem, json.dumps(c.problem_args, sort_keys=True))
    alone = [c for c in cells if not can_batch(c)]
    batched = sorted((c for c in cells if can_batch(c)), key=lambda c: (config(c), c.seed))
    out: list[Task] = []
    for _, group in groupby(batched, key=config):
        group = list(group)
        out += [Batch(tuple(group[i : i + size])) if len(group[i : i + size]) > 1 else group[i]
                for i in range(0, len(group), size)]
    return out + alone
