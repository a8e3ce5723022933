"""PGPE (Sehnke et al. 2010) with symmetric sampling, centred ranks and the ClipUp optimizer (Toklu et al. 2020).

A separable Gaussian N(mean, diag(std^2)) is sampled in mirrored pairs mean +- std * eps.
With centred-rank utilities u (0.5 for the best candidate, -0.5 for the worst) and
``h`` pairs, the estimated gradients are (EvoTorch's ``SymmetricSeparableGaussian``,
evosax's ``PGPE``, up to their sign conventions):

    g_mean = sum_k (u_k+ - u_k-) / 2 * std * eps_k / h
    g_std  = sum_k (u_k+ + u_k-) / 2 * std * (eps_k^2 - 1) / h

The mean follows g_mean through ClipUp: v <- clip(momentum v + center_lr g / ||g||,
max_speed), mean <- mean + v. The std takes a plain step std + stdev_lr g_std, clipped
to within ``stdev_max_change`` of its old value per coordinate (EvoTorch's and
evosax's ``stdev_max_change`` / ``std_max_change``, 0.2 after Ha 2017). All state and
sampling stay on the problem's device.
"""
from __future__ import annotations

import math

import torch

from optsuite.errors import UserError
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, DistributionES, centred_ranks, check_population_and_sigma, mirrored_normal
from ._lowrank import RANK_HELP, LowRankNoise, check_rank, lowrank_floats, noise_layout


def clipup(velocity: torch.Tensor, grad: torch.Tensor, step_size: float, momentum: float,
           max_speed: float) -> torch.Tensor:
    """ClipUp's new velocity ``[n]``: momentum plus a normalised gradient step, clipped to norm ``max_speed``.

    A zero gradient adds nothing (where EvoTorch would divide by zero).
    """
    norm = grad.norm()
    velocity = momentum * velocity + step_size * grad / norm.clamp_min(torch.finfo(grad.dtype).tiny)
    return velocity * (max_speed / velocity.norm()).clamp(max=1.0)


def bounded_change(old: torch.Tensor, new: torch.Tensor, max_change: float) -> torch.Tensor:
    """``new`` clipped to ``[old (1 - max_change), old (1 + max_change)]`` elementwise (``old`` > 0)."""
    return torch.minimum(torch.maximum(new, old * (1 - max_change)), old * (1 + max_change))


