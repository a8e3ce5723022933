"""The optimizer contract as a public check, like scikit-learn's ``check_estimator``.

A plug-in author runs it in their own tests::

    from optsuite.testing import check_optimizer
    check_optimizer("hillclimb")            # a registered name, or the class itself

or, one test per check (each failure reported on its own)::

    from optsuite.testing import parametrize_with_checks

    @parametrize_with_checks(["hillclimb"])
    def test_contract(optimizer, check):
        check(optimizer)

The test problem of every check follows from the optimizer's declared ``requires``
(never from its name): a 10-d sphere for a plain optimizer, least squares on digits
for one that needs a linear readout, a NoProp block with a learned feature layer for
one that needs a feature layer. The checks: a 10x loss reduction within its
``default_budget``; every budget unit respected; a spent memory budget stops it before
any step; the same seed gives the same numbers; costs are finite and non-decreasing;
the problem is left unchanged; a reused instance equals a fresh one; ``best()`` has
shape ``[dim]`` and the problem's dtype and device; ``population()`` is the rows every
``evaluate`` call receives; every hyperparameter has a meaning in ``hyper_help``; an
unknown hyperparameter is refused.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Iterator

import torch

from .budget import UNITS, Budget
from .errors import UserError
from .optimizer import Optimizer
from .problem import Problem
from .registry import OPTIMIZERS, PROBLEMS, meanings
from .run import run

# capability -> (problem name, settings) whose problem offers it, for the checks
CAPABILITY_PROBLEMS = {
    "linear_readout": ("least-squares", {"batch_size": 128}),
    "feature_layer": ("noprop-block", {"block": "learned-features", "T": 3, "t": 3, "hidden": 64}),
}
PLAIN_PROBLEM = ("sphere", {"dim": 10})
TIMED_UNITS = [u for u in UNITS if u != "peak_memory_bytes"]

Check = Callable[[Any], None]


def optimizer_class(optimizer: str | type[Optimizer]) -> type[Optimizer]:
    return OPTIMIZERS.get(optimizer) if isinstance(optimizer, str) else optimizer


def make(optimizer: str | type[Optimizer], **hyper: Any) -> Optimizer:
    """An instance with ``hyper``, by registered name or class."""
    return OPTIMIZERS.create(optimizer, **hyper) if isinstance(optimizer, str) else optimizer(**hyper)


def check_problem(optimizer: str | type[Optimizer]) -> tuple[str, dict[str, Any]]:
    """(problem name, settings) of the check problem that offers every capability the optimizer requires."""
    needed = list(optimizer_class(optimizer).requires)
    unknown = [c for c in needed if c not in CAPABILITY_PROBLEMS]
    if unknown:
        raise UserError(f"no check problem offers the capability {unknown[0]!r}")
    offers = {CAPABILITY_PROBLEMS[c][0] for c in needed}
    if len(offers) > 1:
        raise UserError(f"no single check problem offers all of {', '.join(needed)}")
    return CAPABILITY_PROBLEMS[needed[0]] if needed else PLAIN_PROBLEM


def problem_for(optimizer: str | type[Optimizer]) -> Problem:
    """The check problem of ``optimizer`` (:func:`check_problem`), built."""
    name, settings = check_problem(optimizer)
    return PROBLEMS.create(name, **settings)


# -- the checks ---------------------------------------------------------------------------
def check_reduces_loss_tenfold(optimizer) -> None:
    """Within its ``default_budget``, the final train loss is at most a tenth of the start's."""
    problem = problem_for(optimizer)
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, make(optimizer), seed=0)
    assert result.status == "ok", result.error
    assert result.metrics["train_loss"] <= start / 10, f"train loss {result.metrics['train_loss']:.4g} from {start:.4g}"


