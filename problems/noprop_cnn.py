"""The paper's convolutional NoProp-DT block (``block = "cnn"``), for image datasets, evaluated for a population at once.

After Li, Teh and Pascanu, "NoProp" (arXiv 2503.24322), the block of its Fig. 6 as two
public re-implementations (Tai225999/NoProp---Pytorch-Implementation,
DanielHalachev/NoProp) read it. Image path, with c = ``channels`` (the paper's 32):

    conv 3x3 (c) -> act -> max-pool 2 -> conv 3x3 (2c) -> act -> conv 3x3 (4c) -> act -> max-pool 2 -> flatten

(padding 1, so an H x W image leaves 4c maps of (H // 2 // 2) x (W // 2 // 2)). The
flattened features then go through the mlp block (:class:`MLPBlock`): Linear + act on the
image features, Linear + act on z_{t-1}, a fused Linear + act on both, then logits ->
softmax -> @ W_embed.

What differs from the paper, and why:
- SiLU for ReLU, as in the mlp block: a smooth loss (see :mod:`.noprop_blocks`).
- No dropout: the paper's dropout (0.2, after each pooling and the middle convolution)
  is the identity at evaluation, and a random mask would give one candidate two losses
  on one draw.
- No batch normalisation: batch statistics would make a sample's prediction depend on
  the rest of its minibatch, and a population evaluated without a training loop has no
  running statistics.
- After the convolutions, the mlp block's layers: one Linear on z (the paper adds two
  more with a skip connection) and one fused hidden layer of ``hidden`` units (the
  paper: 256 then 128 units).

Population evaluation (:mod:`optsuite.engine.conv`): the first convolution is one
convolution of the shared images against every candidate's filters; the next two are
grouped convolutions with one group per candidate. Parameters, in order: each
convolution's filters ``[out, in, 3, 3]`` and bias ``[out]``, then the mlp block's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from optsuite.engine import unpack
from optsuite.errors import UserError
from optsuite.population import split
from optsuite.engine.conv import by_candidate, population_conv2d

from .noprop_blocks import Layered, MLPBlock

KERNEL = 3
POOLED = (True, False, True)  # a 2x2 max-pool after the first and the last convolution


class CNNBlock(Layered):
    """Three convolutions on ``image = (C, H, W)`` inputs, then the mlp block on the flattened maps and z."""

    def __init__(self, image: tuple[int, int, int], d: int, n_classes: int, hidden: int, channels: int) -> None:
        C, H, W = image
        if H < 4 or W < 4:
            raise UserError(f"block 'cnn' needs images of at least 4x4 pixels (two 2x2 poolings), not {H}x{W}")
        self.image = image
        widths = (C, channels, 2 * channels, 4 * channels)
        self.convs = list(zip(widths, widths[1:]))
        self.resolutions = [(H, W), (H // 2, W // 2), (H // 2, W // 2)]  # of each convolution's output
        out_h, out_w = H // 2 // 2, W // 2 // 2
        self.dense = MLPBlock(widths[-1] * out_h * out_w, d, n_classes, hidden)
        # a filter bank is initialised as a Linear layer of fan-in C_in * 3 * 3: PyTorch's Conv2d default
        self.layers = [(c_in * KERNEL**2, c_out) for c_in, c_out in self.convs] + self.dense.layers
        self.conv_dim = sum(c_in * KERNEL**2 * c_out + c_out for c_in, c_out in self.convs)
        conv_macs = sum(c_in * c_out * KERNEL**2 * h * w for (c_in, c_out), (h, w) in zip(self.convs, self.resolutions))
        self.flops_per_sample = 2.0 * conv_macs + self.dense.flops_per_sample
        maps = [c_out * h * w for (_, c_out), (h, w) in zip(self.convs, self.resolutions)]
        pooled = [channels * (H // 2) * (W // 2), widths[-1] * out_h * out_w]
        self.floats_per_sample = 2 * sum(maps) + sum(pooled) + self.dense.floats_per_sample  # outputs, activations

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        conv = [s for c_in, c_out in self.convs for s in ((c_out, c_in, KERNEL, KERNEL), (c_out,))]
        return conv + self.dense.shapes

    def features(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The image path: convolution parameters ``[P, conv_dim]``, ``x [B, C * H * W]`` -> ``[P, B, features]``."""
        layers = unpack(params, self.shapes[: 2 * len(self.convs)])
        h = x.reshape(x.shape[0], *self.image)
        for w, b, pooled in zip(layers[::2], layers[1::2], POOLED):
            h = F.silu(population_conv2d(h, w, b))
            h = F.max_pool2d(h, 2) if pooled else h
        return by_candidate(h, params.shape[0])

    def forward(self, params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]``, ``x [B, C * H * W]``, ``z [B, d]`` or ``[P, B, d]``, ``embed`` -> u_hat ``[P, B, d]``."""
        convolutions, dense = split(params, [self.conv_dim, params.shape[1] - self.conv_dim])
        return self.dense.forward(dense, self.features(convolutions, x), z, embed)
