"""Monte Carlo search: global random sampling and local search with a shrinking radius.

Two modes, both keeping the best point seen (the incumbent) and re-evaluating it with
the step's ``population - 1`` candidates in one batched call:

- ``global``: pure random search over the problem's own initialisation distribution;
  candidate i of step s is ``problem.initial(derive_seed(seed, s, i))``. It answers
  "how good is the best of N fresh initialisations". ``radius``, ``shrink`` and
  ``patience`` do not apply. Drawing candidates costs one ``initial`` call each, which
  the ledger does not charge; for network problems on the CPU that costs about as
  much as evaluating the population, which a seconds budget sees.
- ``local``: Gaussian steps of the current ``radius`` around the incumbent; the radius
  is multiplied by ``shrink`` after ``patience`` steps without improvement.
"""
from __future__ import annotations

import torch

from optsuite.crn import derive_seed, generator
from optsuite.errors import UserError
from optsuite.optimizer import AskTell, StepInfo
from optsuite.registry import register_optimizer


@register_optimizer("montecarlo")
class MonteCarlo(AskTell):
    """Random search: global (fresh initial draws) or local (Gaussian around the best, shrinking radius).

    Each step evaluates the incumbent and ``population - 1`` candidates on the same
    draw in one batched call, so noisy losses are compared fairly. Local mode multiplies
    the radius by ``shrink`` after ``patience`` steps without improvement.
    """

    defaults = {"mode": "local", "population": 16, "radius": 0.5, "shrink": 0.5, "patience": 5}
    batchable = True
    hyper_help = {"mode": "local (Gaussian around the best) or global (fresh initial draws)",
                  "population": "points per step, the incumbent included",
                  "radius": "local mode: initial standard deviation of the steps",
                  "shrink": "local mode: radius multiplier after patience steps without improvement",
                  "patience": "local mode: steps without improvement before the radius shrinks"}

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        if h["mode"] not in ("local", "global"):
            raise UserError(f"montecarlo: mode {h['mode']!r} must be 'local' or 'global'")
        if h["population"] < 2:
            raise UserError(f"montecarlo: population={h['population']} must be at least 2")
        if h["radius"] <= 0 or not 0 < h["shrink"] < 1 or h["patience"] < 1:
            raise UserError("montecarlo: need radius > 0, 0 < shrink < 1, patience >= 1")

    def population(self, dim: int) -> int:
        return self.hyper["population"]

    def init(self, problem, seed: int) -> None:
        self.problem, self.seed, self.steps = problem, seed, 0
        self.x = problem.initial(seed).clone()
        self.radius = float(self.hyper["radius"])
        self.stale = 0
        self.g = generator(seed, "montecarlo", device=problem.device)

    def candidates(self, problem, step: int) -> torch.Tensor:
        """``[population - 1, dim]`` new points."""
        n = self.hyper["population"] - 1
        if self.hyper["mode"] == "global":
            return torch.stack([problem.initial(derive_seed(self.seed, step, i)) for i in range(n)])
        noise = torch.randn(n, problem.dim, generator=self.g, device=problem.device, dtype=problem.dtype)
        return self.x + self.radius * noise

    def ask(self) -> torch.Tensor:
        """The incumbent, then the step's new points ``[population, dim]``."""
        self.asked = torch.cat([self.x[None], self.candidates(self.problem, self.steps)])
        return self.asked

    def tell(self, losses: torch.Tensor) -> StepInfo:
        self.steps += 1
        i = int(torch.argmin(losses))
        if i > 0:
            self.x, self.stale = self.asked[i].clone(), 0
        else:
            self.stale += 1
            if self.stale >= self.hyper["patience"]:
                self.radius *= self.hyper["shrink"]
                self.stale = 0
        return StepInfo(float(losses[i]))

    def best(self) -> torch.Tensor:
        return self.x.clone()
