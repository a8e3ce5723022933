"""CMA-ES on the problem's device, with the defaults of Hansen's "The CMA Evolution Strategy: A Tutorial".

Full covariance (lazy eigendecomposition) or separable (diagonal covariance, as in
Ros & Hansen 2008: learning rates scaled by (n + 2) / 3). All state and sampling stay
on the device; a generation reads back one small tensor (best loss and stop criteria).

The full covariance is sampled through a factor ``A`` with ``A A^T = C``, refreshed on
the same lazy gap: ``factor = "eigen"`` takes the symmetric root ``B D B^T`` of the
tutorial (eigendecomposition, ``torch.linalg.eigh``); ``factor = "cholesky"`` takes the
lower Cholesky factor ``L``, several times cheaper to compute (on a GPU, ``eigh`` of a
few thousand dimensions costs tens of milliseconds). With ``L`` the step-size path
accumulates ``L^-1 y = z`` in place of ``C^(-1/2) y``, as in the Cholesky-CMA-ES of
Krause, Arbones & Igel (2016), who found the two equally good. A Cholesky factorisation
that fails (C not numerically positive definite) falls back to the eigendecomposition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from optsuite.errors import UserError
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, DistributionES, check_population_and_sigma


@dataclass(frozen=True)
class Strategy:
    """The tutorial's strategy constants for dimension ``n`` and population ``lam``."""

    n: int
    lam: int
    mu: int
    weights: list[float]  # [lam]: positive for the mu best, negative (active update) after
    mueff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi_n: float  # E||N(0, I)||
    eigen_interval: float  # generations between eigendecompositions

    @classmethod
    def tutorial(cls, n: int, lam: int, separable: bool = False) -> "Strategy":
        mu = lam // 2
        raw = [math.log((lam + 1) / 2) - math.log(i) for i in range(1, lam + 1)]
        positive, negative = raw[:mu], raw[mu:]
        mueff = sum(positive) ** 2 / sum(w * w for w in positive)
        mueff_minus = sum(negative) ** 2 / sum(w * w for w in negative) if sum(negative) else 0.0
        c_1 = 2 / ((n + 1.3) ** 2 + mueff)
        c_mu = min(1 - c_1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        if separable:
            c_1 = min(1.0, c_1 * (n + 2) / 3)
            c_mu = min(1 - c_1, c_mu * (n + 2) / 3)
        alpha_minus = min(1 + c_1 / c_mu if c_mu else math.inf,
                          1 + 2 * mueff_minus / (mueff + 2),
                          (1 - c_1 - c_mu) / (n * c_mu) if c_mu else math.inf)
        weights = [w / sum(positive) for w in positive]
        weights += [alpha_minus * w / -sum(negative) for w in negative] if sum(negative) else [0.0] * len(negative)
        c_sigma = (mueff + 2) / (n + mueff + 5)
        return cls(
            n=n, lam=lam, mu=mu, weights=weights, mueff=mueff, c_sigma=c_sigma,
            d_sigma=1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + c_sigma,
            c_c=(4 + mueff / n) / (n + 4 + 2 * mueff / n), c_1=c_1, c_mu=c_mu,
            chi_n=math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n)),
            eigen_interval=1 / ((c_1 + c_mu) * n * 10),
        )


