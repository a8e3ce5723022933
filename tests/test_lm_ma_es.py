"""LM-MA-ES: two generations by hand (Algorithm 1 of the paper), memory size, a learned direction, large n."""
import math

import pytest
import torch

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.targets import run_to_targets
from optsuite.budget import Budget
from optsuite.problems.synthetic import Synthetic
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from recording import RecordingSphere


def paper_update(mean, sigma, p, M, z, d, losses, n, lam):
    """Algorithm 1's update, written out from the paper's formulas."""
    mu = lam // 2
    raw = [math.log((lam + 1) / 2) - math.log(i + 1) for i in range(mu)]
    w = [r / sum(raw) for r in raw]
    mu_w = 1 / sum(x * x for x in w)
    best = sorted(range(lam), key=lambda i: losses[i])[:mu]
    z_w = sum(w[k] * z[i] for k, i in enumerate(best))
    d_w = sum(w[k] * d[i] for k, i in enumerate(best))
    c_s = 2 * lam / n
    p = (1 - c_s) * p + math.sqrt(mu_w * c_s * (2 - c_s)) * z_w
    M = torch.stack([(1 - c) * M[j] + math.sqrt(mu_w * c * (2 - c)) * z_w
                     for j, c in enumerate(lam / (4**j * n) for j in range(M.shape[0]))])
    return mean + sigma * d_w, sigma * math.exp(c_s / 2 * (float(p @ p) / n - 1)), p, M


def test_two_generations_equal_the_papers_algorithm_by_hand():
    n, lam, seed = 40, 6, 3  # c_sigma = 2 lam / n = 0.3: the paper's own rule
    problem = RecordingSphere(n)
    opt = OPTIMIZERS.create("lm-ma-es", population=lam, sigma0=0.4, memory=3)
    opt.init(problem, seed)
    g = generator(seed, "lm-ma-es")
    mean, sigma, p, M = problem.initial(seed), 0.4, torch.zeros(n, dtype=torch.float64), torch.zeros(3, n, dtype=torch.float64)
    for t in range(2):
        opt.step(problem, problem.draw(t, seed))
        z = torch.randn(lam, n, generator=g, dtype=torch.float64)
        d = z.clone()
        for j in range(min(t, 3)):
            c_d = 1 / (1.5**j * n)
            d = torch.stack([(1 - c_d) * d[i] + c_d * M[j] * float(M[j] @ d[i]) for i in range(lam)])
        pop = problem.populations[t]
        assert torch.allclose(pop, mean + sigma * d, atol=1e-12)
        mean, sigma, p, M = paper_update(mean, sigma, p, M, z, d, (pop * pop).sum(1).tolist(), n, lam)
        assert torch.allclose(opt.mean, mean, atol=1e-12) and float(opt.sigma) == pytest.approx(sigma, rel=1e-12)
        assert torch.allclose(opt.M, M, atol=1e-12)


def test_memory_holds_m_direction_vectors_by_default():
    problem = PROBLEMS.create("sphere", dim=500)
    opt = OPTIMIZERS.create("lm-ma-es")
    opt.init(problem, seed=0)
    m = 4 + math.floor(3 * math.log(500))
    assert opt.M.shape == (m, 500) and opt.lam == m
    assert opt.c_sigma == pytest.approx(2 * m / 500)
    small = OPTIMIZERS.create("lm-ma-es")
    small.init(PROBLEMS.create("sphere", dim=10), seed=0)
    assert small.c_sigma == 0.5  # 2 lam / n = 2 is capped


class RotatedCigar(Synthetic):
    """(v . x)^2 + 1e4 (||x||^2 - (v . x)^2) for a fixed random unit vector v: one direction 100x longer."""

    name = "rotated-cigar"
    flops_per_coordinate = 4

    def __init__(self, dim):
        super().__init__(dim)
        v = torch.randn(dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        self.v = v / v.norm()

    def f(self, x):
        a = x @ self.v
        return a * a + 1e4 * ((x * x).sum(-1) - a * a)


def test_learns_a_rotated_long_direction_that_a_separable_es_cannot():
    ours = run_to_targets(RotatedCigar(20), OPTIMIZERS.create("lm-ma-es"), 0, [1e-8], 30_000)
    separable = run_to_targets(RotatedCigar(20), OPTIMIZERS.create("snes"), 0, [1e-8], 30_000)
    assert math.isfinite(ours.hits[0]) and math.isinf(separable.hits[0])


def test_reduces_the_ill_conditioned_ellipsoid_a_thousandfold():
    problem = PROBLEMS.create("ellipsoid", dim=10)
    start = problem.metrics(problem.initial(2))["train_loss"]
    result = run(problem, OPTIMIZERS.create("lm-ma-es"), Budget(evaluations=10_000), seed=2)
    assert result.metrics["train_loss"] < start / 1000


def test_improves_a_ten_thousand_dimensional_sphere():
    problem = PROBLEMS.create("sphere", dim=10_000)
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, OPTIMIZERS.create("lm-ma-es", sigma0=0.05), Budget(steps=100), seed=0)
    assert result.metrics["train_loss"] < 0.95 * start  # progress per generation is O(lambda / n)


@pytest.mark.parametrize("hyper", [{"population": 1}, {"sigma0": 0.0}, {"memory": -1}])
def test_bad_hyperparameters_are_user_errors(hyper):
    with pytest.raises(UserError):
        OPTIMIZERS.create("lm-ma-es", **hyper)
