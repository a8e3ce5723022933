"""Benchmark matrix specs: problems x optimizers x seeds x budgets, from TOML or command-line flags.

A spec file (all keys but ``problems`` and ``optimizers`` optional)::

    name = "digits"                        # store folder results/<name> unless --out
    seeds = 3                              # seeds 0..2, or a list: [0, 5, 7]
    budgets = [{ sample_forwards = 2e6 }]  # a table or a list of tables; none: each optimizer's default
    unsupported = "skip"                   # pairs an optimizer cannot run: "error" (default) or "skip"
    imports = ["my_optimizer.py"]          # files registering more problems or optimizers (plugins.py)

    [run]                                  # defaults for execution; command-line flags override
    jobs = 2                               # parallel cells
    time_limit = 120                       # seconds per cell, enforced (sandbox.py)
    gpu_slots = 1                          # concurrent cells per CUDA device and machine (gpu.py)

    [[problems]]
    name = "least-squares"
    settings = { batch_size = 128 }        # fixed settings
    grid = { ridge = [0.0, 0.01] }         # one problem per combination of these lists
    budgets = [{ evaluations = 5000 }]     # replaces the top-level budgets for this problem

    [[optimizers]]
    name = "gd"
    hyper = { algorithm = "sgd" }
    grid = { lr = [1e-3, 1e-2] }

Validation finds every mistake before anything runs and reports each on one line with
its location (``matrix.toml: optimizers[2].hyper.lr: expected a number, got 'fast'``).
"""
from __future__ import annotations

import inspect
import itertools
import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Iterable

from optsuite.errors import UserError
from optsuite.ledger import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS

from .cell import Cell
from .gpu import device_key
from .plugins import load_plugins

TOP_KEYS = ("name", "description", "seeds", "budgets", "unsupported", "imports", "run", "problems", "optimizers")
RUN_KEYS = {"jobs": int, "time_limit": float, "gpu_slots": int}
SETTINGS_KEY = {"problem": "settings", "optimizer": "hyper"}
TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list", tuple: "a list"}


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


@dataclass(frozen=True)
class RunSettings:
    jobs: int | None = None
    time_limit: float | None = None
    gpu_slots: int | None = None


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
    budgets: list[dict[str, float]] | None = None

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
    name: str
    cells: list[Cell]
    run: RunSettings = field(default_factory=RunSettings)
    plugins: tuple[str, ...] = ()
    skipped: list[str] = field(default_factory=list)  # "problem x optimizer: why" pairs left out


# -- locating and reading a spec file ----------------------------------------------------
def packaged() -> dict[str, Path]:
    """The matrices shipped with optsuite, by bare name."""
    folder = files("optsuite.runners") / "matrices"
    return {Path(f.name).stem: Path(str(f)) for f in folder.iterdir() if f.name.endswith(".toml")}


def resolve(target: str) -> Path:
    """A path to a spec file, or the bare name of a packaged matrix (``default``, ``gpu``)."""
    path = Path(target)
    if path.is_file():
        return path
    shipped = packaged()
    if target in shipped:
        return shipped[target]
    raise UserError(f"no matrix file {target!r} and no packaged matrix of that name (packaged: {', '.join(sorted(shipped))})")


def load_matrix(target: str, local: bool = True) -> Matrix:
    """Read and validate a spec; ``local``: cells run on this machine, so GPU settings need a GPU here."""
    path = resolve(target)
    source = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: TOML syntax error: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{source}: cannot read it ({type(exc).__name__})") from None
    return from_toml(data, source, path.parent, path.stem, local)


