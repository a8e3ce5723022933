"""Equal-cost views: every optimizer's best loss (and accuracy) at the same sample-forward and second budgets.

Budgets are four log-spaced values from the median first-step cost to the largest
total cost of the problem's runs. A run's loss at a budget is ``best_loss`` at its
last trace row within the budget; a run that finished earlier keeps its final value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .anytime import COSTS, budget_grid, cost_range, value_within
from .results import ACCURACY, Results, has_metric, slug, trace_loss
from .stats import bootstrap_median
from .tables import Table

EQUAL_COSTS = ("sample_forwards", "seconds")
TRACED_ACCURACY = "test_accuracy"  # a trace column, where a problem traces it
BUDGETS_PER_TABLE = 4


def accuracy_within(trace: pd.DataFrame, cell: pd.Series, cost: str, budget: float) -> float:
    """Traced test accuracy where the trace has it, else the final one if the run ended within ``budget``."""
    if TRACED_ACCURACY in trace and trace[TRACED_ACCURACY].notna().any():  # a network's checkpoints
        return float(value_within(trace.dropna(subset=[TRACED_ACCURACY]), cost, [budget], TRACED_ACCURACY)[0])
    finished = len(trace) and trace[cost].iloc[-1] <= budget and cell["status"] == "ok"
    return float(cell[ACCURACY.column]) if finished else np.nan


def row(traces: dict[str, pd.DataFrame], key: str, entry: str, group: pd.DataFrame, cost: str, budget: float,
        accuracy: bool) -> list:
    losses = np.array([value_within(traces[c], cost, [budget])[0] for c in group["cell_id"]])
    started = int(np.isfinite(losses).sum())
    line = [budget, entry, f"{started}/{len(group)}", bootstrap_median(losses, seed=(key, entry, cost, budget))]
    if accuracy:
        acc = np.array([accuracy_within(traces[c["cell_id"]], c, cost, budget) for _, c in group.iterrows()])
        line.append(bootstrap_median(acc, seed=(key, entry, cost, budget, "acc")) if np.isfinite(acc).all() else None)
    return line


def traces_of(results: Results, problem: pd.DataFrame, cost: str, tuning: bool) -> dict[str, pd.DataFrame]:
    """Each run's trace by cell id; with ``tuning``, its ``cost`` column shifted by the run's share of its entry's
    tuning cost (the tuning's total over the entry's runs), so a tuned run starts where its tuning ended."""
    traces = {c: results.trace(c) for c in problem["cell_id"]}
    if not tuning:
        return traces
    for _, group in problem.groupby("entry"):
        tuned = results.tuning(group)
        if tuned is not None:
            for c in group["cell_id"]:
                traces[c] = traces[c].assign(**{cost: traces[c][cost] + tuned.per_run[cost]})
    return traces


def equal_cost_table(results: Results, key: str, cost: str, tuning: bool = False) -> Table | None:
    """Rows grouped by budget, then optimizer; None when no run of the problem recorded a trace (or, with
    ``tuning``, when no entry of the problem was tuned: the table would repeat the untuned one)."""
    problem = results.cells_of(key)
    if tuning and all(results.tuning(g) is None for _, g in problem.groupby("entry")):
        return None
    traces = traces_of(results, problem, cost, tuning)
    budgets = budget_grid(*cost_range(list(traces.values()), cost), BUDGETS_PER_TABLE)
    if not len(budgets):
        return None
    accuracy = has_metric(problem, ACCURACY)
    body = [row(traces, key, entry, group, cost, b, accuracy)
            for b in budgets for entry, group in problem.groupby("entry", sort=True)]
    columns = [f"{COSTS[cost]} budget", "optimizer", "started", "best loss"] + (["test accuracy"] if accuracy else [])
    notes = [f"best loss: best {trace_loss(problem)} within the budget, median [95% bootstrap interval] over the "
             f"runs started by then (started = runs with a trace row within the budget)"]
    if accuracy:
        notes.append("test accuracy: the traced value where the trace records it, else the final value of runs "
                     "that ended within the budget; '-' unless every run's value is known")
    if tuning:
        notes.append("tuning included: each tuned run's costs start at its share of its entry's tuning cost "
                     "(the trials' total divided by the entry's runs)")
    title = f"{key}: equal {COSTS[cost]}" + (", tuning included" if tuning else "")
    name = f"equal-{cost.replace('_', '-')}{'-tuned' if tuning else ''}-{slug(key)}"
    return Table(name, title, columns, body, notes)
