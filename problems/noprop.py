"""The local NoProp-DT problems: one block alone (``noprop-block``) and the head alone (``noprop-head``).

Blocks never see each other in training, so the T block problems and the head problem
of one network are independent: train them in any order, in parallel, with any
optimizer, then assemble them with ``noprop-net``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from optsuite.errors import UserError
from optsuite.capabilities import FeatureLayer, LinearReadout
from optsuite.population import Layout, squared_norms
from optsuite.problem import Draw
from optsuite.registry import register_problem

from .noprop_blocks import LearnedFeatureBlock, LinearHead, RandomFeatureBlock
from .noprop_problem import NoPropProblem, cross_entropy, squared_error

HEAD_LOSSES = ("cross-entropy", "squared")
READOUT_DRAWS = 10  # noise draws of the training set in a closed-form readout (reports/analytic_defaults.md)
READOUT_HELP = {"ridge": "ridge penalty on the part's parameters",
                "readout_draws": "passes over the training set, each with its own noise, of a linear readout"}


def check_readout_settings(problem: NoPropProblem, ridge: float, readout_draws: int) -> None:
    if not ridge >= 0:
        raise UserError(f"problem {problem.name!r}: ridge={ridge!r} must be non-negative")
    problem.check_positive_int("readout_draws", readout_draws)


def penalty(params, ridge: float) -> torch.Tensor | float:
    """ridge ||params||^2: ``[P, dim]`` (or a low-rank population) -> ``[P]`` float64; 0 without a ridge (a
    low-rank population's norms cost a quarter of its evaluation)."""
    return ridge * squared_norms(params) if ridge else 0.0


@register_problem("noprop-block")
class NoPropBlock(NoPropProblem):
    """NoProp-DT block t alone: (T/2) eta (SNR(t) - SNR(t-1)) E||u_hat_t(x, z_{t-1}) - u_y||^2 (+ ridge ||params||^2).

    z_{t-1} ~ q(z_{t-1} | y) is drawn from the step's noise seed. ``ridge`` is per sample: it
    adds ridge ||params||^2 to the mean squared error, so a least-squares solve regularises
    with ``ridge * n`` for n rows. Random-feature blocks have a linear readout: the training
    set streamed ``readout_draws`` times with fixed noise, whose least-squares solve is this
    loss's exact optimum on those draws.
    """

    settings_help = {"t": "which block, 1..T", **READOUT_HELP}

    def __init__(self, t: int = 1, ridge: float = 0.0, readout_draws: int = READOUT_DRAWS, **settings) -> None:
        self.check_settings(settings)
        super().__init__(**settings)
        check_readout_settings(self, ridge, readout_draws)
        self.t, self.ridge, self.readout_draws = self.check_level(t), float(ridge), readout_draws
        self.settings.update(t=t, ridge=ridge, readout_draws=readout_draws)
        self.part = self.block(t)
        self.dim = self.part.dim
        self.flops_per_sample = self.part.flops_per_sample
        self.floats_per_sample = self.part.floats_per_sample
        self.weight = self.schedule.block_weight(t, self.eta)

    def initial(self, seed: int) -> torch.Tensor:
        return self.part.initial(seed, "block", self.t).to(self.device, self.dtype)

    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        u = self.embed[y]
        u_hat = self.part.forward(params, x, self.noised(u, self.t - 1, noise_seed), self.embed)
        return self.weight * (squared_error(u_hat, u) + penalty(params, self.ridge))

    def parameter_layout(self) -> Layout:
        return self.part.layout

    def linear_readout(self) -> LinearReadout | None:
        if not isinstance(self.part, RandomFeatureBlock):
            return None
        return self.readout(self.t - 1, self.part.features, lambda y, u: u, self.readout_draws, self.ridge)

    def feature_layer(self) -> FeatureLayer | None:
        """The feature layer of a ``learned-features`` block: inputs [x; z_{t-1}], targets u_y; None for other families."""
        if not isinstance(self.part, LearnedFeatureBlock):
            return None
        block, n_in = self.part, self.data.n_features
        features = lambda params, inputs: block.features(params[None], inputs[:, :n_in], inputs[:, n_in:])[0]
        return FeatureLayer(self.layer_rows, block.projection, block.with_projection, features,
                            block.with_readout, self.ridge)

    def layer_rows(self, draw: Draw) -> tuple[torch.Tensor, torch.Tensor]:
        """The draw's feature-layer inputs ``[B, n_in + d]`` and targets ``[B, d]``, as ``evaluate`` sees them."""
        x, y = self.rows(self.data.x_train, self.data.y_train, draw.indices)
        u = self.embed[y]
        return torch.cat([x, self.noised(u, self.t - 1, draw.noise_seed)], 1), u


@register_problem("noprop-head")
class NoPropHead(NoPropProblem):
    """The head p(y | z_T) alone, on z_T ~ q(z_T | y): cross-entropy, or squared error to one-hot labels.

    Either loss adds ridge ||params||^2. ``loss="squared"`` is then least squares and has a
    linear readout, so the whole NoProp pipeline can run without a gradient; the
    prediction is the argmax of the same logits either way.
    """

    settings_help = {"loss": "cross-entropy or squared (to one-hot labels: a closed form)", **READOUT_HELP}

    def __init__(self, loss: str = "cross-entropy", ridge: float = 0.0, readout_draws: int = READOUT_DRAWS,
                 **settings) -> None:
        self.check_settings(settings)
        super().__init__(**settings)
        check_readout_settings(self, ridge, readout_draws)
        if loss not in HEAD_LOSSES:
            raise UserError(f"problem {self.name!r}: loss {loss!r} unknown; known: {', '.join(HEAD_LOSSES)}")
        self.head_loss, self.ridge, self.readout_draws = loss, float(ridge), readout_draws
        self.settings.update(loss=loss, ridge=ridge, readout_draws=readout_draws)
        self.part = LinearHead(self.d, self.n_classes)
        self.dim = self.part.dim
        self.flops_per_sample = self.part.flops_per_sample
        self.floats_per_sample = self.part.floats_per_sample

    def initial(self, seed: int) -> torch.Tensor:
        return self.part.initial(seed, "head").to(self.device, self.dtype)

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.n_classes).to(self.dtype)

    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        logits = self.part.forward(params, self.noised(self.embed[y], self.T, noise_seed))
        fit = cross_entropy(logits, y) if self.head_loss == "cross-entropy" else squared_error(logits, self.one_hot(y))
        return fit + penalty(params, self.ridge)

    def parameter_layout(self) -> Layout:
        return self.part.layout

    def linear_readout(self) -> LinearReadout | None:
        if self.head_loss != "squared":
            return None
        return self.readout(self.T, lambda x, z: z, lambda y, u: self.one_hot(y), self.readout_draws, self.ridge)
