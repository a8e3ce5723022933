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

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer

from ._es import (HYPER_HELP, centred_ranks, check_population_and_sigma, even_population_size, mirrored_normal,
                  step_report)

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
class OpenES(Optimizer):
    """OpenAI-ES: mirrored sampling, centred ranks, Adam on the gradient estimate, L2 weight decay.

    Defaults are the paper code's: ``sigma0`` 0.02 (noise_stdev), ``lr`` 0.01 (Adam's
    stepsize), ``weight_decay`` 0.005 (l2coeff); ``sigma_decay`` 1 keeps sigma fixed.
    ``population`` is rounded up to even (pairs). ``best()`` is the distribution mean.
    """

    defaults = {"population": 0, "sigma0": 0.02, "lr": 0.01, "weight_decay": 0.005, "sigma_decay": 1.0,
                "sigma_min": 0.0}
    hyper_help = {**HYPER_HELP, "population": "candidates per generation, in mirrored pairs (0: 4 + floor(3 ln n), made even)",
                  "sigma0": "standard deviation of the perturbations", "lr": "Adam's step size on the mean",
                  "weight_decay": "L2 coefficient added to the gradient estimate (the paper's l2coeff)",
                  "sigma_decay": "sigma's factor per generation (1: fixed)", "sigma_min": "sigma's floor under decay"}
    batchable = True

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        check_population_and_sigma("openes", h)
        if h["lr"] <= 0 or h["weight_decay"] < 0:
            raise UserError(f"openes: need lr > 0 and weight_decay >= 0, got lr={h['lr']}, "
                            f"weight_decay={h['weight_decay']}")
        if not 0 < h["sigma_decay"] <= 1 or not 0 <= h["sigma_min"] <= h["sigma0"]:
            raise UserError("openes: need 0 < sigma_decay <= 1 and 0 <= sigma_min <= sigma0")

    def population(self, dim: int) -> int:
        return even_population_size(dim, self.hyper["population"])

    def init(self, problem, seed: int) -> None:
        n, device, dtype = problem.dim, problem.device, problem.dtype
        self.pairs = even_population_size(n, self.hyper["population"]) // 2
        self.g = generator(seed, "openes", device=device)
        self.mean = problem.initial(seed).detach().clone().to(device, dtype)
        self.sigma = self.hyper["sigma0"]
        self.adam = Adam(self.mean, self.hyper["lr"])

    def step(self, problem, draw) -> StepInfo:
        z = mirrored_normal(self.pairs, self.mean, self.g)
        losses = problem.evaluate(self.mean + self.sigma * z, draw)
        ascent = centred_ranks(losses, self.mean.dtype) @ z / z.shape[0]
        self.mean = self.mean + self.adam.step(-ascent + self.hyper["weight_decay"] * self.mean)
        self.sigma = max(self.hyper["sigma_min"], self.sigma * self.hyper["sigma_decay"])
        scale = losses.new_tensor(self.sigma)
        return step_report(losses, scale, torch.ones_like(scale))

    def best(self) -> torch.Tensor:
        return self.mean.clone()
