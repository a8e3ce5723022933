"""Learning-rate schedules: the multiplier of the base learning rate at each step.

A schedule is a pure function of the step count, so it does not depend on the unit of
a run's budget: ``horizon`` (in steps) is where decay ends. A linear warmup from
``1 / warmup`` to 1 over the first ``warmup`` steps precedes any schedule.
After the warmup, with progress ``p = (step - warmup) / (horizon - warmup)`` clipped to [0, 1]:

- ``constant``: 1
- ``cosine``: ``floor + (1 - floor) (1 + cos(pi p)) / 2``
- ``linear``: ``1 - (1 - floor) p``
- ``step``: ``gamma ** ((step - warmup) // decay_every)``

``floor`` is the final multiplier of the cosine and linear schedules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UserError

SCHEDULES = ("constant", "cosine", "linear", "step")


@dataclass(frozen=True)
class Schedule:
    kind: str = "constant"
    horizon: int = 5000
    warmup: int = 0
    floor: float = 0.0
    gamma: float = 0.1
    decay_every: int = 1000

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise UserError(f"schedule {self.kind!r} unknown; known: {', '.join(SCHEDULES)}")
        if self.horizon < 1 or not 0 <= self.warmup <= self.horizon:
            raise UserError(f"schedule: need horizon >= 1 and 0 <= warmup <= horizon, got {self.horizon}, {self.warmup}")
        if not 0 <= self.floor <= 1 or not 0 < self.gamma <= 1 or self.decay_every < 1:
            raise UserError("schedule: need 0 <= floor <= 1, 0 < gamma <= 1, decay_every >= 1")

    def factor(self, step: int) -> float:
        """The multiplier of the base learning rate at ``step`` (0-based)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        after = step - self.warmup
        progress = min(1.0, after / max(1, self.horizon - self.warmup))
        if self.kind == "cosine":
            return self.floor + (1 - self.floor) * (1 + math.cos(math.pi * progress)) / 2
        if self.kind == "linear":
            return 1 - (1 - self.floor) * progress
        if self.kind == "step":
            return self.gamma ** (after // self.decay_every)
        return 1.0
