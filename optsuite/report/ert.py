"""COCO's expected running time (ERT) of a target over runs (see :mod:`optsuite.targets` for the runs)."""
from __future__ import annotations

import math


def expected_running_time(hits: list[float], spent: list[float]) -> float:
    """ERT of one target over runs ``hits [runs]``, ``spent [runs]``: all evaluations (to the hit, else all
    spent) divided by the number of hits; inf when no run hit."""
    successes = sum(math.isfinite(h) for h in hits)
    if not successes:
        return math.inf
    return sum(h if math.isfinite(h) else s for h, s in zip(hits, spent)) / successes
