"""A store in the layout cocopp reads: one folder per optimizer entry, ``.info`` / ``.dat`` / ``.tdat`` per problem.

Per entry folder ``<entry>/`` and problem number ``f`` (:func:`~optsuite.report.export_problems.numbered`):

- ``bbobexp_f{f}.info``: ``suite = 'bbob', funcId = f, DIM = d, ..., algId = '<entry>'``, a ``%``
  line naming the problem, the cost axis and the reference, then the data file and one
  ``instance:cost|final f - Fopt`` per run (instance = seed + 1);
- ``data_f{f}/bbobexp_f{f}_DIM{d}.dat``: per run a ``%`` header, then the rows where the best
  loss improved and the last row; ``.tdat``: every trace row.

A row is ``cost  0  best - Fopt  loss  best``: COCO's "best noise-free fitness - Fopt" is the
best loss so far less the problem's reference (:func:`~optsuite.report.reach.reference`: the
known optimum, else a reference optimizer's best final train loss), or less the lowest best
loss of any run where that is lower (a minibatch loss can dip below a full-data reference;
COCO's best known value), so the gaps are never negative and cocopp's targets 1e2 ... 1e-8
are distances to the reference. As in COCO, cocopp reads a run only up to where it first
reaches the final target 1e-8. The files say ``suite = 'optsuite'``: function ``f`` is our problem
``f`` (``problems.csv`` and ``suite.json`` name them, with the cost unit), and cocopp reads them once
:func:`optsuite.report.cocopp_suite.register` has told it that suite. Runs without a trace (failed
before the first step) are left out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .cocopp_suite import SUITE, SUITE_FILE, suite_json
from .export_problems import Numbered
from .output_folder import folders
from .results import Results

HEADER = ("% f evaluations | g evaluations | best noise-free fitness - Fopt ({ref:.12e}) + sum g_i+ | "
          "measured fitness | best measured fitness or single-digit g-values\n")


def improved(trace: pd.DataFrame) -> pd.DataFrame:
    """The rows where ``best_loss`` went down, the first and the last row."""
    best = trace["best_loss"].to_numpy(dtype=float)
    keep = np.r_[True, best[1:] < best[:-1]] | (np.arange(len(best)) == len(best) - 1)
    return trace[keep]


def fopt(results: Results, problem: Numbered) -> float:
    """The problem's reference, or the lowest best loss of any of its runs where that is lower."""
    lowest = [float(results.trace(c)["best_loss"].min()) for c in results.cells_of(problem.key)["cell_id"]
              if len(results.trace(c))]
    return float(np.nanmin([problem.ref.loss, *lowest]))


def rows_text(trace: pd.DataFrame, ref: float, cost: str) -> str:
    gap = trace["best_loss"].to_numpy(dtype=float) - ref
    return "".join(f"{int(c)} 0 {g:+.9e} {l:+.9e} {b:+.9e}\n"
                   for c, g, l, b in zip(trace[cost], gap, trace["loss"], trace["best_loss"]))


def final_gap(trace: pd.DataFrame, ref: float) -> float:
    return float(trace["best_loss"].iloc[-1]) - ref


def write_problem(results: Results, entry: str, problem: Numbered, folder: Path, cost: str) -> list[Path]:
    """The entry's ``.info``, ``.dat`` and ``.tdat`` of one problem; none where no run of it has a trace."""
    cells = results.cells_of(problem.key)
    runs = [(int(c["seed"]) + 1, results.trace(c["cell_id"])) for _, c in cells[cells["entry"] == entry].iterrows()]
    runs = sorted((i, t) for i, t in runs if len(t))
    if not runs or problem.ref is None:
        return []
    ref, name = fopt(results, problem), f"data_f{problem.number}/bbobexp_f{problem.number}_DIM{problem.dim}"
    (folder / f"data_f{problem.number}").mkdir(parents=True, exist_ok=True)
    header = HEADER.format(ref=ref)
    paths = [folder / f"{name}.dat", folder / f"{name}.tdat"]
    paths[0].write_text("".join(header + rows_text(improved(t), ref, cost) for _, t in runs))
    paths[1].write_text("".join(header + rows_text(t, ref, cost) for _, t in runs))
    algorithm = entry.replace("'", '"')
    info = [f"suite = '{SUITE}', funcId = {problem.number}, DIM = {problem.dim}, Precision = 1.000e-08, "
            f"algId = '{algorithm}', coco_version = '', logger = 'bbob', data_format = 'bbob-new2'",
            f"% optsuite problem {problem.key}; cost: {cost}; Fopt {ref:.9g}: the reference {problem.ref.loss:.9g} "
            f"({problem.ref.source}) or the lowest best loss of any run where lower",
            f"{name}.dat, " + ", ".join(f"{i}:{int(t[cost].iloc[-1])}|{final_gap(t, ref):.1e}" for i, t in runs)]
    paths.append(folder / f"bbobexp_f{problem.number}.info")
    paths[-1].write_text("\n".join(info) + "\n")
    return paths


def write(results: Results, problems: list[Numbered], out: Path, cost: str) -> list[Path]:
    """Every entry's folder under ``out`` and ``suite.json``; returns the files written."""
    written = [path for entry, folder in folders(out, results.entries()).items() for p in problems
               for path in write_problem(results, entry, p, folder, cost)]
    (out / SUITE_FILE).write_text(suite_json({p.number: (p.key, p.dim) for p in problems}, cost))
    return written + [out / SUITE_FILE]
