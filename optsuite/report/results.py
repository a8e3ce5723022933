"""A results store read for comparison: cells grouped by problem, traces by cell, metric choice.

A problem is identified by its name and settings, shown as ``sphere(dim=10)``. Only
cells with status "ok" contribute final metrics; the others are counted, never dropped
silently.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..keys import problem_key

REQUIRED_COLUMNS = ("cell_id", "problem", "problem_args", "optimizer", "label", "seed", "status")


@dataclass(frozen=True)
class Metric:
    column: str
    title: str
    higher_is_better: bool


ACCURACY = Metric("metric_test_accuracy", "test accuracy", True)
CHAIN_ACCURACY = Metric("metric_test_chain_accuracy", "chain accuracy", True)  # NoProp: nearest embedding to z_T
TRAIN_ACCURACY = Metric("metric_train_accuracy", "train accuracy", True)
TEST_LOSS = Metric("metric_test_loss", "test loss", False)
TRAIN_LOSS = Metric("metric_train_loss", "train loss", False)


SLUG_LENGTH = 150  # a longer slug is cut and ends in a hash of the whole text (file names hold 255 bytes)


def slug(text: str, empty: str = "problem") -> str:
    """A file-name-safe form of a problem key or label: ``sphere(dim=10) -> sphere-dim-10`` (``empty`` where nothing
    is left); never ``.`` or ``..`` (no leading or trailing dot), at most :data:`SLUG_LENGTH` characters."""
    name = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.") or empty
    if len(name) > SLUG_LENGTH:
        name = f"{name[:SLUG_LENGTH - 9]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return name


def has_metric(cells: pd.DataFrame, metric: Metric) -> bool:
    return metric.column in cells and bool(np.isfinite(cells[metric.column].astype(float)).any())


def ok_runs(cells: pd.DataFrame) -> pd.DataFrame:
    """The runs whose final metrics count: status "ok"."""
    return cells[cells["status"] == "ok"]


def loss_metric(cells: pd.DataFrame) -> Metric | None:
    """Test loss where the problem has a test split, else train loss."""
    return next((m for m in (TEST_LOSS, TRAIN_LOSS) if has_metric(cells, m)), None)


def trace_loss(cells: pd.DataFrame) -> str:
    """What the traces of ``cells`` (one problem's) record as loss: "minibatch loss" where the runs sampled
    minibatches (the cells' ``minibatch`` column), else "loss"."""
    sampled = "minibatch" in cells and cells["minibatch"].fillna(False).astype(bool).any()
    return "minibatch loss" if sampled else "loss"


def primary_metric(cells: pd.DataFrame) -> Metric | None:
    """What ranks and paired tests use: test accuracy where present, else the loss."""
    return ACCURACY if has_metric(cells, ACCURACY) else loss_metric(cells)


def entries(cells: pd.DataFrame) -> list[str]:
    """The compared thing: the optimizer label, plus its budget where one problem ran it with several."""
    if "budget" not in cells:
        return list(cells["label"])
    budgets = cells.groupby(["problem_key", "label"])["budget"].transform("nunique")
    return [f"{label} @ {budget_text(b)}" if n > 1 else label
            for label, b, n in zip(cells["label"], cells["budget"], budgets)]


TUNED_COSTS = ("sample_forwards", "flops", "seconds")


@dataclass(frozen=True)
class Tuned:
    """A tuned entry's ``picked`` values (``"sigma0=0.05"``; several picks, one per problem point or budget,
    joined by ``;``), its ``trials`` count and their total ``spent`` per unit, and that total per evaluation run
    (``per_run``)."""

    picked: str
    trials: int
    spent: dict[str, float]
    per_run: dict[str, float]


def budget_text(budget: str) -> str:
    """``'{"evaluations": 3000}' -> "evaluations=3000"``."""
    try:
        return ",".join(f"{k}={v:g}" for k, v in json.loads(budget).items()) or "default"
    except (TypeError, ValueError, AttributeError):
        return str(budget)


NO_BUDGET = "default"


def budget_of(results: "Results", key: str, entry: str) -> str:
    """The budget of ``entry``'s runs of problem ``key`` as ``unit=value`` text (:data:`NO_BUDGET` where none)."""
    cells = results.cells_of(key)
    budgets = cells.loc[cells["entry"] == entry, "budget"] if "budget" in cells else []
    return budget_text(budgets.iloc[0]) if len(budgets) else NO_BUDGET


class Results:
    """``cells`` (one row per run, with ``problem_key`` and ``entry`` columns) and ``traces`` of a store.

    The trials of tuned entries (role "tune") are kept apart in ``trials``: they pick hyperparameters and
    count as those entries' tuning cost (:meth:`tuning`), never as results of their own.
    """

    def __init__(self, cells: pd.DataFrame, traces: pd.DataFrame, source: str = "results") -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in cells]
        if missing:
            raise UserError(f"{source} lacks cell columns: {', '.join(missing)}")
        cells = cells.assign(problem_key=[problem_key(p, a) for p, a in zip(cells["problem"], cells["problem_args"])])
        trial = cells["role"].eq("tune") if "role" in cells else pd.Series(False, index=cells.index)
        self.trials = cells[trial]
        cells = cells[~trial]
        self.cells = cells.assign(entry=entries(cells))
        self.traces = traces
        self._by_cell = dict(iter(traces.sort_values(["cell_id", "step"]).groupby("cell_id"))) if len(traces) else {}

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        """Read a results store folder; a missing or empty store is a :class:`UserError`.

        The way to a store from pandas: ``cells`` (a DataFrame, one row per run, with ``problem_key`` and
        ``entry``), ``traces`` (one row per step of each cell's stored attempt) and ``trace(cell_id)``.
        ``pd.read_parquet`` on the folder itself fails (it holds two tables); ``cells.parquet`` alone reads,
        but the trace parts may hold rows of retried attempts, which this loader leaves out.
        """
        from ..store import Store

        path = Path(path)
        if not path.is_dir():
            raise UserError(f"no results store at {path}")
        store = Store(path)
        cells = store.cells()
        if cells.empty:
            raise UserError(f"results store {path} holds no cells")
        return cls(cells, store.traces(cells), f"results store {path}")

    def tuning(self, group: pd.DataFrame) -> Tuned | None:
        """What the tuning of the runs ``group`` (cell rows of one entry) picked and cost; None if untuned."""
        if "tuning_group" not in group or group["tuning_group"].isna().all():
            return None
        groups = set(group["tuning_group"].dropna())
        trials = self.trials[self.trials["tuning_group"].isin(groups)] if len(self.trials) else self.trials
        picks = []
        for hyper, tuned in zip(group["hyper"], group["tuned"]):
            values = json.loads(hyper)
            picks.append(",".join(f"{k}={values[k]}" for k in json.loads(tuned)))
        spent = {unit: float(trials[f"spent_{unit}"].sum()) if f"spent_{unit}" in trials else 0.0 for unit in TUNED_COSTS}
        runs = max(1, len(group))
        return Tuned("; ".join(sorted(set(picks))), len(trials), spent, {u: v / runs for u, v in spent.items()})

    def problems(self) -> list[str]:
        return sorted(self.cells["problem_key"].unique())

    def cells_of(self, key: str) -> pd.DataFrame:
        return self.cells[self.cells["problem_key"] == key]

    def trace(self, cell_id: str) -> pd.DataFrame:
        """The cell's trace rows in step order; empty when the run recorded none."""
        return self._by_cell.get(cell_id, pd.DataFrame(columns=self.traces.columns))

    def entries(self) -> list[str]:
        return sorted(self.cells["entry"].unique())
