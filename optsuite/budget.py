"""Budgets: limits on what a run may spend, in any of the ledger's units.

A budget is parsed once, from flags (``["evaluations=1000"]``) or a TOML table
(``{evaluations = 1000}``), into a :class:`Budget` that travels unchanged to the run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Callable

from .errors import UserError

UNITS = ("steps", "evaluations", "sample_forwards", "flops", "seconds", "peak_memory_bytes")
COUNTED = UNITS[:4]  # units that count work, the same on every machine
INTEGER_UNITS = ("steps", "evaluations", "sample_forwards", "peak_memory_bytes")


@dataclass(frozen=True)
class Budget:
    """Limits in any units; a run stops at the first one exhausted. None: unlimited."""

    steps: int | None = None
    evaluations: int | None = None
    sample_forwards: int | None = None
    flops: float | None = None
    seconds: float | None = None
    peak_memory_bytes: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"budget {f.name}={value!r} is not a number")
            if value <= 0:
                raise UserError(f"budget {f.name}={value} must be positive")
            if f.name in INTEGER_UNITS and not float(value).is_integer():
                raise UserError(f"budget {f.name}={value} must be a whole number")
        if all(getattr(self, f.name) is None for f in fields(self)):
            raise UserError(f"a budget needs at least one limit ({', '.join(UNITS)})")

    @classmethod
    def parse(cls, items: dict[str, object] | list[str]) -> "Budget":
        """From ``{"evaluations": 1000}`` or ``["evaluations=1000", "seconds=5"]``."""
        if isinstance(items, list):
            pairs = {}
            for item in items:
                key, sep, value = item.partition("=")
                if not sep:
                    raise UserError(f"budget {item!r} is not UNIT=VALUE (units: {', '.join(UNITS)})")
                if key.strip() in pairs:
                    raise UserError(f"budget {key.strip()} is given twice; give it once")
                try:
                    pairs[key.strip()] = float(value)
                except ValueError:
                    raise UserError(f"budget {item!r}: {value!r} is not a number") from None
            items = pairs
        unknown = sorted(set(items) - set(UNITS))
        if unknown:
            raise UserError(f"unknown budget unit {unknown[0]!r}; known: {', '.join(UNITS)}")
        clean = {}
        for k, v in items.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise UserError(f"budget {k}={v!r} is not a number")
            clean[k] = int(v) if k in INTEGER_UNITS and float(v).is_integer() else v
        return cls(**clean)

    @staticmethod
    def or_default(budget: "Budget | None", optimizer) -> "Budget":
        """What a run of ``optimizer`` (an optimizer or its class) gets: ``budget``, or where that is None (no budget
        named) the optimizer's ``default_budget``. Every path that runs or plans a run decides this here."""
        return optimizer.default_budget if budget is None else budget

    def as_dict(self) -> dict[str, float]:
        """The limits set, by unit (in :data:`UNITS` order)."""
        return {unit: getattr(self, unit) for unit in UNITS if getattr(self, unit) is not None}

    def progress(self, spent: dict[str, float]) -> float:
        """The fraction of this budget that ``spent`` (a ledger's totals) has used: the largest over its
        units, counting seconds and peak memory only where it limits nothing else (so that the fraction
        of a budget in evaluations, sample-forwards, FLOPs or steps does not depend on the machine)."""
        limits = self.as_dict()
        counted = {u: v for u, v in limits.items() if u in COUNTED} or limits
        return max(spent[u] / v for u, v in counted.items())

    def scaled(self, share: float) -> "Budget":
        """``share`` of this budget: counts rounded down (at least 1), FLOPs and seconds scaled; peak memory is
        a limit, not an amount, and stays."""
        return self.mapped(lambda unit, count: max(1, math.floor(count * share)), lambda unit, amount: amount * share)

    def less(self, spent: dict[str, float]) -> "Budget":
        """What this budget leaves after ``spent`` (a ledger's totals): each limited unit minus its spend; a
        unit spent to its limit or beyond leaves the least a budget can hold (1 of a count, 1e-9 of the limit
        of FLOPs or seconds); peak memory is a limit and stays."""
        return self.mapped(lambda unit, count: max(1, int(count - spent.get(unit, 0))),
                           lambda unit, amount: max(amount * 1e-9, amount - spent.get(unit, 0.0)))

    def mapped(self, count: Callable[[str, int], int], amount: Callable[[str, float], float]) -> "Budget":
        """Each limit through ``count(unit, value)`` (the integer units) or ``amount(unit, value)`` (FLOPs and
        seconds); peak memory stays."""
        limits = {}
        for unit, value in self.as_dict().items():
            if unit == "peak_memory_bytes":
                limits[unit] = value
            else:
                limits[unit] = count(unit, value) if unit in INTEGER_UNITS else amount(unit, value)
        return Budget(**limits)

    def capped(self, seconds: float | None) -> "Budget":
        """This budget with its seconds at most ``seconds`` (a cell's time limit; None: unchanged)."""
        if seconds is None or (self.seconds is not None and self.seconds <= seconds):
            return self
        return replace(self, seconds=seconds)

    def cut_short(self, used: "Budget", status: str, stop: str) -> bool:
        """Whether a run under ``used`` (this budget :meth:`capped` by a time limit) that ended with ``status`` and
        ``stop`` was stopped by the time limit rather than by this budget: status "timeout", not "ok"."""
        return status == "ok" and stop == "seconds" and used != self
