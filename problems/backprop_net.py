"""The ordinary baseline (``backprop-net``): an MLP classifier of a NoProp-DT network's size, trained end to end.

x -> ``depth`` hidden Linear + SiLU layers (the mlp blocks' units) of ``width`` units
-> logits; the loss is cross-entropy, so the error signal crosses every layer. ``width=None`` picks the
smallest width whose parameter count reaches that of ``noprop-net`` with the same
settings (T, hidden, block family, embedding), so the two compare at equal size.
"""
from __future__ import annotations

import torch

from optsuite.engine import population_mlp
from optsuite.population import Layout
from optsuite.registry import register_problem

from .noprop_blocks import Layered
from .noprop_net import NoPropNet
from .noprop_problem import ClassifierProblem, cross_entropy


class MLPClassifier(Layered):
    """``n_in`` -> ``depth`` x (Linear ``width`` + SiLU) -> Linear ``K``."""

    def __init__(self, n_in: int, n_classes: int, depth: int, width: int) -> None:
        self.sizes = [n_in] + [width] * depth + [n_classes]
        self.layers = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.flops_per_sample = 2.0 * sum(i * o for i, o in self.layers)
        self.floats_per_sample = 2 * depth * width + n_classes

    def forward(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]``, ``x [B, n_in]`` -> logits ``[P, B, K]`` (the engine's population MLP)."""
        return population_mlp(params, x, self.sizes, "silu")


@register_problem("backprop-net")
class BackpropNet(ClassifierProblem):
    """An MLP classifier as large as the NoProp-DT network, trained end to end with cross-entropy."""

    settings_help = {"depth": "hidden layers", "width": "units per hidden layer (default: as many parameters as noprop-net)"}

    def __init__(self, depth: int = 3, width: int | None = None, **settings) -> None:
        self.check_settings(settings)
        super().__init__(**settings)
        self.check_positive_int("depth", depth)
        n_in = self.data.n_features
        if width is None:
            target = NoPropNet(**settings).dim
            width = next(w for w in range(1, 1 << 20) if MLPClassifier(n_in, self.n_classes, depth, w).dim >= target)
        self.check_positive_int("width", width)
        self.settings.update(depth=depth, width=width)
        self.net = MLPClassifier(n_in, self.n_classes, depth, width)
        self.dim = self.net.dim
        self.flops_per_sample = self.net.flops_per_sample
        self.floats_per_sample = self.net.floats_per_sample

    def initial(self, seed: int) -> torch.Tensor:
        return self.net.initial(seed, "mlp").to(self.device, self.dtype)

    def predict(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward(params, x)

    def parameter_layout(self) -> Layout:
        return self.net.layout

    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        return cross_entropy(self.predict(params, x), y)