def check_respects_each_budget_unit(optimizer) -> None:
    """In every unit, every step but the last began and ended under the limit; the last overshoots by
    at most one step's cost (seconds excepted: one step's wall time varies with the machine's load)."""
    problem = problem_for(optimizer)
    for unit in TIMED_UNITS:
        one = run(problem, make(optimizer), Budget(steps=3), seed=1).trace
        per_step = max([one[0][unit]] + [b[unit] - a[unit] for a, b in zip(one, one[1:])])
        limit = {"steps": 7, "seconds": 0.3}.get(unit, 7 * per_step)
        result = run(problem, make(optimizer), Budget(**{unit: limit}), seed=1)
        assert result.status == "ok", result.error
        assert result.stop in (unit, "done"), f"{unit}: stopped by {result.stop}"
        assert all(row[unit] < limit for row in result.trace[:-1]), f"{unit}: a step began past the limit"
        if unit != "seconds":
            assert result.trace[-1][unit] <= limit + per_step, f"{unit}: more than one step past the limit"
        if result.stop == unit:
            assert result.spent[unit] >= limit, f"{unit}: stopped before the limit"


def check_spent_memory_budget_stops_before_any_step(optimizer) -> None:
    result = run(problem_for(optimizer), make(optimizer), Budget(peak_memory_bytes=1), seed=0)
    assert result.status == "ok" and result.stop == "peak_memory_bytes", result.error or result.stop
    assert result.spent["steps"] == 0 and result.best is not None


def check_same_seed_same_numbers(optimizer) -> None:
    """Two runs with one seed agree to the bit; another seed gives other parameters."""
    problem = problem_for(optimizer)
    a = run(problem, make(optimizer), Budget(steps=20), seed=3)
    b = run(problem, make(optimizer), Budget(steps=20), seed=3)
    assert torch.equal(a.best, b.best), "the same seed gave other parameters"
    assert [r["loss"] for r in a.trace] == [r["loss"] for r in b.trace], "the same seed gave other losses"
    assert a.metrics == b.metrics
    c = run(problem, make(optimizer), Budget(steps=20), seed=4)
    assert not torch.equal(a.best, c.best) or a.spent["steps"] <= 1, "another seed gave the same parameters"


def check_costs_finite_and_non_decreasing(optimizer) -> None:
    trace = run(problem_for(optimizer), make(optimizer), Budget(steps=15), seed=0).trace
    assert trace, "no step was recorded"
    for unit in ("evaluations", "sample_forwards", "flops", "seconds"):
        values = torch.tensor([float(r[unit]) for r in trace], dtype=torch.float64)
        assert bool(torch.isfinite(values).all()), f"{unit} is not finite"
        assert bool((values[1:] >= values[:-1]).all()), f"{unit} decreased"
    assert trace[-1]["evaluations"] > 0, "no evaluation was charged"
    best = [r["best_loss"] for r in trace]
    assert all(b <= a for a, b in zip(best, best[1:])), "the best loss so far increased"


def check_leaves_the_problem_unchanged(optimizer) -> None:
    problem = problem_for(optimizer)
    before = snapshot(problem)
    run(problem, make(optimizer), Budget(steps=10), seed=0)
    assert same(before, snapshot(problem)), "the run changed the problem's state"


def check_reused_instance_equals_fresh(optimizer) -> None:
    """``init`` resets everything: a second run of one instance equals a run of a fresh one."""
    problem = problem_for(optimizer)
    reused = make(optimizer)
    run(problem, reused, Budget(steps=7), seed=5)
    again = run(problem, reused, Budget(steps=12), seed=2)
    fresh = run(problem, make(optimizer), Budget(steps=12), seed=2)
    assert torch.equal(again.best, fresh.best), "a reused instance carried state from its earlier run"
    assert [r["loss"] for r in again.trace] == [r["loss"] for r in fresh.trace]


def check_best_has_the_problems_shape_dtype_and_device(optimizer) -> None:
    problem = problem_for(optimizer)
    for steps in (1, 5):
        result = run(problem, make(optimizer), Budget(steps=steps), seed=0)
        best = result.best
        assert best.shape == (problem.dim,), f"best() has shape {tuple(best.shape)}, not ({problem.dim},)"
        assert best.dtype == problem.dtype, f"best() is {best.dtype}, the problem's dtype is {problem.dtype}"
        assert best.device == problem.device, f"best() is on {best.device}, the problem on {problem.device}"


