"""Runs batched together: shared evaluate calls, numbers bit-identical to each run alone."""
import pytest
import torch

from optsuite.batch import batchable, run_batched
from optsuite.budget import Budget
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
