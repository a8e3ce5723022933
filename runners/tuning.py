"""Tuning as part of a matrix, charged to its cost: a grid run first on tuning seeds, the pick then evaluated.

An optimizer entry with ``tune = { sigma0 = [0.2, 0.1, 0.05] }`` becomes, for each problem
point and budget it runs, one :class:`Tuning`: its trial cells (every combination of the
grid on each tuning seed, disjoint from the evaluation seeds, at ``fraction`` of the budget)
and its evaluation cells, which exist once every trial is stored: the combination with the
lowest median final train loss over the tuning seeds (never a test figure; ties go to the
first in grid order) joins the entry's hyperparameters. Trial and evaluation cells share a
``tuning_group`` id, so a report can show the pick and what the tuning cost beside the entry.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from optsuite.budget import Budget
from optsuite.keys import identity

from .cell import Cell

FRACTION = 0.25  # of the evaluation budget, per trial
SEEDS = (1000, 1001)  # tuning seeds, disjoint from the usual evaluation seeds 0..n


@dataclass(frozen=True)
class Settings:
    """A matrix's ``tuning = { seeds = [1000, 1001], fraction = 0.25 }``."""

    seeds: tuple[int, ...] = SEEDS
    fraction: float = FRACTION


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``grid`` in order: ``{"a": [1, 2]}`` -> ``[{"a": 1}, {"a": 2}]``."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


@dataclass(frozen=True)
class Tuning:
    """One tuned (problem point, optimizer point, budget): its ``trials`` and the ``evaluations`` to run with
    the pick (:meth:`evaluation_cells`)."""

    grid: dict[str, list[Any]]
    trials: tuple[Cell, ...]
    evaluations: tuple[Cell, ...]  # the evaluation cells without the tuned values

    def pick(self, stored: pd.DataFrame) -> dict[str, Any] | None:
        """The tuned values, once every trial is stored (``stored``: the store's cell rows); None before."""
        rows = stored.set_index("cell_id") if len(stored) else stored
        if any(t.cell_id not in rows.index for t in self.trials):
            return None
        scores = []
        for values in combinations(self.grid):
            ids = [t.cell_id for t in self.trials if all(t.hyper[k] == v for k, v in values.items())]
            ok = rows.loc[ids]
            losses = ok.loc[ok["status"] == "ok", "metric_train_loss"] if "metric_train_loss" in ok else []
            finite = [float(x) for x in losses if math.isfinite(float(x))]
            scores.append(float(pd.Series(finite).median()) if finite else math.inf)
        return combinations(self.grid)[scores.index(min(scores))]

    def evaluation_cells(self, picked: dict[str, Any] | None) -> list[Cell]:
        """The evaluation cells with the ``picked`` values; none before the pick (``picked`` None)."""
        return [] if picked is None else [replace(c, hyper={**c.hyper, **picked}) for c in self.evaluations]


def group_id(cell: Cell, grid: dict[str, list[Any]], settings: Settings) -> str:
    """16 hex digits naming a tuning: the evaluation configuration without its seed, the grid, the tuning seeds
    and fraction."""
    config = {"problem": cell.problem, "problem_args": identity(cell.problem_args), "optimizer": cell.optimizer,
              "hyper": cell.hyper, "parts": cell.parts, "budget": cell.budget_limits, "grid": grid,
              "seeds": list(settings.seeds), "fraction": settings.fraction}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def tuning(evaluations: list[Cell], grid: dict[str, list[Any]], settings: Settings, optimizer) -> Tuning:
    """The tuning of ``evaluations`` (one configuration, one cell per evaluation seed) over ``grid``; ``optimizer``:
    their optimizer's class, whose default budget they get where they name none (:meth:`Budget.or_default`)."""
    group = group_id(evaluations[0], grid, settings)
    budget = Budget.or_default(evaluations[0].budget, optimizer).scaled(settings.fraction)
    trials = tuple(replace(evaluations[0], seed=seed, budget=budget, hyper={**evaluations[0].hyper, **values},
                           role="tune", group=group)
                   for values in combinations(grid) for seed in settings.seeds)
    marked = tuple(replace(c, group=group, tuned=tuple(grid)) for c in evaluations)
    return Tuning(grid, trials, marked)
