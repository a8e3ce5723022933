"""Final-quality comparison over seeds: medians with bootstrap intervals, paired tests with Holm's correction.

Per problem and optimizer: the median and 95% bootstrap interval of the final test
accuracy and losses (runs with status "ok" only; the success rate counts the rest),
and a two-sided Wilcoxon signed-rank test of the primary metric against a baseline on
the same seeds. ``summarize`` gives the compact table that ``optsuite run`` and
``optsuite report`` print.

The family of the paired tests is every test against the baseline in the store (each
problem, each optimizer; :func:`quality_by_problem`): their p-values are Holm-adjusted
together, and a verdict is "better" or "worse" only where the adjusted p is below ALPHA.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UserError
from .results import (ACCURACY, CHAIN_ACCURACY, TEST_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, Metric, Results, has_metric,
                      loss_metric, ok_runs, primary_metric, slug)
from .stats import PairedTest, bootstrap_median, holm, wilcoxon_paired
from .tables import Table, format_number

ALPHA = 0.05
COST_COLUMNS = (("spent_sample_forwards", "sample-forwards"), ("spent_seconds", "seconds"))
COSTS = (("spent_sample_forwards", "sample-forwards"), ("spent_flops", "FLOPs"), ("spent_seconds", "seconds"))
METRICS = (ACCURACY, CHAIN_ACCURACY, TRAIN_ACCURACY, TEST_LOSS, TRAIN_LOSS)


def resolve_baseline(results: Results, baseline: str | None, fallback: str | None = None) -> str | None:
    """The baseline label: ``baseline`` (it must be in the store), else ``fallback`` where the store has it as a
    label, or as the optimizer of exactly one label (``gd(lr=tuned)`` for ``gd``), else None (no paired tests)."""
    known = set(results.cells["label"]) | set(results.cells["entry"])
    if baseline is None:
        if fallback in known:
            return fallback
        labels = set(results.cells.loc[results.cells["optimizer"] == fallback, "label"])
        return labels.pop() if len(labels) == 1 else None
    if baseline not in known:
        raise UserError(f"baseline {baseline!r} is not in the store; optimizers: {', '.join(sorted(known))}")
    return baseline


def success(group: pd.DataFrame) -> str:
    """``"5/5"``, or ``"3/5 (1 nan, 1 failed)"`` naming what went wrong."""
    bad = group.loc[group["status"] != "ok", "status"].value_counts()
    detail = ", ".join(f"{n} {status}" for status, n in bad.items())
    return f"{(group['status'] == 'ok').sum()}/{len(group)}" + (f" ({detail})" if detail else "")


def interval(group: pd.DataFrame, metric: Metric, key: str):
    """Median [95% CI] of ``metric`` over the group's ok runs; None when the problem lacks it."""
    if not has_metric(group, metric):
        return None
    return bootstrap_median(ok_runs(group)[metric.column], seed=(key, metric.column))


def by_seed(cells: pd.DataFrame, metric: Metric) -> pd.Series:
    finite = ok_runs(cells).dropna(subset=[metric.column])
    return finite.drop_duplicates("seed", keep="last").set_index("seed")[metric.column].astype(float)


def baseline_cells(problem: pd.DataFrame, baseline: str) -> pd.DataFrame:
    return problem[(problem["entry"] == baseline) | (problem["label"] == baseline)]


def paired_test(problem: pd.DataFrame, entry: str, baseline: str, metric: Metric) -> PairedTest:
    """``entry - baseline`` on the seeds both finished; the baseline with the same budget if it ran several."""
    mine = problem[problem["entry"] == entry]
    base = baseline_cells(problem, baseline)
    if "budget" in problem and base["budget"].nunique() > 1:
        base = base[base["budget"].isin(mine["budget"].unique())]
        if base.empty or mine["budget"].nunique() > 1:
            return PairedTest(0, None, bootstrap_median([]), "the baseline ran other budgets than this entry's")
    x, y = by_seed(mine, metric).align(by_seed(base, metric), join="inner")
    return wilcoxon_paired(x.to_numpy(), y.to_numpy(), seed=(entry, baseline, metric.column))


