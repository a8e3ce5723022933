"""The store's problems as the COCO and IOH exports number them: 1, 2, ... in sorted order, with ``problems.csv``
mapping each number to its problem, dimension and loss reference."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from .reach import Reference, reference
from .results import Results

COSTS = ("sample_forwards", "evaluations")


@dataclass(frozen=True)
class Numbered:
    """A problem as the exports name it: ``number`` (1, 2, ...), ``key``, ``dim`` and its loss ``ref``."""

    number: int
    key: str
    dim: int
    ref: Reference | None


def numbered(results: Results, references: Sequence[str]) -> list[Numbered]:
    """The store's problems, numbered from 1 in sorted order; ``dim``: the cells' ``dim`` (1 where unrecorded)."""
    out = []
    for number, key in enumerate(results.problems(), start=1):
        dims = results.cells_of(key)["dim"].dropna() if "dim" in results.cells else pd.Series(dtype=float)
        out.append(Numbered(number, key, int(dims.iloc[0]) if len(dims) else 1, reference(results, key, references)))
    return out


def problems_csv(problems: list[Numbered], out: Path) -> Path:
    rows = [{"number": p.number, "problem": p.key, "dim": p.dim, "reference": p.ref.loss if p.ref else None,
             "reference_source": p.ref.source if p.ref else None} for p in problems]
    pd.DataFrame(rows).to_csv(out / "problems.csv", index=False)
    return out / "problems.csv"
