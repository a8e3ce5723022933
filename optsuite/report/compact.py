"""The compact tables ``optsuite run`` and ``optsuite report`` print: per problem (networks first), its entries best
first.

One row per entry: the problem's primary metric (median [95% bootstrap interval] over ok runs),
the median total cost in sample-forwards and seconds, and the verdict of the paired test against
the baseline on its Holm-adjusted p (:func:`~optsuite.report.summary.quality_by_problem`). Where a
problem ran entries at several budgets the budget is a column of its own, and what every label of a
table shares (``population=64``, ``head: analytic``) is said once under it, so that labels stay short;
a label folds after its commas. The full tables stay behind ``--wide``.
"""
from __future__ import annotations

import math

from .labels import parse_label, shared_items
from .networks import network_problems
from .results import NO_BUDGET, budget_of
from .summary import row_verdict
from .tables import Table

BUDGET = " @ "  # an entry's label and its budget, where a problem ran several (optsuite.report.results.entries)


def quality_order(rows: list[dict]) -> list[dict]:
    """Quality rows best first by their primary metric's median (higher or lower is better as the metric
    says); rows without a value last, in their order."""
    def key(row: dict) -> float:
        metric = row["primary"]
        value = row[metric.column].median if metric and row.get(metric.column) else math.nan
        if math.isnan(value):
            return math.inf
        return -value if metric.higher_is_better else value

    return sorted(rows, key=key)


def short_verdict(row: dict) -> str:
    """"baseline", "better", "worse", "differs", "n.s." or "n/a" (the reason is in the full table)."""
    if row["is_baseline"]:
        return "baseline"
    if row["test"] is None:
        return "-"
    return row_verdict(row).split(":")[0]


def short_labels(entries: list[str]) -> tuple[list[str], str]:
    """(labels with what they share left out (:func:`~.labels.shared_items`) and a space after each comma, so that a
    label folds between its items; the items left out, "" where none)."""
    parsed = [parse_label(e.split(BUDGET, 1)[0]) for e in entries]
    shared = shared_items(parsed) if len(parsed) > 1 else frozenset()
    return [p.text(shared).replace(",", ", ") for p in parsed], ", ".join(sorted(shared))


def budget_column(budgets: list[str]) -> tuple[list[str], str]:
    """(the budget column's cells, its unit): where every budget is in one unit, the values alone and that unit;
    else the budgets as written and ""."""
    units = {b.partition("=")[0] for b in budgets if b}
    if len(units) == 1 and not any("," in b for b in budgets):
        return [b.partition("=")[2] for b in budgets], units.pop()
    return budgets, ""


def compact_tables(results, baseline: str | None, rows: dict[str, list[dict]]) -> list[Table]:
    """One table per problem of ``results``; ``rows``: its quality rows for ``baseline``."""
    tables = []
    networks = network_problems(results)
    for key in networks + [k for k in results.problems() if k not in networks]:
        ordered = quality_order(rows[key])
        metric = next((r["primary"] for r in ordered if r["primary"]), None)
        labels, shared = short_labels([r["entry"] for r in ordered])
        budgets, unit = budget_column([b if (b := budget_of(results, key, r["entry"])) != NO_BUDGET else ""
                                       for r in ordered])
        by_budget = any(BUDGET in r["entry"] for r in ordered)  # several budgets: a column of its own
        columns = ["optimizer", *(["budget"] if by_budget else []), metric.title if metric else "metric",
                   "sample-forwards", "seconds", f"vs {baseline}" if baseline and len(baseline) <= 12 else "vs baseline"]
        body = [[label, *([budget] if by_budget else []), r[metric.column] if metric else None,
                 r["spent_sample_forwards"], r["spent_seconds"], short_verdict(r)]
                for label, budget, r in zip(labels, budgets, ordered)]
        said = ([f"budget in {unit.replace('_', '-')}"] if by_budget and unit else []) + (
            [f"labels leave out what they share: {shared}"] if shared else [])
        tables.append(Table(f"compact-{key}", key + (f" ({'; '.join(said)})" if said else ""), columns, body))
    return tables


def compact_note(baseline: str | None) -> str:
    return ("median [95% bootstrap interval] over ok runs, best first; costs: median total per run; vs: the paired "
            f"Wilcoxon test against {baseline or 'a baseline (none in the store)'} after Holm's correction; --wide "
            "prints every column")
