"""The bbob problem: COCO's functions through cocoex, loss f - f_opt, and torch-cma on f1/f2."""
import copy
import pickle

import cocoex
import numpy as np
import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run


def bbob(function=1, dim=5, instance=1):
    return PROBLEMS.create("bbob", function=function, dim=dim, instance=instance)


def optimum(problem):
    coco = cocoex.BareProblem("bbob", problem.function, problem.dim, problem.instance)
    return torch.as_tensor(np.asarray(coco.best_parameter()), dtype=torch.float64)


@pytest.mark.parametrize("function, instance", [(1, 1), (2, 3), (8, 2), (10, 5), (15, 4)])
def test_loss_is_f_minus_f_opt_zero_at_the_optimum_positive_elsewhere(function, instance):
    problem = bbob(function, 5, instance)
    x_star = optimum(problem)
    points = x_star + torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    losses = problem.evaluate(torch.cat([x_star[None], points]), problem.draw(0, 0))
    assert losses.dtype == torch.float64 and losses.shape == (7,)
    assert float(losses[0]) == pytest.approx(0.0, abs=1e-9) and bool((losses[1:] > 0).all())
    metrics = problem.metrics(points[0])
    assert metrics["f"] - metrics["train_loss"] == pytest.approx(problem.f_opt)


def test_f_opt_agrees_with_coco_final_target(tmp_path, monkeypatch):
    """COCO's own suite says its final target (f_opt + 1e-8) is hit exactly where our loss is <= 1e-8."""
    monkeypatch.chdir(tmp_path)
    problem = bbob(2, 5, 2)
    suite = cocoex.Suite("bbob", "", "dimensions:5 instance_indices:2 function_indices:2")
    coco = suite.get_problem(0)
    x_star = optimum(problem)
    far = x_star + 0.01
    coco(far.numpy())
    assert float(problem.evaluate(far[None], problem.draw(0, 0))[0]) > 1e-8 and not coco.final_target_hit
    coco(x_star.numpy())
    assert coco.final_target_hit
    coco.free()
    assert list(tmp_path.iterdir()) == []


def test_default_problem_builds_with_its_defaults():
    problem = PROBLEMS.create("bbob")
    assert (problem.function, problem.dim, problem.instance) == (1, 5, 1)
    x = problem.initial(0)
    assert x.shape == (5,) and bool((x.abs() <= 4).all()) and not torch.equal(x, problem.initial(1))


@pytest.mark.parametrize("settings", [{"function": 0}, {"function": 25}, {"dim": 1}, {"dim": 41},
                                      {"instance": 0}, {"function": "f1"}, {"dim": True}])
def test_bad_settings_are_user_errors(settings):
    with pytest.raises(UserError, match="bbob"):
        PROBLEMS.create("bbob", **settings)


def test_survives_pickling_and_deep_copies():
    problem = bbob(10, 4, 3)
    x = problem.initial(2)
    for clone in (pickle.loads(pickle.dumps(problem)), copy.deepcopy(problem)):
        assert clone.metrics(x) == problem.metrics(x)


def test_gradient_is_exact_on_the_sphere_f1():
    problem = bbob(1, 5, 1)
    x = problem.initial(0)
    loss, grad = problem.loss_and_grad(x, problem.draw(0, 0))
    assert torch.allclose(grad, 2 * (x - optimum(problem)), atol=1e-6)
    assert float(loss) == pytest.approx(problem.metrics(x)["train_loss"])


@pytest.mark.parametrize("function", [1, 2])
@pytest.mark.parametrize("instance", [1, 2])
def test_torch_cma_reaches_1e_8_on_f1_and_f2_in_dimension_5_within_6000_evaluations(function, instance):
    problem = bbob(function, 5, instance)
    result = run(problem, OPTIMIZERS.create("torch-cma", sigma0=2.0), Budget(evaluations=6000), seed=0)
    assert result.status == "ok"
    assert min(r["best_loss"] for r in result.trace) <= 1e-8


def test_a_gradient_is_charged_its_finite_differences():
    problem = PROBLEMS.create("bbob", function=1, dim=5)
    draw = problem.draw(0, 0)
    assert problem.cost(1, draw, grad=True).sample_forwards == 2 * 5 + 1
    assert problem.cost(4, draw).sample_forwards == 4
