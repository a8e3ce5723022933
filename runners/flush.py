"""Finished cells on their way from the workers to the store, flushed by the driver.

Rows wait in memory and are written every ``seconds`` (by a background thread of the
driver) or as soon as ``cells`` of them have gathered, and once more on exit, so a
killed driver loses at most the cells of the last few seconds and those in flight.
"""
from __future__ import annotations

import threading
from typing import Any

from optsuite.store import Store


class Flusher:
    def __init__(self, store: Store, seconds: float = 2.0, cells: int = 16) -> None:
        self.store, self.seconds, self.cells = store, seconds, cells
        self._rows: list[dict[str, Any]] = []
        self._traces: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="store-flush", daemon=True)
        self._error: BaseException | None = None

    def add(self, row: dict[str, Any], trace: list[dict[str, Any]]) -> None:
        self._raise_pending()
        with self._lock:
            self._rows.append(row)
            self._traces.extend(trace)
            full = len(self._rows) >= self.cells
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:  # held while writing, so two flushes never interleave
            if self._rows:
                self.store.append(self._rows, self._traces)
                self._rows, self._traces = [], []

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.flush()
            except BaseException as exc:  # e.g. a full disk: raised in the driver at the next add
                self._error = exc
                return

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> "Flusher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()
        self._raise_pending()
