"""Compaction: after a run the store's trace parts become one, atomically, and a kill at any point loses nothing."""
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from optsuite.budget import Budget
from optsuite.cli import main
from optsuite.report.results import Results
from optsuite.runners.cell import Cell, result_rows
from optsuite.store import Store, trace_parts

CELLS = [Cell("sphere", "montecarlo", seed, Budget(steps=5 + seed), {"dim": 3}) for seed in range(3)]


class Killed(BaseException):
    """Stands in for SIGKILL at one file operation of a compaction."""


def parts(path: Path) -> list[str]:
    return trace_parts(p.name for p in path.glob("traces*.parquet"))


def several_parts(path: Path) -> pd.DataFrame:
    """A store of one part per cell, the first cell written twice (a retried attempt); -> its traces as read."""
    for cell in CELLS + CELLS[:1]:
        row, trace = result_rows(cell)
        with Store(path) as store:
            store.append([row], trace)
    assert len(parts(path)) == 4
    return Store(path).traces()


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    key = ["run_id", "step"]
    return a.sort_values(key).reset_index(drop=True).equals(b.sort_values(key).reset_index(drop=True))


def test_compaction_leaves_one_part_with_the_rows_a_reader_got(tmp_path):
    before = several_parts(tmp_path)
    with Store(tmp_path) as store:
        store.compact()
    assert len(parts(tmp_path)) == 1 and same(Store(tmp_path).traces(), before)
    assert len(before) == sum(5 + seed for seed in range(3))  # the first attempt's rows are gone for good


@pytest.mark.parametrize("operation", ["replace", "unlink"])
def test_a_kill_at_any_point_of_a_compaction_loses_nothing(tmp_path, monkeypatch, operation):
    before = several_parts(tmp_path / "original")
    for kill_at in range(12):
        store = tmp_path / f"killed-{kill_at}"
        shutil.copytree(tmp_path / "original", store)
        calls, real = [], getattr(os, operation)

        def dying(*args, **kwargs):
            if len(calls) == kill_at:
                raise Killed
            calls.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(os, operation, dying)
        try:
            with Store(store) as writer:
                writer.compact()
        except Killed:
            pass
        finally:
            monkeypatch.setattr(os, operation, real)
        assert same(Store(store).traces(), before), (operation, kill_at)  # a reader, as the kill left it
        with Store(store) as writer:  # the next writer tidies up and compacts again
            writer.compact()
        assert len(parts(store)) == 1 and same(Store(store).traces(), before), (operation, kill_at)


def test_a_run_ends_with_one_trace_part(tmp_path):
    out = tmp_path / "store"
    for seeds in ("1", "2"):  # the second run adds a seed: a second flush, then compaction
        assert main(["run", "-q", "-p", "sphere(dim=3)", "-o", "montecarlo", "-o", "gd", "-s", seeds, "-b", "steps=5",
                     "--out", str(out)]) == 0
    assert len(parts(out)) == 1
    results = Results.load(out)
    assert len(results.cells) == 4 and set(results.traces["cell_id"]) == set(results.cells["cell_id"])
