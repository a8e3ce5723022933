"""Checking a matrix's entries and expanding them into cells.

Setting names and types are checked against each registered class (a problem's
constructor defaults, an optimizer's ``defaults``); then each distinct configuration is
built once, problems on the CPU, to catch bad values and pairs an optimizer cannot run;
then the grids expand into cells and duplicates are refused.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from optsuite.budget import Budget
from optsuite.device import resolve_device
from optsuite.errors import UserError, did_you_mean
from optsuite.registry import OPTIMIZERS, PROBLEMS, accepted_settings

from .cell import Cell
from .matrix import Entry, Matrix, Mistakes
from .tuning import Settings as TuningSettings
from .tuning import combinations, tuning

TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list", tuple: "a list"}


def known_settings(entry: Entry) -> dict[str, Any] | None:
    """Setting name -> default (whose type the value must have); None when any name goes. A problem's
    are its constructor's, up the class chain (:func:`~optsuite.registry.accepted_settings`)."""
    registry = PROBLEMS if entry.kind == "problem" else OPTIMIZERS
    cls = registry.get(entry.name)
    if entry.kind == "optimizer":  # wrapper settings (restarts) take a string, e.g. "bipop"
        return {**cls.defaults, **{key: "" for key in OPTIMIZERS.wrapper_keys(cls)}}
    return accepted_settings(cls)


