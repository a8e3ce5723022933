"""Uncertainty over seeds: bootstrap intervals of the median, paired signed-rank tests, Holm, ranks.

Every random resample is drawn from a generator seeded by :func:`optsuite.crn.derive_seed`,
so a report is identical each time it is made from the same store.

The bootstrap is our own percentile bootstrap rather than ``scipy.stats.bootstrap``: the
values include infinities (the cost to reach a target that a run never reached), where
scipy's default BCa interval is NaN and its percentile method interpolates between a
finite value and infinity (with a warning); ours takes order statistics ('lower' and
'higher' quantiles), so a bound is always one of the resampled medians.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from ..crn import derive_seed

LEVEL = 0.95
RESAMPLES = 2000
MIN_PAIRS = 5  # with 5 pairs the smallest two-sided Wilcoxon p is 2/32 = 0.0625


@dataclass(frozen=True)
class Interval:
    """A median over ``n`` runs with a bootstrap interval ``[low, high]`` (NaN bounds when n < 2)."""

    median: float
    low: float
    high: float
    n: int


def bootstrap_median(values, level: float = LEVEL, resamples: int = RESAMPLES, seed: object = 0) -> Interval:
    """Percentile bootstrap interval of the median of ``values [n]`` (infinities allowed).

    Bounds are taken with the 'lower'/'higher' quantile rules, so an interval never
    interpolates between a finite value and infinity. The values are sorted first, so the
    interval depends on them alone, not on the order a store happens to hold its runs in.
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    median = float(np.median(x))
    if len(x) == 1:
        return Interval(median, math.nan, math.nan, 1)
    rng = np.random.default_rng(derive_seed("bootstrap", seed))
    medians = np.median(x[rng.integers(0, len(x), size=(resamples, len(x)))], axis=1)
    tail = (1 - level) / 2
    low = float(np.quantile(medians, tail, method="lower"))
    high = float(np.quantile(medians, 1 - tail, method="higher"))
    return Interval(median, low, high, len(x))


@dataclass(frozen=True)
class PairedTest:
    """A two-sided Wilcoxon signed-rank test of ``x - y`` over paired seeds.

    ``p_value`` is None when the test cannot be made; ``reason`` then says why.
    """

    pairs: int
    p_value: float | None
    difference: Interval  # median of x - y with its bootstrap interval
    reason: str = ""


def wilcoxon_paired(x, y, min_pairs: int = MIN_PAIRS, seed: object = 0) -> PairedTest:
    """Test ``x [n]`` against ``y [n]`` (same seeds, same order) with scipy's signed-rank test."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    diff = x - y
    n = len(diff)
    difference = bootstrap_median(diff, seed=seed)
    if n < min_pairs:
        return PairedTest(n, None, difference, f"only {n} paired seeds (need {min_pairs})")
    if np.all(diff == 0):
        return PairedTest(n, None, difference, f"all {n} paired differences are zero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about exact/normal switching on ties
        p = float(scipy_stats.wilcoxon(x, y).pvalue)
    return PairedTest(n, p, difference)


def smallest_wilcoxon_p(pairs: int) -> float:
    """The smallest two-sided exact signed-rank p over ``pairs`` seeds: every difference of one sign, ``2 / 2^n``."""
    return 2.0 ** (1 - pairs)


def holm(p_values) -> np.ndarray:
    """``[m] -> [m]`` Holm-adjusted p-values of one family of tests (statsmodels' step-down procedure)."""
    p = np.asarray(p_values, dtype=float)
    return multipletests(p, method="holm")[1] if len(p) else p


def ranks(values, higher_is_better: bool):
    """``[k] -> [k]`` ranks, 1 = best, ties averaged; NaN values share the last places."""
    x = np.asarray(values, dtype=float)
    key = -x if higher_is_better else x
    key = np.where(np.isnan(key), np.inf, key)
    return scipy_stats.rankdata(key, method="average")
