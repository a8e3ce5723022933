"""The trainable parts of a NoProp-DT network, evaluated for a whole population at once.

A block maps (x, z_{t-1}) to u_hat_t, the prediction of the label embedding:
- ``mlp``: the paper's shape. An x path and a z path (Linear + SiLU each), a fused
  Linear + SiLU on both, then logits -> softmax -> @ W_embed. SiLU rather than the
  paper's ReLU keeps the loss smooth: block T's weight (~5e3) turns ReLU kinks into
  jumps in the slope that finite differences and curvature-using optimizers trip on.
- ``random-features``: a fixed random projection of [x; z] + bias, a ReLU, and a trained
  linear readout to the embedding space; its loss is least squares in the readout.
- ``learned-features``: the same block with its feature layer trained too (initialised
  at the random projection): a one-hidden-layer ReLU network on [x; z].
- ``cnn``: the paper's convolutional block for images, the mlp block on convolutional
  features (:mod:`.noprop_cnn`).
The head maps z_T to class logits with one Linear layer.

Shapes: P candidates, B samples, ``n_in`` input features, ``d`` embedding dim, K classes.
``z`` may be shared by every candidate ``[B, d]`` or per candidate ``[P, B, d]``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from optsuite.crn import generator
from optsuite.engine import fused_block
from optsuite.engine import (batched_linear, current_precision, fused_applies, population_linear, population_mlp,
                             shared_linear, unpack)
from optsuite.errors import UserError
from optsuite.population import Layout, LowRank


class Layered:
    """Parameters laid out as (weight ``[in, out]``, bias ``[out]``) per Linear layer, flattened in order."""

    layers: list[tuple[int, int]]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [s for n_in, n_out in self.layers for s in ((n_in, n_out), (n_out,))]

    @property
    def dim(self) -> int:
        return sum(n_in * n_out + n_out for n_in, n_out in self.layers)

    @property
    def layout(self) -> Layout:
        """Where the weight matrices lie in the flat parameters (each ``[in, out]``); biases lie outside."""
        return Layout.of_shapes(self.shapes)

    def initial(self, *keys: object) -> torch.Tensor:
        """``[dim]`` float32: PyTorch's default Linear init, U(-1/sqrt(in), 1/sqrt(in)), seeded by ``keys``."""
        g = generator(*keys, "linear-init")
        parts = []
        for n_in, n_out in self.layers:
            bound = 1.0 / math.sqrt(n_in)
            parts.append((torch.rand(n_in * n_out + n_out, generator=g) * 2 - 1) * bound)
        return torch.cat(parts)


