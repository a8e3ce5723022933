"""A store as two long CSV tables: ``cells.csv`` (one row per run) and ``traces.csv`` (one row per step).

``cells.csv`` has every cell column of the store plus ``problem_key`` and ``entry`` (the
report's names for the problem and the optimizer), the tuning trials left out; ``traces.csv``
has the stored attempt's trace rows with the same ``problem_key``, ``entry`` and ``seed``, so
either reads with ``pd.read_csv`` and groups without a join.
"""
from __future__ import annotations

from pathlib import Path

from .results import Results


def write(results: Results, out: Path) -> list[Path]:
    cells = results.cells
    keys = cells[["cell_id", "problem_key", "entry", "seed"]]
    traces = results.traces.merge(keys, on="cell_id", how="inner") if len(results.traces) else results.traces
    paths = [out / "cells.csv", out / "traces.csv"]
    cells.to_csv(paths[0], index=False)
    traces.to_csv(paths[1], index=False)
    return paths
