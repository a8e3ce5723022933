"""NoProp-DT's schedule, label diffusion and inference coefficients, checked against the noising process."""
import math

import pytest
import torch

from optsuite.problems.noprop_schedule import NoiseSchedule


@pytest.mark.parametrize("T", [3, 10])
def test_alpha_bar_increases_from_noise_to_label_and_is_clamped(T):
    ab = NoiseSchedule.cosine(T).alpha_bar
    assert ab.shape == (T + 1,)
    assert torch.all(ab[1:] > ab[:-1])  # time runs from noise (t = 0) to label (t = T)
    assert float(ab[0]) == pytest.approx(1e-4) and float(ab[-1]) == pytest.approx(1 - 1e-4)
    # interior values: the DDPM cosine schedule at the reversed index T - t
    f = lambda s: math.cos((s / T + 0.008) / 1.008 * math.pi / 2) ** 2
    for t in range(1, T):
        assert float(ab[t]) == pytest.approx(f(T - t) / f(0), rel=1e-12)


def test_snr_and_block_weights():
    schedule = NoiseSchedule.cosine(10)
    snr, ab = schedule.snr(), schedule.alpha_bar
    assert torch.allclose(snr, ab / (1 - ab)) and torch.all(snr[1:] > snr[:-1])
    weights = [schedule.block_weight(t, 0.1) for t in range(1, 11)]
    assert all(w > 0 for w in weights) and weights[-1] == pytest.approx(5 * 0.1 * float(snr[10] - snr[9]))
    assert torch.all((schedule.alpha() > 0) & (schedule.alpha() < 1))


