"""The results store of a matrix: a folder with one Parquet file of cell rows and one of traces.

``cells.parquet`` holds one row per cell (the last attempt), ``traces.parquet`` one row
per step, tied to its cell row by ``run_id``. Only the driver process writes, one
writer at a time (a lock file), and every write replaces a file atomically (write a
temporary file, fsync, rename), so a crash never leaves a half-written table.

``manifest.json`` lists, for each data file, the SHA-256 and row count of the version a
reader may find. While a write is under way it lists two (the new one and the one
before, ``sha256`` null: no file yet), since a crash between two renames legitimately
leaves one file a version behind. Anything else is corruption and is reported on one
line, never merged.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from optsuite.errors import UserError

CELLS, TRACES, MANIFEST, LOCK = "cells.parquet", "traces.parquet", "manifest.json", ".lock"
RETRIED = ("failed", "timeout")  # statuses that ``--retry`` runs again
ABSENT = {"sha256": None, "rows": 0}  # the manifest's entry for a file not yet written


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = None
        self._cells: pd.DataFrame | None = None
        self._traces: pd.DataFrame | None = None
        self._on_disk: dict[str, dict[str, Any]] = {}  # the version of each file now on disk

    # -- reading -----------------------------------------------------------------------
    def manifest(self) -> dict[str, list[dict[str, Any]]]:
        """Data file name -> the versions a reader may find (``sha256``, ``rows``)."""
        file = self.path / MANIFEST
        if not file.exists():
            if any((self.path / name).exists() for name in (CELLS, TRACES)):
                raise UserError(f"results store {self.path} has data files but no {MANIFEST}; it is damaged")
            return {}
        try:
            files = json.loads(file.read_text())["files"]
            return {name: [{"sha256": v["sha256"] and str(v["sha256"]), "rows": int(v["rows"])} for v in versions]
                    for name, versions in files.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"results store file {file} is corrupt (not a valid manifest)") from None

    def _read_verified(self, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The table and its manifest version entry."""
        file = self.path / name
        versions = self.manifest().get(name, [])
        if not file.exists():
            if versions and all(v["sha256"] for v in versions):
                raise UserError(f"results store file {file} is missing ({MANIFEST} lists it)")
            return pd.DataFrame(), ABSENT
        data = file.read_bytes()
        match = [v for v in versions if v["sha256"] == sha256(data)]
        if not match:
            raise UserError(f"results store file {file} is corrupt (its checksum matches no version in {MANIFEST})")
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise UserError(f"results store file {file} is corrupt or unreadable ({type(exc).__name__})") from None
        if len(frame) != match[0]["rows"]:
            raise UserError(f"results store file {file} is corrupt ({len(frame)} rows, {MANIFEST} says {match[0]['rows']})")
        return frame, match[0]

    def _read(self, name: str) -> pd.DataFrame:
        """A verified table; read twice before calling it corrupt, in case a writer replaced it meanwhile."""
        try:
            return self._read_verified(name)[0]
        except UserError:
            time.sleep(0.2)
            return self._read_verified(name)[0]

    def cells(self) -> pd.DataFrame:
        if self._cells is None:
            return self._read(CELLS)
        return self._cells

    def traces(self, cells: pd.DataFrame | None = None) -> pd.DataFrame:
        """Trace rows of the stored attempt of each cell (``cells``: the cells table, if already read)."""
        traces = self._read(TRACES) if self._traces is None else self._traces
        cells = self.cells() if cells is None else cells
        if traces.empty or cells.empty:
            return traces
        return traces[traces["run_id"].isin(cells["run_id"])].reset_index(drop=True)

    def finished_ids(self, retry: bool = False) -> set[str]:
        """Ids of stored cells; with ``retry``, those that failed or timed out count as unfinished."""
        cells = self.cells()
        if cells.empty:
            return set()
        if retry:
            cells = cells[~cells["status"].isin(RETRIED)]
        return set(cells["cell_id"])

    # -- writing -----------------------------------------------------------------------
    def open(self) -> "Store":
        """Take the writer's lock and load the tables; one writer per store at a time."""
        if self._lock is not None:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        lock = open(self.path / LOCK, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise UserError(f"results store {self.path} is in use by another run") from None
        self._lock = lock
        for stale in self.path.glob(".*.tmp*"):  # left by a writer killed mid-write
            stale.unlink()
        (self._cells, cells_version), (self._traces, traces_version) = map(self._read_verified, (CELLS, TRACES))
        self._on_disk = {CELLS: cells_version, TRACES: traces_version}
        return self

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._cells = self._traces = None

    def __enter__(self) -> "Store":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, rows: list[dict[str, Any]], traces: list[dict[str, Any]]) -> None:
        """Add cell rows and trace rows; a cell already stored is replaced, never duplicated."""
        if not rows:
            return
        self.open()
        new_ids = {r["cell_id"] for r in rows}
        cells = pd.concat([f for f in (self._keep(self._cells, new_ids), pd.DataFrame(rows)) if len(f)],
                          ignore_index=True)
        frames = [f for f in (self._keep(self._traces, new_ids), pd.DataFrame(traces)) if len(f)]
        trace_table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        self._commit({CELLS: cells, TRACES: trace_table})
        self._cells, self._traces = cells, trace_table

    @staticmethod
    def _keep(frame: pd.DataFrame, drop_ids: set[str]) -> pd.DataFrame:
        return frame[~frame["cell_id"].isin(drop_ids)] if len(frame) else frame

    def _commit(self, tables: dict[str, pd.DataFrame]) -> None:
        """Write temporaries; publish a manifest naming the old and new versions; rename (traces
        first); then settle the manifest on the new versions alone."""
        written, versions = {}, {}
        for name, frame in tables.items():
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            data = buffer.getvalue()
            written[name] = self._write_tmp(name, data)
            versions[name] = {"sha256": sha256(data), "rows": len(frame)}
        self._publish({name: [versions[name], self._on_disk[name]] for name in tables})
        for name in (TRACES, CELLS):
            os.replace(written[name], self.path / name)
        self._on_disk = versions
        self._publish({name: [versions[name]] for name in tables})

    def _publish(self, files: dict[str, list[dict[str, Any]]]) -> None:
        text = json.dumps({"format": 1, "files": files}, indent=1).encode()
        os.replace(self._write_tmp(MANIFEST, text), self.path / MANIFEST)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _write_tmp(self, name: str, data: bytes) -> Path:
        tmp = self.path / f".{name}.tmp{os.getpid()}"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp
