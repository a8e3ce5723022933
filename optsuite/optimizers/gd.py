"""Gradient descent through torch.optim: SGD (with momentum), Adam, AdamW."""
from __future__ import annotations

import torch

from optsuite.errors import UserError
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer

ALGORITHMS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@register_optimizer("gd")
class GradientDescent(Optimizer):
    """Gradient descent (SGD, Adam, AdamW via torch.optim) on the step's minibatch."""

    defaults = {"algorithm": "adamw", "lr": 1e-3, "weight_decay": 1e-3, "momentum": 0.0}

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        if self.hyper["algorithm"] not in ALGORITHMS:
            raise UserError(f"gd: algorithm {self.hyper['algorithm']!r} unknown; known: {', '.join(ALGORITHMS)}")
        if self.hyper["lr"] <= 0:
            raise UserError(f"gd: lr={self.hyper['lr']} must be positive")

    def init(self, problem, seed: int) -> None:
        self.x = problem.initial(seed).clone().requires_grad_(True)
        h = self.hyper
        kwargs = {"lr": h["lr"], "weight_decay": h["weight_decay"]}
        if h["algorithm"] == "sgd":
            kwargs["momentum"] = h["momentum"]
        self.opt = ALGORITHMS[h["algorithm"]]([self.x], **kwargs)

    def step(self, problem, draw) -> StepInfo:
        loss, grad = problem.loss_and_grad(self.x.detach(), draw)
        self.x.grad = grad
        self.opt.step()
        return StepInfo(float(loss))

    def best(self) -> torch.Tensor:
        return self.x.detach().clone()