def sample_q(schedule, u, t, n, seed=0):
    eps = torch.randn(n, u.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return schedule.noised(u.double(), t, eps)


@pytest.mark.parametrize("t", [0, 4, 10])
def test_q_z_given_y_has_the_stated_moments(t):
    schedule = NoiseSchedule.cosine(10)
    u = torch.tensor([1.0, 0.0, -2.0])
    z = sample_q(schedule, u, t, 200_000)
    ab = float(schedule.alpha_bar[t])
    assert torch.allclose(z.mean(0), math.sqrt(ab) * u.double(), atol=0.01)
    assert torch.allclose(z.var(0), torch.full((3,), 1 - ab, dtype=torch.float64), rtol=0.02)


def backward_noising_chain(schedule, u, n):
    """Samples of (z_0..z_T) ``[T + 1, n]`` for scalar label embedding ``u``: z_T ~ q(z_T | y), then
    z_{t-1} = sqrt(alpha_{t-1}) z_t + sqrt(1 - alpha_{t-1}) eps, the noising process of the paper."""
    g = torch.Generator().manual_seed(1)
    T, alpha = schedule.T, schedule.alpha()
    z = [None] * (T + 1)
    ab_T = float(schedule.alpha_bar[T])
    z[T] = math.sqrt(ab_T) * u + math.sqrt(1 - ab_T) * torch.randn(n, generator=g, dtype=torch.float64)
    for t in range(T, 0, -1):
        a = float(alpha[t - 1])
        z[t - 1] = math.sqrt(a) * z[t] + math.sqrt(1 - a) * torch.randn(n, generator=g, dtype=torch.float64)
    return torch.stack(z)


def test_noising_chain_marginals_are_q_z_given_y():
    schedule = NoiseSchedule.cosine(10)
    z = backward_noising_chain(schedule, 1.5, 200_000)
    ab = schedule.alpha_bar
    assert torch.allclose(z.mean(1), ab.sqrt() * 1.5, atol=0.01)
    assert torch.allclose(z.var(1), 1 - ab, rtol=0.02, atol=1e-3)


def test_inference_coefficients_are_the_gaussian_posterior_by_conditioning():
    """a_t u + b_t z_{t-1} and c_t are the mean and variance of z_t given z_{t-1} and y, derived here
    from the joint Gaussian of (z_{t-1}, z_t) by the conditioning formula."""
    schedule = NoiseSchedule.cosine(10)
    a, b, c = schedule.inference_coefficients()
    ab, alpha = schedule.alpha_bar, schedule.alpha()
    for t in range(1, 11):
        mean_t, mean_prev = ab[t].sqrt(), ab[t - 1].sqrt()  # per unit of u
        var_t, var_prev = 1 - ab[t], 1 - ab[t - 1]
        cov = alpha[t - 1].sqrt() * var_t  # Cov(z_t, z_{t-1}) = sqrt(alpha_{t-1}) Var(z_t)
        slope = cov / var_prev
        assert float(b[t - 1]) == pytest.approx(float(slope), rel=1e-10)
        assert float(a[t - 1]) == pytest.approx(float(mean_t - slope * mean_prev), rel=1e-10)
        assert float(c[t - 1]) == pytest.approx(float(var_t - cov * cov / var_prev), rel=1e-10, abs=1e-15)


def test_inference_coefficients_match_a_monte_carlo_regression():
    """Regress sampled z_t on z_{t-1} under the noising process: slope b_t, intercept a_t u, residual variance c_t."""
    schedule = NoiseSchedule.cosine(10)
    a, b, c = schedule.inference_coefficients()
    u, n = 1.5, 400_000
    z = backward_noising_chain(schedule, u, n)
    for t in range(1, 11):
        prev, cur = z[t - 1], z[t]
        design = torch.stack([torch.ones(n, dtype=torch.float64), prev], 1)
        coef = torch.linalg.lstsq(design, cur[:, None]).solution[:, 0]
        residual = cur - design @ coef
        assert float(coef[1]) == pytest.approx(float(b[t - 1]), abs=0.01)
        assert float(coef[0]) == pytest.approx(float(a[t - 1]) * u, abs=0.01)
        assert float(residual.var()) == pytest.approx(float(c[t - 1]), rel=0.02, abs=1e-5)


def test_inference_chain_with_a_perfect_denoiser_follows_q():
    """With u_hat = u_y exactly, z_0 ~ N(0, I) walked by a_t, b_t, c_t ends at q(z_T | y)."""
    schedule = NoiseSchedule.cosine(10)
    a, b, c = (v.tolist() for v in schedule.inference_coefficients())
    g = torch.Generator().manual_seed(2)
    u, n = 1.5, 200_000
    z = torch.randn(n, generator=g, dtype=torch.float64)
    for t in range(1, 11):
        z = a[t - 1] * u + b[t - 1] * z + math.sqrt(c[t - 1]) * torch.randn(n, generator=g, dtype=torch.float64)
        ab = float(schedule.alpha_bar[t])
        assert float(z.mean()) == pytest.approx(math.sqrt(ab) * u, abs=0.01)
        assert float(z.var()) == pytest.approx(1 - ab, rel=0.03, abs=1e-4)


def test_kl_of_q_z0_against_standard_normal():
    schedule = NoiseSchedule.cosine(10)
    u = torch.tensor([[0.3, -1.0], [0.0, 0.0]], dtype=torch.float64)
    ab0 = float(schedule.alpha_bar[0])
    expected = [float(torch.distributions.kl_divergence(
        torch.distributions.Normal(math.sqrt(ab0) * row, math.sqrt(1 - ab0)),
        torch.distributions.Normal(torch.zeros(2, dtype=torch.float64), 1.0)).sum()) for row in u]
    assert schedule.kl_to_standard_normal(u).tolist() == pytest.approx(expected, rel=1e-9)


def test_flat_says_when_the_clamp_gives_a_block_no_loss_weight_and_most_steps_is_the_last_t_without():
    for T in range(1, 400):
        assert NoiseSchedule.flat(T) == bool((NoiseSchedule.cosine(T).snr().diff() <= 0).any()), T
    most = NoiseSchedule.most_steps()
    assert not NoiseSchedule.flat(most) and NoiseSchedule.flat(most + 1) and NoiseSchedule.flat(10**12)
    assert min(NoiseSchedule.cosine(most).block_weight(t, 0.1) for t in range(1, most + 1)) > 0


def test_too_many_blocks_are_refused_at_once_not_after_building_each(capsys):
    import time

    from optsuite.cli import main

    started = time.monotonic()
    assert main(["run", "-p", "noprop-dt(T=100000,hidden=8)", "-o", "gd", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert time.monotonic() - started < 30 and len(err.splitlines()) == 1
    assert "T=100000 is too many blocks" in err and f"T can be at most {NoiseSchedule.most_steps()}" in err
