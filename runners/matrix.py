"""A benchmark matrix: its cells, its run settings, and the mistakes found while reading it.

``Entry`` is one ``problems[i]`` or ``optimizers[i]`` of a spec (spec.py) before its grid
is expanded into cells (expand.py).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from optsuite.budget import Budget
from optsuite.errors import UserError
from optsuite.keys import config_key

from .cell import Cell
from .tuning import Tuning


class Mistakes:
    """Collects one line per mistake, ``source: location: message``, and raises them together."""

    def __init__(self, source: str | None) -> None:
        self.prefix = f"{source}: " if source else ""
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        line = f"{self.prefix}{where}: {message}"
        if line not in self.lines:
            self.lines.append(line)

    def check(self) -> None:
        if self.lines:
            raise UserError("\n".join(self.lines))


RUN_KEYS = {"jobs": int, "time_limit": float, "gpu_slots": int, "batch_runs": int}  # [run] keys and their types


def run_mistake(key: str, value: Any) -> str | None:
    """What is wrong with run setting ``key`` = ``value`` (a positive number of its type), from a matrix's ``[run]``
    table or from the command line's flag of the same name; None if nothing."""
    kind = RUN_KEYS[key]
    if isinstance(value, bool) or not isinstance(value, (int, kind)) or not (math.isfinite(value) and value > 0):
        return f"expected a positive {'integer' if kind is int else 'number'}, got {value!r}"
    return None


@dataclass(frozen=True)
class RunSettings:
    jobs: int | None = None
    time_limit: float | None = None
    gpu_slots: int | None = None
    batch_runs: int | None = None

    def overridden(self, flags: dict[str, Any]) -> "RunSettings":
        """These settings with the command line's ``flags`` (``{"time_limit": 5.0}``; None: not given), each checked
        by :func:`run_mistake`; a mistake is a UserError naming the flag (``--time-limit``)."""
        given = {key: value for key, value in flags.items() if value is not None}
        for key, value in given.items():
            mistake = run_mistake(key, value)
            if mistake:
                raise UserError(f"--{key.replace('_', '-')} {value:g}: {mistake}")
        return replace(self, **{key: RUN_KEYS[key](value) for key, value in given.items()})


@dataclass
class Entry:
    """One ``problems[i]`` or ``optimizers[i]``: a registered name, fixed settings and grids.

    ``where`` names the entry in messages, ``name_at`` its name, ``at`` each setting key.
    """

    kind: str
    where: str
    name: str
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    name_at: str
    at: dict[str, str]
    budgets: list[Budget] | None = None
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # an optimizer's part overrides
    optimizers: list[str] | None = None  # a problem's: the registered optimizer names that run it (None: all)
    tune: dict[str, list[Any]] = field(default_factory=dict)  # an optimizer's: values to tune (runners/tuning.py)
    parts_at: dict[str, str] = field(default_factory=dict)  # where each part override is, for messages

    def part_entries(self) -> list["Entry"]:
        """Each part override as an optimizer entry of its own (no grid), for the checks an entry gets."""
        return [Entry("optimizer", at, part["name"], part["hyper"], {}, at, {k: f"{at}: {k}" for k in part["hyper"]})
                for label, part in self.parts.items() for at in [self.parts_at.get(label, f"{self.where}.parts.{label}")]]

    def allows(self, optimizer: "Entry") -> bool:
        """Whether the optimizer entry runs on this problem entry (see ``optimizers``)."""
        return self.optimizers is None or optimizer.name in self.optimizers

    def points(self) -> list[tuple[dict[str, Any], str]]:
        """Every combination of the grid: (settings, where this point is, e.g. ``optimizers[1] (lr=0.01)``)."""
        keys = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            point = dict(zip(keys, values))
            label = ",".join(f"{k}={v}" for k, v in point.items())
            out.append(({**self.fixed, **point}, f"{self.where} ({label})" if label else self.where))
        return out


@dataclass
class Matrix:
    """``cells``: the cells that run as they are; ``tunings``: the tuned entries' trials and evaluations."""

    name: str
    cells: list[Cell]
    run: RunSettings = field(default_factory=RunSettings)
    plugins: tuple[str, ...] = ()
    skipped: list[str] = field(default_factory=list)  # "problem x optimizer: why" pairs left out
    tunings: list[Tuning] = field(default_factory=list)

    def trials(self) -> list[Cell]:
        return [t for tuning in self.tunings for t in tuning.trials]


def cell_line(cell: Cell, status: str, cell_id: str | None = None) -> str:
    problem = config_key(cell.problem, cell.problem_args)
    budget = ",".join(f"{k}={v}" for k, v in cell.budget_limits.items()) or "default"
    return f"{cell_id or cell.cell_id}  {problem}  {cell.label}  seed={cell.seed}  budget={budget}  {status}"


def listing(matrix: Matrix, stored) -> Iterable[str]:
    """Lines of ``--dry-run``: the tuning cells, then the evaluation cells, each with its stored status ("-" if not
    run yet; ``stored``: the store's cell rows). The evaluations of a tuning whose trials are not all stored yet
    have no id yet (their values are not picked): they are listed as waiting for their tuning."""
    statuses = dict(zip(stored["cell_id"], stored["status"])) if len(stored) else {}
    trials = matrix.trials()
    evaluations, waiting = list(matrix.cells), []
    for tuning in matrix.tunings:
        picked = tuning.pick(stored)
        if picked is None:
            waiting += tuning.evaluations
        else:
            evaluations += tuning.evaluation_cells(picked)
    count = lambda cells: sum(c.cell_id in statuses for c in cells)
    if trials:
        yield f"tuning cells: {len(trials)}, {count(trials)} stored"
        yield from (cell_line(c, statuses.get(c.cell_id, "-")) for c in trials)
    after = f" (+ {len(waiting)} once their tuning is done)" if waiting else ""
    yield f"matrix {matrix.name}: {len(evaluations)} cells{after}, {count(evaluations)} stored"
    yield from (cell_line(c, statuses.get(c.cell_id, "-")) for c in evaluations)
    yield from (cell_line(c, "waits for its tuning", "(after tuning)  ") for c in waiting)
    for line in matrix.skipped:
        yield f"skipped {line}"