def from_toml(data: dict[str, Any], source: str, base: Path, default_name: str, local: bool = True) -> Matrix:
    m = Mistakes(source)
    for key in data:
        if key not in TOP_KEYS:
            m.add(key, f"unknown key; known: {', '.join(TOP_KEYS)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        m.add("name", f"{name!r} must be a string of letters, digits, '.', '_' or '-' (it names the store folder)")
    plugins = parse_imports(data.get("imports", []), base, m)
    seeds = parse_seeds(data.get("seeds", 1), "seeds", m)
    budgets = parse_budgets(data["budgets"], "budgets", m) if "budgets" in data else None
    run = parse_run(data.get("run", {}), m)
    unsupported = data.get("unsupported", "error")
    if unsupported not in ("error", "skip"):
        m.add("unsupported", f"{unsupported!r} must be \"error\" or \"skip\"")
    problems = [parse_entry(t, f"problems[{i}]", "problem", m) for i, t in enumerate(tables(data, "problems", m))]
    optimizers = [parse_entry(t, f"optimizers[{i}]", "optimizer", m) for i, t in enumerate(tables(data, "optimizers", m))]
    problems, optimizers = [e for e in problems if e], [e for e in optimizers if e]
    matrix = expand(name, problems, optimizers, seeds, budgets, m, unsupported == "skip", local, "budgets")
    matrix.run, matrix.plugins = run, plugins
    return matrix


def from_flags(problems: list[tuple[str, str, dict[str, Any]]], optimizers: list[tuple[str, str, dict[str, Any]]],
               seeds: int, budget: list[str]) -> Matrix:
    """The matrix of ``optsuite run -p ... -o ... -s N -b ...``; each spec is (text as typed, name, settings)."""
    m = Mistakes(None)
    if seeds < 1:
        m.add("--seeds", f"{seeds} must be at least 1")
    budgets = None
    try:
        budgets = [Budget.parse(budget).as_dict()] if budget else None
    except UserError as exc:
        m.add("-b " + " ".join(budget), str(exc))

    def entry(kind: str, flag: str, text: str, name: str, settings: dict[str, Any]) -> Entry:
        where = f"{flag} {text}"
        return Entry(kind, where, name, settings, {}, where, {k: f"{where}: {k}" for k in settings})

    return expand("run", [entry("problem", "-p", *spec) for spec in problems],
                  [entry("optimizer", "-o", *spec) for spec in optimizers],
                  list(range(max(seeds, 0))), budgets, m, False, True, "-b")


# -- parsing the parts --------------------------------------------------------------------
def tables(data: dict[str, Any], key: str, m: Mistakes) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        m.add(key, f"missing: give at least one [[{key}]] table")
        return []
    return value


def parse_entry(table: Any, where: str, kind: str, m: Mistakes) -> Entry | None:
    settings_key = SETTINGS_KEY[kind]
    allowed = ["name", settings_key, "grid"] + (["budgets"] if kind == "problem" else [])
    if not isinstance(table, dict):
        m.add(where, "expected a table")
        return None
    for key in table:
        if key not in allowed:
            m.add(f"{where}.{key}", f"unknown key; known: {', '.join(allowed)}")
    name = table.get("name")
    if not isinstance(name, str):
        m.add(f"{where}.name", f"missing or not a string: give the {kind}'s registered name")
        return None
    fixed = as_table(table.get(settings_key, {}), f"{where}.{settings_key}", m)
    grid = parse_grid(table.get("grid", {}), f"{where}.grid", m)
    for key in fixed.keys() & grid.keys():
        m.add(f"{where}.grid.{key}", f"also set in {settings_key}; give it in one place")
    at = {**{k: f"{where}.{settings_key}.{k}" for k in fixed}, **{k: f"{where}.grid.{k}" for k in grid}}
    budgets = parse_budgets(table["budgets"], f"{where}.budgets", m) if "budgets" in table else None
    return Entry(kind, where, name, fixed, grid, f"{where}.name", at, budgets)


def as_table(value: Any, where: str, m: Mistakes) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    m.add(where, "expected a table, e.g. { key = value }")
    return {}


def parse_grid(value: Any, where: str, m: Mistakes) -> dict[str, list[Any]]:
    grid = {}
    for key, values in as_table(value, where, m).items():
        if not isinstance(values, list) or not values:
            m.add(f"{where}.{key}", "expected a non-empty list of values to try")
            continue
        canonical = [json.dumps(v, sort_keys=True) for v in values]
        for i, text in enumerate(canonical):
            if text in canonical[:i]:
                m.add(f"{where}.{key}[{i}]", f"{values[i]!r} is listed twice")
        grid[key] = values
    return grid


def parse_seeds(value: Any, where: str, m: Mistakes) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            m.add(where, f"{value} must be at least 1")
        return list(range(max(value, 0)))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        for i, seed in enumerate(value):
            if seed in value[:i]:
                m.add(f"{where}[{i}]", f"seed {seed} is listed twice")
        return value
    m.add(where, f"expected a count (3) or a list of non-negative seeds ([0, 1, 2]), got {value!r}")
    return []


def parse_budgets(value: Any, where: str, m: Mistakes) -> list[dict[str, float]]:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, dict) for t in items):
        m.add(where, "expected a table or a list of tables, e.g. [{ evaluations = 5000 }]")
        return []
    budgets = []
    for i, table in enumerate(items):
        try:
            budget = Budget.parse(table).as_dict()
        except UserError as exc:
            m.add(f"{where}[{i}]", str(exc))
            continue
        if budget in budgets:
            m.add(f"{where}[{i}]", f"same as {where}[{budgets.index(budget)}]")
        budgets.append(budget)
    return budgets


