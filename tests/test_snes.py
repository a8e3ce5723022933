"""SNES: fitness shaping, mirrored sampling, convergence, large dimensions."""
import math

import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.optimizers.snes import rank_utilities
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from recording import RecordingSphere


@pytest.mark.parametrize("lam", [2, 7, 10, 24])
def test_rank_utilities_sum_to_zero_and_reward_only_the_better_half(lam):
    u = rank_utilities(lam)
    assert sum(u) == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(u, u[1:]))
    half = math.ceil(lam / 2)  # ranks k >= lam/2 + 1 get no reward
    assert all(v > -1 / lam for v in u[:half]) and u[half:] == pytest.approx([-1 / lam] * (lam - half))


def test_mirrored_pairs_are_symmetric_about_the_mean():
    problem = RecordingSphere(6)
    run(problem, OPTIMIZERS.create("snes", population=8, mirrored=True), Budget(steps=1), seed=0)
    pop, mean = problem.populations[0], problem.initial(0)
    assert pop.shape == (8, 6)
    assert torch.allclose(pop[:4] + pop[4:], 2 * mean, atol=1e-12)


@pytest.mark.parametrize("dim, requested, population", [(10, 0, 10), (3, 0, 8), (3, 5, 6)])
def test_population_is_made_even_when_mirrored(dim, requested, population):
    problem = RecordingSphere(dim)  # default 4 + floor(3 ln dim): 10 for dim 10, 7 (odd) for dim 3
    run(problem, OPTIMIZERS.create("snes", mirrored=True, population=requested), Budget(steps=1), seed=0)
    assert problem.populations[0].shape[0] == population


@pytest.mark.parametrize("hyper", [{"population": 1}, {"sigma0": 0.0},
                                   {"lr_mean": 0.0}, {"lr_sigma": -0.1}])
def test_bad_hyperparameters_are_user_errors(hyper):
    with pytest.raises(UserError):
        OPTIMIZERS.create("snes", **hyper)


@pytest.mark.parametrize("mirrored", [False, True])
def test_reaches_1e_8_on_the_ill_conditioned_separable_ellipsoid(mirrored):
    problem = PROBLEMS.create("ellipsoid", dim=10)
    result = run(problem, OPTIMIZERS.create("snes", mirrored=mirrored), Budget(evaluations=10_000), seed=1)
    assert min(r["best_loss"] for r in result.trace) <= 1e-8
    assert result.stop == "done"  # it stops by itself once the step sizes collapse


def test_learns_per_coordinate_step_sizes_matching_the_scales():
    problem = PROBLEMS.create("ellipsoid", dim=6)
    opt = OPTIMIZERS.create("snes")
    opt.init(problem, seed=0)
    for step in range(150):
        opt.step(problem, problem.draw(step, 0))
    assert opt.std[0] / opt.std[-1] > 100  # the scales differ by sqrt(1e6) = 1000 from first to last


def test_improves_a_thousand_dimensional_sphere_quickly():
    problem = PROBLEMS.create("sphere", dim=1000)
    opt = OPTIMIZERS.create("snes")
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, opt, Budget(steps=150), seed=0)
    assert opt.lr_sigma == pytest.approx((3 + math.log(1000)) / (5 * math.sqrt(1000)))
    assert result.metrics["train_loss"] < 0.8 * start