@register_optimizer("pgpe")
class PGPE(DistributionES):
    """PGPE with symmetric sampling, centred ranks, ClipUp on the mean and a bounded adaptive std.

    ``sigma0``: the initial std of every coordinate. ``max_speed`` 0 takes ClipUp's rule
    of thumb, the initial radius ||std|| = sigma0 sqrt(n) over 15 (or 2 center_lr when
    ``center_lr`` is given, EvoTorch's default); ``center_lr`` 0 takes max_speed / 2, the
    paper's step size. ``momentum`` 0.9, ``stdev_lr`` 0.1 and ``stdev_max_change`` 0.2
    are the settings of Toklu et al. (2020), EvoTorch and evosax. ``population`` is
    rounded up to even (pairs). ``rank`` r > 0 draws each weight matrix's noise as a rank-r
    product (EGGROLL's noise, :mod:`._lowrank`); a matrix then has one std, adapted from the
    mean of its entries' ``eps^2 - 1`` (a std per entry would make the perturbation full-rank),
    and every other entry keeps its own. ``best()`` is the distribution mean.
    """

    defaults = {"population": 0, "sigma0": 0.5, "center_lr": 0.0, "max_speed": 0.0, "momentum": 0.9,
                "stdev_lr": 0.1, "stdev_max_change": 0.2, "rank": 0}
    hyper_help = {**HYPER_HELP, "population": "candidates per generation, in mirrored pairs (0: 4 + floor(3 ln n), made even)",
                  "center_lr": "ClipUp's step size on the mean (0: max_speed / 2)",
                  "max_speed": "ClipUp's largest step of the mean (0: sigma0 sqrt(n) / 15)",
                  "momentum": "ClipUp's momentum", "stdev_lr": "learning rate of the standard deviations",
                  "stdev_max_change": "largest relative change of a standard deviation per generation",
                  "rank": RANK_HELP}
    batchable = True
    mirrored = True

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        check_population_and_sigma("pgpe", h)
        check_rank("pgpe", h["rank"])
        if h["center_lr"] < 0 or h["max_speed"] < 0 or h["stdev_lr"] < 0:
            raise UserError("pgpe: center_lr, max_speed and stdev_lr must be at least 0 (0: the default rule)")
        if not 0 <= h["momentum"] < 1 or not 0 <= h["stdev_max_change"] <= 1:
            raise UserError("pgpe: need 0 <= momentum < 1 and 0 <= stdev_max_change <= 1")

    def generation_floats(self, problem) -> int:
        return lowrank_floats(problem, self.population(problem.dim), self.hyper["rank"]) or super().generation_floats(problem)

    def speeds(self, n: int) -> tuple[float, float]:
        """(center_lr, max_speed) for dimension ``n``, the rules of thumb filling what is 0."""
        h = self.hyper
        max_speed = h["max_speed"] or (2 * h["center_lr"] if h["center_lr"] else h["sigma0"] * math.sqrt(n) / 15)
        return h["center_lr"] or max_speed / 2, max_speed

    def setup(self, problem, seed: int) -> None:
        self.pairs = self.lam // 2
        self.center_lr, self.max_speed = self.speeds(self.n)
        self.layout = noise_layout(problem, self.hyper["rank"])
        self.std = torch.full((self.n,), self.hyper["sigma0"], device=self.device, dtype=self.dtype)
        self.velocity = torch.zeros(self.n, device=self.device, dtype=self.dtype)

    def sample(self):
        if self.layout is not None:
            self.z = LowRankNoise.draw(self.layout, self.pairs, self.hyper["rank"], self.g, self.mean)
            rest = self.layout.rest.to(self.device)
            return self.z.population(self.mean, self.std[self.matrix_starts()], self.std[rest])
        self.z = mirrored_normal(self.pairs, self.mean, self.g)
        return self.mean + self.std * self.z

    def matrix_starts(self) -> torch.Tensor:
        """The first entry of each matrix of the layout ``[matrices]``: where its one std is read."""
        return torch.tensor([m.offset for m in self.layout.matrices], dtype=torch.long, device=self.device)

    def update(self, losses: torch.Tensor) -> None:
        """One generation's update from the utilities of the pairs (plus ends first)."""
        utilities = centred_ranks(losses, self.mean.dtype)
        h = self.hyper
        plus, minus = utilities[: self.pairs], utilities[self.pairs :]
        if self.layout is None:
            eps = self.z[: self.pairs]
            grad_mean = ((plus - minus) / 2) @ (self.std * eps) / self.pairs
            grad_std = ((plus + minus) / 2) @ (self.std * (eps * eps - 1)) / self.pairs
        else:
            grad_mean = self.std * self.z.combine((plus - minus) / 2) / self.pairs
            grad_std = self.std * self.lowrank_std_gradient((plus + minus) / 2) / self.pairs
        self.velocity = clipup(self.velocity, grad_mean, self.center_lr, h["momentum"], self.max_speed)
        self.mean = self.mean + self.velocity
        self.std = bounded_change(self.std, self.std + h["stdev_lr"] * grad_std, h["stdev_max_change"])

    def lowrank_std_gradient(self, weights: torch.Tensor) -> torch.Tensor:
        """``sum_i weights[i] (eps_i^2 - 1)`` ``[n]``, each matrix's entries sharing their mean (its one std)."""
        out = torch.empty_like(self.mean)
        per_matrix = weights @ (self.z.matrix_square_means() - 1)
        for m, value in zip(self.layout.matrices, per_matrix):
            out[m.offset : m.end] = value
        out[self.layout.rest.to(self.device)] = weights @ (self.z.rest * self.z.rest - 1)
        return out

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.std.max(), (self.std.max() / self.std.min()) ** 2
