"""OpenAI-ES (Salimans, Ho, Chen, Sidor & Sutskever 2017): mirrored sampling, centred ranks, Adam, weight decay.

An isotropic Gaussian N(mean, sigma^2 I) is sampled in mirrored pairs mean +- sigma eps.
With centred-rank utilities u (0.5 for the best candidate) the estimated ascent
direction is g = sum_i u_i eps_i / P, as in the paper's code (``es.py`` of
evolution-strategies-starter: the weighted sum over pairs divided by the number of
evaluations). Adam then steps on -g + weight_decay * mean, the code's ``l2coeff``
term. The paper's Algorithm 2 and evosax divide g by sigma as well; Adam is
invariant to that scale, so only the meaning of ``weight_decay`` depends on it, and
here it keeps the code's. sigma is fixed (the paper) or decays by ``sigma_decay``
per generation down to ``sigma_min`` (estool's schedule). State and sampling stay on
the problem's device.
"""
from __future__ import annotations

import torch

from optsuite.errors import UserError
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, DistributionES, centred_ranks, check_population_and_sigma, mirrored_normal
from ._lowrank import RANK_HELP, LowRankNoise, check_rank, lowrank_floats, noise_layout

ADAM_BETAS = (0.9, 0.999)  # the paper's code: Adam's defaults
ADAM_EPSILON = 1e-8


class Adam:
    """Adam (Kingma & Ba 2015) in the paper code's form: bias correction folded into the step size."""

    def __init__(self, like: torch.Tensor, lr: float) -> None:
        self.lr, self.t = lr, 0
        self.m, self.v = torch.zeros_like(like), torch.zeros_like(like)

    def step(self, grad: torch.Tensor) -> torch.Tensor:
        """The update ``[n]`` to add to the parameters for the descent direction ``grad [n]``."""
        (b1, b2), self.t = ADAM_BETAS, self.t + 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        a = self.lr * (1 - b2**self.t) ** 0.5 / (1 - b1**self.t)
        return -a * self.m / (self.v.sqrt() + ADAM_EPSILON)


@register_optimizer("openes")
class OpenES(DistributionES):
    """OpenAI-ES: mirrored sampling, centred ranks, Adam on the gradient estimate, L2 weight decay.

    Defaults are the paper code's: ``sigma0`` 0.02 (noise_stdev), ``lr`` 0.01 (Adam's
    stepsize), ``weight_decay`` 0.005 (l2coeff); ``sigma_decay`` 1 keeps sigma fixed.
    ``population`` is rounded up to even (pairs). ``rank`` r > 0 draws each weight matrix's
    noise as a rank-r product (EGGROLL's noise, :mod:`._lowrank`), evaluated without forming
    the population where the problem has a parameter layout; 0 draws it full-rank.
    ``best()`` is the distribution mean.
    """

    defaults = {"population": 0, "sigma0": 0.02, "lr": 0.01, "weight_decay": 0.005, "sigma_decay": 1.0,
                "sigma_min": 0.0, "rank": 0}
    hyper_help = {**HYPER_HELP, "population": "candidates per generation, in mirrored pairs (0: 4 + floor(3 ln n), made even)",
                  "sigma0": "standard deviation of the perturbations", "lr": "Adam's step size on the mean",
                  "weight_decay": "L2 coefficient added to the gradient estimate (the paper's l2coeff)",
                  "sigma_decay": "sigma's factor per generation (1: fixed)", "sigma_min": "sigma's floor under decay",
                  "rank": RANK_HELP}
    batchable = True
    mirrored = True

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        check_population_and_sigma("openes", h)
        check_rank("openes", h["rank"])
        if h["lr"] <= 0 or h["weight_decay"] < 0:
            raise UserError(f"openes: need lr > 0 and weight_decay >= 0, got lr={h['lr']}, "
                            f"weight_decay={h['weight_decay']}")
        if not 0 < h["sigma_decay"] <= 1 or not 0 <= h["sigma_min"] <= h["sigma0"]:
            raise UserError("openes: need 0 < sigma_decay <= 1 and 0 <= sigma_min <= sigma0")

    def generation_floats(self, problem) -> int:
        return lowrank_floats(problem, self.population(problem.dim), self.hyper["rank"]) or super().generation_floats(problem)

    def setup(self, problem, seed: int) -> None:
        self.pairs = self.lam // 2
        self.layout = noise_layout(problem, self.hyper["rank"])
        self.sigma = self.hyper["sigma0"]
        self.adam = Adam(self.mean, self.hyper["lr"])

    def sample(self):
        if self.layout is not None:
            self.z = LowRankNoise.draw(self.layout, self.pairs, self.hyper["rank"], self.g, self.mean)
            return self.z.population(self.mean, self.sigma, self.sigma)
        self.z = mirrored_normal(self.pairs, self.mean, self.g)
        return self.mean + self.sigma * self.z

    def ascent(self, losses: torch.Tensor) -> torch.Tensor:
        """The estimated ascent direction ``[n]``: centred-rank utilities times the perturbations, over P."""
        utilities = centred_ranks(losses, self.mean.dtype)
        if self.layout is not None:
            return self.z.combine(utilities[: self.pairs] - utilities[self.pairs :]) / self.lam
        return utilities @ self.z / self.z.shape[0]

    def update(self, losses: torch.Tensor) -> None:
        self.mean = self.mean + self.adam.step(-self.ascent(losses) + self.hyper["weight_decay"] * self.mean)
        self.sigma = max(self.hyper["sigma_min"], self.sigma * self.hyper["sigma_decay"])

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        scale = torch.tensor(self.sigma, dtype=torch.float64, device=self.device)
        return scale, torch.ones_like(scale)
