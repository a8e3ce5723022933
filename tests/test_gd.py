"""Gradient descent: learning-rate schedules, clipping, defaults and input checks."""
import math

import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.lr_schedules import Schedule

COS = [(1 + math.cos(math.pi * k / 4)) / 2 for k in range(5)]  # a cosine over 4 steps


@pytest.mark.parametrize(
    "settings,expected",
    [
        ({"kind": "constant", "warmup": 2}, [0.5, 1.0, 1.0, 1.0]),
        ({"kind": "cosine", "horizon": 6, "warmup": 2}, [0.5, 1.0, *COS, 0.0]),
        ({"kind": "linear", "horizon": 4, "floor": 0.2}, [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]),
        ({"kind": "step", "decay_every": 2, "gamma": 0.5}, [1.0, 1.0, 0.5, 0.5, 0.25]),
        ({"kind": "step", "warmup": 1, "decay_every": 2, "gamma": 0.5}, [1.0, 1.0, 1.0, 0.5, 0.5]),
    ],
)
def test_schedule_gives_the_expected_factors(settings, expected):
    schedule = Schedule(**settings)
    assert [schedule.factor(t) for t in range(len(expected))] == pytest.approx(expected)


def implied_learning_rates(trace):
    """Plain SGD on the sphere: x' = (1 - 2 lr) x, so lr = (1 - sqrt(loss' / loss)) / 2."""
    losses = [r["loss"] for r in trace]
    return [(1 - math.sqrt(b / a)) / 2 for a, b in zip(losses, losses[1:])]


def test_sgd_uses_the_scheduled_learning_rate_at_each_step():
    problem = PROBLEMS.create("sphere", dim=4)
    opt = OPTIMIZERS.create("gd", algorithm="sgd", lr=0.2, weight_decay=0, schedule="cosine", horizon=6, warmup=2)
    trace = run(problem, opt, Budget(steps=8), seed=0).trace
    expected = [0.2 * opt.schedule.factor(t) for t in range(7)]
    assert implied_learning_rates(trace) == pytest.approx(expected, abs=1e-9)


def test_clip_bounds_the_update_norm():
    problem = PROBLEMS.create("sphere", dim=6)
    start = problem.initial(0)
    opt = OPTIMIZERS.create("gd", algorithm="sgd", lr=1.0, weight_decay=0, clip=0.1)
    result = run(problem, opt, Budget(steps=1), seed=0)
    assert float((result.best - start).norm()) == pytest.approx(0.1)
    unclipped = run(problem, OPTIMIZERS.create("gd", algorithm="sgd", lr=1.0, weight_decay=0), Budget(steps=1))
    assert float((unclipped.best - start).norm()) == pytest.approx(2 * float(start.norm()))


def test_defaults_match_torch_adamw_with_the_paper_settings():
    problem = PROBLEMS.create("rosenbrock", dim=5)
    result = run(problem, OPTIMIZERS.create("gd"), Budget(steps=5), seed=2)
    x = problem.initial(2).clone().requires_grad_(True)
    reference = torch.optim.AdamW([x], lr=1e-3, weight_decay=1e-3)
    for step in range(5):
        reference.zero_grad()
        problem.evaluate(x[None], problem.draw(step, 2))[0].backward()
        reference.step()
    assert torch.allclose(result.best, x.detach(), atol=1e-12)


@pytest.mark.parametrize(
    "problem,hyper",
    [
        ("rosenbrock", {"lr": 0.01, "schedule": "cosine", "horizon": 300, "warmup": 20, "clip": 10.0}),
        ("rosenbrock", {"algorithm": "sgd", "lr": 1e-3, "momentum": 0.9, "schedule": "step", "decay_every": 100}),
        ("least-squares", {"algorithm": "adam", "lr": 0.01, "schedule": "linear", "horizon": 300}),
    ],
)
def test_beats_its_starting_loss(problem, hyper):
    problem = PROBLEMS.create(problem, **({"dim": 5} if problem == "rosenbrock" else {}))
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, OPTIMIZERS.create("gd", **hyper), Budget(steps=300), seed=0)
    assert result.status == "ok"
    assert result.metrics["train_loss"] < 0.5 * start


@pytest.mark.parametrize(
    "hyper,needle",
    [
        ({"schedule": "exponential"}, "schedule 'exponential' unknown"),
        ({"warmup": -1}, "warmup"),
        ({"warmup": 10, "horizon": 5}, "warmup <= horizon"),
        ({"horizon": 0}, "horizon >= 1"),
        ({"gamma": 1.5}, "gamma"),
        ({"lr_floor": -0.1}, "floor"),
        ({"decay_every": 0}, "decay_every"),
        ({"clip": -1.0}, "clip"),
        ({"momentum": 1.0}, "momentum"),
        ({"algorithm": "lbfgs"}, "algorithm 'lbfgs' unknown"),
        ({"horizon": "long"}, "is not a int"),
    ],
)
def test_bad_hyperparameters_raise_one_line_user_error(hyper, needle):
    with pytest.raises(UserError, match=needle) as info:
        OPTIMIZERS.create("gd", **hyper)
    assert "\n" not in str(info.value) and str(info.value).startswith(("gd", "optimizer 'gd'"))
