"""Bad input, first contact and killed processes: each defect found by trying the suite as a hostile or
first-time user would, as a test that fails while the defect is there.

Bad input exits with code 2 and one line per mistake; killed drivers and workers leave no process
behind and lose no finished cell.
"""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from optsuite.cli import main
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.runners import execute
from optsuite.runners.cell import Cell
from optsuite.runners.sandbox import Job
from optsuite.store import Store

from tiny_datasets import write_mnist

ROOT = Path(__file__).resolve().parents[1]
P = ["-p", "sphere(dim=10)", "-o", "gd", "-s", "1", "-b", "evaluations=2000"]


def one_line_error(capsys, needle: str) -> str:
    """The error printed on stderr: one line, no traceback, containing ``needle``."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err


def write(folder: Path, text: str, name: str = "matrix.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


# -- bad input: exit 2 and one line -----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_time_limit_must_be_a_positive_finite_number(value, tmp_path, capsys):
    assert main(["run", *P, "--time-limit", value, "--out", str(tmp_path / "s"), "-q"]) == 2
    one_line_error(capsys, f"--time-limit {value}")
    spec = write(tmp_path, f"[run]\ntime_limit = {value}\n[[problems]]\nname = \"sphere\"\n[[optimizers]]\nname = \"gd\"\n")
    assert main(["run", str(spec), "--dry-run"]) == 2
    one_line_error(capsys, "run.time_limit")


def test_an_out_that_is_a_file_is_refused_before_any_cell_runs(tmp_path, capsys):
    blocker = tmp_path / "some_file"
    blocker.write_text("")
    for out in (blocker, blocker / "store"):
        assert main(["run", *P, "--out", str(out), "-q"]) == 2
        one_line_error(capsys, "a file is in the way")
    store = tmp_path / "store"
    assert main(["run", *P, "--out", str(store), "-q"]) == 0
    capsys.readouterr()
    assert main(["report", str(store), "--out", str(blocker)]) == 2
    one_line_error(capsys, "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    assert main(["run", *P, "--out", str(folder), "-q"]) == 2
    one_line_error(capsys, "cannot write there")


@pytest.mark.parametrize("code,needle", [("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
                                         ("raise KeyError('x')\n", "KeyError")])
def test_an_import_that_exits_or_raises_is_one_line_naming_the_file(code, needle, tmp_path, capsys):
    (tmp_path / "bad.py").write_text(code)
    spec = write(tmp_path, 'imports = ["bad.py"]\n[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n')
    assert main(["run", str(spec), "--dry-run"]) == 2
    one_line_error(capsys, f"{tmp_path / 'bad.py'} failed to import ({needle}")


@pytest.mark.parametrize("name", [".", ".."])
def test_a_matrix_name_must_be_one_plain_folder_name(name, tmp_path, capsys):
    spec = write(tmp_path, f'name = "{name}"\n[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n')
    assert main(["run", str(spec), "--dry-run"]) == 2
    one_line_error(capsys, "name:")


def test_non_finite_numbers_are_refused_at_validation_with_their_place(tmp_path, capsys):
    spec = write(tmp_path, """
        [[problems]]
        name = "noprop-block"
        settings = { T = 2, ridge = inf }
        [[optimizers]]
        name = "gd"
        hyper = { lr = nan }
        grid = { momentum = [0.0, -inf] }
        """)
    assert main(["run", str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(f"{spec}: ")[1].split(":")[0] for line in err] == [
        "problems[0].settings.ridge", "optimizers[0].hyper.lr", "optimizers[0].grid.momentum[1]"]
    assert all("is not a finite number" in line for line in err)


def test_the_readme_says_that_imports_run_code_also_under_dry_run():
    readme = (ROOT / "README.md").read_text()
    note = next(p for p in readme.split("\n- ") if p.startswith("`imports`"))
    assert "arbitrary code" in note and "--dry-run" in note


def test_dry_run_and_resume_agree_on_a_damaged_trace_part(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["run", *P, "--out", str(store), "-q"]) == 0
    part = next(store.glob("traces-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(data)
    capsys.readouterr()
    assert main(["run", *P, "--out", str(store), "--dry-run"]) == 2
    refused = one_line_error(capsys, part.name)
    assert main(["run", *P, "--out", str(store), "-q"]) == 2
    assert one_line_error(capsys, part.name) == refused


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


def test_a_population_too_large_for_memory_is_refused_before_running(tmp_path, capsys):
    out = tmp_path / "store"
    assert main(["run", "-p", "sphere(dim=10)", "-o", "montecarlo(population=1000000000)", "--out", str(out), "-q"]) == 2
    one_line_error(capsys, "a population of 1,000,000,000 x 10 parameters needs at least 160 GB")
    assert not out.exists()
    assert main(["noprop", "-o", "beam(beam=100000000)", "--set", "T=2", "--out", str(out), "-q"]) == 2
    one_line_error(capsys, "block 1: optimizer 'beam': a population of")


def test_data_root_is_refused_where_the_dataset_reads_none_and_names_ignore_case(tmp_path, capsys):
    assert main(["run", "-p", f"least-squares(data_root={tmp_path})", "-o", "gd", "--dry-run"]) == 2
    one_line_error(capsys, "dataset 'digits' reads no data_root")
    write_mnist(tmp_path / "mnist")
    problem = PROBLEMS.create("least-squares", dataset="MNIST", data_root=str(tmp_path / "mnist"))
    assert problem.data.name == "mnist" and problem.n_train == 30
    assert main(["run", "-p", "least-squares(dataset=mnst)", "-o", "gd", "--dry-run"]) == 2
    one_line_error(capsys, "(did you mean 'mnist'?)")


# -- first contact ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["run"], ["list"], ["report"], ["noprop"], ["bench"]])
def test_help_and_version_on_every_command(command, capsys):
    from importlib.metadata import version

    assert main([*command, "-h"]) == 0
    assert "Usage: optsuite" in capsys.readouterr().out
    assert main([*command, "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"optsuite {version('optsuite')}"


def test_list_name_shows_each_setting_with_its_default_and_meaning(capsys):
    assert main(["list", "snes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in lines if line.startswith("  ")}
    assert set(rows) == set(OPTIMIZERS.get("snes").defaults)
    assert rows["sigma0"][0] == "0.5" and "step size" in rows["sigma0"][1]
    assert main(["list", "noprop-block"]) == 0
    rows = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert {"t", "ridge", "readout_draws", "hidden", "dataset", "device"} <= rows
    assert main(["list", "snez"]) == 2
    one_line_error(capsys, "(did you mean 'snes'?)")


@pytest.mark.parametrize("name", [n for n in PROBLEMS.names() if ":" not in n])
def test_every_problem_setting_has_a_meaning(name):
    missing = [key for key, _, meaning in PROBLEMS.settings(name) if not meaning]
    assert not missing, f"{name}: settings without a line in settings_help: {missing}"


def test_validation_reports_an_unknown_setting_with_the_other_mistakes_and_close_names(tmp_path, capsys):
    spec = write(tmp_path, """
        [[problems]]
        name = "noprop-block"
        settings = { hiden = 16, T = "three" }
        [[optimizers]]
        name = "snez"
        """)
    assert main(["run", str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    hiden = next(line for line in err if ".hiden:" in line)
    assert "(did you mean 'hidden'?)" in hiden and all(f" {k}," in hiden for k in ("t", "ridge", "readout_draws"))
    assert any(".T: expected an integer" in line for line in err)
    assert any("unknown optimizer 'snez' (did you mean 'snes'?)" in line for line in err)


def test_a_list_value_reaches_validation_as_a_list(capsys):
    assert main(["run", "-p", "sphere", "-o", "beam(sigma0=[0.1,0.2])", "--dry-run"]) == 2
    one_line_error(capsys, "-o beam(sigma0=[0.1,0.2]): sigma0: expected a number, got [0.1, 0.2]")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_noprop_shows_each_part_as_it_finishes_and_prints_train_accuracy_and_wall_seconds(jobs, tmp_path, capsys):
    assert main(["noprop", "--set", "T=2", "--set", "hidden=8", "-b", "steps=30", "-j", jobs, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    news = [line.strip() for line in captured.err.splitlines() if " done (" in line]
    assert sorted(n.split(": ", 1)[1].split(" done")[0] for n in news) == ["block 1", "block 2", "head"]
    assert [n.split(" done (")[1].split(" of")[0] for n in news] == ["1", "2", "3"]
    seed = next(line for line in captured.out.splitlines() if line.startswith("seed 0: ok"))
    assert "train_accuracy " in seed and re.search(r"seconds [\d.]+ \(parts summed\), [\d.]+ wall", seed)


def test_bbob_ert_shows_failed_runs_as_failures_not_misses():
    from optsuite.benchmarks.bbob_ert import format_ert

    hit = {"hits": [100.0], "spent": 100.0, "status": "ok"}
    miss = {"hits": [float("inf")], "spent": 500.0, "status": "ok"}
    failed = {"hits": [float("inf")], "spent": 3.0, "status": "failed"}
    assert format_ert([miss, miss], 0) == "-"
    assert format_ert([failed, failed], 0) == "failed"
    assert format_ert([hit, failed], 0) == "100 [1 failed]"
    assert format_ert([hit, miss, failed], 0) == "600 (1/2) [1 failed]"


def test_reports_and_benchmarks_name_no_folder_of_one_machine():
    machine = re.compile(r"(?<![\w.~$])/(?:work|tmp|root|home|Users|mnt|private|var/folders)/")
    files = [ROOT / "README.md", *(p for p in (ROOT / "reports").rglob("*") if p.suffix in (".md", ".txt", ".html")),
             *(ROOT / "benchmarks").iterdir()]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in files if p.is_file()
             for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if machine.search(line)]
    assert not found, found


def test_the_torch_pin_says_what_it_fixes_and_setup_can_take_the_cpu_build():
    constraints = (ROOT / "constraints.txt").read_text()
    assert "https://download.pytorch.org/whl/cpu" in constraints and re.search(r"^torch==\S+$", constraints, re.M)
    index = "https://download.pytorch.org/whl/cpu"
    planned = subprocess.run(["make", "-n", "-B", "setup", f"TORCH_INDEX={index}"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    torch_first = next(i for i, line in enumerate(planned) if f"--index-url {index} torch" in line)
    assert "-c constraints.txt" in planned[torch_first]
    assert torch_first < next(i for i, line in enumerate(planned) if "-e '.[dev]'" in line)
    plain = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--index-url" not in plain


# -- processes: killed drivers and workers ------------------------------------------------------------------
# a sphere that sleeps 25 ms a step (cells of half a second at 20 steps) and reports its sandbox's parent
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


def test_at_exit_an_idle_sandbox_ends_its_own_processes_and_leaks_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "optsuite.cli", "noprop", "--set", "T=2", "--set", "hidden=8", "-b",
                           "steps=30", "-j", "2", "--out", str(tmp_path), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "leaked" not in done.stderr, done.stderr


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


def test_a_local_dask_cluster_serves_no_dashboard():
    import urllib.error
    import urllib.request

    with execute.dask_client(execute.Backend("dask", 1)) as client:
        port = client.scheduler_info()["services"].get("dashboard")
        assert port != 8787
        if port:
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10)


def test_dask_runs_every_cell_on_the_cluster_even_with_one_worker(tmp_path, sleepy):
    store = tmp_path / "store"
    spec = sleepy_matrix(tmp_path, sleepy, 1)
    assert main(["run", str(spec), "--out", str(store), "--backend", "dask", "-j", "1", "-q"]) == 0
    parents = set(Store(store).cells()["metric_parent_pid"])
    assert len(parents) == 1 and os.getpid() not in parents  # the sandboxes' parent: a Dask worker


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
