"""What the driver shows while a matrix runs: a live rich bar, plain log lines, or nothing.

The live bar (on a terminal) shows cells done, failed, running and the ETA, and prints
each cell that did not end "ok" above the bar, and each part of a cell trained part by
part as it finishes (where the driver runs its cells itself). Off a terminal (CI logs)
each finished cell and part is one line; ``--quiet`` shows nothing but warnings.
"""
from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from optsuite.keys import config_key, problem_key


def describe(row: dict[str, Any]) -> str:
    """One line for a finished cell: ``noprop-block(t=2) gd(lr=0.01) seed=0: ok``."""
    text = f"{problem_key(row['problem'], row['problem_args'])} {row['label']} seed={row['seed']}: {row['status']}"
    return text + (f" ({row['error']})" if row.get("error") else "")


class Display:
    """``mode``: "live", "lines" or "quiet"; "auto" picks live on a terminal, else lines."""

    def __init__(self, total: int, workers: int, mode: str = "auto") -> None:
        if mode == "auto":
            mode = "live" if sys.stderr.isatty() else "lines"
        self.mode, self.total, self.workers = mode, total, workers
        self.done = self.failed = 0
        self._bar: Progress | None = None

    def running(self) -> int:
        """Cells being worked on: every worker is busy while enough cells remain."""
        return min(self.workers, self.total - self.done)

    def _fields(self) -> dict[str, int]:
        return {"failed": self.failed, "running": self.running()}

    def __enter__(self) -> "Display":
        if self.mode == "live":
            self._bar = Progress(
                TextColumn("cells"), BarColumn(), MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}  running {task.fields[running]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("cells", total=self.total, **self._fields())
        return self

    def finished(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        if self.mode == "lines":
            print(f"[{self.done}/{self.total}] {describe(row)}", file=sys.stderr, flush=True)
        elif self._bar is not None:
            if row["status"] != "ok":
                self._bar.console.print(describe(row), markup=False, highlight=False)
            self._bar.update(self._task, completed=self.done, **self._fields())

    def part(self, cell, text: str) -> None:
        """A part of ``cell`` (a :class:`~optsuite.runners.cell.Cell`) finished: one line, above the live bar."""
        line = f"  {config_key(cell.problem, cell.problem_args)} {cell.label} seed={cell.seed}: {text}"
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        elif self.mode == "lines":
            print(line, file=sys.stderr, flush=True)

    def warn(self, text: str) -> None:
        """One line of news about the run (a worker that died), above the live bar, else on stderr (also when
        quiet: it is no progress)."""
        if self._bar is not None:
            self._bar.console.print(f"warning: {text}", markup=False, highlight=False)
        else:
            print(f"warning: {text}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