def finite(value: Any) -> bool:
    """Whether every number in ``value`` (a number, or a list or table of them) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple, dict)):
        return all(map(finite, value.values() if isinstance(value, dict) else value))
    return True


def type_mistake(value: Any, default: Any) -> str | None:
    if not finite(value):
        return f"{value!r} is not a finite number"
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
    lists = {**entry.grid, **entry.tune}
    for key in [*entry.fixed, *lists]:
        if known is not None and key not in known:
            m.add(entry.at[key], f"{entry.kind} {entry.name!r} has no {noun} {key!r}{did_you_mean(key, known)}; "
                                 f"known: {', '.join(known) or 'none'}")
            continue
        values = [(entry.at[key], entry.fixed[key])] if key in entry.fixed else \
            [(f"{entry.at[key]}[{i}]", v) for i, v in enumerate(lists[key])]
        for at, value in values:
            mistake = type_mistake(value, (known or {}).get(key))
            if mistake:
                m.add(at, mistake)


def validation_settings(entry: Entry, settings: dict[str, Any], m: Mistakes, local: bool) -> dict[str, Any] | None:
    """The settings to build a problem with for validation: on the CPU, cheap and leaving GPUs
    to the workers. When cells run on this machine (``local``), its device must exist here."""
    if "device" not in settings:
        return settings
    if local:
        try:
            resolve_device(str(settings["device"]))
        except UserError as exc:
            m.add(entry.at["device"], f"{exc} (a GPU cluster: --backend dask)")
            return None
    return {**settings, "device": "cpu"}


def judge(name: str, args: dict[str, Any], where: str, optimizers: list[tuple[str, Entry, dict[str, Any]]],
          m: Mistakes) -> dict[str, tuple[str | None, str | None]] | None:
    """Build the problem once; -> optimizer point -> (why it cannot run there, why a generation would not
    fit in memory), None where it can."""
    from optsuite.parts import memory_mistake, solver_pairs

    try:
        problem = PROBLEMS.create(name, **args)
    except UserError as exc:
        m.add(where, str(exc))
        return None
    verdicts = {}
    for opt_where, entry, hyper in optimizers:
        try:
            verdicts[opt_where] = (None, memory_mistake(solver_pairs(problem, entry.name, hyper, entry.parts)))
        except UserError as exc:
            verdicts[opt_where] = (str(exc), None)
    return verdicts


def build_all(problems: list[Entry], optimizers: list[Entry], m: Mistakes, skip: bool,
              local: bool) -> set[tuple[str, str]]:
    """Build each distinct configuration once (part solvers too); -> the (problem point, optimizer point)
    pairs to skip."""
    built, unsupported = [], set()
    for entry in optimizers:
        broken = False
        for part in entry.part_entries():
            try:
                OPTIMIZERS.create(part.name, **part.fixed)
            except UserError as exc:
                m.add(part.where, str(exc))
                broken = True
        for hyper, where in [] if broken else entry.points():  # a broken part is its one mistake
            try:
                for values in combinations(entry.tune):
                    OPTIMIZERS.create(entry.name, **hyper, **values)
                built.append((where, entry, hyper))
            except UserError as exc:
                m.add(where, str(exc))
    verdicts: dict[str, dict[str, tuple[str | None, str | None]] | None] = {}
    owner = {where: entry for where, entry, _ in built}
    for entry in problems:
        names = {o.name for o in optimizers}
        for i, name in enumerate(entry.optimizers or []):
            if name not in names:
                m.add(f"{entry.where}.optimizers[{i}]", f"no optimizer entry is named {name!r}; entries: {', '.join(sorted(names))}")
        for settings, where in entry.points():
            args = validation_settings(entry, settings, m, local)
            if args is None:
                continue
            key = json.dumps([entry.name, args], sort_keys=True, default=str)
            if key not in verdicts:
                verdicts[key] = judge(entry.name, args, where, built, m)
            for opt_where, (reason, too_big) in (verdicts[key] or {}).items():
                if not entry.allows(owner[opt_where]):
                    continue
                if too_big:
                    m.add(f"{where} x {opt_where}", too_big)
                elif reason and skip:
                    unsupported.add((where, opt_where))
                elif reason:
                    m.add(f"{where} x {opt_where}", reason)
    return unsupported


# -- expanding to cells ---------------------------------------------------------------------
def expand(name: str, problems: list[Entry], optimizers: list[Entry], seeds: list[int],
           budgets: list[Budget] | None, m: Mistakes, skip: bool, local: bool, budgets_at: str,
           tuning: TuningSettings = TuningSettings()) -> Matrix:
    """Check names and settings (reporting them with any mistakes already in ``m``), then builds,
    then expand to cells and refuse duplicates; raises all mistakes of the first stage that has any."""
    for entry in [*problems, *optimizers, *(part for o in optimizers for part in o.part_entries())]:
        check_entry(entry, m)
    m.check()
    unsupported = build_all(problems, optimizers, m, skip, local)
    m.check()
    cells, origins, tunings = [], [], []
    for p in problems:
        own = p.budgets is not None
        for settings, p_where in p.points():
            for o in filter(p.allows, optimizers):
                for hyper, o_where in o.points():
                    if (p_where, o_where) in unsupported:
                        continue
                    for k, budget in enumerate((p.budgets if own else budgets) or [None]):
                        b_where = f"{p.where}.budgets[{k}]" if own else f"{budgets_at}[{k}]"
                        made = [Cell(p.name, o.name, seed, budget, settings, hyper, o.parts) for seed in seeds]
                        if o.tune:
                            made = tune(made, o, tuning, tunings)
                        cells += made
                        origins += [(p_where, o_where, b_where, f"seed {seed}") for seed in seeds]
    for line, count in duplicates(cells, origins).items():
        m.add(line, f"{count} duplicate cell{'s' * (count > 1)}: the same configuration twice")
    m.check()
    skipped = sorted(f"{p} x {o}: unsupported" for p, o in unsupported)
    tuned = {c.cell_id for t in tunings for c in t.evaluations}
    return Matrix(name, [c for c in cells if c.cell_id not in tuned], skipped=skipped, tunings=tunings)


def tune(cells: list[Cell], entry: Entry, settings: TuningSettings, tunings: list) -> list[Cell]:
    """Register the tuning of ``cells`` (one configuration over the seeds); -> its evaluation cells as placeholders
    (checked for duplicates like any cell, then left to the tuning)."""
    found = tuning(cells, entry.tune, settings, OPTIMIZERS.get(entry.name))
    tunings.append(found)
    return list(found.evaluations)


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
