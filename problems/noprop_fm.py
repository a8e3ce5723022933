"""NoProp-FM (``noprop-fm``): one network v(z_t, x, t), a velocity field carrying noise to the label embedding.

The path from z_0 ~ N(0, I) to u_y is z_t = t u_y + (1 - t) z_0; its velocity is u_y - z_0.
The loss on a draw, with t ~ U(0, 1) and z_0 per sample:
E||v(z_t, x, t) - (u_y - z_0)||^2 + E[-log p(y | z~_1)], where z~_1 = z_t + (1 - t) v(z_t, x, t)
is the endpoint the velocity points at. The cross-entropy trains the head on what the
chain delivers and keeps a learned embedding from collapsing (with W_embed trained on the
velocity term alone, equal embeddings would make it trivial).

Inference: Euler steps z_{k+1} = z_k + v(z_k, x, k / N) / N from z_0 ~ N(0, I) to z_1
(N = ``inference_steps``), then the head (``test_accuracy``) or the nearest class
embedding (``test_chain_accuracy``).
"""
from __future__ import annotations

import torch

from optsuite.registry import register_problem

from .noprop_problem import cross_entropy, squared_error
from .noprop_time import TimeConditionedProblem


def path(u: torch.Tensor, z_0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_t, dz_t/dt) of z_t = t u + (1 - t) z_0: ``u [B, d]`` or ``[P, B, d]``, ``z_0 [B, d]``, ``t [B]``."""
    s = t.to(u.dtype)[:, None]
    return s * u + (1 - s) * z_0, u - z_0


@register_problem("noprop-fm")
class NoPropFM(TimeConditionedProblem):
    """NoProp-FM: one time-conditioned velocity field on the flow-matching loss, a head on the predicted endpoint."""

    @property
    def n_out(self) -> int:
        return self.d

    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        net, head, _, embed = self.split(params)
        u, n = self.labels(embed, y), x.shape[0]
        t = self.times(n, noise_seed)
        z_t, velocity = path(u, self.gaussian(n, noise_seed, "z_0"), t)
        v = self.net.forward(net, self.net.encode(net, x), z_t, t)
        endpoint = z_t + (1 - t.to(v.dtype))[:, None] * v
        return squared_error(v, velocity) + cross_entropy(self.head.forward(head, endpoint), y)

    def chain(self, params: torch.Tensor, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        net = self.split(params)[0]
        steps = steps or self.steps
        hx, z = self.net.encode(net, x), self.start(x.shape[0])
        for k in range(steps):
            t = torch.full((x.shape[0],), k / steps, dtype=torch.float64, device=self.device)
            z = z + self.net.forward(net, hx, z, t) / steps
        return z
