"""A results store in the formats other tools read: ``optsuite export STORE --format coco|ioh|csv --out DIR``.

- ``coco``: the layout cocopp reads (:mod:`.export_coco`);
- ``ioh``: IOHprofiler's JSON and ``.dat`` files, which IOHanalyzer and iohinspector read (:mod:`.export_ioh`);
- ``csv``: ``cells.csv`` (one row per run) and ``traces.csv`` (one row per step), long tables (:mod:`.export_csv`).

The COCO and IOH exports number the store's problems 1, 2, ... in sorted order (the same number
in every optimizer's folder), treat each seed as instance ``seed + 1``, and take the cost axis
(``cost``: sample-forwards by default, or evaluations) from the traces. ``problems.csv`` beside
them maps each number to its problem, dimension and loss reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from ..errors import UserError
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


def export(results: Results, fmt: str, out: Path, references: Sequence[str], cost: str = COSTS[0]) -> list[Path]:
    """Write ``results`` as ``fmt`` under ``out`` (created); returns the files written."""
    from . import export_coco, export_csv, export_ioh

    writers: dict[str, Callable[..., list[Path]]] = {"coco": export_coco.write, "ioh": export_ioh.write,
                                                     "csv": export_csv.write}
    if fmt not in writers:
        raise UserError(f"unknown export format {fmt!r}; choose {', '.join(writers)}")
    if cost not in COSTS:
        raise UserError(f"unknown cost {cost!r}; choose {', '.join(COSTS)}")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return writers[fmt](results, out)
    problems = numbered(results, references)
    return writers[fmt](results, problems, out, cost) + [problems_csv(problems, out)]
