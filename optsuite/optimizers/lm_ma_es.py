"""LM-MA-ES: limited-memory matrix adaptation (Loshchilov, Glasmachers & Beyer, IEEE TEVC 2019).

Why this one for n from 1e4 to 1e6: it keeps m = 4 + floor(3 ln n) direction vectors
``M [m, n]`` instead of a covariance matrix, so memory is O(m n) and a generation
costs O(m lambda n), with no matrix factorisation at all; its whole update is a few
lines, all on the device. CR-FM-NES (Nomura & Ono 2022) is reported stronger on
ill-conditioned non-separable functions but carries a restricted covariance model,
a rank-one factor and a natural-gradient update, all more state to get right.

Algorithm 1 of the paper, per generation t:

    z_i ~ N(0, I);  d_i = z_i;  for j < min(t, m): d_i <- (1 - c_d,j) d_i + c_d,j M_j (M_j . d_i)
    x_i = mean + sigma d_i;  rank;  mean <- mean + sigma sum_i w_i d_i:lambda
    p   <- (1 - c_sigma) p + sqrt(mu_w c_sigma (2 - c_sigma)) sum_i w_i z_i:lambda
    M_j <- (1 - c_c,j) M_j + sqrt(mu_w c_c,j (2 - c_c,j)) sum_i w_i z_i:lambda
    sigma <- sigma exp(c_sigma / 2 (||p||^2 / n - 1))

with the mu = lambda / 2 positive log-rank weights w of CMA-ES, c_d,j = 1 / (1.5^j n),
c_c,j = lambda / (4^j n) (j from 0). The paper's c_sigma = 2 lambda / n reaches 1 once
n <= 2 lambda (n below about 30 at the default lambda), where the update is not
defined (pypop7 then takes 0.5 for 1 - c_sigma, and at c_sigma = 2 the path gains
nothing, so sigma only shrinks); here c_sigma is capped at 1/2, which changes nothing
for n >= 4 lambda, and c_c,j at 1.
pypop7's ``LMMAES`` implements the same equations; evosax's ``LM_MA_ES`` differs
(CMA-ES's step-size rule, and its M update weights the unsorted z by the sorted weights).
"""
from __future__ import annotations

import math

import torch

from optsuite.errors import UserError
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, DistributionES, check_population_and_sigma, population_size


def positive_weights(lam: int) -> list[float]:
    """The mu = lam // 2 recombination weights ``[mu]`` of CMA-ES: log-rank, summing to 1."""
    raw = [math.log((lam + 1) / 2) - math.log(i) for i in range(1, lam // 2 + 1)]
    return [w / sum(raw) for w in raw]


def sigma_rate(n: int, lam: int) -> float:
    """The paper's c_sigma = 2 lam / n, capped at 1/2."""
    return min(2 * lam / n, 0.5)


@register_optimizer("lm-ma-es")
class LMMAES(DistributionES):
    """Limited-memory matrix adaptation ES (Loshchilov et al. 2019) for large n: O(m n) memory, no matrix.

    ``memory`` is m, the number of direction vectors (0: the paper's 4 + floor(3 ln n));
    ``population`` 0 is the paper's 4 + floor(3 ln n) as well. The stop criteria read
    sigma as the widest standard deviation (the directions are not tracked).
    ``best()`` is the distribution mean.
    """

    defaults = {"population": 0, "sigma0": 0.5, "memory": 0}
    hyper_help = {**HYPER_HELP, "memory": "direction vectors kept (0: 4 + floor(3 ln n))"}
    batchable = True

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        check_population_and_sigma("lm-ma-es", self.hyper)
        if self.hyper["memory"] < 0:
            raise UserError(f"lm-ma-es: memory={self.hyper['memory']} must be at least 0 (0: 4 + floor(3 ln n))")

    def setup(self, problem, seed: int) -> None:
        n, device, dtype = self.n, self.device, self.dtype
        m = self.hyper["memory"] or population_size(n, 0)
        tensor = lambda values: torch.tensor(values, device=device, dtype=dtype)
        weights = positive_weights(self.lam)
        self.weights = tensor(weights)
        self.mu_w = 1 / sum(w * w for w in weights)
        self.c_sigma = sigma_rate(n, self.lam)
        self.c_d = [1 / (1.5**j * n) for j in range(m)]
        c_c = [min(1.0, self.lam / (4**j * n)) for j in range(m)]
        self.path_decay = tensor([1 - c for c in c_c])[:, None]
        self.path_gain = tensor([math.sqrt(self.mu_w * c * (2 - c)) for c in c_c])[:, None]
        self.sigma = tensor(self.hyper["sigma0"])
        self.p_sigma = torch.zeros(n, device=device, dtype=dtype)
        self.M = torch.zeros(m, n, device=device, dtype=dtype)
        self.generation = 0

    def directions(self, z: torch.Tensor) -> torch.Tensor:
        """``z [lam, n]`` -> ``d [lam, n]`` through the first min(t, m) direction vectors, in order."""
        d = z
        for j in range(min(self.generation, len(self.c_d))):
            d = (1 - self.c_d[j]) * d + self.c_d[j] * (d @ self.M[j])[:, None] * self.M[j]
        return d

    def sample(self) -> torch.Tensor:
        self.z = torch.randn(self.lam, self.n, generator=self.g, device=self.device, dtype=self.dtype)
        self.d = self.directions(self.z)
        return self.mean + self.sigma * self.d

    def update(self, losses: torch.Tensor) -> None:
        best = torch.argsort(losses)[: self.weights.numel()]
        self.move(self.weights @ self.z[best], self.weights @ self.d[best])

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sigma, torch.ones_like(self.sigma)

    def move(self, z_w: torch.Tensor, d_w: torch.Tensor) -> None:
        """One generation's update from the weighted means ``z_w, d_w [n]`` of the best mu."""
        n, c = self.mean.numel(), self.c_sigma
        self.mean = self.mean + self.sigma * d_w
        self.p_sigma = (1 - c) * self.p_sigma + math.sqrt(self.mu_w * c * (2 - c)) * z_w
        self.M = self.path_decay * self.M + self.path_gain * z_w
        self.sigma = self.sigma * torch.exp(c / 2 * (self.p_sigma.square().sum() / n - 1))
        self.generation += 1
