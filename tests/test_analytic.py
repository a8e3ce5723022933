import pytest
import torch

from optsuite.budget import Budget
from optsuite.linalg import solve_normal_equations
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.errors import UserError


def test_streamed_solution_equals_the_dense_one_for_any_chunking():
    g = torch.Generator().manual_seed(0)
    phi, y = torch.randn(300, 12, generator=g), torch.randn(300, 3, generator=g)
    dense = torch.linalg.lstsq(phi.double(), y.double()).solution
    for chunk in (1, 7, 300):
        batches = ((phi[i : i + chunk], y[i : i + chunk]) for i in range(0, 300, chunk))
        assert torch.allclose(solve_normal_equations(batches, 0.0), dense, atol=1e-9)
    ridge = solve_normal_equations([(phi, y)], 0.5)
    expected = torch.linalg.solve(phi.double().T @ phi.double() + 150 * torch.eye(12, dtype=torch.float64),
                                  phi.double().T @ y.double())
    assert torch.allclose(ridge, expected, atol=1e-9)


def test_analytic_reaches_the_known_optimum_and_pays_one_pass():
    problem = PROBLEMS.create("least-squares")
    result = run(problem, OPTIMIZERS.create("analytic"), Budget(steps=5))
    assert result.stop == "done" and result.spent["steps"] == 1
    optimum = problem.metrics(problem.optimum())["train_loss"]
    assert result.metrics["train_loss"] == pytest.approx(optimum, rel=1e-4)
    assert result.spent["sample_forwards"] == problem.n_train + problem.batch_size


def test_problem_without_readout_is_refused_on_one_line():
    with pytest.raises(UserError, match="needs a problem with a linear readout; 'sphere' has none"):
        run(PROBLEMS.create("sphere"), OPTIMIZERS.create("analytic"))


def test_its_ridge_overrides_the_problems_and_none_keeps_it():
    solve = lambda problem_ridge, **hyper: run(PROBLEMS.create("least-squares", ridge=problem_ridge),
                                               OPTIMIZERS.create("analytic", **hyper), Budget(steps=1)).best
    own, problems = solve(0.0, ridge=0.5), solve(0.5)
    assert torch.allclose(own, problems, atol=1e-6)
    assert torch.allclose(solve(0.5, ridge=0), solve(0.0), atol=1e-6)
    assert own.norm() < 0.9 * solve(0.0).norm()  # the ridge shrinks the solution


@pytest.mark.parametrize("ridge", [-1.0, "much", True, float("nan")])
def test_a_bad_ridge_is_refused_on_one_line(ridge):
    with pytest.raises(UserError, match="analytic.*ridge=.* must be a non-negative number"):
        OPTIMIZERS.create("analytic", ridge=ridge)
