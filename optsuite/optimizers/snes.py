"""Separable natural evolution strategy (SNES; Schaul, Glasmachers & Schmidhuber, GECCO 2011).

A Gaussian with a mean and one standard deviation per coordinate, moved along the
natural gradient estimated from rank-based utilities. Linear in the dimension, so it
suits large parameter vectors; all state and sampling stay on the problem's device.
"""
from __future__ import annotations

import math

import torch

from optsuite.errors import UserError
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, DistributionES, check_population_and_sigma


def rank_utilities(lam: int) -> list[float]:
    """Fitness shaping ``[lam]`` for ranks 1..lam (best first): log-rank weights of the better half, minus 1/lam."""
    raw = [max(0.0, math.log(lam / 2 + 1) - math.log(k)) for k in range(1, lam + 1)]
    return [r / sum(raw) - 1 / lam for r in raw]


@register_optimizer("snes")
class SNES(DistributionES):
    """Separable natural evolution strategy (Schaul et al. 2011), rank-based utilities, optional mirrored sampling.

    ``lr_sigma`` 0 means the paper's default (3 + ln n) / (5 sqrt n). Mirrored
    sampling evaluates each perturbation with both signs (an odd population is rounded up).
    ``best()`` is the distribution mean.
    """

    defaults = {"population": 0, "sigma0": 0.5, "mirrored": False, "lr_mean": 1.0, "lr_sigma": 0.0}
    batchable = True
    hyper_help = {**HYPER_HELP, "mirrored": "evaluate each perturbation with both signs (even population)",
                  "lr_mean": "learning rate of the mean",
                  "lr_sigma": "learning rate of the standard deviations (0: (3 + ln n) / (5 sqrt n))"}

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        check_population_and_sigma("snes", h)
        if h["lr_mean"] <= 0 or h["lr_sigma"] < 0:
            raise UserError("snes: need lr_mean > 0 and lr_sigma >= 0 (0: the default)")

    @property
    def mirrored(self) -> bool:
        return self.hyper["mirrored"]

    def setup(self, problem, seed: int) -> None:
        self.utilities = torch.tensor(rank_utilities(self.lam), device=self.device, dtype=self.dtype)
        self.lr_sigma = self.hyper["lr_sigma"] or (3 + math.log(self.n)) / (5 * math.sqrt(self.n))
        self.std = torch.full((self.n,), self.hyper["sigma0"], device=self.device, dtype=self.dtype)

    def perturbations(self) -> torch.Tensor:
        """Standard normal ``[lam, n]``; with mirroring the second half is the first negated."""
        rows = self.lam // 2 if self.mirrored else self.lam
        s = torch.randn(rows, self.mean.numel(), generator=self.g, device=self.mean.device, dtype=self.mean.dtype)
        return torch.cat([s, -s]) if self.mirrored else s

    def sample(self) -> torch.Tensor:
        self.s = self.perturbations()
        return self.mean + self.std * self.s

    def update(self, losses: torch.Tensor) -> None:
        s = self.s[torch.argsort(losses)]
        grad_mean = self.utilities @ s
        grad_std = self.utilities @ (s * s - 1)
        self.mean = self.mean + self.hyper["lr_mean"] * self.std * grad_mean
        self.std = self.std * torch.exp(self.lr_sigma / 2 * grad_std)

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.std.max(), (self.std.max() / self.std.min()) ** 2
