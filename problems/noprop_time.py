"""What NoProp-CT and NoProp-FM share: one network of (x, z_t, t) instead of T blocks, a head, a learnable embedding.

Time runs from noise (t = 0) to label (t = 1). The network has the mlp block's shape
with a third path for the time: x, z_t and sinusoidal features of t each go through
Linear + SiLU, a fused Linear + SiLU takes all three, and a last Linear gives the
output (CT: class logits -> softmax -> @ W_embed, a prediction of u_y; FM: a velocity).

A step's loss draws, from the draw's noise seed, one time t ~ U(0, 1) per sample and the
Gaussian noise of the sample: every candidate of a population sees the same t and noise.
Prediction runs the problem's chain from z_0 ~ N(0, I) (a fixed seed) to z_1 in
``inference_steps`` steps; ``test_accuracy`` is the head's argmax p(y | z_1),
``test_chain_accuracy`` the class whose embedding is nearest to z_1.

Shapes: P candidates, B samples, ``n_in`` input features, ``d`` embedding dim, K classes,
F time features.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from optsuite.crn import generator
from optsuite.engine import batched_linear, population_linear, shared_linear, unpack
from optsuite.errors import UserError
from optsuite.population import Layout
from optsuite.population import split as split_population

from .noprop_blocks import Layered, LinearHead
from .noprop_embedding import is_learnable
from .noprop_net import NoPropNet
from .noprop_problem import ClassifierProblem

INFERENCE_SEED = 0


def time_features(t: torch.Tensor, n: int) -> torch.Tensor:
    """``t [B]`` -> ``[B, n]``: sin(pi k t) and cos(pi k t) for k = 1..n/2."""
    k = torch.arange(1, n // 2 + 1, dtype=t.dtype, device=t.device)
    angles = math.pi * t[:, None] * k
    return torch.cat([torch.sin(angles), torch.cos(angles)], -1)


class TimeMLP(Layered):
    """x path, z path, t path (Linear + SiLU each), fused Linear + SiLU, Linear to ``n_out``."""

    def __init__(self, n_in: int, d: int, n_time: int, hidden: int, n_out: int) -> None:
        self.n_time = n_time
        self.layers = [(n_in, hidden), (d, hidden), (n_time, hidden), (3 * hidden, hidden), (hidden, n_out)]
        self.flops_per_sample = 2.0 * sum(i * o for i, o in self.layers)
        self.floats_per_sample = 5 * hidden + n_out + d + n_time

    def encode(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The x path, the same at every t: ``params [P, dim]``, ``x [B, n_in]`` -> ``[P, B, hidden]``."""
        wx, bx = unpack(params, self.shapes)[:2]
        return F.silu(shared_linear(x, wx, bx))

    def forward(self, params: torch.Tensor, hx: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``hx [P, B, hidden]`` from :meth:`encode`, ``z [B, d]`` or ``[P, B, d]``, ``t [B]`` -> ``[P, B, n_out]``."""
        _, _, wz, bz, wt, bt, wf, bf, wo, bo = unpack(params, self.shapes)
        hz = F.silu(population_linear(z, wz, bz))
        ht = F.silu(shared_linear(time_features(t.to(hx.dtype), self.n_time), wt, bt))
        h = F.silu(batched_linear(torch.cat([hx, hz, ht], -1), wf, bf))
        return batched_linear(h, wo, bo)


def nearest_class(z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """The class of the nearest embedding: ``z [P, B, d]``, ``embed [K, d]`` or ``[P, K, d]`` -> ``[P, B]``."""
    rows = embed[None, None] if embed.dim() == 2 else embed[:, None]
    return (z[..., None, :] - rows).pow(2).sum(-1).argmin(-1)


def per_candidate(v: torch.Tensor) -> torch.Tensor:
    """A value ``[]`` or one per candidate ``[P]`` -> ``[1, 1]`` or ``[P, 1, 1]``, to scale ``[.., B, d]``."""
    return v[..., None, None]


class TimeConditionedProblem(ClassifierProblem):
    """Base of ``noprop-ct`` and ``noprop-fm``. Subclasses set ``n_out`` and ``extra_dim`` and
    implement ``initial_extra``, ``loss`` and ``chain``.

    Parameters, in order: the network, the head, the subclass's own part (``extra_dim``
    entries: CT's learned schedule), then W_embed ``[K, d]`` when the embedding is learnable.
    Settings: those of the NoProp-DT problems but ``T`` and ``block`` (there is one
    network and no blocks), plus ``inference_steps`` (steps of the chain from z_0 to z_1
    at prediction) and ``time_features`` (an even number of sinusoidal features of t).
    """

    extra_dim = 0

    settings_help = {"inference_steps": "steps of the inference chain from z_0 to z_1",
                     "time_features": "sinusoidal features of t fed to the network"}

    def __init__(self, inference_steps: int = 20, time_features: int = 16, **settings) -> None:
        for key in ("T", "block"):
            if key in settings:
                raise UserError(f"problem {self.name!r} has no setting {key!r}: it is one time-conditioned "
                                f"network; its chain has inference_steps steps")
        self.check_settings(settings)
        super().__init__(**settings)
        self.check_positive_int("inference_steps", inference_steps)
        self.check_positive_int("time_features", time_features)
        if time_features % 2:
            raise UserError(f"problem {self.name!r}: time_features={time_features} must be even")
        for key in ("T", "block"):
            del self.settings[key]
        del self.T, self.schedule  # DT's: this network has neither blocks nor a discrete schedule
        self.settings.update(inference_steps=inference_steps, time_features=time_features)
        self.steps = inference_steps
        h = self.settings["hidden"]
        self.net = TimeMLP(self.data.n_features, self.d, time_features, h, self.n_out)
        self.head = LinearHead(self.d, self.n_classes)
        self.learn_embed = is_learnable(self.settings["embedding"])
        self.sizes = [self.net.dim, self.head.dim, self.extra_dim] + ([self.embed.numel()] if self.learn_embed else [])
        self.dim = sum(self.sizes)
        self.flops_per_sample = self.net.flops_per_sample + self.head.flops_per_sample
        self.floats_per_sample = self.net.floats_per_sample + self.head.floats_per_sample + 2 * self.d

    @property
    def n_out(self) -> int:
        raise NotImplementedError

    def initial_extra(self, seed: int) -> torch.Tensor:
        """The subclass's own part ``[extra_dim]``."""
        return torch.zeros(0)

    def initial(self, seed: int) -> torch.Tensor:
        """PyTorch's default init for the network and the head; W_embed at its initial value."""
        parts = [self.net.initial(seed, "network"), self.head.initial(seed, "head"), self.initial_extra(seed)]
        parts += [self.embed.reshape(-1).cpu()] if self.learn_embed else []
        return torch.cat(parts).to(self.device, self.dtype)

    def split(self, params: torch.Tensor):
        """``params [P, dim]`` -> (network ``[P, dim_net]``, head ``[P, dim_head]``, own part ``[P, extra_dim]``,
        W_embed ``[K, d]`` or ``[P, K, d]``)."""
        parts = split_population(params, self.sizes)
        embed = parts.pop().reshape(-1, *self.embed.shape) if self.learn_embed else self.embed
        return parts[0], parts[1], parts[2], embed

    def parameter_layout(self) -> Layout:
        """The network's and the head's weight matrices; the subclass's part and a learned W_embed lie outside."""
        return Layout.concat([self.net.layout, self.head.layout]).padded(self.dim)

    labels = staticmethod(NoPropNet.labels)

    def times(self, n: int, noise_seed: int) -> torch.Tensor:
        """``[n]`` float64 times t ~ U(0, 1), seeded by the noise seed only."""
        draw = lambda rows: torch.rand(rows, generator=generator(noise_seed, "t", device=self.device), device=self.device,
                                       dtype=torch.float64)
        return self.per_row(n, ("times", noise_seed), draw)

    def chain(self, params: torch.Tensor, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """z_1 ``[P, B, d]`` of ``params [P, dim]`` on ``x [B, n_in]``, from z_0 ~ N(0, I) (a fixed seed) in
        ``steps`` steps (default ``inference_steps``)."""
        raise NotImplementedError

    def start(self, n: int) -> torch.Tensor:
        """The chain's z_0 ``[n, d]``: standard normal from a fixed seed."""
        return self.gaussian(n, INFERENCE_SEED, "inference")

    def predict(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[P, B, K]``: the head on the chain's z_1."""
        return self.head.forward(self.split(params)[1], self.chain(params, x))

    def accuracies(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """The head's ``accuracy`` and the chain's own, ``chain_accuracy`` (nearest embedding to z_1), from one
        run of the chain."""
        _, head, _, embed = self.split(params[None])
        z = self.chain(params[None], x)
        return {"accuracy": float(self.head.forward(head, z)[0].argmax(-1).eq(y).double().mean()),
                "chain_accuracy": float(nearest_class(z, embed)[0].eq(y).double().mean())}