@register_optimizer("torch-cma")
class TorchCMA(DistributionES):
    """CMA-ES in torch on the problem's device (tutorial defaults); separable=true for diagonal C.

    ``eigen_interval``: generations between factorisations of the full covariance;
    0 takes the tutorial's (and pycma's) 1 / ((c_1 + c_mu) n 10). ``factor``: ``eigen``
    (symmetric root) or ``cholesky`` (lower Cholesky factor). ``best()`` is the
    distribution mean.
    """

    defaults = {"population": 0, "sigma0": 0.5, "separable": False, "eigen_interval": 0.0, "factor": "eigen"}
    batchable = True
    hyper_help = {**HYPER_HELP, "separable": "diagonal covariance (Ros & Hansen 2008): linear in the dimension",
                  "eigen_interval": "generations between factorisations of C (0: the tutorial's)",
                  "factor": "how C is factorised for sampling: eigen (symmetric root) or cholesky (cheaper)"}
    FACTORS = ("eigen", "cholesky")

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        check_population_and_sigma("torch-cma", self.hyper)
        if not self.hyper["eigen_interval"] >= 0:
            raise UserError(f"torch-cma: eigen_interval must be at least 0, got {self.hyper['eigen_interval']}")
        if self.hyper["factor"] not in self.FACTORS:
            raise UserError(f"torch-cma: factor must be one of {', '.join(self.FACTORS)}, got {self.hyper['factor']!r}")
        if self.hyper["factor"] != "eigen" and self.hyper["separable"]:
            raise UserError("torch-cma: factor applies to a full covariance; separable=true has none to factor")

    def setup(self, problem, seed: int) -> None:
        n, device, dtype = self.n, self.device, self.dtype
        self.s = Strategy.tutorial(n, self.lam, self.hyper["separable"])
        if self.hyper["eigen_interval"]:
            self.s = replace(self.s, eigen_interval=float(self.hyper["eigen_interval"]))
        tensor = lambda value: torch.tensor(value, device=device, dtype=dtype)
        self.weights = tensor(self.s.weights)
        self.sigma = tensor(self.hyper["sigma0"])
        self.p_sigma = torch.zeros(n, device=device, dtype=dtype)
        self.p_c = torch.zeros(n, device=device, dtype=dtype)
        self.D = torch.ones(n, device=device, dtype=dtype)  # sqrt of C's eigenvalues (separable: of its diagonal)
        self.B = None if self.hyper["separable"] else torch.eye(n, device=device, dtype=dtype)
        self.A = None  # cholesky: the factor A (A A^T = C) that y = A z samples through; None: B D
        self.C = torch.ones(n, device=device, dtype=dtype) if self.B is None else torch.eye(n, device=device, dtype=dtype)
        self.generation = 0
        self.eigen_generation = 0

    def directions(self, z: torch.Tensor) -> torch.Tensor:
        """Standard normal ``z [P, n]`` -> ``y = B D z`` (or ``A z``) ``[P, n]``, distributed as N(0, C)."""
        if self.A is not None:
            return z @ self.A.T
        return z * self.D if self.B is None else (z * self.D) @ self.B.T

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        """The path's ``C^(-1/2) y`` for ``y = B D z``: ``B z`` ``[n]``; with a factor A, ``A^-1 y = z``."""
        return z if self.B is None or self.A is not None else self.B @ z

    def sample(self) -> torch.Tensor:
        self.z = torch.randn(self.s.lam, self.s.n, generator=self.g, device=self.mean.device, dtype=self.mean.dtype)
        self.y = self.directions(self.z)
        return self.mean + self.sigma * self.y

    def update(self, losses: torch.Tensor) -> None:
        order = torch.argsort(losses)
        self.adapt(self.z[order], self.y[order])

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        widest = self.D.max() if self.A is None else self.C.diagonal().clamp_min(0).sqrt().max()
        return self.sigma * widest, (self.D.max() / self.D.min()) ** 2

    def adapt(self, z: torch.Tensor, y: torch.Tensor) -> None:
        """One generation's update from ``z, y [lam, n]`` sorted best first."""
        s, w = self.s, self.weights
        y_w, z_w = w[: s.mu] @ y[: s.mu], w[: s.mu] @ z[: s.mu]
        self.mean = self.mean + self.sigma * y_w
        self.p_sigma = (1 - s.c_sigma) * self.p_sigma + math.sqrt(s.c_sigma * (2 - s.c_sigma) * s.mueff) * self.whiten(z_w)
        norm = self.p_sigma.norm()
        threshold = (1.4 + 2 / (s.n + 1)) * s.chi_n * math.sqrt(1 - (1 - s.c_sigma) ** (2 * (self.generation + 1)))
        h_sigma = (norm < threshold).to(y.dtype)
        self.p_c = (1 - s.c_c) * self.p_c + h_sigma * math.sqrt(s.c_c * (2 - s.c_c) * s.mueff) * y_w
        # ||C^(-1/2) y_i||^2 = ||z_i||^2: negative weights are rescaled to n / ||z_i||^2
        w_circ = torch.where(w >= 0, w, w * s.n / (z * z).sum(1))
        decay = 1 + s.c_1 * (1 - h_sigma) * s.c_c * (2 - s.c_c) - s.c_1 - s.c_mu * sum(s.weights)
        # rank-one and rank-mu updates in one product: rows [1 + lam, n] with coefficients [1 + lam]
        rows = torch.cat([self.p_c[None], y])
        coefficients = torch.cat([w_circ.new_full((1,), s.c_1), s.c_mu * w_circ])
        if self.B is None:
            self.C.mul_(decay).add_(coefficients @ (rows * rows))
        else:
            self.C.mul_(decay).addmm_(rows.T * coefficients, rows)
        self.sigma = self.sigma * torch.exp(s.c_sigma / s.d_sigma * (norm / s.chi_n - 1))
        self.generation += 1
        self.decompose()

    def decompose(self) -> None:
        """Refresh ``B, D`` (or ``A``) from ``C``: every generation when separable, else lazily.

        With a Cholesky factor, ``D`` holds its diagonal, and the stop criteria read the
        widest standard deviation along a coordinate (``sqrt(C_ii)``) and ``(D.max / D.min)^2``,
        a lower bound of C's condition number.
        """
        if self.B is None:
            self.D = self.C.clamp_min(0).sqrt()
            return
        if self.generation - self.eigen_generation <= self.s.eigen_interval:
            return
        self.eigen_generation = self.generation
        self.C = (self.C + self.C.T) / 2
        if self.hyper["factor"] == "cholesky":
            factor, info = torch.linalg.cholesky_ex(self.C)
            if not info.item():  # one scalar read per factorisation: whether C was positive definite
                self.A, self.D = factor, factor.diagonal().clone()
                return
            self.A = None
        eigenvalues, self.B = torch.linalg.eigh(self.C)
        self.D = eigenvalues.clamp_min(0).sqrt()
