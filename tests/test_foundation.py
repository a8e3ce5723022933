"""Synthetic optima, least squares, budgets, registry errors and the CLI."""
import math
import os

import pytest
import torch

from optsuite.budget import Budget
from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.runners.cell import Cell, result_rows


@pytest.mark.parametrize("name,at", [("sphere", 0.0), ("rosenbrock", 1.0), ("rastrigin", 0.0)])
def test_synthetic_optimum_is_zero(name, at):
    problem = PROBLEMS.create(name, dim=7)
    x = torch.full((1, 7), at, dtype=torch.float64)
    assert float(problem.evaluate(x, problem.draw(0, 0))[0]) == pytest.approx(0.0, abs=1e-12)
    assert float(problem.evaluate(x + 0.1, problem.draw(0, 0))[0]) > 1e-3


def test_least_squares_optimum_has_zero_gradient_and_beats_perturbations():
    problem = PROBLEMS.create("least-squares", batch_size=10_000)
    w = problem.optimum()
    draw = problem.draw(0, 0)  # full batch
    _, grad = problem.loss_and_grad(w, draw)
    assert grad.abs().max() < 1e-3
    best = problem.metrics(w)
    assert best["test_accuracy"] > 0.9
    noisy = w + 0.01 * torch.randn(problem.dim, generator=torch.Generator().manual_seed(0))
    assert problem.metrics(noisy)["train_loss"] > best["train_loss"]


def test_dataset_split_is_stratified_and_standardised_on_train():
    problem = PROBLEMS.create("least-squares")
    d = problem.data
    assert len(d.x_train) + len(d.x_test) == 1797 and abs(len(d.x_test) / 1797 - 0.2) < 0.01
    assert d.x_train.mean(0).abs().max() < 1e-4
    counts = torch.bincount(d.y_test, minlength=10).float()
    assert counts.min() >= 0.9 * counts.mean()


@pytest.mark.parametrize(
    "bad", [{"evaluations": -1}, {"seconds": 0}, {"furlongs": 3}, {}, {"steps": "many"}, {"flops": float("nan")},
            {"steps": 0.5}, {"evaluations": 2000.7}, {"peak_memory_bytes": 1.5}, ["evaluations=2", "evaluations=3"]]
)
def test_bad_budgets_are_refused(bad):
    with pytest.raises(UserError):
        Budget.parse(bad)


def test_a_count_is_a_whole_number_whatever_its_type():
    assert Budget.parse(["sample_forwards=6e4", "seconds=0.5"]).as_dict() == {"sample_forwards": 60000, "seconds": 0.5}
    with pytest.raises(UserError, match="budget steps=0.5 must be a whole number"):
        Budget(steps=0.5)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UserError, match="known: .*gd.*montecarlo"):
        OPTIMIZERS.get("adam-but-typo")
    with pytest.raises(UserError, match="no setting 'colour'"):
        PROBLEMS.create("sphere", colour=3)
    with pytest.raises(UserError, match="is not a float"):
        OPTIMIZERS.create("gd", lr="fast")


def test_nan_loss_is_recorded_not_raised():
    class Exploding(type(PROBLEMS.create("sphere"))):
        def f(self, x):
            return (x * x).sum(-1) / 0.0 * 0.0  # NaN

    result = run(Exploding(dim=3), OPTIMIZERS.create("montecarlo"), Budget(steps=5))
    assert result.status == "nan" and result.spent["steps"] == 1 and "nan" in result.error


def test_failure_inside_a_run_is_recorded_with_its_trace():
    opt = OPTIMIZERS.create("gd")
    problem = PROBLEMS.create("sphere", dim=3)
    original = problem.loss_and_grad
    calls = []

    def flaky(params, draw):
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError("device lost")
        return original(params, draw)

    problem.loss_and_grad = flaky
    result = run(problem, opt, Budget(steps=10))
    assert result.status == "failed" and "device lost" in result.error and len(result.trace) == 4


def test_same_cell_twice_gives_identical_records():
    cell = Cell("least-squares", "gd", 2, Budget(steps=30), {"batch_size": 64}, {"lr": 0.01})
    (a, ta), (b, tb) = result_rows(cell), result_rows(cell)
    metrics = [k for k in a if k.startswith("metric_")]
    assert metrics and all(a[k] == b[k] for k in metrics)
    assert [r["loss"] for r in ta] == [r["loss"] for r in tb]
    other = Cell("least-squares", "gd", 3, Budget(steps=30), {"batch_size": 64}, {"lr": 0.01})
    assert other.cell_id != cell.cell_id and result_rows(other)[0]["metric_train_loss"] != a["metric_train_loss"]


