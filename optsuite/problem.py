"""The Problem interface: a loss over a flat parameter vector, evaluated in batches.

A problem owns its data and model. Optimizers see only flat vectors ``[dim]`` and
populations ``[P, dim]``; every loss call is charged through :meth:`Problem.cost`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .capabilities import FeatureLayer, LinearReadout
from .crn import Draw, derive_seed, generator
from .device import resolve_device
from .errors import UserError
from .population import Layout, Population


@dataclass(frozen=True)
class Cost:
    """What one call cost: candidate evaluations, sample-forwards and FLOPs.

    A sample-forward is one sample through the problem's model once; a backward
    pass counts two more.
    """

    evaluations: int = 0
    sample_forwards: int = 0
    flops: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(
            self.evaluations + other.evaluations,
            self.sample_forwards + other.sample_forwards,
            self.flops + other.flops,
        )


class Problem:
    """Base class. Subclasses set ``name``, ``dim`` and implement :meth:`evaluate`.

    Attributes a subclass may override:
      ``n_train``: rows of training data (0 for data-free functions);
      ``batch_size``: minibatch size of a step (None: the full training set);
      ``flops_per_sample``: FLOPs of one sample-forward;
      ``device``, ``dtype``: where and in what precision parameters live;
      ``network``: a whole classifier network (reports give networks their own table);
      ``optimum_loss``: the loss's known minimum where it is the same for every setting (test
      functions: 0), None where unknown (reports then take a reference from the runs).
      ``settings_help``: constructor setting -> one line of its meaning (``optsuite list NAME``); a
      subclass's table adds to its bases'.
    """

    name: str = "problem"
    description: str = ""
    dim: int
    n_train: int = 0
    batch_size: int | None = None
    flops_per_sample: float = 0.0
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    network: bool = False
    optimum_loss: float | None = None
    settings_help: dict[str, str] = {"device": "cpu, cuda or cuda:N: where the parameters and data live"}

    def check_device(self, device: str) -> torch.device:
        """``device`` as a torch device; an unknown or unavailable one is a one-line UserError."""
        try:
            return resolve_device(device)
        except UserError as exc:
            raise UserError(f"problem {self.name!r}: {exc}") from None

    # -- starting point and common random numbers ------------------------------
    def initial(self, seed: int) -> torch.Tensor:
        """The usual initialisation ``[dim]`` for this seed."""
        raise NotImplementedError

    @property
    def minibatched(self) -> bool:
        """Whether a step's loss reads a sample of the training set rather than all of it."""
        return bool(self.n_train and self.batch_size and self.batch_size < self.n_train)

    def draw(self, step: int, seed: int) -> Draw:
        """The minibatch and noise seed of ``step``; identical for every optimizer."""
        indices = None
        if self.minibatched:
            g = generator(seed, step, "minibatch")
            indices = torch.randperm(self.n_train, generator=g)[: self.batch_size]
        return Draw(step, seed, indices, derive_seed(seed, step, "noise"))

    def samples(self, draw: Draw) -> int:
        """Rows of data one candidate's loss reads on this draw (1 for pure functions)."""
        if draw.indices is not None:
            return int(draw.indices.numel())
        return self.n_train or 1

    # -- losses ------------------------------------------------------------------
    def evaluate(self, params: Population, draw: Draw) -> torch.Tensor:
        """Losses ``[P]`` of a population on ``draw``, in one batched call: ``params [P, dim]``, or a
        :class:`~optsuite.population.LowRank` population where :meth:`parameter_layout` gives a layout."""
        raise NotImplementedError

    def loss_and_grad(self, params: torch.Tensor, draw: Draw) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (scalar) and gradient ``[dim]`` at ``params [dim]``, by autograd."""
        with torch.enable_grad():
            x = params.detach().clone().requires_grad_(True)
            loss = self.evaluate(x[None], draw)[0]
            (grad,) = torch.autograd.grad(loss, x)
        return loss.detach(), grad

    def cost(self, population: int, draw: Draw, grad: bool = False) -> Cost:
        """Cost of evaluating ``population`` candidates on ``draw`` (with a backward pass if ``grad``)."""
        forwards = population * self.samples(draw) * (3 if grad else 1)
        return Cost(population, forwards, forwards * self.flops_per_sample)

    # -- reporting -----------------------------------------------------------------
    def metrics(self, params: torch.Tensor) -> dict[str, float]:
        """Noise-free quality of ``params [dim]``: full train loss, and test figures if any."""
        raise NotImplementedError

    # -- capabilities (optsuite.capabilities): None where the problem lacks one ------------
    def linear_readout(self) -> LinearReadout | None:
        """The least-squares form of the loss, where one exists."""
        return None

    def feature_layer(self) -> FeatureLayer | None:
        """The trainable feature layer and its readout, where the parameters hold one."""
        return None

    def parameter_layout(self) -> Layout | None:
        """Which slices of the parameters are matrices. A problem that gives one evaluates low-rank populations
        (:class:`~optsuite.population.LowRank`) itself; any other receives them made dense."""
        return None