class MLPBlock(Layered):
    """The paper's block shape (SiLU units): x path, z path, fused layer, logits -> softmax -> @ W_embed."""

    def __init__(self, n_in: int, d: int, n_classes: int, hidden: int) -> None:
        self.layers = [(n_in, hidden), (d, hidden), (2 * hidden, hidden), (hidden, n_classes)]
        self.sizes = (n_in, d, hidden, n_classes)
        self.flops_per_sample = 2.0 * (sum(i * o for i, o in self.layers) + n_classes * d)
        self.floats_per_sample = 4 * hidden + 2 * n_classes + d

    def forward(self, params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]``, ``x [B, n_in]`` (shared) or ``[P, B, n_in]``, ``z``, ``embed [K, d]`` or ``[P, K, d]``
        -> u_hat ``[P, B, d]``.

        On CUDA outside autograd (float32), the fused kernel of :mod:`optsuite.engine.fused_block`;
        elsewhere batched products (the engine's ``kernels`` context chooses). A low-rank population
        (:class:`~optsuite.population.LowRank`) takes the engine's low-rank layers.
        """
        why_not = lambda: ("a low-rank population" if isinstance(params, LowRank)
                           else fused_block.why_not(params, x, z, embed, self.sizes))
        if fused_applies(None, params.device, why_not):
            return fused_block.population_block(params, x, z, embed, self.sizes, current_precision())
        wx, bx, wz, bz, wf, bf, wo, bo = unpack(params, self.shapes)
        hx = F.silu(population_linear(x, wx, bx))
        hz = F.silu(population_linear(z, wz, bz))
        h = F.silu(batched_linear(torch.cat([hx, hz], -1), wf, bf))
        return torch.softmax(batched_linear(h, wo, bo), -1) @ embed


FEATURE_INITS = ("fan-in", "per-input")  # the first is the default


def random_projection(n_in: int, d: int, hidden: int, init: str, g: torch.Generator):
    """(R_x ``[n_in, F]``, R_z ``[d, F]``, c ``[F]``) float32 drawn from ``g``.

    ``fan-in``: R ~ N(0, 1/(n_in + d)) over the whole [x; z] input, c ~ U(-1, 1): every
    input feature weighs alike, so z's d features weigh little beside n_in of x.
    ``per-input``: R's x rows N(0, 1/n_in), its z rows N(0, 1/d), c ~ N(0, 1): x and z
    weigh alike.
    """
    if init == "fan-in":
        r = torch.randn(n_in + d, hidden, generator=g) / math.sqrt(n_in + d)
        return r[:n_in], r[n_in:], torch.rand(hidden, generator=g) * 2 - 1
    if init == "per-input":
        return (torch.randn(n_in, hidden, generator=g) / math.sqrt(n_in),
                torch.randn(d, hidden, generator=g) / math.sqrt(d), torch.randn(hidden, generator=g))
    raise UserError(f"unknown feature_init {init!r}; known: {', '.join(FEATURE_INITS)}")


class RandomFeatureBlock(Layered):
    """relu([x; z] @ R + c) ``[.., F]`` with R, c fixed (seeded, drawn by :func:`random_projection`), then a
    trained Linear readout to ``d``."""

    def __init__(self, n_in: int, d: int, n_classes: int, hidden: int, seed: int, t: int,
                 device: torch.device, dtype: torch.dtype, init: str = FEATURE_INITS[0]) -> None:
        fixed = random_projection(n_in, d, hidden, init, generator(seed, t, "random-features"))
        self.r_x, self.r_z, self.c = (v.to(device, dtype) for v in fixed)
        self.layers = [(hidden, d)]
        self.flops_per_sample = 2.0 * (n_in + d + d) * hidden
        self.floats_per_sample = hidden + d

    def features(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``x [B, n_in]``, ``z [B, d]`` or ``[P, B, d]`` -> phi ``[B, F]`` or ``[P, B, F]``."""
        return torch.relu(x @ self.r_x + z @ self.r_z + self.c)

    def forward(self, params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]`` -> u_hat ``[P, B, d]``; ``embed`` is unused (the readout targets u directly)."""
        w, b = unpack(params, self.shapes)
        return population_linear(self.features(x, z), w, b)


class LearnedFeatureBlock(Layered):
    """relu([x; z] @ R + c) ``[P, B, F]`` -> Linear readout to ``d``, with R ``[n_in + d, F]`` and c trained.

    Parameters: R, c (initialised at the random-feature block's projection), then the
    readout W ``[F, d]`` and bias ``[d]`` (PyTorch's init).
    """

    def __init__(self, n_in: int, d: int, n_classes: int, hidden: int, seed: int, t: int,
                 device: torch.device, dtype: torch.dtype, init: str = FEATURE_INITS[0]) -> None:
        self.random = RandomFeatureBlock(n_in, d, n_classes, hidden, seed, t, device, dtype, init)
        self.n_in, self.n_features = n_in, hidden
        self.layers = [(n_in + d, hidden), (hidden, d)]
        self.flops_per_sample = self.random.flops_per_sample
        self.floats_per_sample = 2 * hidden + d

    def initial(self, *keys: object) -> torch.Tensor:
        r = self.random
        projection = [torch.cat([r.r_x, r.r_z]).reshape(-1), r.c]
        return torch.cat([v.float().cpu() for v in projection] + [r.initial(*keys)])

    def features(self, params: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]``, ``x [B, n_in]``, ``z`` -> phi ``[P, B, F]``."""
        r, c = unpack(params, self.shapes)[:2]
        return torch.relu(shared_linear(x, r[:, : self.n_in], c) + population_linear(z, r[:, self.n_in :]))

    def forward(self, params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]`` -> u_hat ``[P, B, d]``; ``embed`` is unused.

        With ``z [B, d]`` shared by every candidate the block is the engine's two-layer
        MLP on ``[x; z]`` (the fused kernel on CUDA outside autograd).
        """
        if z.dim() == 2:
            return population_mlp(params, torch.cat([x, z], -1), (self.layers[0][0], self.n_features, self.layers[1][1]))
        w, b = unpack(params, self.shapes)[2:]
        return batched_linear(self.features(params, x, z), w, b)

    def projection(self, params: torch.Tensor) -> torch.Tensor:
        """R ``[n_in + d, F]`` of ``params [dim]``."""
        return params[: self.layers[0][0] * self.n_features].reshape(self.layers[0])

    def with_projection(self, params: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
        """``params [dim]`` with R replaced by ``projection [n_in + d, F]``."""
        return torch.cat([projection.reshape(-1).to(params), params[projection.numel() :]])

    def with_readout(self, params: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
        """``params [dim]`` with its readout replaced by ``readout [F + 1, d]`` (weights, then the bias row)."""
        keep = self.dim - readout.numel()
        return torch.cat([params[:keep], readout[:-1].reshape(-1).to(params), readout[-1].to(params)])


class LinearHead(Layered):
    """p(y | z_T): logits = z_T W + b."""

    def __init__(self, d: int, n_classes: int) -> None:
        self.layers = [(d, n_classes)]
        self.flops_per_sample = 2.0 * d * n_classes
        self.floats_per_sample = n_classes

    def forward(self, params: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]``, ``z [B, d]`` or ``[P, B, d]`` -> logits ``[P, B, K]``."""
        w, b = unpack(params, self.shapes)
        return population_linear(z, w, b)
