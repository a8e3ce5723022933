"""The contract every registered optimizer must keep (optsuite.testing, like scikit-learn's check_estimator).

Any optimizer added to the registry, built in or by a plugin, is checked here; each prefix
family (``nevergrad:<name>``) by the example it registered.
"""
import pytest

from optsuite.errors import UserError
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import OPTIMIZERS
from optsuite.testing import check_optimizer, parametrize_with_checks, problem_for


@parametrize_with_checks(OPTIMIZERS.examples())
def test_registered_optimizers_keep_the_contract(optimizer, check):
    check(optimizer)


class Forgetful(Optimizer):
    """Keeps its step counter across runs: a reused instance differs from a fresh one."""

    name = "forgetful"
    defaults = {"sigma": 0.3}
    steps = 0

    def init(self, problem, seed):
        self.x = problem.initial(seed).clone()

    def step(self, problem, draw):
        Forgetful.steps += 1
        self.x = self.x * (1 - 1 / (1 + Forgetful.steps))
        return StepInfo(float(problem.evaluate(self.x[None], draw)[0]))

    def best(self):
        return self.x.clone()


def test_check_optimizer_names_the_first_broken_check():
    with pytest.raises(AssertionError, match="check_same_seed_same_numbers"):
        check_optimizer(Forgetful)


def test_the_check_problem_follows_the_declared_capabilities():
    assert problem_for("gd").name == "sphere"
    assert problem_for("analytic").linear_readout() is not None
    assert problem_for("hebbian").feature_layer() is not None

    class Needy(Forgetful):
        requires = ("telepathy",)

    with pytest.raises(UserError, match="telepathy"):
        problem_for(Needy)