def test_cli_run_writes_a_store_and_report_reads_it(tmp_path, capsys):
    out = tmp_path / "store"
    code = main(["run", "-p", "sphere(dim=5)", "-o", "gd(lr=0.05)", "-o", "montecarlo", "-s", "2",
                 "-b", "evaluations=300", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "gd(lr=0.05)" in printed and "montecarlo" in printed
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out == printed


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "-o", "nosuch"], "unknown optimizer 'nosuch'; known:"),
        (["run", "-b", "evaluations=-5"], "must be positive"),
        (["run", "-p", "sphere(dim=0)"], "dim=0"),
        (["run", "--nope"], "No such option"),
        (["report", "/no/such/folder"], "no results store"),
        (["list", "gizmos"], "cannot list"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_list_describes_every_entry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("gd", "montecarlo", "sphere", "least-squares"):
        line = next(l for l in out.splitlines() if l.strip().startswith(name + " "))
        assert len(line.split()) > 2


class PluginSearch(OPTIMIZERS.get("montecarlo")):
    """A plugin's optimizer, as another package would ship it."""


def test_plugins_register_through_entry_points(monkeypatch):
    from importlib.metadata import EntryPoint

    from optsuite import registry

    fresh = registry.Registry("optimizer", "optsuite.optimizers")
    ep = EntryPoint("plugin-search", f"{__name__}:PluginSearch", "optsuite.optimizers")
    broken = EntryPoint("broken", "no_such_module:Thing", "optsuite.optimizers")
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep, broken] if group == fresh.package else [])
    with pytest.warns(UserWarning, match="broken"):
        assert "plugin-search" in fresh.names()
    assert "broken" not in fresh.names()
    assert fresh.get("plugin-search").name == "plugin-search"


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's resettable peak RSS")
def test_peak_memory_is_per_run_not_the_process_lifetime():
    big = torch.ones(200_000_000)  # 800 MB resident before the run: the process's lifetime peak
    del big
    result = run(PROBLEMS.create("sphere", dim=3), OPTIMIZERS.create("montecarlo"), Budget(steps=3))
    with open("/proc/self/status") as fh:
        resident = int(next(l for l in fh if l.startswith("VmRSS:")).split()[1]) * 1024
    assert 0 < result.spent["peak_memory_bytes"] < resident + 400e6


def test_what_no_budget_means_is_decided_in_one_place(monkeypatch):
    """Budget.or_default: change it there and a run, a cell, a network's parts and a tuning's trials all follow."""
    from optsuite.parts import plan, run_parts
    from optsuite.runners.tuning import Settings, tuning

    monkeypatch.setattr(Budget, "or_default", staticmethod(lambda budget, optimizer: budget or Budget(steps=2)))
    sphere = PROBLEMS.create("sphere", dim=3)
    assert run(sphere, OPTIMIZERS.create("gd"), None).spent["steps"] == 2
    assert Cell("sphere", "gd", 0, None, {"dim": 3}).build()[2] == Budget(steps=2)
    network = PROBLEMS.create("noprop-dt", T=2, hidden=4)
    parts = run_parts(network, plan(network, "gd", {}), None, 0, checkpoints=())
    assert [p["budget"] for p in parts.parts] == [{"steps": 2}] * 3
    trials = tuning([Cell("sphere", "gd", 0, None, {"dim": 3})], {"lr": [0.1]}, Settings(fraction=0.5),
                    OPTIMIZERS.get("gd")).trials
    assert {t.budget for t in trials} == {Budget(steps=1)}


def test_a_run_stopped_by_the_time_limit_is_a_timeout_decided_in_one_place(monkeypatch):
    monkeypatch.setattr(Budget, "cut_short", lambda own, used, status, stop: True)
    for cell in (Cell("sphere", "gd", 0, Budget(steps=3), {"dim": 3}),
                 Cell("noprop-dt", "gd", 0, Budget(steps=3), {"T": 2, "hidden": 4})):
        row, _ = result_rows(cell, time_limit=100.0)
        assert row["status"] == "timeout", cell.problem
