"""Every registered problem: batched evaluation equals a per-candidate loop, CRN draws, costs."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import default_problem
from optsuite.registry import PROBLEMS

NAMES = [n for n in PROBLEMS.names() if not n.endswith(":<name>")]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=8, deadline=None)
@given(population=st.integers(1, 6), seed=st.integers(0, 2**31), step=st.integers(0, 1000), scale=st.floats(0.1, 3.0))
def test_batched_evaluate_equals_loop(name, population, seed, step, scale):
    problem = default_problem(name)
    g = torch.Generator().manual_seed(seed)
    base = problem.initial(seed % 7)
    pop = base + scale * torch.randn(population, problem.dim, generator=g, dtype=base.dtype).to(base.device)
    draw = problem.draw(step, seed)
    batched = problem.evaluate(pop, draw)
    looped = torch.stack([problem.evaluate(pop[i : i + 1], draw)[0] for i in range(population)])
    assert batched.shape == (population,)
    tol = 1e-5 if base.dtype == torch.float32 else 1e-10
    assert torch.allclose(batched, looped, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", NAMES)
def test_draws_are_pure_functions_of_seed_and_step(name):
    problem = default_problem(name)
    a, b, c = problem.draw(5, 1), problem.draw(5, 1), problem.draw(6, 1)
    assert a.noise_seed == b.noise_seed != c.noise_seed
    if a.indices is not None:
        assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, c.indices)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences(name):
    problem = default_problem(name)
    x = problem.initial(0).double() if problem.dtype == torch.float64 else problem.initial(0)
    draw = problem.draw(0, 0)
    loss, grad = problem.loss_and_grad(x, draw)
    assert grad.shape == (problem.dim,) and torch.isfinite(grad).all()
    direction = torch.randn(problem.dim, generator=torch.Generator().manual_seed(0), dtype=x.dtype).to(x.device)
    direction /= direction.norm()
    eps = 1e-5 if x.dtype == torch.float64 else 1e-2
    f = lambda v: float(problem.evaluate(v[None], draw)[0])
    numeric = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
    assert numeric == pytest.approx(float(grad @ direction), rel=2e-2, abs=1e-3)
    assert float(loss) == pytest.approx(f(x), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_costs_scale_with_population_and_backward(name):
    problem = default_problem(name)
    draw = problem.draw(0, 0)
    one, four, grad = problem.cost(1, draw), problem.cost(4, draw), problem.cost(1, draw, grad=True)
    assert four.evaluations == 4 and four.sample_forwards == 4 * one.sample_forwards > 0
    assert grad.sample_forwards >= 3 * one.sample_forwards  # a backward pass counts two more, at least
    assert four.flops == pytest.approx(4 * one.flops)


@pytest.mark.parametrize("name", NAMES)
def test_metrics_are_finite_at_the_initial_point(name):
    problem = default_problem(name)
    metrics = problem.metrics(problem.initial(0))
    assert "train_loss" in metrics
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


@pytest.mark.parametrize("name", [n for n in PROBLEMS.names() if ":" not in n])
def test_every_problem_setting_has_a_meaning(name):
    missing = [key for key, _, meaning in PROBLEMS.settings(name) if not meaning]
    assert not missing, f"{name}: settings without a line in settings_help: {missing}"