class Rows:
    """A view of ``problem`` that records, for every ``evaluate`` call, what ``optimizer.population(dim)`` says
    and the rows the call receives: ``seen``, a list of (said, received)."""

    def __init__(self, problem: Problem, optimizer: Optimizer) -> None:
        self._problem, self._optimizer, self.seen = problem, optimizer, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._problem, name)

    def evaluate(self, params, draw):
        self.seen.append((self._optimizer.population(self._problem.dim), params.shape[0]))
        return self._problem.evaluate(params, draw)


def population_mismatch(problem: Problem, optimizer: Optimizer, budget: Budget, seed: int = 0) -> str | None:
    """Run ``optimizer`` on ``problem``: where an ``evaluate`` call received other rows than ``population()`` said
    just then, which; None where every call matched."""
    view = Rows(problem, optimizer)
    result = run(view, optimizer, budget, seed=seed)
    assert result.status == "ok", result.error
    bad = [(k, said, rows) for k, (said, rows) in enumerate(view.seen) if said != rows]
    return f"call {bad[0][0]}: population() said {bad[0][1]}, evaluate received {bad[0][2]} rows" if bad else None


def check_population_is_what_it_evaluates(optimizer) -> None:
    """``population(dim)`` is the number of candidates each ``evaluate`` call receives (what memory checks guard)."""
    mismatch = population_mismatch(problem_for(optimizer), make(optimizer), Budget(steps=12))
    assert mismatch is None, mismatch


def check_every_hyperparameter_has_a_meaning(optimizer) -> None:
    """Each name in ``defaults`` has a line in ``hyper_help`` (what ``optsuite list NAME`` shows)."""
    cls = optimizer_class(optimizer)
    missing = [k for k in cls.defaults if not meanings(cls, "hyper_help").get(k)]
    assert not missing, f"hyperparameters without a line in hyper_help: {', '.join(missing)}"


def check_unknown_hyperparameter_is_refused(optimizer) -> None:
    try:
        make(optimizer, no_such_hyperparameter=1)
    except UserError as exc:
        assert "no_such_hyperparameter" in str(exc) and "\n" not in str(exc), str(exc)
        return
    raise AssertionError("an unknown hyperparameter was accepted")


CHECKS: list[Check] = [
    check_reduces_loss_tenfold, check_respects_each_budget_unit, check_spent_memory_budget_stops_before_any_step,
    check_same_seed_same_numbers, check_costs_finite_and_non_decreasing, check_leaves_the_problem_unchanged,
    check_reused_instance_equals_fresh, check_best_has_the_problems_shape_dtype_and_device,
    check_population_is_what_it_evaluates, check_every_hyperparameter_has_a_meaning,
    check_unknown_hyperparameter_is_refused,
]


def checks(optimizer: str | type[Optimizer]) -> Iterator[Check]:
    """The checks that apply to ``optimizer``; every check applies to every optimizer, on the problem its
    ``requires`` selects (:func:`check_problem`, which refuses a capability no check problem offers)."""
    check_problem(optimizer)
    yield from CHECKS


def check_optimizer(optimizer: str | type[Optimizer]) -> None:
    """Run every check on ``optimizer`` (a registered name or an Optimizer class); AssertionError on the first
    that fails, naming it."""
    for check in checks(optimizer):
        try:
            check(optimizer)
        except AssertionError as exc:
            raise AssertionError(f"{check.__name__}: {exc}") from exc


def parametrize_with_checks(optimizers: Iterable[str | type[Optimizer]]):
    """A pytest decorator: one test per (optimizer, check), the test function taking ``optimizer, check``."""
    import pytest

    params = [pytest.param(o, c, id=f"{o if isinstance(o, str) else o.__name__}-{c.__name__[6:]}")
              for o in optimizers for c in checks(o)]
    return pytest.mark.parametrize("optimizer, check", params)


# -- comparing a problem's state ------------------------------------------------------------
def snapshot(problem: Problem) -> dict[str, Any]:
    return {k: (v.clone() if torch.is_tensor(v) else copy.deepcopy(v)) for k, v in vars(problem).items()}


def same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return same(vars(a), vars(b))
    return a == b