def parse_run(value: Any, m: Mistakes) -> RunSettings:
    settings = {}
    for key, item in as_table(value, "run", m).items():
        kind = RUN_KEYS.get(key)
        if kind is None:
            m.add(f"run.{key}", f"unknown key; known: {', '.join(RUN_KEYS)}")
        elif isinstance(item, bool) or not isinstance(item, (int, kind)) or item <= 0:
            m.add(f"run.{key}", f"expected a positive {'integer' if kind is int else 'number'}, got {item!r}")
        else:
            settings[key] = kind(item)
    return RunSettings(**settings)


def parse_imports(value: Any, base: Path, m: Mistakes) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        m.add("imports", "expected a list of file paths")
        return ()
    paths = tuple(str((base / v).resolve()) for v in value)
    for i, path in enumerate(paths):
        try:
            load_plugins([path])
        except UserError as exc:
            m.add(f"imports[{i}]", str(exc))
    return paths


# -- checking settings and building each configuration once -------------------------------
def known_settings(entry: Entry) -> dict[str, Any] | None:
    """Setting name -> default (whose type the value must have); None when any name goes."""
    registry = PROBLEMS if entry.kind == "problem" else OPTIMIZERS
    cls = registry.get(entry.name)
    if entry.kind == "optimizer":
        return dict(cls.defaults)
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def type_mistake(value: Any, default: Any) -> str | None:
    kind = type(default)
    if kind not in TYPE_NAMES:
        return None  # no default to go by (e.g. None): the constructor judges
    if kind in (list, tuple):
        ok = isinstance(value, list)
    else:
        ok = type(value) is kind or (kind is float and type(value) is int)
    return None if ok else f"expected {TYPE_NAMES[kind]}, got {value!r}"


def check_entry(entry: Entry, m: Mistakes) -> None:
    try:
        known = known_settings(entry)
    except UserError as exc:
        m.add(entry.name_at, str(exc))
        return
    noun = "setting" if entry.kind == "problem" else "hyperparameter"
    for key in [*entry.fixed, *entry.grid]:
        if known is not None and key not in known:
            m.add(entry.at[key], f"{entry.kind} {entry.name!r} has no {noun} {key!r}; known: {', '.join(known) or 'none'}")
            continue
        values = [(entry.at[key], entry.fixed[key])] if key in entry.fixed else \
            [(f"{entry.at[key]}[{i}]", v) for i, v in enumerate(entry.grid[key])]
        for at, value in values:
            mistake = type_mistake(value, (known or {}).get(key))
            if mistake:
                m.add(at, mistake)


def validation_settings(entry: Entry, settings: dict[str, Any], m: Mistakes, local: bool) -> dict[str, Any] | None:
    """The settings to build a problem with for validation: on the CPU, cheap and leaving GPUs to workers."""
    device = str(settings.get("device", "cpu"))
    if device_key(device) is None:
        return settings
    import torch

    if local and not torch.cuda.is_available():
        m.add(entry.at["device"], f"{device!r} needs a CUDA GPU and this machine has none (a GPU cluster: --backend dask)")
        return None
    return {**settings, "device": "cpu"}


def judge(name: str, args: dict[str, Any], where: str, optimizers: list[tuple[str, Any]],
          m: Mistakes) -> dict[str, str | None] | None:
    """Build the problem once; -> optimizer point -> why it cannot run there (None: it can)."""
    try:
        problem = PROBLEMS.create(name, **args)
    except UserError as exc:
        m.add(where, str(exc))
        return None
    return {opt_where: optimizer.supports(problem) for opt_where, optimizer in optimizers}


