"""What the evolution strategies share (cma, torch-cma, snes, pgpe, openes, lm-ma-es, eggroll).

The hyperparameters ``population`` (0: the default ``4 + floor(3 ln n)``) and
``sigma0`` (initial step size) mean the same in each, and the device-resident ones
stop on the same criteria as pycma's ``tolx``, ``tolfun`` and ``tolconditioncov``.
The gradient estimators (pgpe, openes, eggroll) share mirrored sampling and centred ranks.
:class:`DistributionES` is the ask/tell base of the device-resident ones, in the manner of
evosax's strategies: ``ask`` samples a population around the mean, ``tell`` updates the
search distribution from the losses and applies the shared stop rules.
"""
from __future__ import annotations

import math

import torch

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.optimizer import AskTell, StepInfo
from optsuite.population import Population

TOL_X = 1e-11  # the search distribution's widest standard deviation
TOL_FUN = 1e-11  # the spread of one generation's losses
TOL_CONDITION = 1e14  # the condition number of the covariance
HYPER_HELP = {"population": "candidates per generation (0: 4 + floor(3 ln n))",
              "sigma0": "initial step size (standard deviation of the search distribution)"}


def check_population_and_sigma(name: str, hyper: dict) -> None:
    """Raise UserError unless ``population`` is 0 or at least 2 and ``sigma0`` is positive."""
    if hyper["population"] != 0 and hyper["population"] < 2:
        raise UserError(f"{name}: population={hyper['population']} must be 0 (default) or at least 2")
    if hyper["sigma0"] <= 0:
        raise UserError(f"{name}: sigma0={hyper['sigma0']} must be positive")


def population_size(dim: int, requested: int) -> int:
    """``requested``, or the default ``4 + floor(3 ln dim)`` when it is 0."""
    return requested or 4 + int(3 * math.log(dim))


def even_population_size(dim: int, requested: int) -> int:
    """:func:`population_size`, rounded up to even for mirrored sampling."""
    lam = population_size(dim, requested)
    return lam + lam % 2


def mirrored_normal(pairs: int, like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Standard normal ``[2 pairs, n]`` shaped like ``like [n]``: rows ``pairs..`` are rows ``..pairs`` negated."""
    z = torch.randn(pairs, like.numel(), generator=g, device=like.device, dtype=like.dtype)
    return torch.cat([z, -z])


def centred_ranks(losses: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Utilities ``[P]`` of losses ``[P]`` (P >= 2): linear in the rank, 0.5 for the lowest loss, -0.5 for the highest.

    The fitness shaping of Salimans et al. (2017), as EvoTorch's ``centered`` and
    evosax's ``centered_rank`` (with the sign flipped: here a higher utility is better).
    Tied losses share their mean rank, as in evosax, so a flat loss gives all zeros.
    """
    ordered, order = torch.sort(losses)
    first = torch.searchsorted(ordered, ordered)
    last = torch.searchsorted(ordered, ordered, right=True) - 1
    utilities = torch.empty(losses.numel(), device=losses.device, dtype=dtype)
    utilities[order] = (0.5 - (first + last).to(dtype) / (2 * (losses.numel() - 1)))
    return utilities


def step_report(losses: torch.Tensor, widest_std: torch.Tensor, condition: torch.Tensor) -> StepInfo:
    """The step's best loss and whether to stop, read from the device in one transfer.

    ``losses [P]``; ``widest_std``, ``condition``: scalars of the search distribution.
    """
    values = torch.stack([losses.min(), losses.max() - losses.min(), widest_std, condition])
    best, spread, std, cond = values.double().tolist()
    done = not math.isfinite(std) or std < TOL_X or spread < TOL_FUN or not cond < TOL_CONDITION
    return StepInfo(best, done)


class DistributionES(AskTell):
    """Base of the evolution strategies that move a search distribution around a mean, on the problem's device.

    ``init`` does what they share: the dimension ``n``, ``device`` and ``dtype``, the population size
    ``lam`` (:meth:`population`: made even where ``mirrored``), the generator ``g`` seeded by (seed, the
    optimizer's name) and the start ``mean`` (the problem's initial point), then calls :meth:`setup`.
    ``ask`` is :meth:`sample`; ``tell`` is :meth:`update`, then the stop rules of :func:`step_report` on
    what :meth:`spread` says of the distribution. ``best()`` is the mean.
    """

    mirrored: bool = False  # perturbations evaluated in pairs, +eps and -eps (rows P/2.. negate rows ..P/2)

    def population(self, dim: int) -> int:
        """Rows of every ``ask``: the population asked for (0: ``4 + floor(3 ln dim)``), made even where mirrored."""
        lam = population_size(dim, self.hyper["population"])
        return lam + lam % 2 if self.mirrored else lam

    def init(self, problem, seed: int) -> None:
        self.n, self.device, self.dtype = problem.dim, problem.device, problem.dtype
        self.lam = self.population(self.n)
        self.g = generator(seed, self.name, device=self.device)
        self.mean = problem.initial(seed).detach().clone().to(self.device, self.dtype)
        self.setup(problem, seed)

    def setup(self, problem, seed: int) -> None:
        """The strategy's own state, after the shared preamble of :meth:`init`."""

    def sample(self) -> Population:
        """This generation's candidates ``[lam, n]`` (or low-rank)."""
        raise NotImplementedError

    def update(self, losses: torch.Tensor) -> None:
        """Move the distribution on the losses ``[lam]`` of the last sample."""
        raise NotImplementedError

    def spread(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(widest standard deviation, condition number) of the distribution, scalars, for the stop rules."""
        raise NotImplementedError

    def ask(self) -> Population:
        return self.sample()

    def tell(self, losses: torch.Tensor) -> StepInfo:
        self.update(losses)
        return step_report(losses, *self.spread())

    def best(self) -> torch.Tensor:
        return self.mean.clone()
