"""What a problem may offer beyond its loss, for optimizers that need more than evaluations.

A capability is a method of :class:`~optsuite.problem.Problem` that returns a
description of part of the problem, or None where the problem lacks it. An optimizer
names the capabilities it needs in ``requires`` (names of :data:`CAPABILITIES`), never
a concrete problem:

- ``linear_readout`` -> :class:`LinearReadout`: the loss is least squares in the
  parameters, so the exact optimum solves the normal equations;
- ``feature_layer`` -> :class:`FeatureLayer`: the parameters hold a trainable feature
  layer (a projection followed by a nonlinearity) and a linear readout of its features,
  which an unsupervised rule (Hebbian, Oja, Sanger) can train from the layer's inputs;
- ``parameter_layout`` -> :class:`optsuite.population.Layout`: which slices of the parameters are
  matrices, where low-rank perturbations (EGGROLL) apply; such a problem evaluates low-rank
  populations without forming ``[P, dim]``. No optimizer requires it: every problem takes low-rank
  populations, made dense where it has no layout (:func:`optsuite.population.evaluate`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .crn import Draw


@dataclass(frozen=True)
class LinearReadout:
    """A loss that is least squares in the parameters: sum ||phi W - y||^2 + ridge n ||W||^2.

    ``batches()`` streams the whole training set as ``(phi [n, f], y [n, k])`` pairs;
    ``pack(W [f, k]) -> [dim]`` turns the readout weights into the problem's
    parameter vector. ``flops_per_sample`` is the cost of computing one row of phi.
    """

    batches: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]
    pack: Callable[[torch.Tensor], torch.Tensor]
    ridge: float = 0.0
    flops_per_sample: float = 0.0


@dataclass(frozen=True)
class FeatureLayer:
    """A trainable feature layer and its linear readout, as an unsupervised rule sees them; ``params`` are ``[dim]``.

    ``rows(draw)``: the draw's layer inputs ``[B, n_in]`` (the rows ``evaluate`` sees on that
    draw) and readout targets ``[B, k]``. ``projection(params)``: R ``[n_in, F]``;
    ``with_projection(params, R)`` and ``with_readout(params, W [F + 1, k])`` (weights, then
    the bias row) replace a part; ``features(params, inputs)``: phi ``[B, F]``. ``ridge``:
    the loss's ridge coefficient on the readout.
    """

    rows: Callable[[Draw], tuple[torch.Tensor, torch.Tensor]]
    projection: Callable[[torch.Tensor], torch.Tensor]
    with_projection: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    features: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    with_readout: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ridge: float


# capability (the Problem method) -> what it is, for messages
CAPABILITIES = {
    "linear_readout": "a linear readout",
    "feature_layer": "a trainable feature layer",
    "parameter_layout": "a parameter layout",
}
