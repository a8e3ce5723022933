"""IPOP and BIPOP restarts (Auger & Hansen 2005; Hansen 2009) around any population optimizer.

A run of the inner optimizer ends when it reports ``done``; the wrapper then starts a
new one from a fresh start point, so the budget is spent rather than abandoned. The
regime rules are those of pycma's ``fmin2(..., restarts=9, incpopsize=2, bipop=...)``,
with lambda_0 the population asked for, or, as in pycma, the unrounded default
4 + 3 ln n (run 0 itself keeps the inner optimizer's own default), and populations
rounded down:

- ipop: run k has population lambda_0 2^k and the initial sigma0.
- bipop: the first run counts as small. A run is small while the evaluations spent in
  small runs are fewer than those spent in large runs (at least 1); otherwise it is
  large. The j-th large run has population lambda_0 2^j and sigma0. A small run draws
  U1, U2 ~ U(0, 1) and takes sigma0 0.01^U1 and population
  floor(lambda_0 (2^j)^(U2^2)), j the number of large runs so far, and at most
  0.5 (evaluations of all large runs) / population generations.
- every run stops after pycma's default maxiter, 100 + 150 (n + 3)^2 // sqrt(lambda_0)
  generations (unless its optimizer stops first), and restarts stop once 9 large runs
  have ended (small runs do not count).

Everything the inner runs evaluate goes through the same metered problem, so the run's
ledger and budget cover all restarts. Run 0 uses the run's seed (so it is the plain
optimizer until its first stop); run k > 0 uses ``derive_seed(seed, "restart", k)`` for
its start point and samples; the bipop draws come from ``generator(seed, "bipop")``.

``best()``: each run is scored by the loss its latest generation reported (the best
candidate's loss on that generation's draw), and ``best()`` returns the inner
``best()`` (for the ES: the mean) of the run with the lowest score, the current run
included. On noise-free functions a run is thus judged by its last generation's best
sample; with minibatch losses the scores of different runs come from different draws,
so the pick carries that noise (and favours large populations slightly, whose best
candidate is a minimum over more samples).
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import torch

from optsuite.crn import derive_seed, generator
from optsuite.errors import UserError
from optsuite.optimizer import Optimizer, StepInfo, Wrapper
from optsuite.population import Population
from optsuite.problem import Problem
from optsuite.registry import OPTIMIZERS

MODES = ("ipop", "bipop")
MAX_RESTARTS = 9  # large-population restarts after the first run (pycma's recommended restarts=9)
POPULATION_FACTOR = 2  # pycma's incpopsize
SMALL_SIGMA_RANGE = 0.01  # a small run's sigma0 factor is 0.01^U


def default_max_generations(dim: int, population: float) -> float:
    """pycma's default maxiter: 100 + 150 (n + 3)^2 // sqrt(population)."""
    return 100 + 150 * (dim + 3) ** 2 // population**0.5


class Restarts(Wrapper):
    """IPOP or BIPOP restarts of the optimizers ``factory(**hyper)`` makes; see the module docstring.

    It asks and tells through the current run's optimizer (its ``inner``), so ``population()`` is what
    the current run evaluates. A restart whose generation would not fit in the device's memory
    (:meth:`~optsuite.optimizer.Optimizer.memory_mistake`) is not started: the run then ends.
    """

    def __init__(self, factory: Callable[..., Optimizer], mode: str, **hyper) -> None:
        super().__init__(factory(**hyper))  # validates now
        self.factory, self.mode = factory, mode
        self.inner_hyper = self.inner.hyper

    hyper = property(lambda self: {**self.inner_hyper, "restarts": self.mode})

    def init(self, problem: Problem, seed: int) -> None:
        self.problem, self.seed, self.dim = problem, seed, problem.dim
        self.g = generator(seed, "bipop")
        self.spent = {"small": 0, "large": 0}
        self.runs, self.large_runs = 0, 0
        self.population0 = float(self.inner_hyper["population"]) or 4 + 3 * math.log(problem.dim)
        self.champion: tuple[float, torch.Tensor] | None = None  # (score, best()) of the best finished run
        self.start(self.factory(**self.inner_hyper), "small", default_max_generations(self.dim, self.population0))

    def start(self, inner: Optimizer, regime: str, max_generations: float) -> None:
        """Begin run ``self.runs`` with ``inner``."""
        self.inner = inner
        self.inner.init(self.problem, self.seed if self.runs == 0 else derive_seed(self.seed, "restart", self.runs))
        self.regime, self.max_generations = regime, max_generations
        self.generations, self.evaluations, self.score = 0, 0, math.inf

    def ask(self) -> Population:
        population = self.inner.ask()
        self.evaluations += population.shape[0]
        return population

    def tell(self, losses: torch.Tensor) -> StepInfo:
        info = self.inner.tell(losses)
        self.generations += 1
        self.score = float(info.loss)
        if not (info.done or self.generations >= self.max_generations):
            return StepInfo(info.loss)
        return StepInfo(info.loss, done=not self.restart())

    def restart(self) -> bool:
        """Close the current run and start the next; False when no restart is left, or the next would not fit."""
        self.spent[self.regime] += self.evaluations
        if self.champion is None or self.score < self.champion[0]:
            self.champion = (self.score, self.inner.best())
        self.runs += 1
        if self.large_runs >= MAX_RESTARTS:
            return False
        regime = self.next_regime()
        self.large_runs += regime == "large"
        population, sigma, max_generations = self.sizing(regime)
        inner = self.factory(**{**self.inner_hyper, "population": population, "sigma0": sigma})
        if inner.memory_mistake(self.problem):
            return False
        self.start(inner, regime, max_generations)
        return True

    def next_regime(self) -> str:
        if self.mode == "ipop" or self.spent["small"] >= max(1, self.spent["large"]):
            return "large"
        return "small"

    def sizing(self, regime: str) -> tuple[int, float, float]:
        """(population, sigma0, generation limit) of the next run in ``regime``."""
        full = int(self.population0 * POPULATION_FACTOR**self.large_runs)
        limit = default_max_generations(self.dim, self.population0)
        sigma0 = self.inner_hyper["sigma0"]
        if regime == "large":
            return full, sigma0, limit
        u_sigma, u_population = torch.rand(2, generator=self.g, dtype=torch.float64).tolist()
        population = int(self.population0 * (POPULATION_FACTOR**self.large_runs) ** (u_population**2))
        return population, sigma0 * SMALL_SIGMA_RANGE**u_sigma, min(limit, 0.5 * self.spent["large"] / population)

    def best(self) -> torch.Tensor:
        if self.champion is not None and self.champion[0] <= self.score:
            return self.champion[1].clone()
        return self.inner.best()


def restartable(optimizer_cls: type) -> bool:
    """Whether restarts can resize ``optimizer_cls``: it asks and tells, and has ``population`` and ``sigma0``."""
    return getattr(optimizer_cls, "asks", False) and {"population", "sigma0"} <= set(getattr(optimizer_cls, "defaults", {}))


def with_restarts(factory: Callable[..., Optimizer], mode: str) -> Callable[..., Restarts]:
    """A constructor of ``factory``'s optimizers under ``mode`` restarts ("ipop" or "bipop"), taking their
    hyperparameters (the registry has checked that the class is :func:`restartable`)."""
    if mode not in MODES:
        raise UserError(f"restarts={mode!r} unknown; known: {', '.join(MODES)}")
    return functools.partial(Restarts, factory, mode)


OPTIMIZERS.register_wrapper("restarts", restartable, with_restarts)
