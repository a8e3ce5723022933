"""Speed and accuracy benchmarks, each an installed module: ``python -m optsuite.benchmarks.NAME``.

``population_eval`` is also the ``optsuite bench`` command. A benchmark that writes a
report names the command that regenerates it (:func:`command_line`).
"""
from __future__ import annotations

import shlex
import sys
from typing import Iterable

from optsuite.errors import UserError


def print_lines(lines: Iterable[str]) -> int:
    """Print a benchmark's lines as they come; -> its exit code (2, after one line, for a UserError)."""
    try:
        for line in lines:
            print(line, flush=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def command_line(module: str) -> str:
    """How this process was started, as a command to run from the repository root: ``module`` is
    the benchmark's ``__spec__.name`` (``optsuite.benchmarks.NAME``)."""
    return shlex.join([".venv/bin/python", "-m", module, *sys.argv[1:]])
