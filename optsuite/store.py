"""The results store of a matrix: a folder with a Parquet file of cell rows and Parquet parts of traces.

``cells.parquet`` holds one row per cell (the last attempt). Trace rows, one per step and
tied to their cell row by ``run_id``, go to numbered parts (``traces-00001.parquet``, ...):
each flush adds one part and never rewrites an earlier one, and a reader concatenates
them in order (a store written before parts existed has a single ``traces.parquet``,
read as part 0). Only the attempt a cell row names is read back, so the rows of a retried
cell's older attempt are never read twice. Only the driver process writes, one writer at
a time (a lock file), and every file appears atomically (write a temporary file, fsync,
rename), so a crash never leaves a half-written table.

``manifest.json`` lists, for each data file, the SHA-256 and row count of the version a
reader may find. While a flush is under way it lists two for the cells table and for the
new part (the new one and the one before, ``sha256`` null: no file yet), since a crash
between two renames legitimately leaves the cells table a version behind; the next writer
then deletes the part whose cell rows never landed. Anything else is corruption and is
reported on one line, never merged; so are the disagreements that checksums cannot see
(store_checks.py: a trace part left out of the manifest, a cells table without its columns).
A write that fails (a full disk) leaves the store as a kill would, without temporaries.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import pandas as pd

from .errors import UserError
from .store_checks import check_cells, check_trace_rows, manifest_files

CELLS, TRACES, MANIFEST, LOCK = "cells.parquet", "traces.parquet", "manifest.json", ".lock"
PART = re.compile(r"traces-(\d+)\.parquet")  # a trace part; TRACES, a store's single file before parts, is part 0
RETRIED = ("failed", "timeout")  # statuses that ``--retry`` runs again
ABSENT = {"sha256": None, "rows": 0}  # the manifest's entry for a file not yet written
T = TypeVar("T")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def why_not_writable(exc: OSError) -> str:
    """The reason a folder could not be made or written, for a one-line message."""
    return "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror


def make_folder(path: Path) -> None:
    """``path.mkdir(parents=True, exist_ok=True)``; where that fails, the folders it made go again (a refusal
    leaves no empty folder behind) and the OSError is raised."""
    made = [p for p in (path, *path.parents) if not os.path.lexists(p)]  # deepest first
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


def part_name(number: int) -> str:
    return f"traces-{number:05d}.parquet"


def part_number(name: str) -> int | None:
    """The position of trace file ``name`` among the parts (TRACES: 0); None if it is no trace file."""
    match = PART.fullmatch(name)
    return int(match.group(1)) if match else 0 if name == TRACES else None


def trace_parts(names: Any) -> list[str]:
    """The trace files among ``names``, in the order they were written."""
    return sorted((n for n in names if part_number(n) is not None), key=part_number)


def last_writes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Trace parts (in order) -> their rows, where an attempt (``run_id``) written twice keeps only its last write."""
    frames = [f.assign(_part=i) for i, f in enumerate(frames) if len(f)]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    last = rows.groupby("run_id")["_part"].transform("max")
    return rows[rows["_part"] == last].drop(columns="_part").reset_index(drop=True)


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = None
        self._cells: pd.DataFrame | None = None
        self._on_disk: dict[str, dict[str, Any]] = {}  # the version of each file now on disk

    # -- reading -----------------------------------------------------------------------
    def manifest(self) -> dict[str, list[dict[str, Any]]]:
        """Data file name -> the versions a reader may find (``sha256``, ``rows``)."""
        file = self.path / MANIFEST
        if not file.exists():
            if (self.path / CELLS).exists() or trace_parts(p.name for p in self.path.glob("traces*.parquet")):
                raise UserError(f"results store {self.path} has data files but no {MANIFEST}; it is damaged")
            return {}
        return manifest_files(self._read_bytes(file).decode(errors="replace"), file)

    @staticmethod
    def _read_bytes(file: Path) -> bytes:
        try:
            return file.read_bytes()
        except OSError as exc:  # e.g. a folder where the file should be
            raise UserError(f"results store file {file} cannot be read ({exc.strerror or type(exc).__name__})") from None

    def _read_verified(self, name: str, versions: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The table ``name`` and the entry of ``versions`` (its manifest list) that it matches."""
        file = self.path / name
        if not file.exists():
            if versions and all(v["sha256"] for v in versions):
                raise UserError(f"results store file {file} is missing ({MANIFEST} lists it)")
            return pd.DataFrame(), ABSENT
        data = self._read_bytes(file)
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

    @staticmethod
    def _twice(read: Callable[[], T]) -> T:
        """``read()``; tried twice before calling the store corrupt, in case a writer replaced a file meanwhile."""
        try:
            return read()
        except UserError:
            time.sleep(0.2)
            return read()

    def _read_cells(self) -> pd.DataFrame:
        return self._cells_table(self.manifest())[0]

    def _cells_table(self, manifest: dict[str, list[dict[str, Any]]]) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The cells table, checked against ``manifest`` and for its columns, and its manifest entry."""
        cells, version = self._read_verified(CELLS, manifest.get(CELLS, []))
        check_cells(cells, self.path / CELLS)
        return cells, version

    def _read_traces(self, cells: pd.DataFrame) -> pd.DataFrame:
        """The trace rows of the stored attempts of ``cells`` from every part the manifest lists (see
        :func:`last_writes`), checked to add up to each cell's ``trace_rows``."""
        manifest = self.manifest()
        return self._of(cells, [self._read_verified(name, manifest[name])[0] for name in trace_parts(manifest)])

    def _of(self, cells: pd.DataFrame, frames: list[pd.DataFrame]) -> pd.DataFrame:
        """Trace parts ``frames`` (in order) -> the rows of the attempts that ``cells`` names, checked to add up to
        each cell's ``trace_rows``."""
        traces = last_writes(frames)
        if len(traces) and len(cells):
            traces = traces[traces["run_id"].isin(cells["run_id"])].reset_index(drop=True)
        check_trace_rows(cells, traces, self.path)
        return traces

    def cells(self) -> pd.DataFrame:
        if self._cells is None:
            return self._twice(self._read_cells)
        return self._cells

    def traces(self, cells: pd.DataFrame | None = None) -> pd.DataFrame:
        """Trace rows of the stored attempt of each cell (``cells``: the cells table, if already read;
        read it first, since a flush lands its trace part before its cell rows)."""
        cells = self.cells() if cells is None else cells
        return self._twice(lambda: self._read_traces(cells))

    def verified_cells(self) -> pd.DataFrame:
        """The cells table, after checking every file the manifest lists as a writer's :meth:`open` does (so a
        store that a run would refuse is refused here too, without taking the lock)."""
        return self._twice(lambda: self._verified(self.manifest())[0])

    def finished_ids(self, retry: bool = False, code: str | None = None) -> set[str]:
        """Ids of stored cells; with ``retry``, those that failed or timed out count as unfinished;
        with ``code``, so do those made by other code (another ``cell.code_hash``, or none recorded)."""
        cells = self.cells()
        if cells.empty:
            return set()
        if retry:
            cells = cells[~cells["status"].isin(RETRIED)]
        if code is not None:
            cells = cells[cells["code"] == code] if "code" in cells else cells.iloc[:0]
        return set(cells["cell_id"])

    # -- writing -----------------------------------------------------------------------
    def open(self) -> "Store":
        """Take the writer's lock, verify every file and load the cells; one writer per store at a time."""
        if self._lock is not None:
            return self
        try:
            make_folder(self.path)
            lock = open(self.path / LOCK, "a")
        except OSError as exc:  # a file where the folder should be, or a folder this process cannot write
            raise UserError(f"results store {self.path}: cannot write there ({why_not_writable(exc)})") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise UserError(f"results store {self.path} is in use by another run") from None
        self._lock = lock
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        return self

    def _load(self) -> None:
        for stale in self.path.glob(".*.tmp*"):  # left by a writer killed mid-write
            stale.unlink()
        manifest = self.manifest()
        self._cells, self._on_disk = self._verified(manifest)  # first: a damaged store loses no file
        for name in trace_parts(p.name for p in self.path.glob("traces-*.parquet")):
            if name not in manifest:  # a part a compaction dropped, left by a kill before it was deleted
                (self.path / name).unlink()
        self._settle(manifest)

    def _verified(self, manifest: dict[str, list[dict[str, Any]]]) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
        """The cells table and the version on disk of every file ``manifest`` lists, each checked against it."""
        cells, version = self._cells_table(manifest)
        on_disk, frames = {CELLS: version}, []
        for name in trace_parts(manifest):
            frame, on_disk[name] = self._read_verified(name, manifest[name])
            frames.append(frame)
        self._of(cells, frames)
        return cells, on_disk

    def _settle(self, manifest: dict[str, list[dict[str, Any]]]) -> None:
        """After a writer killed mid-flush: delete the new trace part if the cell rows of its flush
        never landed (they will run again), and list one version per file."""
        if manifest.get(CELLS, [ABSENT])[0] != self._on_disk[CELLS]:
            for name in trace_parts(manifest):
                if ABSENT in manifest[name]:
                    (self.path / name).unlink(missing_ok=True)
                    self._on_disk[name] = ABSENT
        if any(len(versions) > 1 for versions in manifest.values()):
            self._publish(self._settled())

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._cells = None

    def __enter__(self) -> "Store":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, rows: list[dict[str, Any]], traces: list[dict[str, Any]]) -> None:
        """Add cell rows, and their trace rows as a new part; a cell already stored is replaced, never
        duplicated (nor is one given twice: its last row is kept), and the rows of its earlier attempt are
        no longer read back."""
        if not rows:
            return
        rows = list({r["cell_id"]: r for r in rows}.values())
        self.open()
        kept = self._cells
        if len(kept):
            kept = kept[~kept["cell_id"].isin({r["cell_id"] for r in rows})]
        cells = pd.concat([f for f in (kept, pd.DataFrame(rows)) if len(f)], ignore_index=True)
        tables = {self._next_part(): pd.DataFrame(traces)} if traces else {}
        try:
            self._commit({**tables, CELLS: cells})  # the part first: a cell row never lands before its trace
        except OSError as exc:  # e.g. a full disk: what was stored stays, as after a kill
            self._abandon()
            room = "make room, then " if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise UserError(f"results store {self.path}: cannot write ({exc.strerror or type(exc).__name__}); the "
                            f"cells stored before are safe: {room}run the same command again to resume") from None
        self._cells = cells

    def compact(self) -> None:
        """Merge the trace parts into one, holding the rows a reader gets (each stored attempt's last write), so
        that a store read after a run reads one file, not one per flush. Safe against a kill at any point: the
        new part is committed beside the old ones (a reader takes each attempt from the last part that has it),
        then the manifest drops the old parts, then they are deleted (a part the manifest does not list is
        garbage, deleted by the next writer)."""
        self.open()
        parts = [name for name in trace_parts(self._on_disk) if self._on_disk[name]["sha256"]]
        if len(parts) < 2:
            return
        merged = self._of(self._cells, [pd.read_parquet(self.path / name) for name in parts])
        self._commit({self._next_part(): merged})
        for name in parts:
            del self._on_disk[name]
        self._publish(self._settled())
        for name in parts:
            (self.path / name).unlink(missing_ok=True)

    def _abandon(self) -> None:
        """After a failed write: delete this process's temporaries and let go of the store (a later write opens
        it afresh, as after a crash)."""
        for tmp in self.path.glob(f".*.tmp{os.getpid()}"):
            tmp.unlink(missing_ok=True)
        self.close()

    def _next_part(self) -> str:
        return part_name(max(filter(None, map(part_number, self._on_disk)), default=0) + 1)

    def _settled(self) -> dict[str, list[dict[str, Any]]]:
        """The manifest's files when no write is under way: the version of each file on disk."""
        return {name: [version] for name, version in self._on_disk.items() if version["sha256"]}

    def _commit(self, tables: dict[str, pd.DataFrame]) -> None:
        """Write temporaries; publish a manifest naming the old and new versions; rename them in the
        order of ``tables``; then settle the manifest on the new versions alone."""
        written, versions = {}, {}
        for name, frame in tables.items():
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            data = buffer.getvalue()
            written[name] = self._write_tmp(name, data)
            versions[name] = {"sha256": sha256(data), "rows": len(frame)}
        pending = {name: [versions[name], self._on_disk.get(name, ABSENT)] for name in tables}
        self._publish({**self._settled(), **pending})
        for name in tables:
            os.replace(written[name], self.path / name)
        self._on_disk.update(versions)
        self._publish(self._settled())

    def _publish(self, files: dict[str, list[dict[str, Any]]]) -> None:
        text = json.dumps({"format": 2, "files": files}, separators=(",", ":")).encode()
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
