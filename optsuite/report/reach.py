"""Loss targets of a problem and the cost each optimizer needs to reach them (from the traces).

Targets sit at fixed fractions of the way from a problem's typical first loss down to
its reference loss: ``target = reference + precision * (start - reference)``.

- reference: the problem's known optimum where it has one (``Problem.optimum_loss``: the
  test functions' 0), else the lowest full-data final train loss among the runs of the
  first of the reference optimizers (given by the caller, e.g. an exact solver, then
  gradient descent) that has ok runs of the problem, else the best final trace loss of
  any run.
- start: the median over all runs of the problem of the first trace row's loss.

Where a problem samples minibatches, trace losses are minibatch losses, so the best-so-far
loss of a long run can dip below the full-data optimum: targets close to the reference are
partly reached by minibatch luck. The final-quality tables use noise-free metrics instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import UserError, did_you_mean
from ..registry import PROBLEMS
from .anytime import COSTS, cost_to_reach
from .results import TRAIN_LOSS, Results, has_metric, ok_runs, slug, trace_loss
from .stats import bootstrap_median
from .tables import Table

TABLE_PRECISIONS = (1e-1, 1e-2, 1e-3)
ECDF_PRECISIONS = 10.0 ** -(np.arange(1, 31) / 5)  # 10^-0.2 ... 10^-6


@dataclass(frozen=True)
class Reference:
    loss: float
    start: float
    source: str

    def targets(self, precisions) -> np.ndarray:
        """``precisions [K] -> [K]`` loss levels."""
        gap = max(self.start - self.loss, 1e-12 * max(1.0, abs(self.loss)))
        return self.loss + np.asarray(precisions, dtype=float) * gap


def known_optimum(name: str) -> float | None:
    """The registered problem ``name``'s ``optimum_loss``; None where it has none or is not registered here."""
    try:
        return PROBLEMS.get(name).optimum_loss
    except (UserError, AttributeError):
        return None


def check_references(results: Results, names: Sequence[str]) -> None:
    """Refuse a reference optimizer (``--reference NAME``) that ran nothing in the store."""
    known = sorted(set(results.cells["optimizer"]))
    for name in names:
        if name not in known:
            raise UserError(f"--reference {name!r} is no optimizer of the store{did_you_mean(name, known)}; "
                            f"its optimizers: {', '.join(known)}")


def reference(results: Results, key: str, optimizers: Sequence[str] = ()) -> Reference | None:
    """The problem's reference and start losses, the reference its known optimum, else from the first of
    ``optimizers`` (registered names) with ok runs; None when no run recorded a trace."""
    problem = results.cells_of(key)
    traces = [results.trace(c) for c in problem["cell_id"]]
    firsts = [float(t["loss"].iloc[0]) for t in traces if len(t) and np.isfinite(t["loss"].iloc[0])]
    if not firsts:
        return None
    start = float(np.median(firsts))
    optimum = known_optimum(problem["problem"].iloc[0])
    if optimum is not None:
        return Reference(float(optimum), start, "the known optimum")
    ok = ok_runs(problem)
    for name in optimizers if has_metric(ok, TRAIN_LOSS) else ():
        losses = ok.loc[ok["optimizer"] == name, TRAIN_LOSS.column].dropna()
        if len(losses):
            return Reference(float(losses.min()), start, f"best final {name} train loss")
    finals = [float(t["best_loss"].min()) for t in traces if len(t)]
    return Reference(float(np.nanmin(finals)), start, "best final trace loss of any run")


def costs_to_reach(results: Results, group: pd.DataFrame, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Per cost unit, ``[runs, K]``: the cost at which each run of ``group`` first reached each of ``targets [K]``
    (inf: never); one read of each run's trace per unit for all targets."""
    traces = [results.trace(c) for c in group["cell_id"]]
    return {c: np.array([cost_to_reach(t, c, targets) for t in traces]).reshape(len(traces), len(targets))
            for c in COSTS}


def target_table(results: Results, key: str, ref: Reference) -> Table:
    """Per target and optimizer: runs that reached it and the cost to reach it in each unit."""
    problem = results.cells_of(key)
    targets = ref.targets(TABLE_PRECISIONS)
    groups = dict(iter(problem.groupby("entry", sort=True)))
    costs = {entry: costs_to_reach(results, group, targets) for entry, group in groups.items()}
    body = []
    for k, (precision, target) in enumerate(zip(TABLE_PRECISIONS, targets)):
        for entry, group in groups.items():
            reached = int(np.isfinite(costs[entry]["seconds"][:, k]).sum())
            body.append([f"{precision:g}", target, entry, f"{reached}/{len(group)}",
                         *(bootstrap_median(costs[entry][c][:, k], seed=(key, entry, c, precision)) for c in COSTS)])
    columns = ["precision", "target loss", "optimizer", "reached", *(f"{t} to reach" for t in COSTS.values())]
    notes = [f"target = reference + precision x (start - reference); reference {ref.loss:.6g} "
             f"({ref.source}), start {ref.start:.6g} (median first trace loss)",
             "cost: median [95% bootstrap interval] over all runs; a run that never reached the target "
             "(including failed runs) counts as ∞, so ∞ means at least half the runs missed it"]
    if trace_loss(problem) == "minibatch loss":
        notes.append("trace losses are minibatch losses: the best-so-far loss can dip below the full-data optimum")
    return Table(f"targets-{slug(key)}", f"{key}: cost to reach loss targets", columns, body, notes)
