"""Running matrices: failures and timeouts recorded, resume after kill -9, Dask equal to loky, GPU slots."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from optsuite.cli import main
from optsuite.runners.gpu import gpu_slot
from optsuite.store import Store

# 12 cells of half a second each, however fast the machine: the problem sleeps 25 ms a step
MATRIX = """
seeds = 3
imports = ["PLUGIN"]
budgets = { steps = 20 }

[[problems]]
name = "test-faulty"
settings = { dim = 5, mode = "slow" }

[[optimizers]]
name = "gd"
grid = { lr = [0.01, 0.1] }

[[optimizers]]
name = "montecarlo"
grid = { population = [4, 8] }
"""
N_CELLS = 12

# a sphere that misbehaves at step ``at``; loaded by path through the matrix's ``imports``
PLUGIN = '''
import math
import os
import time

import torch

from optsuite.problems.synthetic import Sphere
from optsuite.registry import register_problem


@register_problem("test-faulty")
class Faulty(Sphere):
    """A sphere that at step ``at`` raises, hangs, kills its own process, or returns NaN; or is slow at every step."""

    def __init__(self, dim: int = 3, mode: str = "raise", at: int = 3, device: str = "cpu") -> None:
        super().__init__(dim, device)
        self.mode, self.at = mode, at

    def evaluate(self, params, draw):
        if self.mode == "slow":
            time.sleep(0.025)
        if draw.step == self.at:
            if self.mode == "raise":
                raise RuntimeError("injected failure")
            if self.mode == "hang":
                time.sleep(600)
            if self.mode == "crash":
                os._exit(9)
            if self.mode == "nan":
                return torch.full((params.shape[0],), math.nan, dtype=params.dtype)
        return super().evaluate(params, draw)
'''

FAULTY = """
seeds = 1
imports = ["PLUGIN"]
budgets = { steps = 20 }

[run]
time_limit = 2

[[problems]]
name = "sphere"
settings = { dim = 4 }

[[problems]]
name = "sphere"
settings = { dim = 6 }
budgets = { steps = 1_000_000_000 }  # stopped by the time limit

[[problems]]
name = "test-faulty"
grid = { mode = ["raise", "hang", "crash", "nan"] }

[[optimizers]]
name = "montecarlo"
"""

TIMING = {"started", "finished", "run_id", "spent_seconds", "spent_peak_memory_bytes", "seconds", "peak_memory_bytes"}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """One plugin file for the module: a problem name registers once per process."""
    path = tmp_path_factory.mktemp("plugin") / "plugin.py"
    path.write_text(PLUGIN)
    return path


def write(folder, text, plugin):
    path = folder / "matrix.toml"
    path.write_text(textwrap.dedent(text).replace("PLUGIN", str(plugin)))
    return path


def comparable(store):
    """Cells and traces without timing columns, sorted, for equality across runs."""
    store = Store(store)
    cells = store.cells()
    traces = store.traces().merge(cells[["run_id", "cell_id"]], on=["run_id", "cell_id"])
    cells = cells.drop(columns=[c for c in TIMING if c in cells]).sort_values("cell_id").reset_index(drop=True)
    traces = traces.drop(columns=[c for c in TIMING if c in traces]).sort_values(["cell_id", "step"])
    return cells, traces.reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, plugin):
    """The uninterrupted loky run of MATRIX, -j 2."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write(folder, MATRIX, plugin)
    assert main(["run", str(spec), "--out", str(folder / "store"), "-j", "2", "--quiet"]) == 0
    return spec, folder / "store"


@pytest.mark.slow
def test_an_uninterrupted_run_stores_every_cell_once(reference):
    cells, traces = comparable(reference[1])
    assert len(cells) == N_CELLS and cells["cell_id"].is_unique and set(cells["status"]) == {"ok"}
    first_loss = traces[traces["step"] == 1].set_index("cell_id")["loss"]
    assert (cells.set_index("cell_id")["metric_train_loss"] < first_loss).all()
    assert len(traces) == N_CELLS * 20 and (cells["trace_rows"] == 20).all()


