"""The headline table: one row per optimizer, one column per problem, the problem's primary metric in each cell.

A compact view of the Networks table (or of the Summary, where the store has no networks):
each cell is the median of the problem's primary metric over the optimizer's ok runs with
its 95% bootstrap interval (the quality rows' own, :func:`~optsuite.report.summary.quality_by_problem`),
"-" where it did not run the problem, and the last column the median total cost of its runs.
"""
from __future__ import annotations

import numpy as np

from .results import Results, ok_runs
from .tables import Table


def pivot_table(results: Results, keys: list[str], rows: dict[str, list[dict]], name: str, title: str) -> Table:
    """Optimizers by the problems ``keys``; ``rows``: the store's quality rows."""
    cells = {(key, r["entry"]): r[r["primary"].column] if r["primary"] else None for key in keys for r in rows[key]}
    entries = sorted({e for _, e in cells})
    chosen = results.cells[results.cells["problem_key"].isin(keys)]
    spent = ok_runs(chosen).groupby("entry")["spent_sample_forwards"].median() if "spent_sample_forwards" in chosen \
        else {}
    metric = {key: next((r["primary"].title for r in rows[key] if r["primary"]), "") for key in keys}
    one = len(set(metric.values())) == 1  # then the title names it
    columns = ["optimizer", *(key if one else f"{key}: {metric[key]}" for key in keys), "sample-forwards"]
    body = [[e, *(cells.get((key, e)) for key in keys), float(spent[e]) if e in spent else np.nan] for e in entries]
    notes = [(f"{next(iter(metric.values()))}: " if one else "")
             + "median over the ok runs of each optimizer [95% bootstrap interval]; '-': not run on that problem; "
             "sample-forwards: the median total of its runs on these problems"]
    return Table(name, title, columns, body, notes)
