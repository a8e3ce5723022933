"""Running cells on workers (runners/execute.py, sandbox.py): killed drivers and workers leave no process behind
and lose no finished cell, a worker that dies costs a retry, Dask clusters, and --add."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import one_line_error
from optsuite.cli import main
from optsuite.runners import execute
from optsuite.runners.cell import Cell
from optsuite.runners.sandbox import Job
from optsuite.store import Store


PLUGIN = '''
import os
import time

from optsuite.problems.synthetic import Sphere
from optsuite.registry import register_problem


@register_problem("test-sleepy")
class Sleepy(Sphere):
    """A sphere that sleeps 25 ms a step; its metrics name the pid of the process that started the sandbox."""

    def evaluate(self, params, draw):
        time.sleep(0.025)
        return super().evaluate(params, draw)

    def metrics(self, params):
        return {**super().metrics(params), "parent_pid": float(os.getppid())}
'''


SLEEPY = """
seeds = SEEDS
imports = ["PLUGIN"]
budgets = { steps = 20 }

[[problems]]
name = "test-sleepy"
settings = { dim = 3 }

[[optimizers]]
name = "gd"
grid = { lr = [0.01, 0.1] }
"""


def write(folder: Path, text: str, name: str = "matrix.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "sleepy.py"
    path.write_text(PLUGIN)
    return path


def sleepy_matrix(folder: Path, plugin: Path, seeds: int) -> Path:
    return write(folder, SLEEPY.replace("PLUGIN", str(plugin)).replace("SEEDS", str(seeds)))


def poll(condition, seconds: float, step: float = 0.1):
    """``condition()``'s first true value within ``seconds`` (else its last value)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def living(processes: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def named(processes: list[psutil.Process], text: str) -> list[psutil.Process]:
    out = []
    for p in processes:
        try:
            if text in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def stored(store: Path) -> int:
    return len(Store(store).cells()) if (store / "manifest.json").exists() else 0


