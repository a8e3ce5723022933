"""Hebbian learning of a feature layer (no labels), then the least-squares readout.

For the first ``hebbian_steps`` steps, the feature layer R ``[in, F]`` follows a Hebbian
rule on the step's layer inputs X ``[B, in]``, with Y = X R:
- ``sanger`` (the generalized Hebbian algorithm): dR = lr (X^T Y - R triu(Y^T Y)) / B;
  the columns of R tend to the leading principal directions, in order;
- ``oja``: dR = lr (X^T Y - R diag(Y^T Y)) / B; each column independently tends to a
  unit-norm leading principal direction.
After that R is frozen and every step adds the step's rows to the readout's normal
equations and solves them exactly (targets from the problem, with its ridge).

Every step evaluates the current parameters on its draw: that charges the step's
rows once, the forward pass the rule and the readout need.
"""
from __future__ import annotations

import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.linalg import NormalEquations
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer

RULES = ("sanger", "oja")


@register_optimizer("hebbian")
class Hebbian(Optimizer):
    """Hebbian (Sanger / Oja) feature learning without labels, then the exact least-squares readout."""

    defaults = {"rule": "sanger", "lr": 0.01, "hebbian_steps": 20}
    hyper_help = {"rule": "sanger (ordered principal directions) or oja (each column alone)",
                  "lr": "learning rate of the Hebbian rule",
                  "hebbian_steps": "steps of feature learning before the layer is frozen"}
    requires = ("feature_layer",)
    default_budget = Budget(steps=40)

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        if h["rule"] not in RULES:
            raise UserError(f"hebbian: rule {h['rule']!r} unknown; known: {', '.join(RULES)}")
        if not h["lr"] > 0 or h["hebbian_steps"] < 0:
            raise UserError("hebbian: need lr > 0 and hebbian_steps >= 0")

    def init(self, problem, seed: int) -> None:
        self.x = problem.initial(seed).clone()
        self.layer = problem.feature_layer()
        self.readout = NormalEquations()  # over the readout's rows: phi with bias [B, F + 1], targets [B, k]
        self.steps = 0

    def hebbian_update(self, inputs: torch.Tensor) -> None:
        """One rule step on ``inputs [B, in]``."""
        r = self.layer.projection(self.x)
        y = inputs @ r
        gram = y.T @ y
        decay = torch.triu(gram) if self.hyper["rule"] == "sanger" else torch.diag(torch.diag(gram))
        r = r + self.hyper["lr"] * (inputs.T @ y - r @ decay) / inputs.shape[0]
        self.x = self.layer.with_projection(self.x, r)

    def readout_update(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the rows to the normal equations and set the readout to their exact solution."""
        phi = self.layer.features(self.x, inputs)
        self.readout.add(torch.cat([phi, torch.ones_like(phi[:, :1])], 1), targets)
        w = self.readout.solve(self.layer.ridge)
        self.x = self.layer.with_readout(self.x, w)

    def step(self, problem, draw) -> StepInfo:
        inputs, targets = self.layer.rows(draw)
        if self.steps < self.hyper["hebbian_steps"]:
            self.hebbian_update(inputs)
        else:
            self.readout_update(inputs, targets)
        self.steps += 1
        loss = problem.evaluate(self.x[None], draw)[0]
        return StepInfo(float(loss))

    def best(self) -> torch.Tensor:
        return self.x.clone()
