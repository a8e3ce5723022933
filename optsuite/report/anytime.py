"""Reading a run's trace at a cost: the best loss within a budget, the cost to reach a target.

A trace has one row per step with cumulative costs (``sample_forwards``, ``flops``,
``seconds``, ...) and ``best_loss``, the best loss so far (a minibatch loss where the problem
samples minibatches). Both readouts are step functions of the cost, so they compare runs
at exactly equal spend; :func:`value_until_end` also stops where the run stopped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COSTS = {"sample_forwards": "sample-forwards", "flops": "FLOPs", "seconds": "seconds"}


def value_within(trace: pd.DataFrame, cost: str, budgets, column: str = "best_loss") -> np.ndarray:
    """``budgets [B] -> [B]``: ``column`` at the last row with ``cost <= budget``; NaN before the first row."""
    if not len(trace):
        return np.full(len(np.atleast_1d(budgets)), np.nan)
    values = trace[column].to_numpy(dtype=float)
    index = np.searchsorted(trace[cost].to_numpy(dtype=float), np.asarray(budgets, dtype=float), side="right") - 1
    return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)


def value_until_end(trace: pd.DataFrame, cost: str, budgets, column: str = "best_loss") -> np.ndarray:
    """:func:`value_within`, NaN beyond the trace's last row too: a finished run is not read past its end."""
    values = value_within(trace, cost, budgets, column)
    end = float(trace[cost].iloc[-1]) if len(trace) else -np.inf
    return np.where(np.asarray(budgets, dtype=float) <= end, values, np.nan)


def cost_to_reach(trace: pd.DataFrame, cost: str, targets) -> np.ndarray:
    """``targets [K] -> [K]``: ``cost`` at the first row with ``best_loss <= target``; inf if never."""
    if not len(trace):
        return np.full(len(np.atleast_1d(targets)), np.inf)
    best = np.fmin.accumulate(trace["best_loss"].to_numpy(dtype=float))
    # best is non-increasing: the first row at or below a target is a search on its reverse
    hit = len(best) - np.searchsorted(best[::-1], np.asarray(targets, dtype=float), side="right")
    return np.where(hit < len(best), trace[cost].to_numpy(dtype=float)[np.minimum(hit, len(best) - 1)], np.inf)


def budget_grid(low: float, high: float, count: int) -> np.ndarray:
    """``count`` log-spaced budgets from ``low`` to ``high``, rounded up to two significant digits."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high <= low:
        return np.array([high]) if np.isfinite(high) and high > 0 else np.array([])
    raw = np.geomspace(low, high, count)
    scale = 10.0 ** (np.floor(np.log10(raw)) - 1)
    return np.unique(np.ceil(raw / scale * (1 - 1e-12)) * scale)


def cost_range(traces: list[pd.DataFrame], cost: str) -> tuple[float, float]:
    """(median first-row cost, largest last-row cost) over the runs that recorded a trace."""
    firsts = [t[cost].iloc[0] for t in traces if len(t)]
    lasts = [t[cost].iloc[-1] for t in traces if len(t)]
    return (float(np.median(firsts)), float(max(lasts))) if firsts else (np.nan, np.nan)
