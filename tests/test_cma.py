"""CMA-ES: the pycma wrapper's contract, and torch-cma's agreement with pycma."""
import statistics

import cma as pycma
import pytest
import torch

from optsuite.targets import run_to_targets
from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.optimizers.cma import pycma_seed
from optsuite.optimizers.torch_cma import Strategy
from optsuite.problems.synthetic import Ellipsoid, Sphere
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from recording import RecordingSphere


def first_population(name, seed, **hyper):
    problem = RecordingSphere(6)
    run(problem, OPTIMIZERS.create(name, **hyper), Budget(steps=1), seed=seed)
    return problem.populations[0]


@pytest.mark.parametrize("name", ["cma", "torch-cma"])
def test_whole_population_in_one_evaluate_call_per_step(name):
    problem = RecordingSphere(10)
    run(problem, OPTIMIZERS.create(name, population=7), Budget(steps=4), seed=0)
    assert [p.shape for p in problem.populations] == [(7, 10)] * 4


def test_pycma_seed_zero_is_a_fixed_seed_not_the_clock():
    assert pycma_seed(0) > 0 and pycma_seed(0) == pycma_seed(0) != pycma_seed(1)
    assert torch.equal(first_population("cma", 0), first_population("cma", 0))


def test_pycma_stops_with_done_silently_and_writes_no_files(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    result = run(Sphere(4), OPTIMIZERS.create("cma"), Budget(evaluations=50_000), seed=2)
    assert result.stop == "done" and result.metrics["train_loss"] < 1e-10
    assert list(tmp_path.iterdir()) == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_pycma_options_follow_the_hyperparameters():
    opt = OPTIMIZERS.create("cma", population=6, sigma0=0.3, separable=True)
    opt.init(Sphere(5), seed=0)
    assert opt.es.popsize == 6 and opt.es.sigma0 == 0.3 and opt.es.opts["CMA_diagonal"] is True


@pytest.mark.parametrize("name", ["cma", "torch-cma"])
@pytest.mark.parametrize("hyper", [{"population": 1}, {"sigma0": 0.0}, {"sigma0": -1}])
def test_bad_hyperparameters_are_user_errors(name, hyper):
    with pytest.raises(UserError):
        OPTIMIZERS.create(name, **hyper)


def test_strategy_constants_agree_with_pycma():
    ours = Strategy.tutorial(10, 10)
    ref = pycma.CMAEvolutionStrategy([0.0] * 10, 1.0, {"verbose": -9, "verb_log": 0, "seed": 1}).sp
    assert ours.c_1 == pytest.approx(ref.c1) and ours.c_c == pytest.approx(ref.cc)
    assert ours.weights[: ours.mu] == pytest.approx(list(ref.weights)[: ref.weights.mu])
    assert sum(ours.weights[: ours.mu]) == pytest.approx(1.0) and all(w <= 0 for w in ours.weights[ours.mu :])


@pytest.mark.parametrize("separable", [False, True])
def test_torch_cma_sampling_is_deterministic_under_a_seed(separable):
    a = first_population("torch-cma", 5, separable=separable)
    assert torch.equal(a, first_population("torch-cma", 5, separable=separable))
    assert not torch.equal(a, first_population("torch-cma", 6, separable=separable))


@pytest.mark.parametrize("separable", [False, True])
def test_torch_cma_covariance_stays_symmetric_positive_definite(separable):
    problem = Ellipsoid(8)
    opt = OPTIMIZERS.create("torch-cma", separable=separable)
    opt.init(problem, seed=0)
    for step in range(150):
        opt.step(problem, problem.draw(step, 0))
        if separable:
            assert opt.C.shape == (8,) and bool((opt.C > 0).all())
        else:
            assert torch.allclose(opt.C, opt.C.T, rtol=1e-10, atol=0)
            assert float(torch.linalg.eigvalsh(opt.C).min()) > 0


def test_torch_cma_decomposes_the_covariance_lazily(monkeypatch):
    calls = []
    eigh = torch.linalg.eigh
    monkeypatch.setattr(torch.linalg, "eigh", lambda c: calls.append(1) or eigh(c))
    problem = Sphere(100)
    opt = OPTIMIZERS.create("torch-cma")
    opt.init(problem, seed=0)
    for step in range(10):
        opt.step(problem, problem.draw(step, 0))
    assert opt.s.eigen_interval > 1 and 0 < len(calls) < 10
    default_calls = len(calls)
    calls.clear()
    opt = OPTIMIZERS.create("torch-cma", eigen_interval=4)  # a decomposition after generations 5 and 10
    opt.init(problem, seed=0)
    for step in range(10):
        opt.step(problem, problem.draw(step, 0))
    assert opt.s.eigen_interval == 4 and len(calls) == 2 < default_calls
    with pytest.raises(UserError):
        OPTIMIZERS.create("torch-cma", eigen_interval=-1)


def test_torch_cma_cholesky_factor_samples_from_c_and_replaces_the_eigendecomposition(monkeypatch):
    calls = {"eigh": 0, "cholesky": 0}
    eigh, cholesky = torch.linalg.eigh, torch.linalg.cholesky_ex
    monkeypatch.setattr(torch.linalg, "eigh", lambda c: calls.__setitem__("eigh", calls["eigh"] + 1) or eigh(c))
    monkeypatch.setattr(torch.linalg, "cholesky_ex",
                        lambda c: calls.__setitem__("cholesky", calls["cholesky"] + 1) or cholesky(c))
    problem = Ellipsoid(12)
    opt = OPTIMIZERS.create("torch-cma", factor="cholesky")
    opt.init(problem, seed=0)
    for step in range(40):
        opt.step(problem, problem.draw(step, 0))
    assert calls["eigh"] == 0 and calls["cholesky"] > 0
    # the factor is lower triangular and A A^T is the C it was computed from (C has moved on by
    # at most one lazy gap's generations)
    assert torch.equal(opt.A, torch.tril(opt.A)) and bool((opt.A.diagonal() > 0).all())
    factored = opt.A @ opt.A.T
    assert torch.linalg.matrix_norm(factored - opt.C) < 0.2 * torch.linalg.matrix_norm(opt.C)
    z = torch.randn(20000, 12, dtype=opt.mean.dtype, generator=torch.Generator().manual_seed(0))
    y = opt.directions(z)
    assert torch.allclose(torch.cov(y.T), factored, rtol=0.1, atol=0.05 * float(factored.diagonal().max()))
    assert torch.equal(opt.whiten(z[0]), z[0])  # A^-1 (A z) = z: the path needs no product


def test_torch_cma_falls_back_to_the_eigendecomposition_when_cholesky_fails(monkeypatch):
    monkeypatch.setattr(torch.linalg, "cholesky_ex", lambda c: (torch.zeros_like(c), torch.tensor(1)))
    problem = Sphere(10)
    opt = OPTIMIZERS.create("torch-cma", factor="cholesky")
    opt.init(problem, seed=0)
    for step in range(20):
        opt.step(problem, problem.draw(step, 0))
    assert opt.A is None and not torch.equal(opt.B, torch.eye(10, dtype=opt.B.dtype))
    assert torch.allclose((opt.B * opt.D ** 2) @ opt.B.T, opt.C)
    with pytest.raises(UserError, match="factor must be one of eigen, cholesky"):
        OPTIMIZERS.create("torch-cma", factor="qr")
    with pytest.raises(UserError, match="separable=true has none to factor"):
        OPTIMIZERS.create("torch-cma", factor="cholesky", separable=True)


@pytest.mark.parametrize("problem_name, hyper", [
    ("sphere", {}), ("ellipsoid", {}), ("rosenbrock", {}), ("sphere", {"separable": True}),
    ("ellipsoid", {"separable": True}), ("ellipsoid", {"factor": "cholesky"}), ("rosenbrock", {"factor": "cholesky"})])
def test_torch_cma_needs_at_most_1_5x_pycma_evaluations(problem_name, hyper):
    """Median over 5 seeds of the evaluations to reach 1e-8 in dimension 5."""
    medians = {}
    for name in ("cma", "torch-cma"):
        settings = hyper if name == "torch-cma" else {"separable": hyper.get("separable", False)}
        hits = [run_to_targets(PROBLEMS.create(problem_name, dim=5), OPTIMIZERS.create(name, **settings),
                               seed, [1e-8], 20_000).hits[0] for seed in range(5)]
        medians[name] = statistics.median(hits)
    assert medians["cma"] < float("inf")
    assert medians["torch-cma"] <= 1.5 * medians["cma"]
