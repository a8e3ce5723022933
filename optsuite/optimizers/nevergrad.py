"""Every nevergrad optimizer by its registry name: ``nevergrad:<Name>`` (e.g. ``nevergrad:NGOpt``).

Each step asks nevergrad for the whole population (``num_workers = population``),
evaluates it in one ``problem.evaluate`` call and tells all losses back. nevergrad is
told a budget of ``ng_budget`` evaluations (some optimizers, NGOpt among them, choose
their strategy from it); the run's own budget stops the run. nevergrad is imported
only when a ``nevergrad:`` name is used, so listing optimizers stays fast.
"""
from __future__ import annotations

import difflib

import numpy as np
import torch

from optsuite.crn import derive_seed
from optsuite.errors import UserError
from optsuite.optimizer import AskTell, StepInfo
from optsuite.registry import OPTIMIZERS

from ._es import population_size


def nevergrad_registry() -> dict:
    """nevergrad's name -> optimizer registry (imports nevergrad on first use)."""
    import nevergrad

    return nevergrad.optimizers.registry


def generation_size(optimizer) -> int | None:
    """The fixed generation size of the optimizer nevergrad runs inside ``optimizer`` (its CMA family), or None.

    Follows the chain of delegates (``optim``, as NGOpt and CMA choose one) to one with a ``_popsize``.
    """
    while optimizer is not None:
        if hasattr(optimizer, "_popsize"):
            return int(optimizer._popsize)
        optimizer = getattr(optimizer, "optim", None)
    return None


class Nevergrad(AskTell):
    """A nevergrad optimizer, asked and told a whole population at a time.

    ``population`` (nevergrad's ``num_workers``) 0: 1 for sequential optimizers (those
    nevergrad marks ``no_parallelization``), else ``4 + floor(3 ln dim)``. Where the
    optimizer nevergrad runs has a fixed generation size (its CMA family, which may
    widen it beyond ``num_workers``), a step asks exactly one generation: asks that
    straddle two generations break pycma's step-size adaptation ("Mean shift samples
    are expected but missing", nevergrad issue #1690). ``sigma0``: the
    parametrization's mutation scale. ``bound`` > 0 bounds every coordinate to
    ``[-bound, bound]`` (the start is clipped into it); 0 leaves them unbounded, which
    every optimizer of nevergrad 1.0 accepts, but those that sample their whole domain
    through a squashing transform (PSO) then draw extreme points: bound them, or use
    RealSpacePSO.
    """

    ng_name = ""
    defaults = {"population": 0, "sigma0": 1.0, "bound": 0.0, "ng_budget": 1_000_000}
    hyper_help = {"population": "nevergrad's num_workers (0: 1 if sequential, else 4 + floor(3 ln n))",
                  "sigma0": "the parametrization's mutation scale",
                  "bound": "bound every coordinate to [-bound, bound] (0: unbounded)",
                  "ng_budget": "evaluations nevergrad is told it has (some choose their strategy from it)"}

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        h = self.hyper
        if h["population"] < 0 or h["sigma0"] <= 0 or h["bound"] < 0 or h["ng_budget"] < 1:
            raise UserError(f"{self.name}: need population >= 0, sigma0 > 0, bound >= 0, ng_budget >= 1")
        self.sequential = bool(getattr(nevergrad_registry()[self.ng_name], "no_parallelization", False))
        if self.sequential and h["population"] > 1:
            raise UserError(f"{self.name} is sequential: population must be 0 or 1, not {h['population']}")

    def population(self, dim: int) -> int:
        """Candidates per step: 1 if sequential, else ``population`` (0: 4 + floor(3 ln dim)); once initialised on
        a problem of ``dim`` parameters, the generation nevergrad's CMA family asks for, which may be larger."""
        if getattr(self, "dim", None) == dim:
            return self.rows
        return 1 if self.sequential else population_size(dim, self.hyper["population"])

    def init(self, problem, seed: int) -> None:
        import nevergrad as ng

        h = self.hyper
        self.device, self.dtype, self.dim = problem.device, problem.dtype, None
        start = problem.initial(seed).detach().double().cpu().numpy()
        if h["bound"] > 0:
            start = np.clip(start, -h["bound"], h["bound"])
        param = ng.p.Array(init=start).set_mutation(sigma=h["sigma0"])
        if h["bound"] > 0:
            param.set_bounds(-h["bound"], h["bound"])
        param.random_state.seed(derive_seed(seed, "nevergrad", self.ng_name) % 2**32)
        workers = 1 if self.sequential else population_size(problem.dim, h["population"])
        self.ng = nevergrad_registry()[self.ng_name](param, budget=h["ng_budget"], num_workers=workers)
        self.rows, self.dim = generation_size(self.ng) or workers, problem.dim

    def ask(self) -> torch.Tensor:
        """One generation ``[rows, dim]``: ``rows`` candidates of nevergrad's ask."""
        self.asked = [self.ng.ask() for _ in range(self.rows)]
        return torch.as_tensor(np.stack([c.value for c in self.asked]), device=self.device, dtype=self.dtype)

    def tell(self, losses: torch.Tensor) -> StepInfo:
        for candidate, loss in zip(self.asked, losses.double().cpu().tolist()):
            self.ng.tell(candidate, loss)
        return StepInfo(float(losses.min()))

    def best(self) -> torch.Tensor:
        """nevergrad's recommendation ``[dim]`` (the start before any step)."""
        return torch.as_tensor(self.ng.recommend().value, device=self.device, dtype=self.dtype).clone()


def nevergrad_optimizer(ng_name: str) -> type[Nevergrad]:
    """The optimizer class for ``nevergrad:<ng_name>``; an unknown name lists close matches."""
    registry = nevergrad_registry()
    if ng_name not in registry:
        lowered = {n.lower(): n for n in registry}
        close = [lowered[n] for n in difflib.get_close_matches(ng_name.lower(), list(lowered), n=5)]
        hint = f"did you mean {', '.join(close)}?" if close else "see nevergrad.optimizers.registry"
        raise UserError(f"unknown nevergrad optimizer {ng_name!r}; {hint}")
    doc = f"nevergrad's {ng_name}, asked and told a whole population at a time."
    return type(f"Nevergrad{ng_name}", (Nevergrad,), {"ng_name": ng_name, "description": doc, "__doc__": doc})


OPTIMIZERS.register_prefix("nevergrad", nevergrad_optimizer, "any nevergrad optimizer by name, e.g. nevergrad:NGOpt",
                           example="OnePlusOne")
