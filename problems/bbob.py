"""COCO's BBOB noiseless functions f1..f24 (through cocoex) as data-free problems.

The loss is f(x) - f_opt >= 0, so targets such as 1e-8 read directly off the loss;
``metrics`` reports the raw f as well. cocoex evaluates one point at a time, so a
population is a Python loop inside one ``evaluate`` call. No observer is attached:
nothing is written to disk.
"""
from __future__ import annotations

import cocoex
import numpy as np
import torch

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.problem import Cost, Draw, Problem
from optsuite.registry import register_problem

MAX_DIM = 40  # the bbob suite's range; cocoex crashes on some functions beyond it
FD_STEP = 1e-6  # relative step of the central differences in loss_and_grad


def _check(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"problem 'bbob': {name}={value!r} must be an integer from {low} to {high}")
    return value


@register_problem("bbob")
class BBOB(Problem):
    """BBOB noiseless function (COCO, cocoex): loss f - f_opt, float64, dims 2..40, any instance."""

    dtype = torch.float64
    optimum_loss = 0.0  # f - f_opt
    settings_help = {"function": "the bbob function, 1..24", "dim": f"number of parameters, 2..{MAX_DIM}",
                     "instance": "the function's instance (its shift and rotation), from 1"}

    def __init__(self, function: int = 1, dim: int = 5, instance: int = 1, device: str = "cpu") -> None:
        self.function = _check("function", function, 1, 24)
        self.dim = _check("dim", dim, 2, MAX_DIM)
        self.instance = _check("instance", instance, 1, 2**31 - 1)
        self.device = self.check_device(device)
        self.flops_per_sample = float(4 * dim * dim)  # an estimate: up to two rotations of x
        self._build()

    def _build(self) -> None:
        self._coco = cocoex.BareProblem("bbob", self.function, self.dim, self.instance)
        self.f_opt = float(self._coco.best_value())

    def __getstate__(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "_coco"}

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state)
        self._build()

    def initial(self, seed: int) -> torch.Tensor:
        """Uniform in [-4, 4]^dim, inside the suite's search domain [-5, 5]^dim."""
        g = generator(seed, "initial")
        return (8 * torch.rand(self.dim, generator=g, dtype=self.dtype) - 4).to(self.device)

    def raw(self, params: torch.Tensor) -> np.ndarray:
        """f of each row of ``params [P, dim]`` -> ``[P]`` (numpy, float64)."""
        points = params.detach().cpu().double().numpy()
        return np.array([self._coco(x) for x in points], dtype=np.float64)

    def evaluate(self, params: torch.Tensor, draw: Draw) -> torch.Tensor:
        return torch.as_tensor(self.raw(params) - self.f_opt, device=self.device)

    def loss_and_grad(self, params: torch.Tensor, draw: Draw) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and central-difference gradient ``[dim]`` (cocoex gives no derivatives).

        Charged by :meth:`cost` as the 2 dim + 1 evaluations the differences take.
        """
        x = params.detach().to(self.dtype)
        steps = FD_STEP * x.abs().clamp_min(1.0)
        shifts = torch.diag(steps)
        values = self.evaluate(torch.cat([x[None], x + shifts, x - shifts]), draw)
        grad = (values[1 : self.dim + 1] - values[self.dim + 1 :]) / (2 * steps)
        return values[0], grad

    def cost(self, population: int, draw: Draw, grad: bool = False) -> Cost:
        """A gradient costs the 2 dim + 1 evaluations of its central differences."""
        points = population * (2 * self.dim + 1 if grad else 1)  # one point is one evaluation
        return Cost(points, points, points * self.flops_per_sample)

    def metrics(self, params: torch.Tensor) -> dict[str, float]:
        f = float(self.raw(params[None])[0])
        return {"train_loss": f - self.f_opt, "f": f}
