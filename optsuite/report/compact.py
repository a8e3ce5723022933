"""The compact tables ``optsuite run`` and ``optsuite report`` print: per problem (networks first), its entries best
first.

One row per entry: the problem's primary metric (median [95% bootstrap interval] over ok runs),
the median total cost in sample-forwards and seconds, and the verdict of the paired test against
the baseline on its Holm-adjusted p (:func:`~optsuite.report.summary.quality_by_problem`). The full
tables stay behind ``--wide``.
"""
from __future__ import annotations

import math

from .networks import network_problems
from .summary import row_verdict
from .tables import Table


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


def compact_tables(results, baseline: str | None, rows: dict[str, list[dict]]) -> list[Table]:
    """One table per problem of ``results``; ``rows``: its quality rows for ``baseline``."""
    tables = []
    networks = network_problems(results)
    for key in networks + [k for k in results.problems() if k not in networks]:
        ordered = quality_order(rows[key])
        metric = next((r["primary"] for r in ordered if r["primary"]), None)
        columns = ["optimizer", metric.title if metric else "metric", "sample-forwards", "seconds",
                   f"vs {baseline}" if baseline and len(baseline) <= 12 else "vs baseline"]
        body = [[r["entry"], r[metric.column] if metric else None, r["spent_sample_forwards"], r["spent_seconds"],
                 short_verdict(r)] for r in ordered]
        tables.append(Table(f"compact-{key}", key, columns, body))
    return tables


def compact_note(baseline: str | None) -> str:
    return ("median [95% bootstrap interval] over ok runs, best first; costs: median total per run; vs: the paired "
            f"Wilcoxon test against {baseline or 'a baseline (none in the store)'} after Holm's correction; --wide "
            "prints every column")
