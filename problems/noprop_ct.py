"""NoProp-CT (``noprop-ct``): one network u_hat(z_t, x, t) denoising the label embedding in continuous time.

The loss on a draw, with t ~ U(0, 1) and z_t ~ q(z_t | y) per sample:
(eta / 2) E[SNR'(t) ||u_hat(z_t, x, t) - u_y||^2] + E[-log p(y | z_1)], z_1 ~ q(z_1 | y),
+ KL(q(z_0 | y) || N(0, I)); the schedule (``learned`` or ``cosine``, see
:mod:`.noprop_ct_schedule`) sets q, SNR' and alpha_bar(0) of the KL term. A learned
schedule's parameters follow the head in the parameter vector and train with the rest.

Inference integrates the deterministic chain on the grid t_k = k / N (N = ``inference_steps``):
from z_0 ~ N(0, I), each step predicts u_hat = u_hat(z_k, x, t_k), reads the noise off z_k,
eps = (z_k - sqrt(alpha_bar_k) u_hat) / sqrt(1 - alpha_bar_k), and sets
z_{k+1} = sqrt(alpha_bar_{k+1}) u_hat + sqrt(1 - alpha_bar_{k+1}) eps (DDIM's step: with many
steps it converges to the probability-flow ODE of q's marginals, so the result settles as N grows).
"""
from __future__ import annotations

import torch

from optsuite.registry import register_problem

from .noprop_ct_schedule import make_schedule
from .noprop_problem import cross_entropy, squared_error
from .noprop_schedule import kl_to_standard_normal
from .noprop_time import TimeConditionedProblem, per_candidate


@register_problem("noprop-ct")
class NoPropCT(TimeConditionedProblem):
    """NoProp-CT: one time-conditioned denoiser on the SNR'-weighted loss, a head on z_1, a learned or cosine schedule."""

    settings_help = {"schedule": "learned (a monotone network, VDM-style) or cosine"}

    def __init__(self, schedule: str = "learned", **settings) -> None:
        self.noise = make_schedule(schedule, self.name)
        self.extra_dim = self.noise.dim
        super().__init__(**settings)
        self.settings.update(schedule=schedule)

    @property
    def n_out(self) -> int:
        return self.n_classes

    def initial_extra(self, seed: int) -> torch.Tensor:
        return self.noise.initial(seed)

    def denoise(self, net: torch.Tensor, hx: torch.Tensor, z: torch.Tensor, t: torch.Tensor,
                embed: torch.Tensor) -> torch.Tensor:
        """u_hat ``[P, B, d]``: class probabilities at (z, x, t) times W_embed."""
        return torch.softmax(self.net.forward(net, hx, z, t), -1) @ embed

    def diffused(self, u: torch.Tensor, alpha_bar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(alpha_bar) u + sqrt(1 - alpha_bar) eps: ``alpha_bar [B]`` or ``[P, B]`` (or one time,
        ``[1]`` / ``[P, 1]``), ``u`` and ``eps [B, d]`` or ``[P, B, d]`` -> ``[B, d]`` or ``[P, B, d]``."""
        ab = alpha_bar.to(self.dtype)[..., None]
        return ab.sqrt() * u + (1 - ab).sqrt() * eps

    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        net, head, schedule, embed = self.split(params)
        u, n = self.labels(embed, y), x.shape[0]
        t = self.times(n, noise_seed)
        z_t = self.diffused(u, self.noise.alpha_bar(schedule, t), self.gaussian(n, noise_seed, "z_t"))
        u_hat = self.denoise(net, self.net.encode(net, x), z_t, t, embed)
        root = self.noise.snr_prime(schedule, t).sqrt()[..., None]  # [B, 1] or [P, B, 1], float64
        diffusion = self.eta / 2 * squared_error(root * u_hat.double(), root * u.double())
        ends = self.noise.alpha_bar(schedule, torch.tensor([0.0, 1.0], dtype=torch.float64, device=self.device))
        z_1 = self.diffused(u, ends[..., 1:], self.gaussian(n, noise_seed, "z_1"))
        kl = kl_to_standard_normal(u.double(), ends[..., :1]).mean(-1)
        return diffusion + cross_entropy(self.head.forward(head, z_1), y) + kl

    def chain(self, params: torch.Tensor, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        net, _, schedule, embed = self.split(params)
        steps = steps or self.steps
        grid = torch.linspace(0, 1, steps + 1, dtype=torch.float64, device=self.device)
        ab = self.noise.alpha_bar(schedule, grid).to(self.dtype)  # [N + 1] or [P, N + 1]
        hx, z = self.net.encode(net, x), self.start(x.shape[0])
        for k in range(steps):
            now, after = per_candidate(ab[..., k]), per_candidate(ab[..., k + 1])
            u_hat = self.denoise(net, hx, z, grid[k].expand(x.shape[0]), embed)
            eps = (z - now.sqrt() * u_hat) / (1 - now).sqrt()
            z = after.sqrt() * u_hat + (1 - after).sqrt() * eps
        return z
