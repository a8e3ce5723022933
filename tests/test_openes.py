"""OpenAI-ES: one step by hand, weight decay, the sigma schedule, progress on the ellipsoid."""
import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from recording import RecordingSphere


def test_one_step_equals_the_update_computed_by_hand():
    problem = RecordingSphere(3)
    opt = OPTIMIZERS.create("openes", population=6, sigma0=0.1, lr=0.05, weight_decay=0.2)
    opt.init(problem, seed=4)
    mean0 = opt.mean.clone()
    opt.step(problem, problem.draw(0, 4))
    pop = problem.populations[0]
    assert torch.allclose(pop[:3] + pop[3:], 2 * mean0, atol=1e-12)
    losses = (pop * pop).sum(1).tolist()
    u = [0.0] * 6
    for rank, i in enumerate(sorted(range(6), key=lambda i: losses[i])):
        u[i] = 0.5 - rank / 5
    eps = (pop - mean0) / 0.1
    grad = -sum(u[i] * eps[i] for i in range(6)) / 6 + 0.2 * mean0
    # Adam's first step: m = 0.1 g, v = 0.001 g^2, step size 0.05 sqrt(0.001) / 0.1
    update = -0.05 * (0.001**0.5 / 0.1) * (0.1 * grad) / ((0.001 * grad * grad).sqrt() + 1e-8)
    assert torch.allclose(opt.mean, mean0 + update, atol=1e-12)


def test_weight_decay_alone_pulls_every_coordinate_towards_zero():
    problem = PROBLEMS.create("sphere", dim=5)
    problem.f = lambda x: torch.zeros(x.shape[0], dtype=x.dtype)  # flat: centred ranks are all 0
    opt = OPTIMIZERS.create("openes", weight_decay=0.1)
    opt.init(problem, seed=0)
    start = opt.mean.abs()
    for step in range(5):
        opt.step(problem, problem.draw(step, 0))
    assert bool((opt.mean.abs() < start).all())
    flat = OPTIMIZERS.create("openes", weight_decay=0.0)
    flat.init(problem, seed=0)
    flat.step(problem, problem.draw(0, 0))
    assert torch.equal(flat.mean, problem.initial(0))


def test_sigma_is_fixed_by_default_and_decays_to_its_floor_when_asked():
    problem = PROBLEMS.create("sphere", dim=4)
    fixed, decaying = OPTIMIZERS.create("openes"), OPTIMIZERS.create("openes", sigma_decay=0.5, sigma_min=0.004)
    for opt in (fixed, decaying):
        run(problem, opt, Budget(steps=4), seed=0)
    assert fixed.sigma == 0.02
    assert decaying.sigma == pytest.approx(0.004)  # 0.02 -> 0.01 -> 0.005 -> floor


def test_reduces_the_ill_conditioned_ellipsoid_a_thousandfold():
    problem = PROBLEMS.create("ellipsoid", dim=10)
    start = problem.metrics(problem.initial(2))["train_loss"]
    result = run(problem, OPTIMIZERS.create("openes"), Budget(evaluations=10_000), seed=2)
    assert result.metrics["train_loss"] < start / 1000


@pytest.mark.parametrize("hyper", [{"population": 1}, {"sigma0": -1.0}, {"lr": 0.0}, {"weight_decay": -0.1},
                                   {"sigma_decay": 1.5}, {"sigma_decay": 0.0}, {"sigma_min": 0.5}])
def test_bad_hyperparameters_are_user_errors(hyper):
    with pytest.raises(UserError):
        OPTIMIZERS.create("openes", **hyper)
