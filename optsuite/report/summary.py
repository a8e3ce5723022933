"""Final-quality comparison over seeds: medians with bootstrap intervals, paired tests, ranks.

Per problem and optimizer: the median and 95% bootstrap interval of the final test
accuracy and losses (runs with status "ok" only; the success rate counts the rest),
and a two-sided Wilcoxon signed-rank test of the primary metric against a baseline on
the same seeds. ``summarize`` gives the compact table that ``optsuite run`` and
``optsuite report`` print.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UserError
from .results import (ACCURACY, CHAIN_ACCURACY, TEST_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, Metric, Results, has_metric,
                      loss_metric, ok_runs, primary_metric, slug)
from .stats import PairedTest, bootstrap_median, ranks, wilcoxon_paired
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


def verdict(test: PairedTest, metric: Metric) -> str:
    """"better", "worse", "differs" (zero median difference), "n.s." (p >= ALPHA) or "n/a: reason"."""
    if test.p_value is None:
        return f"n/a: {test.reason}"
    if test.p_value >= ALPHA:
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
               "loss_metric": loss_metric(problem), "test": None, "tuning": results.tuning(group)}
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
    """:func:`quality_rows` of every problem, keyed by problem key; compute once, pass to each table."""
    return {key: quality_rows(results, key, baseline) for key in results.problems()}


def quality_table(results: Results, key: str, baseline: str | None, rows: list[dict] | None = None) -> Table:
    """Final metrics with intervals and the paired test against ``baseline`` for one problem.

    ``rows``: the problem's :func:`quality_rows` where already computed.
    """
    rows = quality_rows(results, key, baseline) if rows is None else rows
    problem = results.cells_of(key)
    metrics = [m for m in (ACCURACY, TEST_LOSS, TRAIN_LOSS) if has_metric(problem, m)]
    primary = primary_metric(problem)
    tuned = any(r["tuning"] for r in rows)
    columns = ["optimizer", "ok runs", *(m.title for m in metrics), *(TUNING_COLUMNS if tuned else ())]
    if baseline and primary:
        columns += [f"Δ {primary.title} vs {baseline}", "pairs", "p (Wilcoxon)", "verdict"]
    body = []
    for r in rows:
        line = [r["entry"], r["success"], *(r[m.column] for m in metrics), *(tuning_cells(r) if tuned else ())]
        if baseline and primary:
            t = r["test"]
            line += ["baseline", None, None, "-"] if t is None else [t.difference, t.pairs, t.p_value, verdict(t, primary)]
        body.append(line)
    notes = [f"median over seeds of runs with status ok, [95% bootstrap interval of the median]"]
    if tuned:
        notes.append(TUNING_NOTE)
    if baseline and primary:
        notes += [f"Δ = optimizer - {baseline} on the same seeds; two-sided Wilcoxon signed-rank test "
                  f"(scipy), better/worse at p < {ALPHA}, n.s. otherwise; p-values are not corrected "
                  "for multiple comparisons; with 5 pairs the smallest possible p is 0.0625"]
    return Table(f"quality-{slug(key)}", f"{key}: final quality", columns, body, notes)


def rank_table(results: Results) -> Table:
    """Mean rank (1 = best) of each entry's median primary metric over the problems it ran."""
    per_problem = {}
    for key in results.problems():
        problem = results.cells_of(key)
        metric = primary_metric(problem)
        if metric is None:
            continue
        medians = ok_runs(problem).groupby("entry")[metric.column].median().reindex(sorted(problem["entry"].unique()))
        per_problem[key] = pd.Series(ranks(medians.to_numpy(), metric.higher_is_better), index=medians.index)
    frame = pd.DataFrame(per_problem)
    frame = frame.assign(mean=frame.mean(axis=1)).sort_values("mean") if len(frame) else frame
    columns = ["optimizer", "mean rank", "problems", *per_problem]
    body = [[entry, r["mean"], int(r[list(per_problem)].notna().sum()), *(r[k] for k in per_problem)]
            for entry, r in frame.iterrows()]
    notes = ["rank of the median primary metric (test accuracy where present, else test loss, else "
             "train loss) among the optimizers run on each problem; ties share the mean rank; an "
             "optimizer with no ok run ranks last; the mean is over the problems the optimizer ran"]
    return Table("ranks", "Overall rank across problems", columns, body, notes)


def failures_table(results: Results) -> Table:
    """Every run whose status is not ok, with its recorded error."""
    bad = results.cells[results.cells["status"] != "ok"].sort_values(["problem_key", "entry", "seed"])
    body = [[r["problem_key"], r["entry"], int(r["seed"]), r["status"], r.get("error") or None]
            for _, r in bad.iterrows()]
    return Table("failures", "Runs that did not finish ok", ["problem", "optimizer", "seed", "status", "error"], body,
                 ["these runs are left out of the final-quality medians and count as misses in the target tables"])


def compact_cell(test: PairedTest | None, metric: Metric | None) -> str:
    if test is None:
        return "-"
    if test.p_value is None:
        return "n/a"
    return f"{verdict(test, metric)} p={format_number(test.p_value)}"


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
                         *(r[c] for c, _ in COST_COLUMNS), compact_cell(r["test"], r["primary"])])
    columns = ["problem", "optimizer", "ok", "test accuracy", "loss", *(t for _, t in COST_COLUMNS),
               f"vs {baseline}" if baseline else "vs baseline"]
    notes = ["median [95% bootstrap interval] over ok runs; loss is the test loss where the problem has "
             "a test split, else the train loss; vs: paired Wilcoxon test of the primary metric"]
    return Table("summary", "Summary", columns, body, notes)

