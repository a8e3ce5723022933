"""The headline table: which method wins, by how much, at what cost.

One row per optimizer entry (and per problem), one group of columns per budget: the primary
metric (median [95% bootstrap interval] over the ok runs), the paired difference from the
baseline on the same seeds with its interval and its verdict after Holm's correction
(:func:`~optsuite.report.summary.quality_by_problem`), and the median total cost of a run in
sample-forwards and seconds on that row's problem. Rows go best first by the metric at the
largest budget; the best value of each budget is marked. Networks (compared at equal total
cost) share one ranking; other problems are ranked each on its own. Hyperparameters every
entry shares are said once, in the caption (:mod:`.labels`).
"""
from __future__ import annotations

import math

from .labels import parse_label, shared_items
from .results import Results, budget_of
from .summary import ALPHA, family_size
from .compact import short_verdict
from .tables import Table

def budget_order(budget: str) -> tuple:
    """Budgets by their values (``sample_forwards=8e+06`` before ``sample_forwards=3.2e+07``)."""
    values = [float(v) for v in (part.split("=", 1)[-1] for part in budget.split(",")) if _number(v)]
    return (len(values) == 0, values, budget)


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def label_of(results: Results, key: str, entry: str) -> str:
    cells = results.cells_of(key)
    return str(cells.loc[cells["entry"] == entry, "label"].iloc[0])


def value(row: dict) -> float:
    """The row's primary metric median, signed so that smaller is better; inf where it has none."""
    metric = row["primary"]
    interval = row.get(metric.column) if metric else None
    if interval is None or math.isnan(interval.median):
        return math.inf
    return -interval.median if metric.higher_is_better else interval.median


def headline_table(results: Results, keys: list[str], rows: dict[str, list[dict]], baseline: str | None,
                   together: bool) -> Table:
    """The headline over the problems ``keys``; ``rows``: the store's quality rows for ``baseline``;
    ``together``: rank the problems' entries together (networks at equal cost), else each problem apart."""
    grid: dict[tuple[str, str], dict[str, dict]] = {}  # (problem, label) -> budget -> quality row
    for key in keys:
        for r in rows[key]:
            grid.setdefault((key, label_of(results, key, r["entry"])), {})[budget_of(results, key, r["entry"])] = r
    budgets = sorted({b for by_budget in grid.values() for b in by_budget}, key=budget_order)
    metric = next((r["primary"] for by_budget in grid.values() for r in by_budget.values() if r["primary"]), None)
    shared = shared_items([parse_label(label) for _, label in grid])
    heads = budget_headings(budgets)
    fields = [metric.title if metric else "metric"] + ([f"Δ vs {baseline}", "verdict"] if baseline else []) \
        + ["sample-forwards", "seconds"]
    columns = ["optimizer"] + ([] if len(keys) == 1 else ["problem"]) \
        + [f if len(budgets) == 1 else f"{heads[b]}: {f}" for b in budgets for f in fields]

    def order(item):
        (key, _), by_budget = item
        ranks = tuple(value(by_budget[b]) if b in by_budget else math.inf for b in reversed(budgets))
        return ("" if together else key, ranks)

    body, groups = [], []
    for (key, label), by_budget in sorted(grid.items(), key=order):
        line = [parse_label(label).text(shared)] + ([] if len(keys) == 1 else [key])
        for b in budgets:
            r = by_budget.get(b)
            if r is None:
                line += [None] * len(fields)
                continue
            test = r["test"]
            line += [r[metric.column] if metric else None]
            if baseline:
                shown = test is not None and math.isfinite(test.difference.median)
                line += [test.difference if shown else None, short_verdict(r)]
            line += [r["spent_sample_forwards"], r["spent_seconds"]]
        body.append(line)
        groups.append("" if together else key)
    marked = best_cells(body, groups, [i for i, c in enumerate(columns) if c.endswith(fields[0])], metric)
    return Table("headline", headline_title(metric, keys, together), columns, body,
                 headline_notes(metric, baseline, budgets, shared, rows), marked=marked)


def budget_headings(budgets: list[str]) -> dict[str, str]:
    """Each budget's column heading: its value alone where all budgets are in one unit (``8e+06``), else
    its ``unit=value`` text."""
    units = {b.split("=", 1)[0] for b in budgets}
    one = len(units) == 1 and all("," not in b and "=" in b for b in budgets)
    return {b: b.split("=", 1)[1] if one else b for b in budgets}


def best_cells(body: list[list], groups: list[str], columns: list[int], metric) -> set[tuple[int, int]]:
    """(row, column) of the best metric value of each budget column within each group of rows."""
    marked = set()
    for column in columns:
        for group in set(groups):
            scored = [(value({"primary": metric, metric.column: line[column]}) if line[column] is not None
                       else math.inf, i) for i, line in enumerate(body) if groups[i] == group]
            best = min(scored, default=(math.inf, None))
            if math.isfinite(best[0]):
                marked.add((best[1], column))
    return marked


def headline_title(metric, keys: list[str], together: bool) -> str:
    what = metric.title if metric else "final quality"
    if together:
        return f"Networks: {what} by optimizer and budget, best first"
    return f"{what.capitalize()} by optimizer and budget" + ("" if len(keys) == 1 else ", best first per problem")


def headline_notes(metric, baseline, budgets, shared, rows) -> list[str]:
    notes = [f"{metric.title if metric else 'metric'}: median over the ok runs [95% bootstrap interval]; the best of "
             "each budget in bold"]
    if baseline:
        family = family_size(rows)
        tested = (f"Holm-adjusted over all {family} paired tests of the store" if family else
                  "none could be made in this store")
        notes.append(f"Δ vs {baseline}: the median paired difference on the same seeds of the same problem [95% "
                     f"bootstrap interval]; verdict: two-sided Wilcoxon test, {tested} (better or worse where p < "
                     f"{ALPHA}); n/a: untestable (too few paired seeds, or the baseline ran other budgets)")
    notes.append("sample-forwards, seconds: the median total of a run on its own problem (a network trained part "
                 "by part: summed over its parts), tuning not included")
    if len(budgets) > 1:
        notes.append("columns by budget (each run's total): " + "; ".join(budgets))
    elif budgets:
        notes.append(f"budget (each run's total): {budgets[0]}")
    if shared:
        notes.append("shared by every entry that sets them, left out of the labels: " + ", ".join(sorted(shared)))
    return notes
