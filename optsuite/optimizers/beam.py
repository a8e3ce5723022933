"""Beam search / genetic programming: a beam of k, m mutated children each, keep the best k.

Each step every beam member makes ``children`` children: optionally a crossover with
another member (``uniform``: each coordinate from either parent; ``blend``: BLX-0.5,
each coordinate uniform on the parents' interval widened by half its length on both
sides), then Gaussian mutation with the member's own step size. Parents and children
are evaluated together on the step's draw in one call, so noisy losses compare fairly,
and the best ``beam`` of them survive (a tie keeps the parent).

Step sizes (one per member): ``success`` multiplies a parent's sigma by
``exp(rate - 1/5)``, where ``rate`` is the share of its children that beat it (the
1/5th success rule), and children inherit it; ``self`` gives each child its parent's
sigma times ``exp(N(0, 1) / sqrt(dim))`` so that selection adapts it.
The initial beam is the standard start and ``beam - 1`` mutants of it.
"""
from __future__ import annotations

import math

import torch

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.optimizer import AskTell, StepInfo
from optsuite.registry import register_optimizer

CROSSOVERS = ("none", "uniform", "blend")
ADAPTATIONS = ("success", "self")
SUCCESS_TARGET = 0.2
BLEND_ALPHA = 0.5


@register_optimizer("beam")
class BeamSearch(AskTell):
    """Beam search / genetic programming: mutate (and recombine) the beam, keep the best k of parents and children."""

    defaults = {"beam": 8, "children": 4, "sigma0": 0.3, "crossover": "none", "adapt": "success"}
    batchable = True
    hyper_help = {"beam": "members kept after each step", "children": "children each member makes per step",
                  "sigma0": "initial mutation step size of every member",
                  "crossover": "none, uniform (each coordinate from either parent) or blend (BLX-0.5)",
                  "adapt": "step sizes: success (1/5th success rule) or self (self-adaptive)"}

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        if h["beam"] < 1 or h["children"] < 1:
            raise UserError(f"beam: beam={h['beam']} and children={h['children']} must be at least 1")
        if h["sigma0"] <= 0:
            raise UserError(f"beam: sigma0={h['sigma0']} must be positive")
        if h["crossover"] not in CROSSOVERS:
            raise UserError(f"beam: crossover {h['crossover']!r} unknown; known: {', '.join(CROSSOVERS)}")
        if h["adapt"] not in ADAPTATIONS:
            raise UserError(f"beam: adapt {h['adapt']!r} unknown; known: {', '.join(ADAPTATIONS)}")

    def population(self, dim: int) -> int:
        """Parents and children, evaluated together."""
        return self.hyper["beam"] * (1 + self.hyper["children"])

    def init(self, problem, seed: int) -> None:
        k = self.hyper["beam"]
        self.device, self.dtype = problem.device, problem.dtype
        self.g = generator(seed, "beam", device=self.device)
        x0 = problem.initial(seed).detach().clone().to(self.device, self.dtype)
        self.sigmas = torch.full((k,), self.hyper["sigma0"], device=self.device, dtype=self.dtype)
        self.members = torch.cat([x0[None], self.mutate(x0.expand(k - 1, -1), self.sigmas[1:])])

    def noise(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.g, device=self.device, dtype=self.dtype)

    def mutate(self, points: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """``points [n, dim] + sigmas [n] * N(0, I)``."""
        return points + sigmas[:, None] * self.noise(*points.shape)

    def starting_points(self) -> torch.Tensor:
        """Each child's point before mutation ``[k * m, dim]``, member by member.

        The child's member itself, or with crossover, that member crossed with a random other one.
        """
        k, m = self.members.shape[0], self.hyper["children"]
        parents = self.members.repeat_interleave(m, 0)
        if self.hyper["crossover"] == "none" or k == 1:
            return parents
        own = torch.arange(k, device=self.device).repeat_interleave(m)
        mates = self.members[(own + 1 + torch.randint(k - 1, own.shape, generator=self.g, device=self.device)) % k]
        u = torch.rand(parents.shape, generator=self.g, device=self.device, dtype=self.dtype)
        if self.hyper["crossover"] == "uniform":
            return torch.where(u < 0.5, parents, mates)
        low, high = torch.minimum(parents, mates), torch.maximum(parents, mates)
        width = high - low
        return low - BLEND_ALPHA * width + u * (1 + 2 * BLEND_ALPHA) * width

    def child_sigmas(self) -> torch.Tensor:
        """Step sizes ``[k * m]`` of the children, member by member."""
        sigmas = self.sigmas.repeat_interleave(self.hyper["children"])
        if self.hyper["adapt"] == "self":
            sigmas = sigmas * torch.exp(self.noise(sigmas.shape[0]) / math.sqrt(self.members.shape[1]))
        return sigmas

    def ask(self) -> torch.Tensor:
        """The beam, then its children ``[k (1 + m), dim]``."""
        self.children_sigmas = self.child_sigmas()
        self.children = self.mutate(self.starting_points(), self.children_sigmas)
        return torch.cat([self.members, self.children])

    def tell(self, losses: torch.Tensor) -> StepInfo:
        k, m = self.members.shape[0], self.hyper["children"]
        children, sigmas = self.children, self.children_sigmas
        if self.hyper["adapt"] == "success":
            rate = (losses[k:].view(k, m) < losses[:k, None]).to(sigmas.dtype).mean(1)
            self.sigmas = self.sigmas * torch.exp(rate - SUCCESS_TARGET)
            sigmas = self.sigmas.repeat_interleave(m)
        keep = torch.argsort(losses, stable=True)[:k]
        self.members = torch.cat([self.members, children])[keep]
        self.sigmas = torch.cat([self.sigmas, sigmas])[keep]
        return StepInfo(float(losses[keep[0]]))

    def best(self) -> torch.Tensor:
        """The member with the lowest loss on the last step's draw (the standard start before any step)."""
        return self.members[0].clone()
