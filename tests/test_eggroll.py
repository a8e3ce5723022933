"""EGGROLL and low-rank noise in OpenAI-ES and PGPE: the reference's update, full-rank behaviour at full rank, training."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from optsuite.budget import Budget
from optsuite.optimizers._lowrank import LowRankNoise
from optsuite.population import LowRank
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run


def one_generation(name, problem, seed=0, **hyper):
    """(optimizer after one generation, its start mean, the population it asked, the losses) of ``name``."""
    opt = OPTIMIZERS.create(name, **hyper)
    opt.init(problem, seed)
    start = opt.mean.clone()
    population = opt.ask()
    losses = problem.evaluate(population, problem.draw(0, seed))
    opt.tell(losses)
    return opt, start, population, losses


def reference_update(start, population, losses, sigma, rank, lr, optimizer):
    """The reference's update (ESHyperscale/HyperscaleES, ``noiser/eggroll.py``) in JAX and optax, on our noise.

    ``convert_fitnesses``: z-scores with 1e-5 added to the population variance; ``_simple_lora_update``:
    ``einsum("nir,njr->ij", f * (sigma / sqrt(r)) A, B) / N`` for a matrix (A carrying the member's sign),
    ``_simple_full_update``: ``mean(f * sigma * eps)`` for a vector; ``do_updates``: that gradient times
    ``-sqrt(N)`` through the optax solver, then ``optax.apply_updates``.
    """
    import jax.numpy as jnp
    import optax

    fitness = -jnp.asarray(losses.numpy())
    fitness = (fitness - fitness.mean()) / jnp.sqrt(fitness.var() + 1e-5)
    n, c = fitness.shape[0], sigma / math.sqrt(rank)
    grads, params = {}, {}
    for k, (m, (a, b)) in enumerate(zip(population.layout.matrices, population.factors)):
        a_unit = jnp.asarray(a.numpy()) / (sigma / math.sqrt(a.shape[-1]))  # the unit-normal A, sign included
        lora = jnp.einsum("nir,njr->ij", fitness[:, None, None] * (sigma / math.sqrt(a.shape[-1])) * a_unit,
                          jnp.asarray(b.numpy())) / n
        grads[f"w{k}"], params[f"w{k}"] = -(lora * math.sqrt(n)), jnp.asarray(start[m.offset : m.end].numpy()).reshape(m.rows, m.cols)
    eps = jnp.asarray(population.rest.numpy()) / sigma
    rest = population.layout.rest.numpy()
    grads["rest"] = -(jnp.mean(fitness[:, None] * (sigma * eps), axis=0) * math.sqrt(n))
    params["rest"] = jnp.asarray(start.numpy()[rest])
    solver = optax.sgd(lr) if optimizer == "sgd" else optax.adam(lr)
    updates, _ = solver.update(grads, solver.init(params), params)
    new = optax.apply_updates(params, updates)
    out = np.empty(start.numel())
    for k, m in enumerate(population.layout.matrices):
        out[m.offset : m.end] = np.asarray(new[f"w{k}"]).reshape(-1)
    out[rest] = np.asarray(new["rest"])
    assert c > 0
    return out


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.7), ("adam", 0.01)])
def test_one_update_equals_the_reference_on_the_same_noise(optimizer, lr):
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    import jax

    jax.config.update("jax_enable_x64", True)
    problem = PROBLEMS.create("noprop-head", T=3, dtype="float64")  # a 10 x 10 matrix and a bias
    opt, start, population, losses = one_generation("eggroll", problem, population=10, rank=3, sigma0=0.3, lr=lr,
                                                    optimizer=optimizer)
    assert isinstance(population, LowRank) and population.rank == 3
    expected = reference_update(start, population, losses, 0.3, 3, lr, optimizer)
    assert np.allclose(opt.mean.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_the_noise_is_drawn_again_not_kept_and_pairs_are_mirrored():
    problem = PROBLEMS.create("sphere", dim=30, rows=5)
    opt = OPTIMIZERS.create("eggroll", population=6, rank=2)
    opt.init(problem, 0)
    population = opt.ask()
    assert not any(isinstance(v, (LowRankNoise, LowRank, torch.Tensor)) and getattr(v, "shape", (0,))[0] == 6
                   for v in vars(opt).values())
    (a, b), = population.factors
    assert torch.equal(a[3:], -a[:3]) and torch.equal(b[3:], b[:3]) and torch.equal(population.rest[3:], -population.rest[:3])
    assert torch.equal(opt.ask().dense(), population.dense())  # the same generation's noise, drawn again


def ascents(rank, draws, rows=24, cols=25, population=32):
    """OpenAI-ES's ascent estimate of its first generation ``[draws, rows * cols]`` on a matrix, one noise seed per draw
    (a sphere seen at a small sigma: locally linear)."""
    problem = PROBLEMS.create("sphere", dim=rows * cols, rows=rows)
    out = []
    for seed in range(draws):
        opt = OPTIMIZERS.create("openes", population=population, rank=rank, sigma0=0.01)
        opt.init(problem, 0)
        opt.g.manual_seed(seed)
        losses = problem.evaluate(opt.ask(), problem.draw(0, 0))
        out.append(opt.ascent(losses))
    return torch.stack(out).numpy()


def test_full_rank_noise_of_rank_min_m_n_reproduces_full_rank_openes_in_distribution():
    """At r = min(rows, cols) the update estimate has the full-rank one's distribution: mean, spread and the law of
    a projection and of its length. The noise's first two moments match at any rank; its law only as r grows (an
    entry's kurtosis is 3 + 6 / r), and at r = 1 the estimate's length is told apart at once."""
    draws = 1000
    low, full, one = ascents(24, draws), ascents(0, draws), ascents(1, draws)
    se = np.sqrt((low.var(0) + full.var(0)) / draws)
    assert np.all(np.abs(low.mean(0) - full.mean(0)) < 5 * se)  # the same expected direction
    assert abs(float(np.mean(low.var(0) / full.var(0))) - 1) < 0.03  # the same spread
    direction = np.random.default_rng(0).standard_normal(low.shape[1])
    length = lambda a: np.linalg.norm(a, axis=1)
    assert stats.ks_2samp(low @ direction, full @ direction).pvalue > 1e-3
    assert stats.ks_2samp(length(low), length(full)).pvalue > 1e-3
    assert stats.ks_2samp(length(one), length(full)).pvalue < 1e-6  # the comparison has the power to tell
    assert np.abs(low.mean(0)).max() > 6 * se.max()  # and the direction is signal, not noise


def test_eggroll_and_low_rank_openes_and_pgpe_train_a_noprop_block():
    problem = PROBLEMS.create("noprop-block", T=3, t=2, hidden=16)
    start = problem.metrics(problem.initial(0))["train_loss"]
    for name, hyper in [("eggroll", {}), ("openes", {"rank": 1}), ("pgpe", {"rank": 2, "sigma0": 0.05})]:
        result = run(problem, OPTIMIZERS.create(name, population=32, **hyper), Budget(steps=400), seed=0)
        assert result.status == "ok", result.error
        assert result.metrics["train_loss"] < start / 5, (name, result.metrics["train_loss"], start)


def test_low_rank_pgpe_keeps_one_std_per_matrix_and_one_per_other_entry():
    problem = PROBLEMS.create("noprop-block", T=3, t=2, hidden=8)
    opt, *_ = one_generation("pgpe", problem, population=16, rank=2, sigma0=0.05)
    layout = problem.parameter_layout()
    for m in layout.matrices:
        block = opt.std[m.offset : m.end]
        assert torch.equal(block, block[0].expand_as(block))
    assert opt.std[layout.rest].unique().numel() > 1


def test_the_generation_benchmark_prints_each_method_against_inference(capsys):
    from optsuite.benchmarks.es_generation import main

    assert main(["--threads", "1", "--repeats", "1", "--only", "digits, H = 16", "--no-loop"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| digits, H = 16"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["64", "128"] and len(cells) == 10  # P, B, inference, then each method's two figures
    fractions = [float(c.split()[0]) for c in cells[4:]]
    assert all(0 < f < 100 for f in fractions)