def start(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optsuite.cli", *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def end(driver: subprocess.Popen) -> None:
    try:
        os.killpg(driver.pid, signal.SIGKILL)  # whatever a failing test left behind
    except ProcessLookupError:
        pass
    driver.wait()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill -9 the driver", "SIGTERM the driver", "kill -9 noprop -j 2"])
def test_a_killed_driver_leaves_no_process_behind_and_sigterm_flushes(how, tmp_path, sleepy):
    store = tmp_path / "store"
    if how.startswith("kill -9 noprop"):  # the parts of one cell in a loky pool inside the sandbox
        args = ["noprop", "--set", "T=3", "--set", "hidden=8", "-b", "steps=100000", "-j", "2", "--out", str(store)]
        busy = lambda: len(named(tree(driver.pid), "popen_loky_posix")) >= 2
    else:
        args = ["run", str(sleepy_matrix(tmp_path, sleepy, 8)), "--out", str(store), "-j", "2"]
        sandboxes = lambda: len(named(tree(driver.pid), "optsuite.runners.sandbox")) == 2
        # SIGTERM once cells have finished (so that the flush is seen), kill -9 once both sandboxes exist
        busy = (lambda: stored(store) > 0 and sandboxes()) if how.startswith("SIGTERM") else sandboxes
    driver = start(args)
    try:
        assert poll(busy, 180), "the run never got going"
        children = tree(driver.pid)
        driver.send_signal(signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGKILL)
        code = driver.wait(timeout=60)
        left = poll(lambda: not living(children), 15) or living(children)
        assert left is True, f"alive 15 s after the driver's death: {[p.cmdline() for p in left]}"
        if how.startswith("SIGTERM"):
            err = driver.stderr.read()
            assert code == 130 and "interrupted: finished cells are stored" in err
            finished = sum(line.startswith("[") for line in err.splitlines())  # one line per cell the driver got
            assert stored(store) >= finished > 0
    finally:
        end(driver)


@pytest.mark.slow
def test_at_exit_an_idle_sandbox_ends_its_own_processes_and_leaks_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "optsuite.cli", "noprop", "--set", "T=2", "--set", "hidden=8", "-b",
                           "steps=30", "-j", "2", "--out", str(tmp_path), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "leaked" not in done.stderr, done.stderr


@pytest.mark.slow
def test_a_killed_loky_worker_costs_a_retry_not_the_matrix(tmp_path, sleepy):
    store = tmp_path / "store"
    driver = start(["run", str(sleepy_matrix(tmp_path, sleepy, 2)), "--out", str(store), "-j", "2"])
    try:  # kill a worker whose cell is in flight: its sandbox exists
        working = lambda: [w for w in named(tree(driver.pid), "popen_loky_posix") if living(w.children())]
        assert poll(working, 180), "the run never got going"
        working()[0].kill()
        assert driver.wait(timeout=180) == 0
        err = driver.stderr.read()
    finally:
        end(driver)
    assert "warning: a worker process died (TerminatedWorkerError" in err
    cells = Store(store).cells()
    assert len(cells) == 4 and cells["cell_id"].is_unique and set(cells["status"]) == {"ok"}


def test_a_cell_whose_worker_dies_twice_is_recorded_as_failed_and_the_rest_go_on(monkeypatch):
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    cells = [Cell("sphere", "gd", seed, None) for seed in range(4)]
    calls = []

    def parallel(tasks):  # a one-worker pool that dies twice on the first cell, then runs the rest
        tasks = list(tasks)
        calls.append(len(tasks))
        broken = len(calls) <= 2

        def results():
            if broken:
                raise TerminatedWorkerError("A worker process managed by the executor was unexpectedly terminated.\n"
                                            "The exit codes of the workers are {SIGKILL(-9)}")
            for _, args, _ in tasks:
                yield [({"cell_id": args[0].cell_id, "status": "ok"}, [])]  # a task's records

        return results()

    warnings = []
    rows = [row for row, _ in execute.loky_results(lambda: parallel, 1, cells, Job(), warnings.append)]
    assert calls == [4, 4, 3]
    assert [r["status"] for r in rows] == ["failed", "ok", "ok", "ok"]
    assert rows[0]["cell_id"] == cells[0].cell_id and "died 2 times" in rows[0]["error"]
    assert len(warnings) == 2 and "exit codes {SIGKILL(-9)}" in warnings[0]


def test_a_late_result_of_a_broken_pool_is_not_stored_twice(tmp_path):
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    cells = [Cell("sphere", "gd", seed, None) for seed in range(3)]
    row = lambda cell, attempt: [({"cell_id": cell.cell_id, "status": "ok", "attempt": attempt}, [])]
    rounds = iter([[row(cells[0], 1), TerminatedWorkerError("worker died")],
                   [row(cells[0], 1), row(cells[1], 2), row(cells[0], 2), row(cells[2], 2)]])

    def pool():
        def results(tasks):  # the second pool delivers the first's late result for cell 0, then its own
            for item in next(rounds):
                if isinstance(item, Exception):
                    raise item
                yield item
        return results

    rows = [r for r, _ in execute.loky_results(pool, 2, cells, Job(), lambda line: None)]
    assert [(r["cell_id"], r["attempt"]) for r in rows] == [(c.cell_id, a) for c, a in zip(cells, (1, 2, 2))]
    store = Store(tmp_path / "store")
    store.append([dict(rows[0], attempt=1), dict(rows[0], attempt=2)], [])
    assert list(store.cells()["attempt"]) == [2]


def test_another_matrix_is_written_into_a_store_only_with_add(tmp_path, capsys):
    store = tmp_path / "store"
    first = ["run", "-p", "sphere(dim=3)", "-o", "gd", "-s", "1", "-b", "steps=3", "--out", str(store), "-q"]
    second = [a.replace("dim=3", "dim=4") for a in first]
    assert main(first) == 0
    capsys.readouterr()
    assert main(second) == 2
    one_line_error(capsys, "1 cells that are not in this matrix")
    assert main([*second[:-1], "--dry-run"]) == 0
    assert "running it needs --add" in capsys.readouterr().out
    assert main(first) == 0  # the same matrix again resumes
    assert main([*second, "--add"]) == 0
    assert len(Store(store).cells()) == 2


def test_a_local_dask_cluster_serves_no_dashboard():
    import urllib.error
    import urllib.request

    with execute.dask_client(execute.Backend("dask", 1)) as client:
        port = client.scheduler_info()["services"].get("dashboard")
        assert port != 8787
        if port:
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10)


@pytest.mark.slow
def test_dask_runs_every_cell_on_the_cluster_even_with_one_worker(tmp_path, sleepy):
    store = tmp_path / "store"
    spec = sleepy_matrix(tmp_path, sleepy, 1)
    assert main(["run", str(spec), "--out", str(store), "--backend", "dask", "-j", "1", "-q"]) == 0
    parents = set(Store(store).cells()["metric_parent_pid"])
    assert len(parents) == 1 and os.getpid() not in parents  # the sandboxes' parent: a Dask worker


@pytest.mark.slow
def test_a_dask_cluster_that_loses_every_worker_stops_the_run_with_its_cells_kept(tmp_path, sleepy, monkeypatch,
                                                                                   capsys):
    monkeypatch.setattr(execute, "LOST_SECONDS", 2.0)
    started = []

    def dask(*args):
        started.append(subprocess.Popen([sys.executable, "-m", *args], start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return started[-1]

    try:
        address = tmp_path / "scheduler.json"
        dask("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(address))
        assert poll(address.exists, 60)
        scheduler = json.loads(address.read_text())["address"]
        worker = dask("distributed.cli.dask_worker", scheduler, "--nthreads", "1", "--no-nanny", "--no-dashboard")
        store = tmp_path / "store"
        killer = threading.Thread(target=lambda: poll(lambda: stored(store) > 0, 180) and worker.kill())
        killer.start()
        begun = time.monotonic()
        code = main(["run", str(sleepy_matrix(tmp_path, sleepy, 20)), "--out", str(store), "--backend", "dask",
                     "--scheduler", scheduler, "-q"])
        killer.join()
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert code == 2 and time.monotonic() - begun < 170
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the Dask cluster has had no workers for 2 s" in errors[0]
    assert 0 < stored(store) < 40
