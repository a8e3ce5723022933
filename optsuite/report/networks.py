"""The headline table: whole networks by optimizer, at the cost each was given.

One row per (network problem, optimizer entry) over the store's network cells (those
whose problem is a whole classifier network, recorded in the ``network`` column): test
accuracy, the chain's own accuracy where the network has one (NoProp: the class whose
embedding is nearest to z_T, no head), train accuracy, the medians of the total costs,
and the paired test of test accuracy against the baseline on the same seeds.
"""
from __future__ import annotations

import json

import numpy as np

from .results import ACCURACY, CHAIN_ACCURACY, TRAIN_ACCURACY, Results, has_metric
from .summary import COSTS, TUNING_COLUMNS, TUNING_NOTE, holm_note, row_verdict, tuning_cells
from .tables import Table


def network_problems(results: Results) -> list[str]:
    """The problem keys of the store's network cells."""
    cells = results.cells
    if "network" not in cells:
        return []
    return sorted(cells.loc[cells["network"].fillna(False).astype(bool), "problem_key"].unique())


def networks_table(results: Results, baseline: str | None, rows: dict[str, list[dict]]) -> Table | None:
    """The Networks table, or None when the store has no network cells; ``rows``: the store's
    :func:`~optsuite.report.summary.quality_by_problem` for ``baseline``."""
    keys = network_problems(results)
    if not keys:
        return None
    chain = any(has_metric(results.cells_of(k), CHAIN_ACCURACY) for k in keys)
    metrics = [ACCURACY] + ([CHAIN_ACCURACY] if chain else []) + [TRAIN_ACCURACY]
    tuned = any(r["tuning"] for key in keys for r in rows[key])
    columns = ["network", "optimizer", "ok", *(m.title for m in metrics), *(t for _, t in COSTS),
               *(TUNING_COLUMNS if tuned else ())]
    if baseline:
        columns += [f"Δ test accuracy vs {baseline}", "pairs", "p (Wilcoxon)", "p Holm", "verdict"]
    body = []
    for key in keys:
        for r in rows[key]:
            line = [key, r["entry"], r["success"], *(r[m.column] for m in metrics), *(r[c] for c, _ in COSTS),
                    *(tuning_cells(r) if tuned else ())]
            if baseline:
                t = r["test"]
                line += (["baseline", None, None, None, "-"] if r["is_baseline"] else [None, None, None, None, "-"]
                         if t is None else [t.difference, t.pairs, t.p_value, r["p_holm"], row_verdict(r)])
            body.append(line)
    notes = ["median over seeds of runs with status ok, [95% bootstrap interval of the median]; costs are medians "
             "of each run's total (a network trained part by part: the sum over its parts)"]
    if tuned:
        notes.append(TUNING_NOTE)
    if chain:
        notes.append("chain accuracy: the class whose embedding is nearest to the inference chain's final z_T, "
                     "without the head; a head far below it has learned to relabel classes")
    if baseline:
        notes += [f"Δ = optimizer - {baseline} in test accuracy on the same seeds of the same network; two-sided "
                  "Wilcoxon signed-rank test", holm_note(baseline, rows)]
    return Table("networks", "Networks: test accuracy by optimizer at equal cost", columns, body, notes)


def seed_lines(cells) -> list[str]:
    """Lines of ``optsuite noprop``: per seed (cell), its status, accuracies and total cost (seconds summed over
    the parts, and the wall time of the cell); a line per part that did not finish ok; then the mean test
    accuracy over seeds."""
    lines, accuracies = [], []
    for _, cell in cells.sort_values("seed").iterrows():
        metric = lambda name: float(cell.get(f"metric_{name}", float("nan")))
        accuracies.append(metric("test_accuracy"))
        lines.append(f"seed {cell['seed']}: {cell['status']}  test_accuracy {metric('test_accuracy'):.4f}  "
                     f"chain_accuracy {metric('test_chain_accuracy'):.4f}  train_accuracy {metric('train_accuracy'):.4f}  "
                     f"sample_forwards {cell.get('spent_sample_forwards', 0):,.0f}  flops {cell.get('spent_flops', 0):.3g}  "
                     f"seconds {cell.get('spent_seconds', 0):.1f} (parts summed), {cell['finished'] - cell['started']:.1f} wall")
        parts = json.loads(cell["parts"]) if isinstance(cell.get("parts"), str) else []
        lines += [f"  {p['part']}: {p['status']} ({p['error']})" for p in parts if p["status"] != "ok"]
        if not parts and cell["status"] != "ok":
            lines.append(f"  {cell.get('error', '')}")
    values = np.array(accuracies)
    spread = f" ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else ""
    lines.append(f"mean test_accuracy {np.mean(values):.4f}{spread} over {len(values)} seed(s)")
    return lines
