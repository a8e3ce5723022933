"""Low-rank populations: the contract's form, the engine's evaluation without [P, dim], and what every problem gets."""
import pytest
import torch

from optsuite.crn import generator
from optsuite.engine.lowrank import LowRankWeight
from optsuite.errors import UserError
from optsuite.ledger import Ledger, MeteredProblem
from optsuite.optimizers._lowrank import LowRankNoise
from optsuite.population import Layout, LowRank, Matrix, dense, split, squared_norms
from optsuite.registry import PROBLEMS
from recording import RecordingSphere

# every problem that declares a parameter layout, at small sizes (a test below checks none is missing)
LAYOUT_PROBLEMS = [
    ("noprop-block", {"T": 3, "t": 2, "hidden": 16}),
    ("noprop-block", {"T": 3, "t": 3, "hidden": 16, "block": "random-features"}),
    ("noprop-block", {"T": 3, "t": 1, "hidden": 16, "block": "learned-features"}),
    ("noprop-block", {"T": 3, "t": 2, "hidden": 8, "block": "cnn", "channels": 4}),
    ("noprop-head", {"T": 3}),
    ("noprop-net", {"T": 2, "hidden": 8}),
    ("noprop-net", {"T": 2, "hidden": 8, "embedding": "learned", "block": "learned-features"}),
    ("noprop-dt", {"T": 2, "hidden": 8, "embedding": "learned"}),
    ("backprop-net", {"T": 2, "hidden": 8}),
    ("noprop-ct", {"hidden": 8}),
    ("noprop-fm", {"hidden": 8, "embedding": "learned"}),
    ("sphere", {"dim": 24, "rows": 4}),
    ("ellipsoid", {"dim": 24, "rows": 6}),
    ("rosenbrock", {"dim": 24, "rows": 3}),
    ("rastrigin", {"dim": 24, "rows": 2}),
]
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def population_of(problem, count=5, rank=2, scale=0.1, seed=1):
    """A mirrored low-rank population around the problem's start, noise scaled by ``scale``."""
    mean = problem.initial(0)
    noise = LowRankNoise.draw(problem.parameter_layout(), count, rank, generator(seed), mean)
    return noise.population(mean, scale, scale)


def build(name, settings, dtype):
    noprop = name.startswith(("noprop", "backprop"))
    return PROBLEMS.create(name, **settings, **({"dtype": dtype} if noprop else {}))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,settings", LAYOUT_PROBLEMS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAYOUT_PROBLEMS)])
def test_a_low_rank_population_evaluates_as_its_dense_form(name, settings, dtype, monkeypatch):
    problem = build(name, settings, dtype)
    population = population_of(problem)
    draw = problem.draw(3, 0)
    expected = problem.evaluate(population.dense(), draw)
    if problem.network or name.startswith("noprop"):  # a network never forms [P, dim], nor a weight [P, in, out]
        monkeypatch.setattr(LowRank, "dense", lambda self: pytest.fail("the population was made dense"))
        monkeypatch.setattr(LowRankWeight, "dense", lambda self: pytest.fail("a weight was made dense"))
    got = problem.evaluate(population, draw)
    assert got.shape == expected.shape == (10,)
    assert torch.allclose(got, expected, rtol=TOLERANCE[problem.dtype], atol=0), (got - expected).abs().max()


def test_every_problem_with_a_layout_is_checked():
    checked = {name for name, _ in LAYOUT_PROBLEMS}
    for name in PROBLEMS.examples():
        try:
            problem = PROBLEMS.create(name, **({"T": 2, "hidden": 4} if name.startswith("noprop-")
                                               and name not in ("noprop-ct", "noprop-fm") else {}))
        except UserError:
            continue
        if problem.parameter_layout() is not None:
            assert name in checked, name


