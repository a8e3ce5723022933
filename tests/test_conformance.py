"""The contract every registered optimizer must keep (like scikit-learn's check_estimator).

Any optimizer added to the registry, built in or by a plugin, is checked here.
"""
import copy

import pytest
import torch

from optsuite.ledger import UNITS, Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

# A representative member of each prefix family (``family:<name>``).
PREFIX_EXAMPLES = {"nevergrad": "nevergrad:OnePlusOne"}


def optimizer_names():
    names = [n for n in OPTIMIZERS.names() if not n.endswith(":<name>")]
    families = [n.split(":")[0] for n in OPTIMIZERS.names() if n.endswith(":<name>")]
    return names + [PREFIX_EXAMPLES[f] for f in families]


def test_every_prefix_family_has_an_example():
    families = {n.split(":")[0] for n in OPTIMIZERS.names() if n.endswith(":<name>")}
    assert families <= set(PREFIX_EXAMPLES)


def problem_for(name):
    """A 10-d sphere, least squares on digits for optimizers that need a linear readout, or a
    NoProp block with a trainable feature layer for those that need one."""
    cls = OPTIMIZERS.get(name)
    if "linear_readout" in cls.requires:
        return PROBLEMS.create("least-squares", batch_size=128)
    if "hebbian_layer" in cls.requires:
        return PROBLEMS.create("noprop-block", block="learned-features", T=3, t=3, hidden=64)
    return PROBLEMS.create("sphere", dim=10)


def snapshot(problem):
    return {k: (v.clone() if torch.is_tensor(v) else copy.deepcopy(v)) for k, v in vars(problem).items()}


def same(a, b):
    if torch.is_tensor(a):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return same(vars(a), vars(b))
    return a == b


NAMES = optimizer_names()


@pytest.mark.parametrize("name", NAMES)
def test_reduces_loss_tenfold_within_default_budget(name):
    problem = problem_for(name)
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, OPTIMIZERS.create(name), seed=0)
    assert result.status == "ok", result.error
    assert result.metrics["train_loss"] <= start / 10


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("unit", [u for u in UNITS if u != "peak_memory_bytes"])
def test_respects_each_budget_unit(name, unit):
    problem = problem_for(name)
    one = run(problem, OPTIMIZERS.create(name), Budget(steps=3), seed=1).trace
    per_step = max([one[0][unit]] + [b[unit] - a[unit] for a, b in zip(one, one[1:])])
    limit = {"steps": 7, "seconds": 0.3}.get(unit, 7 * per_step)
    result = run(problem, OPTIMIZERS.create(name), Budget(**{unit: limit}), seed=1)
    assert result.status == "ok", result.error
    trace = result.trace
    assert result.stop in (unit, "done")
    # Never more than one step past the limit: every step but the last began and ended under it.
    assert all(row[unit] < limit for row in trace[:-1])
    if unit != "seconds":  # one step's wall time varies with machine load; counts do not
        assert trace[-1][unit] <= limit + per_step
    if result.stop == unit:
        assert result.spent[unit] >= limit


@pytest.mark.parametrize("name", NAMES)
def test_memory_budget_already_spent_stops_before_any_step(name):
    problem = problem_for(name)
    result = run(problem, OPTIMIZERS.create(name), Budget(peak_memory_bytes=1), seed=0)
    assert result.status == "ok" and result.stop == "peak_memory_bytes"
    assert result.spent["steps"] == 0 and result.best is not None


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_numbers(name):
    problem = problem_for(name)
    a = run(problem, OPTIMIZERS.create(name), Budget(steps=20), seed=3)
    b = run(problem, OPTIMIZERS.create(name), Budget(steps=20), seed=3)
    assert torch.equal(a.best, b.best)
    assert [r["loss"] for r in a.trace] == [r["loss"] for r in b.trace]
    assert a.metrics == b.metrics
    c = run(problem, OPTIMIZERS.create(name), Budget(steps=20), seed=4)
    assert not torch.equal(a.best, c.best) or a.spent["steps"] <= 1


@pytest.mark.parametrize("name", NAMES)
def test_costs_finite_and_non_decreasing(name):
    problem = problem_for(name)
    trace = run(problem, OPTIMIZERS.create(name), Budget(steps=15), seed=0).trace
    assert trace
    for unit in ("evaluations", "sample_forwards", "flops", "seconds"):
        values = [r[unit] for r in trace]
        assert all(torch.isfinite(torch.tensor(v)) for v in values)
        assert all(b >= a for a, b in zip(values, values[1:]))
    assert trace[-1]["evaluations"] > 0
    best = [r["best_loss"] for r in trace]
    assert all(b <= a for a, b in zip(best, best[1:]))


@pytest.mark.parametrize("name", NAMES)
def test_leaves_the_problem_unchanged(name):
    problem = problem_for(name)
    before = snapshot(problem)
    run(problem, OPTIMIZERS.create(name), Budget(steps=10), seed=0)
    assert same(before, snapshot(problem))
