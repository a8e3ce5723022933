"""Performance profiles (Dolan and Moré 2002) of the cost to reach a loss target, over problems and seeds.

An instance is a (problem, seed) that every compared entry ran; its cost for an entry is the
sample-forwards at which that run's best loss first reached the problem's target
``reference + PRECISION x (start - reference)`` (:mod:`.reach`; inf: never, or the run
failed). The ratio of a cost to the instance's smallest is the entry's performance ratio
there (inf where the entry missed; an instance no entry solved is inf for all), and an
entry's profile at ``tau`` is the fraction of instances whose ratio is at most ``tau``: its
value at 1 is the share of instances it solved fastest, its limit the share it solved.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .anytime import cost_to_reach
from .reach import Reference
from .results import Results

PRECISION = 1e-1  # the convergence test's tolerance (Moré and Wild 2009): 90% of the way from start to reference
COST = "sample_forwards"


def instance_costs(results: Results, references: dict[str, Reference], entries: list[str]) -> pd.DataFrame:
    """``[instances, entries]``: cost to reach each problem's target, indexed by (problem, seed); the problems
    are ``references``' keys."""
    rows = {}
    for key, ref in references.items():
        problem = results.cells_of(key)
        problem = problem[problem["entry"].isin(entries)]
        target = ref.targets([PRECISION])
        seeds = set.intersection(*(set(g["seed"]) for _, g in problem.groupby("entry"))) if len(problem) else set()
        for _, run in problem[problem["seed"].isin(seeds)].iterrows():
            hit = cost_to_reach(results.trace(run["cell_id"]), COST, target)[0] if run["status"] == "ok" else np.inf
            rows.setdefault((key, int(run["seed"])), {})[run["entry"]] = float(hit)
    return pd.DataFrame.from_dict(rows, orient="index", columns=entries).fillna(np.inf)


def ratios(costs: pd.DataFrame) -> pd.DataFrame:
    """Each instance's costs over its smallest finite cost (all inf where no entry reached the target)."""
    return costs.div(costs.min(axis=1), axis=0).fillna(np.inf)  # inf / inf: an instance no entry solved


def profile(ratio: pd.Series, taus: np.ndarray) -> np.ndarray:
    """``taus [G] -> [G]``: the fraction of instances whose performance ratio is at most each tau."""
    r = ratio.to_numpy(dtype=float)
    return (r[None, :] <= taus[:, None]).mean(axis=1) if len(r) else np.zeros(len(taus))