def test_the_layouts_name_the_weight_matrices():
    block = PROBLEMS.create("noprop-block", T=3, t=2, hidden=16)  # x (64) and z (10) paths, fused, out
    assert [(m.rows, m.cols) for m in block.parameter_layout().matrices] == [(64, 16), (10, 16), (32, 16), (16, 10)]
    net = PROBLEMS.create("noprop-net", T=2, hidden=8, embedding="learned")
    layout = net.parameter_layout()
    assert layout.dim == net.dim and len(layout.matrices) == 2 * 4 + 1  # two blocks, the head; W_embed outside
    assert layout.matrices[-1].end <= net.dim - net.embed.numel()
    assert PROBLEMS.create("sphere", dim=12).parameter_layout() is None


def test_dense_window_split_and_norms_agree_with_the_dense_population():
    layout = Layout(30, (Matrix(2, 3, 4), Matrix(20, 2, 5)))
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(30, generator=g, dtype=torch.float64)
    factors = ((torch.randn(4, 3, 2, generator=g, dtype=torch.float64), torch.randn(4, 4, 2, generator=g, dtype=torch.float64)),
               (torch.randn(4, 2, 1, generator=g, dtype=torch.float64), torch.randn(4, 5, 1, generator=g, dtype=torch.float64)))
    rest = torch.randn(4, 30 - 12 - 10, generator=g, dtype=torch.float64)
    population = LowRank(mean, layout, factors, rest)
    full = population.dense()
    assert full.shape == population.shape == (4, 30)
    assert torch.allclose(full[:, 2:14].reshape(4, 3, 4), mean[2:14].reshape(3, 4) + factors[0][0] @ factors[0][1].mT)
    assert torch.equal(full[:, :2], mean[:2] + rest[:, :2]) and torch.equal(full[:, 14:20], mean[14:20] + rest[:, 2:8])
    for sizes in ([2, 12, 6, 10], [14, 16], [30]):
        parts = split(population, sizes)
        assert torch.allclose(torch.cat([dense(p) for p in parts], 1), full)
    assert isinstance(split(population, [2, 12, 16])[0], torch.Tensor)  # no matrix there: dense
    assert torch.allclose(population[1:3].dense(), full[1:3])
    assert torch.allclose(population.window_dense(5, 23), full[:, 5:23])
    assert torch.allclose(squared_norms(population), full.pow(2).sum(-1))
    with pytest.raises(UserError, match="cut the matrix"):
        population.window(0, 5)
    with pytest.raises(UserError, match="disjoint"):
        Layout(30, (Matrix(2, 3, 4), Matrix(10, 2, 2)))


def test_a_problem_without_a_layout_receives_the_population_made_dense():
    problem = RecordingSphere(12)
    mean = problem.initial(0)
    noise = LowRankNoise.draw(Layout(12, (Matrix(0, 3, 4),)), 3, 1, generator(0), mean)
    population = noise.population(mean, 0.5, 0.5)
    ledger = Ledger()
    losses = MeteredProblem(problem, ledger).evaluate(population, problem.draw(0, 0))
    assert isinstance(problem.populations[0], torch.Tensor) and torch.equal(problem.populations[0], population.dense())
    assert torch.allclose(losses, population.dense().pow(2).sum(-1))
    dense_ledger = Ledger()  # and costs what its dense form costs
    MeteredProblem(problem, dense_ledger).evaluate(population.dense(), problem.draw(0, 0))
    assert ledger.cost == dense_ledger.cost and ledger.cost.evaluations == 6


def test_low_rank_noise_has_unit_variance_and_combines_as_its_sum():
    layout = Layout(40, (Matrix(0, 5, 6), Matrix(30, 2, 4)))
    mean = torch.zeros(40, dtype=torch.float64)
    noise = LowRankNoise.draw(layout, 4000, 3, generator(0), mean)
    eps = noise.population(mean, 1.0, 1.0, mirrored=False).dense()
    assert abs(float(eps.var()) - 1) < 0.02 and abs(float(eps.mean())) < 0.01
    assert noise.factors[1][0].shape[-1] == 2  # the rank is capped at min(rows, cols)
    weights = torch.randn(4000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(noise.combine(weights), weights @ eps)
    squares = noise.matrix_square_means()
    assert torch.allclose(squares[:, 0], eps[:, :30].pow(2).mean(1)) and torch.allclose(squares[:, 1], eps[:, 30:38].pow(2).mean(1))