def verdict(test: PairedTest, metric: Metric, p_value: float | None = None) -> str:
    """"better", "worse", "differs" (zero median difference), "n.s." (p >= ALPHA) or "n/a: reason"; ``p_value``:
    the adjusted p to decide on (default the test's own)."""
    if test.p_value is None:
        return f"n/a: {test.reason}"
    if (test.p_value if p_value is None else p_value) >= ALPHA:
        return "n.s."
    if test.difference.median == 0:
        return "differs"
    return "better" if (test.difference.median > 0) == metric.higher_is_better else "worse"


def quality_rows(results: Results, key: str, baseline: str | None) -> list[dict]:
    """One record per entry of problem ``key``: success, metric intervals, costs, paired test."""
    problem = results.cells_of(key)
    primary = primary_metric(problem)
    rows = []
    for entry, group in problem.groupby("entry", sort=True):
        row = {"entry": entry, "success": success(group), "primary": primary,
               "loss_metric": loss_metric(problem), "test": None, "p_holm": None, "tuning": results.tuning(group)}
        row.update({m.column: interval(group, m, key) for m in METRICS})
        row.update({c: float(np.median(ok_runs(group)[c])) if c in group and len(ok_runs(group)) else None
                    for c, _ in COSTS})
        is_baseline = row["is_baseline"] = entry == baseline or (group["label"] == baseline).all()
        if baseline and primary and not is_baseline and len(baseline_cells(problem, baseline)):
            row["test"] = paired_test(problem, entry, baseline, primary)
        rows.append(row)
    return rows


TUNING_COLUMNS = ("tuned", "tuning sample-forwards")
TUNING_NOTE = ("tuned: the values a tuning grid picked by the lowest median final train loss on tuning seeds "
               "disjoint from these; tuning sample-forwards: what all its trials spent, not included in the "
               "other costs (the equal-cost tables 'tuning included' add each run's share)")


def tuning_cells(row: dict) -> list:
    """The tuned values and the tuning's total sample-forwards of a quality row ('-' when untuned)."""
    t = row["tuning"]
    return [None, None] if t is None else [t.picked, t.spent["sample_forwards"]]


def quality_by_problem(results: Results, baseline: str | None) -> dict[str, list[dict]]:
    """:func:`quality_rows` of every problem, keyed by problem key, each paired test's Holm-adjusted p in
    ``p_holm`` (None where no test was made) over the family of all of them; compute once, pass to each table."""
    rows = {key: quality_rows(results, key, baseline) for key in results.problems()}
    tested = [r for key in rows for r in rows[key] if r["test"] is not None and r["test"].p_value is not None]
    for r, p in zip(tested, holm([r["test"].p_value for r in tested])):
        r["p_holm"] = float(p)
    return rows


def family_size(rows: dict[str, list[dict]]) -> int:
    """How many paired tests the Holm correction of ``rows`` (:func:`quality_by_problem`) adjusted together."""
    return sum(r.get("p_holm") is not None for key in rows for r in rows[key])


def row_verdict(row: dict) -> str:
    """The verdict of a quality row's paired test, on its Holm-adjusted p."""
    return verdict(row["test"], row["primary"], row.get("p_holm"))


def holm_note(baseline: str, rows: dict[str, list[dict]]) -> str:
    return (f"p Holm: the p-value adjusted by Holm's step-down procedure over the family of all "
            f"{family_size(rows)} paired tests against {baseline} in this store (every problem and optimizer); "
            f"better/worse only where it is below {ALPHA}")