def build_all(problems: list[Entry], optimizers: list[Entry], m: Mistakes, skip: bool,
              local: bool) -> set[tuple[str, str]]:
    """Build each distinct configuration once; -> the (problem point, optimizer point) pairs to skip."""
    built, unsupported = [], set()
    for entry in optimizers:
        for hyper, where in entry.points():
            try:
                built.append((where, OPTIMIZERS.create(entry.name, **hyper)))
            except UserError as exc:
                m.add(where, str(exc))
    verdicts: dict[str, dict[str, str | None] | None] = {}
    for entry in problems:
        for settings, where in entry.points():
            args = validation_settings(entry, settings, m, local)
            if args is None:
                continue
            key = json.dumps([entry.name, args], sort_keys=True, default=str)
            if key not in verdicts:
                verdicts[key] = judge(entry.name, args, where, built, m)
            for opt_where, reason in (verdicts[key] or {}).items():
                if reason and skip:
                    unsupported.add((where, opt_where))
                elif reason:
                    m.add(f"{where} x {opt_where}", reason)
    return unsupported


# -- expanding to cells ---------------------------------------------------------------------
def expand(name: str, problems: list[Entry], optimizers: list[Entry], seeds: list[int],
           budgets: list[dict[str, float]] | None, m: Mistakes, skip: bool, local: bool, budgets_at: str) -> Matrix:
    """Check names and settings (reporting them with any mistakes already in ``m``), then builds,
    then expand to cells and refuse duplicates; raises all mistakes of the first stage that has any."""
    for entry in [*problems, *optimizers]:
        check_entry(entry, m)
    m.check()
    unsupported = build_all(problems, optimizers, m, skip, local)
    m.check()
    cells, origins = [], []
    for p in problems:
        own = p.budgets is not None
        for settings, p_where in p.points():
            for o in optimizers:
                for hyper, o_where in o.points():
                    if (p_where, o_where) in unsupported:
                        continue
                    for k, budget in enumerate((p.budgets if own else budgets) or [{}]):
                        b_where = f"{p.where}.budgets[{k}]" if own else f"{budgets_at}[{k}]"
                        for seed in seeds:
                            cells.append(Cell(p.name, o.name, seed, budget, settings, hyper))
                            origins.append((p_where, o_where, b_where, f"seed {seed}"))
    for line, count in duplicates(cells, origins).items():
        m.add(line, f"{count} duplicate cell{'s' * (count > 1)}: the same configuration twice")
    m.check()
    skipped = sorted(f"{p} x {o}: unsupported" for p, o in unsupported)
    return Matrix(name, cells, skipped=skipped)


def duplicates(cells: list[Cell], origins: list[tuple[str, ...]]) -> Counter:
    """``"later parts repeat earlier parts"`` -> number of repeated cells."""
    first: dict[str, tuple[str, ...]] = {}
    found: Counter = Counter()
    for cell, origin in zip(cells, origins):
        earlier = first.setdefault(cell.cell_id, origin)
        if earlier is not origin:
            differ = [(a, b) for a, b in zip(origin, earlier) if a != b] or list(zip(origin, earlier))
            found[" x ".join(a for a, _ in differ) + " repeats " + " x ".join(b for _, b in differ)] += 1
    return found


def listing(matrix: Matrix, statuses: dict[str, str]) -> Iterable[str]:
    """Lines of ``--dry-run``: one per cell with its stored status ("-" if not run yet)."""
    yield f"matrix {matrix.name}: {len(matrix.cells)} cells, {sum(c.cell_id in statuses for c in matrix.cells)} stored"
    for cell in matrix.cells:
        args = ",".join(f"{k}={v}" for k, v in cell.problem_args.items())
        problem = f"{cell.problem}({args})" if args else cell.problem
        budget = ",".join(f"{k}={v}" for k, v in cell.budget.items()) or "default"
        yield f"{cell.cell_id}  {problem}  {cell.label}  seed={cell.seed}  budget={budget}  {statuses.get(cell.cell_id, '-')}"
    for line in matrix.skipped:
        yield f"skipped {line}"
