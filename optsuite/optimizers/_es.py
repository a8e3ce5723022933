"""Pieces shared by the evolution strategies (cma, torch-cma, snes, pgpe, openes, lm-ma-es).

The hyperparameters ``population`` (0: the default ``4 + floor(3 ln n)``) and
``sigma0`` (initial step size) mean the same in each, and the device-resident ones
stop on the same criteria as pycma's ``tolx``, ``tolfun`` and ``tolconditioncov``.
The gradient estimators (pgpe, openes) share mirrored sampling and centred ranks.
"""
from __future__ import annotations

import math

import torch

from optsuite.errors import UserError
from optsuite.optimizer import StepInfo

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
