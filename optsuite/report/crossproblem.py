"""Optimizers ranked across problems: a Friedman test over problems with the Nemenyi post-hoc test (Demsar 2006).

The blocks are problems, the treatments optimizer entries. Each problem contributes the
rank (1 = best, ties averaged) of every entry's median primary metric over its ok runs
(test accuracy where present, else test loss, else train loss; an entry with no ok run
ranks last). The tests need a complete block design, so they use the largest set of
entries that ran on the same problems: among the sets "every entry that ran at least m
problems" (for each m), the one whose entries times common problems is largest (ties: more
problems). The others are listed as left out.

- omnibus: Friedman's chi-square test of equal mean ranks (``scipy.stats.friedmanchisquare``,
  chi-square approximation), k >= 3 entries on N >= 2 problems;
- post-hoc: Nemenyi's all-pairs test (``scikit_posthocs.posthoc_nemenyi_friedman``), whose
  critical difference of mean ranks is ``q_alpha sqrt(k (k + 1) / (6 N))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scikit_posthocs
from scipy import stats as scipy_stats

from .results import Results, ok_runs, primary_metric
from .stats import ranks
from .summary import ALPHA
from .tables import Table, counted, format_number

MIN_ENTRIES, MIN_PROBLEMS = 3, 2


@dataclass
class Ranking:
    """``ranks [N problems, k entries]`` (1 = best) of the tested block; ``p_value`` None with ``reason`` where no
    test could be made; ``pairwise [k, k]``: Nemenyi p-values; ``left_out``: entry -> problems it ran."""

    ranks: pd.DataFrame
    statistic: float | None = None
    p_value: float | None = None
    pairwise: pd.DataFrame | None = None
    critical_difference: float | None = None
    reason: str = ""
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def mean_ranks(self) -> pd.Series:
        """Mean rank of each entry over the block's problems, best first."""
        return self.ranks.mean().sort_values(kind="stable")


def rank_frame(results: Results) -> pd.DataFrame:
    """``[problems, entries]``: each entry's rank on each problem it ran (NaN where it did not)."""
    per_problem = {}
    for key in results.problems():
        problem = results.cells_of(key)
        metric = primary_metric(problem)
        if metric is None:
            continue
        names = sorted(problem["entry"].unique())
        medians = ok_runs(problem).groupby("entry")[metric.column].median().reindex(names)
        per_problem[key] = pd.Series(ranks(medians.to_numpy(), metric.higher_is_better), index=names)
    return pd.DataFrame(per_problem).T


def complete_block(ran: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The entries and problems of the largest complete block of ``ran`` (a boolean ``[problems, entries]``)."""
    counts = ran.sum()
    best: tuple[tuple[int, int], list[str], list[str]] = ((0, 0), [], [])
    for m in sorted(set(counts), reverse=True):
        entries = sorted(counts.index[counts >= m])
        problems = sorted(ran.index[ran[entries].all(axis=1)])
        size = (len(entries) * len(problems), len(problems))
        if size > best[0]:
            best = (size, entries, problems)
    return best[1], best[2]


def ranking(results: Results) -> Ranking:
    """The Friedman and Nemenyi tests of the store's largest complete block of entries and problems."""
    frame = rank_frame(results)
    if frame.empty:
        return Ranking(frame, reason="no problem has a metric to rank by")
    entries, problems = complete_block(frame.notna())
    ran = frame.notna().sum()
    block = frame.loc[problems, entries]
    left_out = {e: int(ran[e]) for e in frame.columns if e not in entries}
    block = block.apply(lambda r: pd.Series(scipy_stats.rankdata(r.to_numpy()), index=r.index), axis=1)
    if len(entries) < MIN_ENTRIES or len(problems) < MIN_PROBLEMS:
        return Ranking(block, reason=f"needs {MIN_ENTRIES}+ optimizers run on the same {MIN_PROBLEMS}+ problems "
                                     f"(the largest block: {counted(len(entries), 'optimizer')} on "
                                     f"{counted(len(problems), 'problem')})",
                       left_out=left_out)
    if (block.nunique(axis=1) == 1).all():
        return Ranking(block, reason="every optimizer ties on every problem", left_out=left_out)
    statistic, p = scipy_stats.friedmanchisquare(*block.to_numpy().T)
    pairwise = scikit_posthocs.posthoc_nemenyi_friedman(block)  # rows blocks, columns entries
    k, n = len(entries), len(problems)
    q = scipy_stats.studentized_range.ppf(1 - ALPHA, k, np.inf) / np.sqrt(2)
    return Ranking(block, float(statistic), float(p), pairwise, float(q * np.sqrt(k * (k + 1) / (6 * n))),
                   left_out=left_out)


def headline(r: Ranking) -> str:
    """One line: the test, its p-value and the best entry, or why there is no test."""
    if r.p_value is None:
        return f"Cross-problem ranking: n/a: {r.reason}"
    best = r.mean_ranks.index[0]
    verdict = "the mean ranks differ" if r.p_value < ALPHA else "no significant difference in mean rank"
    return (f"Cross-problem ranking: Friedman test over {len(r.ranks)} problems and {r.ranks.shape[1]} optimizers, "
            f"chi2 = {r.statistic:.2f}, p = {format_number(r.p_value)}: {verdict} at {ALPHA}; "
            f"best mean rank {r.mean_ranks.iloc[0]:.2f}: {best}")


def ranking_table(r: Ranking) -> Table:
    """Mean ranks of the tested block (best first), each problem's ranks, and the Nemenyi p against the best."""
    order = r.mean_ranks
    best = order.index[0] if len(order) else None
    columns = ["optimizer", "mean rank", *(["Nemenyi p vs best"] if r.pairwise is not None else []), *r.ranks.index]
    body = [[entry, mean, *([None if entry == best else float(r.pairwise.loc[entry, best])]
                             if r.pairwise is not None else []), *r.ranks[entry]] for entry, mean in order.items()]
    notes = [headline(r), "rank of each optimizer's median primary metric (test accuracy where present, else test "
             "loss, else train loss) on each problem, 1 = best, ties averaged, no ok run = last; the block is the "
             "largest set of optimizers run on the same problems"]
    if r.critical_difference is not None:
        notes.append(f"Nemenyi post-hoc test (scikit-posthocs): mean ranks further apart than the critical difference "
                     f"{r.critical_difference:.2f} differ at {ALPHA}")
    if r.left_out:
        notes.append("left out (not run on every problem of the block): "
                     + ", ".join(f"{e} ({n} problem{'s' * (n != 1)})" for e, n in sorted(r.left_out.items())))
    return Table("ranking", "Ranking across problems", columns, body, notes)
