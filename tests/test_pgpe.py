"""PGPE: centred ranks, mirrored pairs, ClipUp's speed limit, the bounded std change, one step by hand."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.optimizers._es import centred_ranks, mirrored_normal
from optsuite.optimizers.pgpe import clipup
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from recording import RecordingSphere


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=40))
def test_centred_ranks_sum_to_zero_lie_in_half_unit_and_follow_the_losses(values):
    losses = torch.tensor(values, dtype=torch.float64)
    u = centred_ranks(losses, torch.float64)
    assert float(u.sum()) == pytest.approx(0.0, abs=1e-9)
    assert float(u.min()) >= -0.5 and float(u.max()) <= 0.5
    for i in range(len(values)):
        for j in range(len(values)):
            if values[i] < values[j]:
                assert u[i] > u[j]
            if values[i] == values[j]:
                assert u[i] == u[j]


def test_centred_ranks_of_distinct_losses_are_evenly_spaced_from_half_to_minus_half():
    u = centred_ranks(torch.tensor([3.0, 1.0, 2.0, 5.0]), torch.float64)
    assert u.tolist() == pytest.approx([-1 / 6, 0.5, 1 / 6, -0.5])


def test_mirrored_pairs_are_exact_negatives():
    z = mirrored_normal(5, torch.zeros(7), torch.Generator().manual_seed(0))
    assert z.shape == (10, 7)
    assert torch.equal(z[5:], -z[:5])


def test_population_is_symmetric_about_the_mean():
    problem = RecordingSphere(6)
    run(problem, OPTIMIZERS.create("pgpe", population=8), Budget(steps=1), seed=0)
    pop, mean = problem.populations[0], problem.initial(0)
    assert pop.shape == (8, 6)
    assert torch.allclose(pop[:4] + pop[4:], 2 * mean, atol=1e-12)


def test_odd_population_is_rounded_up_to_pairs():
    problem = RecordingSphere(3)  # default 4 + floor(3 ln 3) = 7
    run(problem, OPTIMIZERS.create("pgpe"), Budget(steps=1), seed=0)
    run(problem, OPTIMIZERS.create("pgpe", population=5), Budget(steps=1), seed=0)
    assert [p.shape[0] for p in problem.populations] == [8, 6]


def test_clipup_never_exceeds_max_speed_and_normalises_the_gradient():
    g = torch.Generator().manual_seed(1)
    velocity = torch.zeros(20, dtype=torch.float64)
    for _ in range(200):
        grad = torch.randn(20, generator=g, dtype=torch.float64) * 10 ** torch.randint(-6, 6, (1,), generator=g)
        velocity = clipup(velocity, grad, 0.3, 0.9, 0.5)
        assert float(velocity.norm()) <= 0.5 * (1 + 1e-12)
    first = clipup(torch.zeros(3, dtype=torch.float64), torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64), 0.1, 0.9, 1.0)
    assert first.tolist() == pytest.approx([0.06, 0.0, 0.08])  # 0.1 * g / ||g||, under the limit
    assert torch.equal(clipup(first, torch.zeros(3, dtype=torch.float64), 0.1, 0.9, 1.0), 0.9 * first)


def test_mean_moves_at_most_max_speed_and_std_changes_at_most_the_bound():
    problem = PROBLEMS.create("rosenbrock", dim=8)
    opt = OPTIMIZERS.create("pgpe", max_speed=0.05, stdev_lr=5.0, stdev_max_change=0.1)
    opt.init(problem, seed=0)
    hit_bound = False
    for step in range(60):
        mean, std = opt.mean.clone(), opt.std.clone()
        opt.step(problem, problem.draw(step, 0))
        assert float((opt.mean - mean).norm()) <= 0.05 * (1 + 1e-12)
        ratio = opt.std / std
        assert float(ratio.min()) >= 0.9 - 1e-12 and float(ratio.max()) <= 1.1 + 1e-12
        hit_bound |= bool(((ratio - 1).abs() > 0.1 - 1e-9).any())
    assert hit_bound  # with stdev_lr = 5 the unclipped step is larger than the bound


def test_speeds_follow_the_clipup_rules_of_thumb():
    assert OPTIMIZERS.create("pgpe", sigma0=0.3).speeds(100) == pytest.approx((0.1, 0.2))  # 0.3 * 10 / 15
    assert OPTIMIZERS.create("pgpe", center_lr=0.05).speeds(100) == pytest.approx((0.05, 0.1))
    assert OPTIMIZERS.create("pgpe", max_speed=0.4).speeds(100) == pytest.approx((0.2, 0.4))


def test_one_step_equals_the_update_computed_by_hand():
    problem = RecordingSphere(3)
    opt = OPTIMIZERS.create("pgpe", population=4, sigma0=0.7, max_speed=0.2, stdev_lr=0.3)
    opt.init(problem, seed=5)
    mean0 = opt.mean.clone()
    opt.step(problem, problem.draw(0, 5))
    pop = problem.populations[0]
    losses = (pop * pop).sum(1).tolist()
    order = sorted(range(4), key=lambda i: losses[i])
    u = [0.0] * 4
    for rank, i in enumerate(order):
        u[i] = 0.5 - rank / 3
    eps = [(pop[k] - mean0) / 0.7 for k in range(2)]
    g_mean = sum((u[k] - u[k + 2]) / 2 * 0.7 * eps[k] for k in range(2)) / 2
    g_std = sum((u[k] + u[k + 2]) / 2 * 0.7 * (eps[k] ** 2 - 1) for k in range(2)) / 2
    velocity = 0.1 * g_mean / g_mean.norm()  # center_lr = max_speed / 2; no clipping needed
    assert velocity.norm() < 0.2
    std = torch.clamp(0.7 + 0.3 * g_std, 0.7 * 0.8, 0.7 * 1.2)
    assert torch.allclose(opt.mean, mean0 + velocity, atol=1e-12)
    assert torch.allclose(opt.std, std, atol=1e-12)


def test_reduces_the_ill_conditioned_ellipsoid_a_thousandfold():
    problem = PROBLEMS.create("ellipsoid", dim=10)
    start = problem.metrics(problem.initial(2))["train_loss"]
    result = run(problem, OPTIMIZERS.create("pgpe"), Budget(evaluations=10_000), seed=2)
    assert result.metrics["train_loss"] < start / 1000


@pytest.mark.parametrize("hyper", [{"population": 1}, {"sigma0": 0.0}, {"center_lr": -0.1}, {"max_speed": -1.0},
                                   {"momentum": 1.0}, {"stdev_lr": -0.1}, {"stdev_max_change": 1.5}])
def test_bad_hyperparameters_are_user_errors(hyper):
    with pytest.raises(UserError):
        OPTIMIZERS.create("pgpe", **hyper)


def test_a_flat_loss_moves_nothing():
    problem = PROBLEMS.create("sphere", dim=4)
    problem.f = lambda x: torch.zeros(x.shape[0], dtype=x.dtype)
    opt = OPTIMIZERS.create("pgpe")
    opt.init(problem, seed=0)
    mean = opt.mean.clone()
    opt.step(problem, problem.draw(0, 0))
    assert torch.equal(opt.mean, mean) and bool((opt.std == 0.5).all())
    assert math.isfinite(float(opt.velocity.norm()))
