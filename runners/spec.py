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
    batch_runs = 8                         # cells of one problem run together, sharing evaluations (batching.py)

    [[problems]]
    name = "least-squares"
    settings = { batch_size = 128 }        # fixed settings
    grid = { ridge = [0.0, 0.01] }         # one problem per combination of these lists
    budgets = [{ evaluations = 5000 }]     # replaces the top-level budgets for this problem
    optimizers = ["gd", "analytic"]        # only the optimizer entries of these names run it (default: all)

    [[optimizers]]
    name = "gd"
    hyper = { algorithm = "sgd" }
    grid = { lr = [1e-3, 1e-2] }
    parts = { head = "analytic" }          # problems trained part by part: another solver for a part

Validation (here and in expand.py) finds every mistake before anything runs and reports
each on one line with its location (``matrix.toml: optimizers[2].hyper.lr: expected a
number, got 'fast'``).
"""
from __future__ import annotations

import json
import re
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

from optsuite.errors import UserError
from optsuite.keys import parse_solver, parse_spec
from optsuite.budget import Budget

from .expand import expand
from .matrix import RUN_KEYS, Entry, Matrix, Mistakes, RunSettings, run_mistake
from .plugins import load_plugins
from .tuning import Settings as TuningSettings

TOP_KEYS = ("name", "description", "seeds", "budgets", "unsupported", "imports", "run", "tuning", "problems",
            "optimizers")
TUNING_KEYS = ("seeds", "fraction")
SETTINGS_KEY = {"problem": "settings", "optimizer": "hyper"}
NAME_BYTES = 255  # the longest file name most file systems take


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
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name) or name in (".", "..") \
            or len(name.encode()) > NAME_BYTES:
        m.add("name", f"{name!r} must be a string of letters, digits, '.', '_' or '-', not '.' or '..', of at most "
                      f"{NAME_BYTES} bytes (it names the store folder)")
    plugins = parse_imports(data.get("imports", []), base, m)
    seeds = parse_seeds(data.get("seeds", 1), "seeds", m)
    budgets = parse_budgets(data["budgets"], "budgets", m) if "budgets" in data else None
    run = parse_run(data.get("run", {}), m)
    tuning = parse_tuning(data.get("tuning", {}), seeds, m)
    unsupported = data.get("unsupported", "error")
    if unsupported not in ("error", "skip"):
        m.add("unsupported", f"{unsupported!r} must be \"error\" or \"skip\"")
    problems = [parse_entry(t, f"problems[{i}]", "problem", m) for i, t in enumerate(tables(data, "problems", m))]
    optimizers = [parse_entry(t, f"optimizers[{i}]", "optimizer", m) for i, t in enumerate(tables(data, "optimizers", m))]
    problems, optimizers = [e for e in problems if e], [e for e in optimizers if e]
    matrix = expand(name, problems, optimizers, seeds, budgets, m, unsupported == "skip", local, "budgets", tuning)
    matrix.run, matrix.plugins = run, plugins
    return matrix


def from_flags(problems: list[str], optimizers: list[str], seeds: int, budget: list[str]) -> Matrix:
    """The matrix of ``optsuite run -p ... -o ... -s N -b ...``; each spec as typed (``NAME(key=value,...)``, an
    optimizer also with part overrides: ``cma(separable=true) + head: analytic``)."""
    m = Mistakes(None)
    if seeds < 1:
        m.add("--seeds", f"{seeds} must be at least 1")
    budgets = None
    try:
        budgets = [Budget.parse(budget)] if budget else None
    except UserError as exc:
        m.add("-b " + " ".join(budget), str(exc))

    def entry(kind: str, flag: str, text: str) -> Entry:
        where = f"{flag} {text}"
        if kind == "problem":
            (name, settings), parts = parse_spec(text, kind), {}
        else:
            name, settings, parts = parse_solver(text, kind)
        return Entry(kind, where, name, settings, {}, where, {k: f"{where}: {k}" for k in settings}, parts=parts,
                     parts_at={label: f"{where}: part {label!r}" for label in parts})

    return expand("run", [entry("problem", "-p", text) for text in problems],
                  [entry("optimizer", "-o", text) for text in optimizers],
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
    allowed = ["name", settings_key, "grid"] + (["budgets", "optimizers"] if kind == "problem" else ["parts", "tune"])
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
    tune = parse_grid(table.get("tune", {}), f"{where}.tune", m)
    for key in fixed.keys() & grid.keys():
        m.add(f"{where}.grid.{key}", f"also set in {settings_key}; give it in one place")
    for key in tune.keys() & (fixed.keys() | grid.keys()):
        m.add(f"{where}.tune.{key}", f"also set in {settings_key} or grid; tune it or set it")
    at = {**{k: f"{where}.{settings_key}.{k}" for k in fixed}, **{k: f"{where}.grid.{k}" for k in grid},
          **{k: f"{where}.tune.{k}" for k in tune}}
    budgets = parse_budgets(table["budgets"], f"{where}.budgets", m) if "budgets" in table else None
    parts = parse_parts(table.get("parts", {}), f"{where}.parts", m)
    only = table.get("optimizers")
    if only is not None and (not isinstance(only, list) or not only or not all(isinstance(n, str) for n in only)):
        m.add(f"{where}.optimizers", f"expected a non-empty list of optimizer names, got {only!r}")
        only = None
    return Entry(kind, where, name, fixed, grid, f"{where}.name", at, budgets, parts, only, tune)


def parse_parts(value: Any, where: str, m: Mistakes) -> dict[str, dict[str, Any]]:
    """``{ head = "analytic", "block 1" = "gd(lr=0.01)" }`` -> part label -> ``{"name", "hyper"}``."""
    parts = {}
    for label, spec in as_table(value, where, m).items():
        if not isinstance(spec, str):
            m.add(f"{where}.{label}", f"expected an optimizer as NAME or NAME(key=value,...), got {spec!r}")
            continue
        try:
            name, hyper = parse_spec(spec, "optimizer")
        except UserError as exc:
            m.add(f"{where}.{label}", str(exc))
            continue
        parts[label] = {"name": name, "hyper": hyper}
    return parts


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


def parse_budgets(value: Any, where: str, m: Mistakes) -> list[Budget]:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, dict) for t in items):
        m.add(where, "expected a table or a list of tables, e.g. [{ evaluations = 5000 }]")
        return []
    budgets = []
    for i, table in enumerate(items):
        try:
            budget = Budget.parse(table)
        except UserError as exc:
            m.add(f"{where}[{i}]", str(exc))
            continue
        if budget in budgets:
            m.add(f"{where}[{i}]", f"same as {where}[{budgets.index(budget)}]")
        budgets.append(budget)
    return budgets


def parse_tuning(value: Any, seeds: list[int], m: Mistakes) -> TuningSettings:
    """``tuning = { seeds = 2, fraction = 0.25 }``: a count of seeds (from 1000) or a list, disjoint from the
    evaluation seeds; the fraction of the budget each trial gets."""
    table = as_table(value, "tuning", m)
    for key in table:
        if key not in TUNING_KEYS:
            m.add(f"tuning.{key}", f"unknown key; known: {', '.join(TUNING_KEYS)}")
    chosen = TuningSettings()
    if "seeds" in table:
        listed = parse_seeds(table["seeds"], "tuning.seeds", m)
        chosen = TuningSettings(seeds=tuple(listed if isinstance(table["seeds"], list) else
                                            [chosen.seeds[0] + s for s in listed]), fraction=chosen.fraction)
    shared = sorted(set(chosen.seeds) & set(seeds))
    if shared:
        m.add("tuning.seeds", f"seed {shared[0]} is also an evaluation seed; tuning seeds must be disjoint")
    if "fraction" in table:
        fraction = table["fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            m.add("tuning.fraction", f"expected a number in (0, 1], got {fraction!r}")
        else:
            chosen = TuningSettings(chosen.seeds, float(fraction))
    return chosen


def parse_run(value: Any, m: Mistakes) -> RunSettings:
    settings = {}
    for key, item in as_table(value, "run", m).items():
        if key not in RUN_KEYS:
            m.add(f"run.{key}", f"unknown key; known: {', '.join(RUN_KEYS)}")
        elif run_mistake(key, item):
            m.add(f"run.{key}", run_mistake(key, item))
        else:
            settings[key] = RUN_KEYS[key](item)
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
