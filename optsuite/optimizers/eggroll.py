"""EGGROLL (Sarkar et al., "Evolution Strategies at the Hyperscale", arXiv 2511.16652, 2025): ES with low-rank noise.

Each weight matrix of the problem's parameter layout is perturbed by ``sigma A B^T / sqrt(r)`` with
``A [rows, r]`` and ``B [cols, r]`` standard normal (r = ``rank``), every other entry by ``sigma eps``
with dense standard normal ``eps`` (:mod:`._lowrank`), in mirrored pairs. A problem with a layout
evaluates the population as one product with the mean plus rank-r corrections per candidate, at
about the cost of plain inference; the population's update is still full-rank (a sum of P low-rank
terms). As in the reference code (ESHyperscale/HyperscaleES, ``noiser/eggroll.py``, the ``EggRoll``
noiser):

- fitness ``f = -loss``, normalised over the population to ``(f - mean) / sqrt(var + 1e-5)`` (population
  variance; ``convert_fitnesses`` with no groups);
- the direction handed to the optimizer is ``g = -(sigma / sqrt(P)) sum_i f_i eps_i`` (``eps_i`` the
  candidate's signed perturbation, ``A_i B_i^T / sqrt(r)`` on a matrix), ``do_updates``' gradient;
- the optimizer is optax's: ``sgd`` (the reference's default, ``mean <- mean - lr g``) or ``adam``
  (optax's defaults), with ``weight_decay`` as optax's ``adamw`` adds it (``lr wd mean``, decoupled);
- the noise of a generation is drawn from a generator seeded by (seed, generation) and drawn again in
  ``tell`` rather than kept between ``ask`` and ``tell``.

Under SGD the step is ``lr sigma / sqrt(P) sum_i f_i eps_i``: plain ES with the learning rate
``lr sigma^2 sqrt(P)``. sigma is fixed, as in the reference. Where a problem declares no layout every
entry's noise is dense, and EGGROLL is OpenAI-style ES with this update.
"""
from __future__ import annotations

import math

import torch

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, DistributionES, check_population_and_sigma
from ._lowrank import LowRankNoise, lowrank_floats, noise_layout

FITNESS_EPSILON = 1e-5  # the reference's convert_fitnesses: (f - mean) / sqrt(var + 1e-5)
OPTIMIZERS = ("sgd", "adam")
ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}  # optax.adam's defaults


def normalised_fitness(losses: torch.Tensor) -> torch.Tensor:
    """The reference's fitness shaping of ``-losses [P]``: z-scores with 1e-5 added to the variance."""
    f = -losses.double()
    return (f - f.mean()) / torch.sqrt(f.var(unbiased=False) + FITNESS_EPSILON)


@register_optimizer("eggroll")
class EGGROLL(DistributionES):
    """EGGROLL: low-rank perturbations of each weight matrix, z-scored fitness, SGD or Adam (the reference's update).

    ``rank`` r of each matrix's noise (capped at min(rows, cols)); ``sigma0``: sigma, fixed;
    ``lr`` and ``optimizer`` (``adam`` or ``sgd``) step on the reference's update direction;
    ``weight_decay``: optax adamw's decoupled decay (also under sgd). ``population`` is rounded up
    to even (pairs). ``best()`` is the distribution mean. The defaults (Adam, lr 0.01, sigma 0.02)
    are those of OpenAI-ES's code; the reference library defaults to SGD, with which a NoProp
    block on digits trained to 85 % against Adam's 92-94 % (reports/engine_benchmark.md).
    """

    defaults = {"population": 0, "sigma0": 0.02, "lr": 0.01, "rank": 1, "optimizer": "adam", "weight_decay": 0.0}
    hyper_help = {**HYPER_HELP, "population": "candidates per generation, in mirrored pairs (0: 4 + floor(3 ln n), made even)",
                  "sigma0": "sigma: the scale of every perturbation (fixed)",
                  "lr": "the optimizer's step size on the update direction",
                  "rank": "rank r of each weight matrix's noise sigma A B^T / sqrt(r) (capped at min(rows, cols))",
                  "optimizer": "adam (optax's) or sgd (the reference library's default), on -(sigma / sqrt(P)) sum_i f_i eps_i",
                  "weight_decay": "decoupled weight decay, lr * weight_decay * mean per step (optax's adamw)"}
    batchable = True
    mirrored = True

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        check_population_and_sigma("eggroll", h)
        if h["rank"] < 1:
            raise UserError(f"eggroll: rank={h['rank']} must be at least 1")
        if h["lr"] <= 0 or h["weight_decay"] < 0:
            raise UserError(f"eggroll: need lr > 0 and weight_decay >= 0, got lr={h['lr']}, "
                            f"weight_decay={h['weight_decay']}")
        if h["optimizer"] not in OPTIMIZERS:
            raise UserError(f"eggroll: optimizer {h['optimizer']!r} unknown; known: {', '.join(OPTIMIZERS)}")

    def generation_floats(self, problem) -> int:
        return lowrank_floats(problem, self.population(problem.dim), self.hyper["rank"])

    def setup(self, problem, seed: int) -> None:
        self.seed, self.generation, self.pairs = seed, 0, self.lam // 2
        self.layout = noise_layout(problem, self.hyper["rank"])
        self.moments = (torch.zeros_like(self.mean), torch.zeros_like(self.mean))  # Adam's m and v

    def noise(self) -> LowRankNoise:
        """This generation's pairs of noise, from a generator seeded by (seed, generation): the same in ask and tell."""
        g = generator(self.seed, "eggroll", self.generation, device=self.device)
        return LowRankNoise.draw(self.layout, self.pairs, self.hyper["rank"], g, self.mean)

    def sample(self):
        sigma = self.hyper["sigma0"]
        return self.noise().population(self.mean, sigma, sigma)

    def direction(self, losses: torch.Tensor) -> torch.Tensor:
        """The reference's update direction ``[n]``: ``-(sigma / sqrt(P)) sum_i f_i eps_i`` (to descend)."""
        f = normalised_fitness(losses)
        pairs = (f[: self.pairs] - f[self.pairs :]).to(self.dtype)  # eps of a pair's second half is -eps
        return -(self.hyper["sigma0"] / math.sqrt(self.lam)) * self.noise().combine(pairs)

    def update(self, losses: torch.Tensor) -> None:
        h, g = self.hyper, self.direction(losses)
        self.generation += 1
        if h["optimizer"] == "adam":
            m, v = self.moments
            m, v = ADAM["b1"] * m + (1 - ADAM["b1"]) * g, ADAM["b2"] * v + (1 - ADAM["b2"]) * g * g
            self.moments = (m, v)
            t = self.generation
            g = (m / (1 - ADAM["b1"] ** t)) / ((v / (1 - ADAM["b2"] ** t)).sqrt() + ADAM["eps"])
        self.mean = self.mean - h["lr"] * (g + h["weight_decay"] * self.mean)

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = torch.tensor(self.hyper["sigma0"], dtype=torch.float64, device=self.device)
        return sigma, torch.ones_like(sigma)
