"""Runs batched together: shared evaluate calls, numbers bit-identical to each run alone."""
import pytest
import torch

from optsuite.batch import batchable, run_batched
from optsuite.budget import Budget
from optsuite.errors import UserError
from optsuite.parts import CHECKPOINTS
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

BATCHABLE = ["torch-cma", "snes", "pgpe", "openes", "lm-ma-es", "beam", "montecarlo"]


def alone(problem, name, hyper, budget, seed, checkpoints=()):
    return run(problem, OPTIMIZERS.create(name, **hyper), budget, seed, checkpoints)


@pytest.mark.parametrize("problem_name,settings,hyper", [
    ("sphere", {"dim": 8}, {}),
    ("noprop-block", {"T": 3, "t": 2, "hidden": 8}, {"sigma0": 0.05}),
    ("noprop-net", {"T": 2, "hidden": 8}, {"sigma0": 0.05}),
])
def test_every_batched_run_equals_the_run_alone_and_shares_calls(problem_name, settings, hyper):
    problem = PROBLEMS.create(problem_name, **settings)
    scale = lambda name: {"radius" if name == "montecarlo" else "sigma0": v for v in hyper.values()}
    runs = [(name, scale(name), seed) for name in BATCHABLE for seed in (0, 1)]
    budget = Budget(evaluations=600)
    checkpoints = CHECKPOINTS if problem.network else ()
    results, calls = run_batched(problem, [(OPTIMIZERS.create(n, **h), budget, s) for n, h, s in runs], checkpoints)
    for (name, h, seed), together in zip(runs, results):
        single = alone(problem, name, h, budget, seed, checkpoints)
        assert together.status == single.status == "ok", (name, together.error)
        assert torch.equal(together.best, single.best), name
        assert [r["loss"] for r in together.trace] == [r["loss"] for r in single.trace], name
        assert together.metrics == single.metrics
        assert [c.step for c in together.checkpoints] == [c.step for c in single.checkpoints]
        for unit in ("steps", "evaluations", "sample_forwards", "flops"):
            assert together.spent[unit] == single.spent[unit]
    steps = sum(r.spent["steps"] for r in results)
    assert calls < steps / 2  # runs with one seed share each step's call


def test_a_failing_run_is_recorded_and_the_others_finish():
    problem = PROBLEMS.create("sphere", dim=4)
    exploding = OPTIMIZERS.create("snes", sigma0=1e200)
    results, _ = run_batched(problem, [(OPTIMIZERS.create("snes"), Budget(steps=30), 0), (exploding, Budget(steps=30), 0)])
    assert results[0].status == "ok" and results[1].status in ("nan", "failed")
    assert results[0].spent["steps"] == 30


def test_runs_drawing_from_global_state_or_limited_in_seconds_are_not_batchable():
    assert not batchable(OPTIMIZERS.create("cma"), Budget(steps=5))  # pycma: numpy's global generator
    assert not batchable(OPTIMIZERS.create("gd"), Budget(steps=5))  # gradients bypass the batch
    assert not batchable(OPTIMIZERS.create("snes"), Budget(seconds=5))  # its seconds would include the wait
    assert batchable(OPTIMIZERS.create("snes"), Budget(steps=5))
    assert batchable(OPTIMIZERS.create("torch-cma", restarts="bipop"), Budget(steps=5))


@pytest.mark.slow
def test_a_matrix_run_with_batched_cells_stores_what_it_stores_without(tmp_path):
    from optsuite.cli import main
    from optsuite.store import Store

    flags = ["-p", "noprop-block(T=3,t=2,hidden=8)", "-p", "sphere(dim=5)", "-o", "snes(sigma0=0.05)",
             "-o", "torch-cma(sigma0=0.05,separable=true)", "-o", "cma(sigma0=0.05)", "-o", "gd", "-s", "2",
             "-b", "evaluations=400", "-q"]
    assert main(["run", *flags, "--out", str(tmp_path / "alone")]) == 0
    assert main(["run", *flags, "--batch-runs", "3", "--out", str(tmp_path / "together")]) == 0
    alone, together = (Store(tmp_path / k).cells().set_index("cell_id").sort_index() for k in ("alone", "together"))
    same = [c for c in alone if c.startswith("metric_") or c in ("status", "trace_rows", "spent_evaluations",
                                                                   "spent_sample_forwards", "spent_flops", "spent_steps")]
    assert alone.index.equals(together.index)
    assert (alone[same].fillna(-1) == together[same].fillna(-1)).all().all()
    batched = together.loc[together["optimizer"].isin(["snes", "torch-cma"]), "batched"]
    assert (batched == 3).sum() == 6 and batched.isna().sum() == 2  # per problem: a batch of 3, the 4th alone
    assert together.loc[together["optimizer"].isin(["cma", "gd"]), "batched"].isna().all()  # never batched


def test_tasks_group_one_problems_batchable_cells_by_seed_and_leave_the_rest_alone():
    from optsuite.runners.batching import Batch, tasks
    from optsuite.runners.cell import Cell

    cells = [Cell("sphere", name, seed, Budget(steps=5), {"dim": 3}) for seed in (0, 1) for name in ("snes", "pgpe", "cma")]
    cells.append(Cell("sphere", "snes", 0, Budget(seconds=5), {"dim": 4}))
    cells.append(Cell("noprop-dt", "snes", 0, Budget(steps=5), {"T": 2}))
    grouped = tasks(cells, 3)
    batches = [t for t in grouped if isinstance(t, Batch)]
    assert [[(c.optimizer, c.seed) for c in b.cells] for b in batches] == [[("snes", 0), ("pgpe", 0), ("snes", 1)]]
    alone = [t for t in grouped if not isinstance(t, Batch)]
    assert [(c.optimizer, c.seed) for c in alone if c.problem == "sphere" and c.problem_args == {"dim": 3}] == [
        ("pgpe", 1), ("cma", 0), ("cma", 1)]
    assert any(c.problem == "noprop-dt" for c in alone) and any(c.budget.seconds for c in alone)
    assert sum(len(b.cells) for b in batches) + len(alone) == len(cells)
    assert tasks(cells, 1) == cells


def test_batched_runs_ask_and_tell_from_the_calling_thread_only():
    import threading

    threads = set()

    class Watched(type(OPTIMIZERS.create("snes"))):
        def ask(self):
            threads.add(threading.current_thread())
            return super().ask()

        def tell(self, losses):
            threads.add(threading.current_thread())
            return super().tell(losses)

    problem = PROBLEMS.create("sphere", dim=4)
    before = threading.active_count()
    results, calls = run_batched(problem, [(Watched(), Budget(steps=20), seed % 2) for seed in range(4)])
    assert [r.status for r in results] == ["ok"] * 4
    assert threads == {threading.current_thread()} and threading.active_count() == before
    assert calls == 20 * 2  # two seeds: two shared calls a step


def test_a_runner_that_cannot_ask_is_refused_by_the_batch():
    with pytest.raises(UserError, match="does not ask and tell"):
        run_batched(PROBLEMS.create("sphere", dim=4), [(OPTIMIZERS.create("gd"), Budget(steps=2), 0)])
