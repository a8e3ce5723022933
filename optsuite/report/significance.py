"""What is and is not significant in a store, in a few lines for the report's first screen.

One line for the ranking across problems (:mod:`.crossproblem`), then the paired tests against
the baseline, decided on their Holm-adjusted p over the family of all of them
(:func:`~optsuite.report.summary.quality_by_problem`): the significant ones by name, a count of
the others, why the untestable ones could not be tested, and, where seeds are too few for any
test to survive the correction, how many would be needed.
"""
from __future__ import annotations

import math
from collections import Counter

from .crossproblem import Ranking, headline
from .stats import smallest_wilcoxon_p
from .summary import ALPHA, family_size, row_verdict
from .tables import format_number

SHOWN = 6  # significant tests named before the rest is counted


def seeds_needed(tests: int) -> int:
    """The fewest seeds whose smallest Wilcoxon p, times ``tests`` (Holm's first step), is below ALPHA."""
    return math.floor(1 + math.log2(tests / ALPHA)) + 1


def paired_lines(rows: dict[str, list[dict]], baseline: str) -> list[str]:
    tested = [(key, r) for key in rows for r in rows[key] if r.get("p_holm") is not None]
    m = family_size(rows)
    significant = [(key, r) for key, r in tested if row_verdict(r) in ("better", "worse", "differs")]
    lines = []
    if significant:
        named = [f"{r['entry']} {row_verdict(r)} on {key} (p Holm {format_number(r['p_holm'])})"
                 for key, r in sorted(significant, key=lambda kr: kr[1]["p_holm"])[:SHOWN]]
        more = f" and {len(significant) - SHOWN} more" if len(significant) > SHOWN else ""
        lines.append(f"Significant against {baseline} (Holm over {m} paired tests, p < {ALPHA}): "
                     + "; ".join(named) + more)
    if len(tested) > len(significant):
        smallest = min(r["p_holm"] for _, r in tested)
        lines.append(f"Not significant after Holm's correction: {len(tested) - len(significant)} of the {m} paired "
                     f"tests against {baseline} (smallest adjusted p {format_number(smallest)})")
    pairs = max((r["test"].pairs for _, r in tested), default=0)
    if tested and not significant and pairs and smallest_wilcoxon_p(pairs) * m >= ALPHA:
        lines.append(f"With {pairs} seeds the smallest possible Wilcoxon p is {format_number(smallest_wilcoxon_p(pairs))}"
                     f", so no test of a family of {m} can pass Holm's correction; that needs {seeds_needed(m)} seeds")
    untested = Counter(r["test"].reason for key in rows for r in rows[key]
                       if r["test"] is not None and r["test"].p_value is None)
    if untested:
        lines.append("Not testable: " + "; ".join(f"{n} x {reason}" for reason, n in untested.most_common()))
    return lines


def significance_lines(ranking: Ranking, rows: dict[str, list[dict]], baseline: str | None) -> list[str]:
    """The first screen's list: the cross-problem test, then the paired tests against ``baseline``."""
    lines = [headline(ranking)]
    if ranking.pairwise is not None:
        best = ranking.mean_ranks.index[0]
        apart = [e for e in ranking.mean_ranks.index[1:] if ranking.pairwise.loc[e, best] < ALPHA]
        lines.append(f"Nemenyi post-hoc: {best} ranks significantly ahead of " + ", ".join(apart) if apart else
                     f"Nemenyi post-hoc: no optimizer's mean rank differs significantly from {best}'s")
    if baseline is None:
        return lines + ["No paired tests: no baseline optimizer (--baseline LABEL) is in the store"]
    return lines + paired_lines(rows, baseline)