@pytest.mark.slow
def test_kill_9_mid_matrix_then_resume_equals_the_uninterrupted_run(reference, tmp_path):
    spec, reference_store = reference
    store = tmp_path / "store"
    runner = subprocess.Popen([sys.executable, "-m", "optsuite.cli", "run", str(spec), "--out", str(store),
                               "--quiet"], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        stored = 0
        while stored == 0 and time.time() < deadline and runner.poll() is None:
            time.sleep(0.05)
            stored = len(Store(store).cells()) if (store / "manifest.json").exists() else 0
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    finally:
        os.killpg(runner.pid, signal.SIGKILL)  # the workers it left behind
    assert 0 < stored < N_CELLS, f"the kill came too late or too early ({stored} cells stored)"
    before = Store(store).cells()
    assert main(["run", str(spec), "--out", str(store), "-j", "2", "--quiet"]) == 0
    after = Store(store).cells()
    kept = after.set_index("cell_id").loc[before["cell_id"], "run_id"]
    listed = json.loads((store / "manifest.json").read_text())["files"]
    assert sorted(listed) == sorted(p.name for p in store.glob("*.parquet"))  # no trace part left orphaned
    assert list(kept) == list(before["run_id"])  # the cells stored before the kill did not run again
    resumed, expected = comparable(store), comparable(reference_store)
    pd.testing.assert_frame_equal(resumed[0], expected[0])
    pd.testing.assert_frame_equal(resumed[1], expected[1])


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results_as_loky(reference, tmp_path):
    spec, reference_store = reference
    store = tmp_path / "store"
    assert main(["run", str(spec), "--out", str(store), "--backend", "dask", "-j", "2", "--quiet"]) == 0
    dask, loky = comparable(store), comparable(reference_store)
    pd.testing.assert_frame_equal(dask[0], loky[0])
    pd.testing.assert_frame_equal(dask[1], loky[1])


@pytest.mark.slow
def test_failures_timeouts_crashes_and_nans_are_recorded_while_the_rest_complete(tmp_path, capsys, plugin):
    spec = write(tmp_path, FAULTY, plugin)
    assert main(["run", str(spec), "--out", str(tmp_path / "store"), "-j", "2"]) == 0
    err = capsys.readouterr().err
    assert sum(line.startswith("[") for line in err.splitlines()) == 6  # one progress line per cell
    store = Store(tmp_path / "store")
    cells = store.cells().set_index(store.cells()["problem_args"])
    traces = store.traces()
    status = lambda args: cells.loc[args, "status"]
    error = lambda args: cells.loc[args, "error"]
    steps = lambda args: (traces["cell_id"] == cells.loc[args, "cell_id"]).sum()
    assert status('{"dim": 4}') == "ok" and steps('{"dim": 4}') == 20
    assert status('{"dim": 6}') == "timeout" and "2 s time limit" in error('{"dim": 6}')
    assert steps('{"dim": 6}') > 20 and cells.loc['{"dim": 6}', "metric_train_loss"] >= 0
    assert status('{"mode": "raise"}') == "failed" and "injected failure" in error('{"mode": "raise"}')
    assert steps('{"mode": "raise"}') == 3  # the trace up to the failure is kept
    assert status('{"mode": "hang"}') == "timeout" and "hard limit of 5 s" in error('{"mode": "hang"}')
    assert status('{"mode": "crash"}') == "failed" and "exit code 9" in error('{"mode": "crash"}')
    assert status('{"mode": "nan"}') == "nan"
    # resuming skips every recorded cell, whatever its status
    first = store.cells().set_index("cell_id")["run_id"]
    assert main(["run", str(spec), "--out", str(tmp_path / "store"), "-q"]) == 0
    assert Store(tmp_path / "store").cells().set_index("cell_id")["run_id"].equals(first)


def test_gpu_slots_cap_concurrent_cells_per_device():
    inside, peak, lock = [0], [0], threading.Lock()

    def cell():
        with gpu_slot("cuda:7", 2):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.3)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=cell) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    with gpu_slot("cpu", 0):  # CPU cells never wait
        pass
