"""Beam search / genetic programming: selection, step-size adaptation, crossover, input checks."""
import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from recording import RecordingSphere


def test_one_call_per_step_re_evaluates_the_beam_with_its_children():
    problem = RecordingSphere(5)
    opt = OPTIMIZERS.create("beam", beam=3, children=2)
    opt.init(problem, seed=0)
    for step in range(4):
        beam_before = opt.members.clone()
        opt.step(problem, problem.draw(step, 0))
        assert len(problem.populations) == step + 1
        population = problem.populations[-1]
        assert population.shape == (3 + 3 * 2, 5)
        assert torch.equal(population[:3], beam_before)
        kept = [row for row in opt.members if any(torch.equal(row, p) for p in population)]
        assert len(kept) == 3


def test_keeps_the_best_so_the_step_loss_never_rises_on_a_fixed_loss():
    trace = run(PROBLEMS.create("rastrigin", dim=6), OPTIMIZERS.create("beam"), Budget(steps=30), seed=1).trace
    losses = [r["loss"] for r in trace]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("sigma0,grows", [(100.0, False), (1e-6, True)])
def test_success_rule_shrinks_a_failing_step_and_grows_a_succeeding_one(sigma0, grows):
    problem = PROBLEMS.create("sphere", dim=8)
    opt = OPTIMIZERS.create("beam", sigma0=sigma0, beam=4, children=6)
    run(problem, opt, Budget(steps=5), seed=0)
    assert bool((opt.sigmas > sigma0).all()) == grows
    assert bool((opt.sigmas < sigma0).all()) != grows


def test_self_adaptation_varies_the_step_sizes_of_the_beam():
    opt = OPTIMIZERS.create("beam", adapt="self", sigma0=0.3)
    run(PROBLEMS.create("sphere", dim=8), opt, Budget(steps=10), seed=0)
    assert len(set(opt.sigmas.tolist())) > 1 and not torch.any(opt.sigmas == 0.3)


@pytest.mark.parametrize("kind", ["uniform", "blend"])
def test_crossover_mixes_two_members_within_their_range(kind):
    opt = OPTIMIZERS.create("beam", beam=2, children=50, crossover=kind)
    opt.init(PROBLEMS.create("sphere", dim=4), seed=0)
    opt.members = torch.stack([torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)])
    mixed = opt.starting_points()
    mates = 1 - opt.members.repeat_interleave(50, 0)  # with two members, the mate is the other one
    if kind == "uniform":
        assert torch.all((mixed == 0) | (mixed == 1))
        assert 0.3 < float((mixed == mates).double().mean()) < 0.7
    else:
        assert torch.all((mixed >= -0.5) & (mixed <= 1.5))
        assert float(mixed.std()) > 0.3


@pytest.mark.parametrize(
    "problem,hyper",
    [
        ("rosenbrock", {}),
        ("rosenbrock", {"crossover": "blend", "adapt": "self"}),
        ("least-squares", {"sigma0": 0.01}),
        ("least-squares", {"sigma0": 0.02, "crossover": "uniform"}),
    ],
)
def test_beats_its_starting_loss(problem, hyper):
    settings = {"dim": 5} if problem == "rosenbrock" else {"batch_size": 64}
    problem = PROBLEMS.create(problem, **settings)
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, OPTIMIZERS.create("beam", beam=4, children=4, **hyper), Budget(steps=80), seed=0)
    assert result.status == "ok"
    assert result.metrics["train_loss"] < 0.95 * start


@pytest.mark.parametrize(
    "hyper,needle",
    [
        ({"beam": 0}, "beam=0"),
        ({"children": -2}, "children=-2"),
        ({"sigma0": 0.0}, "sigma0=0.0"),
        ({"crossover": "two-point"}, "crossover 'two-point' unknown"),
        ({"adapt": "cma"}, "adapt 'cma' unknown"),
        ({"population": 5}, "no hyperparameter 'population'"),
    ],
)
def test_bad_hyperparameters_raise_one_line_user_error(hyper, needle):
    with pytest.raises(UserError, match=needle) as info:
        OPTIMIZERS.create("beam", **hyper)
    assert "\n" not in str(info.value)
