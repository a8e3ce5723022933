"""Analytic solve: the exact least-squares (ridge) optimum of a linear readout, in one pass."""
from __future__ import annotations

import torch

from optsuite.linalg import solve_normal_equations
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer


@register_optimizer("analytic")
class Analytic(Optimizer):
    """Exact least-squares optimum of a problem's linear readout (streamed normal equations)."""

    requires = ("linear_readout",)

    def init(self, problem, seed: int) -> None:
        self.x = problem.initial(seed).clone()

    def step(self, problem, draw) -> StepInfo:
        readout = problem.linear_readout()
        w = solve_normal_equations(readout.batches(), readout.ridge)
        self.x = readout.pack(w).to(problem.device, problem.dtype)
        loss = problem.evaluate(self.x[None], draw)[0]
        return StepInfo(float(loss), done=True)

    def best(self) -> torch.Tensor:
        return self.x.clone()
