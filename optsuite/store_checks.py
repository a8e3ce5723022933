"""What a reader of a results store checks beyond the checksums: the manifest's format, the cells table's
columns, and that the trace rows read add up to each cell's ``trace_rows``.

A checksum proves that a file is the version the manifest lists; these checks prove that the manifest and the
tables agree with each other, so that an edited manifest (a trace part left out of it) or a cells table without
the columns every run writes is refused on one line instead of being read into wrong numbers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import UserError

FORMATS = (1, 2)  # 1: one traces.parquet, rewritten by each flush; 2: trace parts, one per flush
CELL_COLUMNS = ("cell_id", "run_id", "status", "trace_rows")  # what every stored cell row has


def manifest_files(text: str, file: Path) -> dict[str, list[dict[str, Any]]]:
    """The ``files`` of a manifest's JSON ``text``: data file name -> the versions a reader may find (``sha256``,
    ``rows``); an unknown ``format`` or a malformed manifest is a one-line UserError."""
    try:
        data = json.loads(text)
        form = data.get("format")
        files = data["files"]
        versions = {name: [{"sha256": v["sha256"] and str(v["sha256"]), "rows": int(v["rows"])} for v in listed]
                    for name, listed in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"results store file {file} is corrupt (not a valid manifest)") from None
    if isinstance(form, bool) or form not in FORMATS:
        raise UserError(f"results store file {file} has format {form!r}; this optsuite reads formats "
                        f"{', '.join(map(str, FORMATS))} (a newer optsuite wrote it, or it was edited)")
    return versions


def check_cells(cells: pd.DataFrame, file: Path) -> None:
    """Refuse a non-empty cells table that lacks a column every run writes (:data:`CELL_COLUMNS`)."""
    missing = [c for c in CELL_COLUMNS if c not in cells] if len(cells) else []
    if missing:
        raise UserError(f"results store file {file} is damaged: it has no {', '.join(missing)} column")


def check_trace_rows(cells: pd.DataFrame, traces: pd.DataFrame, path: Path) -> None:
    """Refuse traces (``[rows]``, the stored attempts' only) that do not add up to each cell's ``trace_rows``:
    a trace part left out of the manifest, or a cells table that is not the traces'."""
    if cells.empty:
        return
    counts = traces["run_id"].value_counts() if len(traces) else pd.Series(dtype=int)
    found = counts.reindex(cells["run_id"], fill_value=0).to_numpy()
    expected = pd.to_numeric(cells["trace_rows"], errors="coerce").to_numpy()
    wrong = (found != expected).nonzero()[0]
    if len(wrong):
        i = wrong[0]
        raise UserError(f"results store {path} is damaged: cell {cells['cell_id'].iloc[i]} has {found[i]} trace rows, "
                        f"its cell row says {expected[i]:g} ({len(wrong)} cells disagree; is a trace part missing from "
                        f"the manifest?)")
