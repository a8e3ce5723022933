"""Analytic solve: the exact least-squares (ridge) optimum of a linear readout, in one pass."""
from __future__ import annotations

import math

import torch

from optsuite.errors import UserError
from optsuite.linalg import solve_normal_equations
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer


@register_optimizer("analytic")
class Analytic(Optimizer):
    """Exact least-squares optimum of a problem's linear readout (streamed normal equations).

    ``ridge``: the solve's ridge, per sample as the readout's (``G + ridge * n * I``, n the
    rows streamed). None (the default) takes the problem's, so the solve is its loss's exact
    optimum; a number of its own makes it a regularised fit instead (as gd's weight decay is
    the optimizer's), which a matrix can tune: ``tune = { ridge = [1e-4, 1e-3, 1e-2] }``.
    """

    defaults = {"ridge": None}
    hyper_help = {"ridge": "the solve's ridge per sample (None: the problem's), so a matrix can tune it"}
    requires = ("linear_readout",)
    closed_form = True  # one pass over the data, whatever the budget

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        ridge = self.hyper["ridge"]
        if ridge is not None:
            number = isinstance(ridge, (int, float)) and not isinstance(ridge, bool)
            if not (number and math.isfinite(ridge) and ridge >= 0):
                raise UserError(f"optimizer 'analytic': ridge={ridge!r} must be a non-negative number")
            self.hyper["ridge"] = float(ridge)

    def init(self, problem, seed: int) -> None:
        self.x = problem.initial(seed).clone()

    def step(self, problem, draw) -> StepInfo:
        readout = problem.linear_readout()
        ridge = readout.ridge if self.hyper["ridge"] is None else self.hyper["ridge"]
        w = solve_normal_equations(readout.batches(), ridge)
        self.x = readout.pack(w).to(problem.device, problem.dtype)
        loss = problem.evaluate(self.x[None], draw)[0]
        return StepInfo(float(loss), done=True)

    def best(self) -> torch.Tensor:
        return self.x.clone()
