"""The results store of a matrix: a folder with one Parquet file of cell rows and one of traces.

Only the driver process writes, and every write replaces a file atomically (write to a
temporary file, then rename), so a crash never leaves a half-written table.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from optsuite.errors import UserError

CELLS, TRACES = "cells.parquet", "traces.parquet"


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self, name: str) -> pd.DataFrame:
        file = self.path / name
        if not file.exists():
            return pd.DataFrame()
        try:
            return pd.read_parquet(file)
        except Exception as exc:
            raise UserError(f"results store file {file} is corrupt or unreadable ({type(exc).__name__})") from None

    def cells(self) -> pd.DataFrame:
        return self._read(CELLS)

    def traces(self) -> pd.DataFrame:
        return self._read(TRACES)

    def finished_ids(self) -> set[str]:
        cells = self.cells()
        return set(cells["cell_id"]) if len(cells) else set()

    def append(self, rows: list[dict[str, Any]], traces: list[dict[str, Any]]) -> None:
        """Add cell rows and trace rows; a cell already stored is replaced, never duplicated."""
        if not rows:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        new_ids = {r["cell_id"] for r in rows}
        cells = self.cells()
        old = cells[~cells["cell_id"].isin(new_ids)] if len(cells) else cells
        self._write(CELLS, pd.concat([old, pd.DataFrame(rows)], ignore_index=True))
        old_traces = self.traces()
        if len(old_traces):
            old_traces = old_traces[~old_traces["cell_id"].isin(new_ids)]
        frames = [f for f in (old_traces, pd.DataFrame(traces)) if len(f)]
        if frames:
            self._write(TRACES, pd.concat(frames, ignore_index=True))

    def _write(self, name: str, frame: pd.DataFrame) -> None:
        target = self.path / name
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        frame.to_parquet(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