def quality_table(results: Results, key: str, baseline: str | None, rows: list[dict] | None = None) -> Table:
    """Final metrics with intervals and the paired test against ``baseline`` for one problem.

    ``rows``: the problem's rows of :func:`quality_by_problem` where already computed.
    """
    family = quality_by_problem(results, baseline) if rows is None else {key: rows}
    rows = family[key]
    problem = results.cells_of(key)
    metrics = [m for m in (ACCURACY, TEST_LOSS, TRAIN_LOSS) if has_metric(problem, m)]
    primary = primary_metric(problem)
    tuned = any(r["tuning"] for r in rows)
    columns = ["optimizer", "ok runs", *(m.title for m in metrics), *(TUNING_COLUMNS if tuned else ())]
    if baseline and primary:
        columns += [f"Δ {primary.title} vs {baseline}", "pairs", "p (Wilcoxon)", "p Holm", "verdict"]
    body = []
    for r in rows:
        line = [r["entry"], r["success"], *(r[m.column] for m in metrics), *(tuning_cells(r) if tuned else ())]
        if baseline and primary:
            t = r["test"]
            line += (["baseline", None, None, None, "-"] if t is None
                     else [t.difference, t.pairs, t.p_value, r.get("p_holm"), row_verdict(r)])
        body.append(line)
    notes = [f"median over seeds of runs with status ok, [95% bootstrap interval of the median]"]
    if tuned:
        notes.append(TUNING_NOTE)
    if baseline and primary:
        notes += [f"Δ = optimizer - {baseline} on the same seeds; two-sided Wilcoxon signed-rank test (scipy); "
                  "with n pairs the smallest possible p is 2/2^n (0.0625 with 5, 0.0312 with 6)",
                  holm_note(baseline, family)]
    return Table(f"quality-{slug(key)}", f"{key}: final quality", columns, body, notes)


def failures_table(results: Results) -> Table:
    """Every run whose status is not ok, with its recorded error."""
    bad = results.cells[results.cells["status"] != "ok"].sort_values(["problem_key", "entry", "seed"])
    body = [[r["problem_key"], r["entry"], int(r["seed"]), r["status"], r.get("error") or None]
            for _, r in bad.iterrows()]
    return Table("failures", "Runs that did not finish ok", ["problem", "optimizer", "seed", "status", "error"], body,
                 ["these runs are left out of the final-quality medians and count as misses in the target tables"])


def compact_cell(row: dict) -> str:
    """``"n.s. p=0.0312 Holm=0.375"``; "n/a" where no test could be made, "-" for the baseline."""
    test = row["test"]
    if test is None:
        return "-"
    if test.p_value is None:
        return "n/a"
    return f"{row_verdict(row)} p={format_number(test.p_value)} Holm={format_number(row['p_holm'])}"


def summarize(results: Results, baseline: str | None, rows: dict[str, list[dict]] | None = None) -> Table:
    """The compact table of a whole store: one row per problem and optimizer.

    ``baseline``: a resolved label (:func:`resolve_baseline`) or None; ``rows``: :func:`quality_by_problem`
    for the same results and baseline where already computed.
    """
    rows = quality_by_problem(results, baseline) if rows is None else rows
    body = []
    for key in results.problems():
        for r in rows[key]:
            loss = r["loss_metric"]
            body.append([key, r["entry"], r["success"], r[ACCURACY.column], r[loss.column] if loss else None,
                         *(r[c] for c, _ in COST_COLUMNS), compact_cell(r)])
    columns = ["problem", "optimizer", "ok", "test accuracy", "loss", *(t for _, t in COST_COLUMNS),
               f"vs {baseline}" if baseline else "vs baseline"]
    notes = ["median [95% bootstrap interval] over ok runs; loss is the test loss where the problem has "
             "a test split, else the train loss; vs: paired Wilcoxon test of the primary metric, its p and its "
             "Holm-adjusted p"] + ([holm_note(baseline, rows)] if baseline else [])
    return Table("summary", "Summary", columns, body, notes)

