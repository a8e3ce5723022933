"""Classic test functions in any dimension: sphere, ellipsoid, Rosenbrock, Rastrigin.

Data-free: one evaluation is one sample-forward. float64, so optimizers can be
checked to tight targets. ``rows`` > 0 declares the parameters a ``rows x (dim / rows)``
matrix (row-major), where low-rank perturbations apply (:class:`optsuite.population.Layout`);
the function is the same.
"""
from __future__ import annotations

import math

import torch

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.population import Layout, Matrix, dense
from optsuite.problem import Draw, Problem
from optsuite.registry import register_problem


class Synthetic(Problem):
    dtype = torch.float64
    optimum_loss = 0.0
    init_scale = 1.0  # the standard start: N(0, init_scale^2 I)
    settings_help = {"dim": "number of parameters",
                     "rows": "0, or the rows of the matrix the parameters form (row-major; rows must divide dim)"}

    def __init__(self, dim: int = 10, device: str = "cpu", rows: int = 0) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise UserError(f"problem {self.name!r}: dim={dim!r} must be a positive integer")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0 or (rows and dim % rows):
            raise UserError(f"problem {self.name!r}: rows={rows!r} must be 0 or a positive divisor of dim={dim}")
        self.dim, self.rows = dim, rows
        self.device = self.check_device(device)
        self.flops_per_sample = float(self.flops_per_coordinate * dim)

    def initial(self, seed: int) -> torch.Tensor:
        g = generator(seed, "initial")
        return (self.init_scale * torch.randn(self.dim, generator=g, dtype=self.dtype)).to(self.device)

    def parameter_layout(self) -> Layout | None:
        return Layout(self.dim, (Matrix(0, self.rows, self.dim // self.rows),)) if self.rows else None

    def evaluate(self, params, draw: Draw) -> torch.Tensor:
        return self.f(dense(params))

    def f(self, x: torch.Tensor) -> torch.Tensor:
        """``[P, dim] -> [P]``."""
        raise NotImplementedError

    def metrics(self, params: torch.Tensor) -> dict[str, float]:
        return {"train_loss": float(self.f(params[None])[0])}


@register_problem("sphere")
class Sphere(Synthetic):
    """Sphere: sum x_i^2, optimum 0 at the origin."""

    flops_per_coordinate = 2

    def f(self, x: torch.Tensor) -> torch.Tensor:
        return (x * x).sum(-1)


@register_problem("ellipsoid")
class Ellipsoid(Synthetic):
    """Ellipsoid: sum 10^(6 (i-1)/(n-1)) x_i^2, condition 1e6, optimum 0 at the origin."""

    flops_per_coordinate = 3

    def f(self, x: torch.Tensor) -> torch.Tensor:
        scales = torch.logspace(0, 6, x.shape[-1], dtype=x.dtype, device=x.device)
        return (scales * x * x).sum(-1)


@register_problem("rosenbrock")
class Rosenbrock(Synthetic):
    """Rosenbrock: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, optimum 0 at all ones."""

    flops_per_coordinate = 8
    init_scale = 0.5

    def __init__(self, dim: int = 10, device: str = "cpu", rows: int = 0) -> None:
        if isinstance(dim, int) and dim < 2:
            raise UserError(f"problem 'rosenbrock': dim={dim} must be at least 2")
        super().__init__(dim, device, rows)

    def f(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, :-1], x[:, 1:]
        return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2).sum(-1)


@register_problem("rastrigin")
class Rastrigin(Synthetic):
    """Rastrigin: 10 n + sum x_i^2 - 10 cos(2 pi x_i), multimodal, optimum 0 at the origin."""

    flops_per_coordinate = 6
    init_scale = 2.0

    def f(self, x: torch.Tensor) -> torch.Tensor:
        return 10.0 * x.shape[-1] + (x * x - 10.0 * torch.cos(2 * math.pi * x)).sum(-1)
