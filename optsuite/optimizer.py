"""The Optimizer interface: init on a problem, step once per generation, report the best.

An optimizer is constructed with its hyperparameters (validated at once, so a matrix
fails before it runs), then ``init(problem, seed)`` and ``step(problem, draw)``
repeatedly. ``problem`` is metered: every loss call is charged to the run's ledger.
Population methods evaluate their whole population in one ``problem.evaluate`` call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .capabilities import CAPABILITIES
from .errors import UserError, did_you_mean
from .budget import Budget
from .population import Population
from .problem import Draw, Problem

POPULATION_COPIES = 2  # tensors of a population's size that a generation holds at least: it and its noise


@dataclass(frozen=True)
class StepInfo:
    """``loss``: the step's best loss on its draw. ``done``: nothing more to gain by stepping."""

    loss: float
    done: bool = False


class Optimizer:
    """Base class. Subclasses set ``defaults`` and implement init, step and best.

    ``defaults``: hyperparameter name -> default value; the constructor accepts exactly
    these names and coerces values to the default's type.
    ``requires``: the problem capabilities needed, names of
    :data:`optsuite.capabilities.CAPABILITIES` such as ``("linear_readout",)``; a problem
    lacks one where its method returns None.
    ``default_budget``: what a run gets when the user names none.
    ``closed_form``: it spends what its solve needs, whatever its budget; in a network trained part by
    part, its parts run first and what they leave of their shares goes to the other parts
    (:func:`optsuite.parts.run_parts`).
    ``batchable``: its runs may be batched with others (:mod:`optsuite.batch`): it evaluates every step
    and draws only from its own generators, never from process-global random state.
    ``asks``: it is an :class:`AskTell` (its steps are ``ask`` then ``tell``).
    ``hyper_help``: hyperparameter name -> one line of its meaning (``optsuite list NAME``); a subclass's
    table adds to its bases'.
    """

    name: ClassVar[str] = "optimizer"
    description: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    hyper_help: ClassVar[dict[str, str]] = {}
    requires: ClassVar[tuple[str, ...]] = ()
    default_budget: ClassVar[Budget] = Budget(evaluations=5000)
    batchable: ClassVar[bool] = False
    closed_form: ClassVar[bool] = False
    asks: ClassVar[bool] = False  # an AskTell: its step is one ask and one tell

    def __init__(self, **hyper: Any) -> None:
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise UserError(f"optimizer {self.name!r} has no hyperparameter {unknown[0]!r}"
                            f"{did_you_mean(unknown[0], self.defaults)}; known: {known}")
        self.hyper = {k: _coerce(self.name, k, v, self.defaults[k]) for k, v in hyper.items()}
        self.hyper = {**self.defaults, **self.hyper}

    def init(self, problem: Problem, seed: int) -> None:
        raise NotImplementedError

    def step(self, problem: Problem, draw: Draw) -> StepInfo:
        raise NotImplementedError

    def best(self) -> torch.Tensor:
        """The parameters ``[dim]`` the optimizer would return now."""
        raise NotImplementedError

    def population(self, dim: int) -> int:
        """Candidates per ``problem.evaluate`` call on a problem of ``dim`` parameters (1: one point at a time)."""
        return 1

    def generation_floats(self, problem: Problem) -> int:
        """Numbers one generation holds at least: its population ``[P, dim]`` and the noise it is drawn from
        (:data:`POPULATION_COPIES` such tensors); an optimizer of low-rank populations holds fewer."""
        return POPULATION_COPIES * self.population(problem.dim) * problem.dim

    def memory_mistake(self, problem: Problem) -> str | None:
        """Why one generation (:meth:`generation_floats`) cannot fit on ``problem``'s device, against the memory
        free there; None if it fits."""
        from .engine import available_memory

        size = self.population(problem.dim)
        need = self.generation_floats(problem) * torch.empty((), dtype=problem.dtype).element_size()
        free = available_memory(problem.device)
        if need <= free:
            return None
        return (f"optimizer {self.name!r}: a generation of {size:,} candidates of {problem.dim:,} parameters needs at "
                f"least {need / 1e9:.3g} GB, more than the {free / 1e9:.3g} GB free on {problem.device}")

    @classmethod
    def supports(cls, problem: Problem) -> str | None:
        """None if the optimizer can run on ``problem``, else why not (one line)."""
        for capability in cls.requires:
            method = getattr(problem, capability, None)
            if method is None or method() is None:
                what = CAPABILITIES[capability]
                return f"optimizer {cls.name!r} needs a problem with {what}; {problem.name!r} has none"
        return None


class AskTell(Optimizer):
    """An optimizer whose step is one population: :meth:`ask` for the candidates, :meth:`tell` their losses.

    ``step(problem, draw)`` is ``tell(problem.evaluate(ask(), draw))``, so a caller that evaluates the
    populations of several runs together (:mod:`optsuite.batch`) asks and tells each of them from one
    thread. ``ask`` returns a dense ``[P, dim]`` or a low-rank population
    (:class:`~optsuite.population.LowRank`) of ``population(dim)`` candidates; ``tell`` takes their losses
    ``[P]`` in the same order and returns the step's :class:`StepInfo`.
    """

    asks = True

    def ask(self) -> Population:
        raise NotImplementedError

    def tell(self, losses: torch.Tensor) -> StepInfo:
        raise NotImplementedError

    def step(self, problem: Problem, draw: Draw) -> StepInfo:
        return self.tell(problem.evaluate(self.ask(), draw))


class Wrapper(AskTell):
    """An optimizer around another, ``inner``: everything it does not change is the inner one's (its name,
    hyperparameters, needs, budget, population, init, ask, tell and best), as optax's wrappers keep the
    signature of what they wrap. Subclasses override only what they change; wrappers compose."""

    def __init__(self, inner: Optimizer) -> None:
        self.inner = inner

    name = property(lambda self: self.inner.name)
    hyper = property(lambda self: self.inner.hyper)
    requires = property(lambda self: self.inner.requires)
    default_budget = property(lambda self: self.inner.default_budget)
    batchable = property(lambda self: self.inner.batchable)
    closed_form = property(lambda self: self.inner.closed_form)
    asks = property(lambda self: self.inner.asks)

    def supports(self, problem: Problem) -> str | None:
        return self.inner.supports(problem)

    def population(self, dim: int) -> int:
        return self.inner.population(dim)

    def generation_floats(self, problem: Problem) -> int:
        return self.inner.generation_floats(problem)

    def init(self, problem: Problem, seed: int) -> None:
        self.inner.init(problem, seed)

    def ask(self) -> Population:
        return self.inner.ask()

    def tell(self, losses: torch.Tensor) -> StepInfo:
        return self.inner.tell(losses)

    def step(self, problem: Problem, draw: Draw) -> StepInfo:
        return super().step(problem, draw) if self.asks else self.inner.step(problem, draw)

    def best(self) -> torch.Tensor:
        return self.inner.best()


def _coerce(opt: str, key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``: ints widen to floats, strings are parsed."""
    kind = type(default)
    if default is None or type(value) is kind:
        return value
    if kind is float and type(value) is int:
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if kind is bool and text in ("true", "false"):
            return text == "true"
        try:
            if kind in (int, float):
                parsed = kind(value)
                if math.isfinite(parsed):
                    return parsed
        except ValueError:
            pass
    raise UserError(f"optimizer {opt!r}: {key}={value!r} is not a {kind.__name__}")
