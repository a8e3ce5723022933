"""One update of ours against the outside implementations, fed the same population and losses.

Runs only where evosax (with JAX) or pypop7 is installed, as in the outside-check benchmark's
environment; they are not dependencies of optsuite.
"""
import math

import numpy as np
import pytest
import torch

from optsuite.registry import OPTIMIZERS
from recording import RecordingSphere


def one_step(name, n, seed=0, **hyper):
    """Ours after one step on an n-d sphere: (optimizer, start mean, population, losses) as numpy."""
    problem = RecordingSphere(n)
    opt = OPTIMIZERS.create(name, **hyper)
    opt.init(problem, seed)
    start = opt.mean.clone()
    opt.step(problem, problem.draw(0, seed))
    population = problem.populations[0]
    return opt, start.numpy(), population.numpy(), (population * population).sum(1).numpy()


@pytest.fixture(scope="module")
def evosax():
    pytest.importorskip("evosax")
    import jax

    jax.config.update("jax_enable_x64", True)
    return pytest.importorskip("evosax.algorithms")


def evosax_tell(es, params, start, population, losses):
    import jax
    import jax.numpy as jnp

    state = es.init(jax.random.key(0), jnp.asarray(start), params)
    state, _ = es.tell(jax.random.key(1), jnp.asarray(population), jnp.asarray(losses), state, params)
    return state


def test_pgpe_update_equals_evosax(evosax):
    import jax.numpy as jnp
    from evosax.core.optimizer import clipup

    opt, start, population, losses = one_step("pgpe", 7, population=12, sigma0=0.4, stdev_lr=0.3)
    es = evosax.PGPE(12, jnp.zeros(7), optimizer=clipup(learning_rate=opt.center_lr, max_velocity=opt.max_speed))
    state = evosax_tell(es, es.default_params.replace(std_init=0.4, std_lr=0.3), start, population, losses)
    assert np.allclose(np.array(state.mean), opt.mean.numpy(), rtol=0, atol=1e-7)  # evosax adds 1e-8 to ||g||
    assert np.allclose(np.array(state.std), opt.std.numpy(), rtol=1e-12, atol=0)


def test_openes_update_equals_evosax_up_to_adams_epsilon(evosax):
    import jax.numpy as jnp
    import optax

    opt, start, population, losses = one_step("openes", 6, population=10, weight_decay=0.0)
    es = evosax.Open_ES(10, jnp.zeros(6), optimizer=optax.adam(0.01), std_schedule=optax.constant_schedule(0.02))
    state = evosax_tell(es, es.default_params, start, population, losses)
    # evosax divides the gradient by sigma, the paper's code does not: only Adam's 1e-8 tells them apart
    assert np.allclose(np.array(state.mean) - start, opt.mean.numpy() - start, rtol=1e-4, atol=0)


def test_snes_update_equals_evosax(evosax):
    import jax.numpy as jnp

    opt, start, population, losses = one_step("snes", 5, population=9, sigma0=0.3)
    es = evosax.SNES(9, jnp.zeros(5))
    state = evosax_tell(es, es.default_params.replace(std_init=0.3), start, population, losses)
    assert np.allclose(np.array(state.mean), opt.mean.numpy(), rtol=1e-12, atol=1e-14)
    assert np.allclose(np.array(state.std), opt.std.numpy(), rtol=1e-12, atol=0)


def test_lm_ma_es_update_equals_pypop7():
    lmmaes = pytest.importorskip("pypop7.optimizers.es.lmmaes")
    n, lam = 40, 6  # 2 lam / n = 0.3 < 1, where pypop7 follows the paper without substitutes
    opt, start, population, losses = one_step("lm-ma-es", n, population=lam, sigma0=0.4, memory=5)
    z = (population - start) / 0.4  # generation 0: d = z
    bounds = {"lower_boundary": -5 * np.ones(n), "upper_boundary": 5 * np.ones(n)}
    es = lmmaes.LMMAES({"fitness_function": None, "ndim_problem": n, **bounds},
                       {"max_function_evaluations": math.inf, "seed_rng": 0, "mean": start, "sigma": 0.4,
                        "n_individuals": lam, "n_evolution_paths": 5, "verbose": False})
    es.initialize()
    mean, path, M = es._update_distribution(z, z.copy(), start.copy(), np.zeros(n), np.zeros((5, n)), losses)
    assert np.allclose(mean, opt.mean.numpy(), rtol=0, atol=1e-12)
    assert np.allclose(path, opt.p_sigma.numpy(), rtol=0, atol=1e-12)
    assert np.allclose(M, opt.M.numpy(), rtol=0, atol=1e-12)
    assert es.sigma == pytest.approx(float(opt.sigma), rel=1e-12)


def test_pgpe_update_equals_evotorchs_pieces():
    """EvoTorch's PGPE._update_distribution: the symmetric Gaussian's gradients, ClipUp, the bounded std."""
    pytest.importorskip("evotorch")
    from evotorch.distributions import SymmetricSeparableGaussian
    from evotorch.optimizers import ClipUp
    from evotorch.tools import modify_tensor

    opt, start, population, losses = one_step("pgpe", 7, population=12, sigma0=0.4, stdev_lr=0.3)
    interleaved = np.stack([population[:6], population[6:]], 1).reshape(12, 7)  # EvoTorch: +, -, +, -, ...
    fitness = np.stack([losses[:6], losses[6:]], 1).reshape(12)
    sigma = torch.full((7,), 0.4, dtype=torch.float64)
    gaussian = SymmetricSeparableGaussian({"mu": torch.as_tensor(start), "sigma": sigma,
                                           "divide_mu_grad_by": "num_directions",
                                           "divide_sigma_grad_by": "num_directions"}, dtype=torch.float64)
    grads = gaussian.compute_gradients(torch.as_tensor(interleaved), torch.as_tensor(fitness), objective_sense="min",
                                       ranking_method="centered")
    clipup = ClipUp(solution_length=7, dtype=torch.float64, stepsize=opt.center_lr, max_speed=opt.max_speed)
    mean = torch.as_tensor(start) + clipup.ascent(grads["mu"])
    std = modify_tensor(sigma, sigma + 0.3 * grads["sigma"], max_change=0.2)
    assert torch.allclose(mean, opt.mean, rtol=0, atol=1e-12) and torch.allclose(std, opt.std, rtol=1e-12, atol=0)
