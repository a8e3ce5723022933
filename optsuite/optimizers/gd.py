"""Gradient descent through torch.optim: SGD (with momentum), Adam, AdamW, with lr schedules and clipping."""
from __future__ import annotations

import torch

from optsuite.errors import UserError
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer
from optsuite.lr_schedules import Schedule

ALGORITHMS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def clipped(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """``grad [dim]`` rescaled to an L2 norm of at most ``max_norm`` (a new tensor if rescaled)."""
    norm = float(grad.norm())
    return grad * (max_norm / norm) if norm > max_norm else grad


@register_optimizer("gd")
class GradientDescent(Optimizer):
    """Gradient descent (SGD, Adam, AdamW via torch.optim) on the step's minibatch.

    The learning rate at step t is ``lr * schedule.factor(t)`` (see
    :mod:`optsuite.lr_schedules`: constant, cosine, linear or step decay over ``horizon``
    steps, after ``warmup`` steps of linear warmup). ``clip`` > 0 rescales the gradient
    to at most that L2 norm before the update.
    """

    defaults = {
        "algorithm": "adamw", "lr": 1e-3, "weight_decay": 1e-3, "momentum": 0.0,
        "schedule": "constant", "horizon": 5000, "warmup": 0, "lr_floor": 0.0,
        "gamma": 0.1, "decay_every": 1000, "clip": 0.0,
    }
    hyper_help = {
        "algorithm": "sgd, adam or adamw (torch.optim)", "lr": "base learning rate",
        "weight_decay": "weight decay (adamw: decoupled)", "momentum": "SGD momentum, in [0, 1)",
        "schedule": "learning-rate schedule: constant, cosine, linear or step",
        "horizon": "steps over which the schedule decays", "warmup": "steps of linear warmup first",
        "lr_floor": "final multiplier of the cosine and linear schedules",
        "gamma": "the step schedule's multiplier per decay", "decay_every": "steps between the step schedule's decays",
        "clip": "rescale the gradient to at most this L2 norm (0: no clipping)",
    }

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        if h["algorithm"] not in ALGORITHMS:
            raise UserError(f"gd: algorithm {h['algorithm']!r} unknown; known: {', '.join(ALGORITHMS)}")
        if h["lr"] <= 0:
            raise UserError(f"gd: lr={h['lr']} must be positive")
        if h["weight_decay"] < 0 or not 0 <= h["momentum"] < 1 or h["clip"] < 0:
            raise UserError("gd: need weight_decay >= 0, 0 <= momentum < 1, clip >= 0")
        try:
            self.schedule = Schedule(h["schedule"], h["horizon"], h["warmup"], h["lr_floor"], h["gamma"],
                                     h["decay_every"])
        except UserError as exc:
            raise UserError(f"gd: {exc}") from None

    def init(self, problem, seed: int) -> None:
        self.x = problem.initial(seed).clone().requires_grad_(True)
        self.t = 0
        h = self.hyper
        kwargs = {"lr": h["lr"], "weight_decay": h["weight_decay"]}
        if h["algorithm"] == "sgd":
            kwargs["momentum"] = h["momentum"]
        self.opt = ALGORITHMS[h["algorithm"]]([self.x], **kwargs)

    def step(self, problem, draw) -> StepInfo:
        loss, grad = problem.loss_and_grad(self.x.detach(), draw)
        if self.hyper["clip"] > 0:
            grad = clipped(grad, self.hyper["clip"])
        self.x.grad = grad
        for group in self.opt.param_groups:
            group["lr"] = self.hyper["lr"] * self.schedule.factor(self.t)
        self.opt.step()
        self.t += 1
        return StepInfo(float(loss))

    def best(self) -> torch.Tensor:
        return self.x.detach().clone()
