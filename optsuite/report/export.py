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

from pathlib import Path
from typing import Callable, Sequence

from ..errors import UserError
from . import export_coco, export_csv, export_ioh
from .export_problems import COSTS, numbered, problems_csv
from .output_folder import staged
from .results import Results

WRITERS: dict[str, Callable[..., list[Path]]] = {"coco": export_coco.write, "ioh": export_ioh.write,
                                                 "csv": export_csv.write}


def check(fmt: str, cost: str) -> None:
    """Refuse an unknown format or cost axis (before anything is written)."""
    if fmt not in WRITERS:
        raise UserError(f"unknown export format {fmt!r}; choose {', '.join(WRITERS)}")
    if cost not in COSTS:
        raise UserError(f"unknown cost {cost!r}; choose {', '.join(COSTS)}")


def export(results: Results, fmt: str, out: Path, references: Sequence[str], cost: str = COSTS[0]) -> list[Path]:
    """Write ``results`` as ``fmt`` under ``out`` (created); returns the files written. The files appear only once
    all are written (:func:`~.output_folder.staged`), ``problems.csv`` last."""
    check(fmt, cost)
    out.mkdir(parents=True, exist_ok=True)
    with staged(out, last=["problems.csv"]) as stage:
        if fmt == "csv":
            written = WRITERS[fmt](results, stage)
        else:
            problems = numbered(results, references)
            written = WRITERS[fmt](results, problems, stage, cost) + [problems_csv(problems, stage)]
    return [out / path.relative_to(stage) for path in written]
