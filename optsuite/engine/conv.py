"""Convolution layers for a whole population at once: the P candidates as channel groups.

A population's feature maps are laid out ``[B, P * C, H, W]``: candidate p owns channels
``p * C .. (p + 1) * C - 1``. Then one grouped convolution (``groups = P``) applies every
candidate's filters to its own maps, pooling and pointwise activations act on every
candidate alike, and :func:`by_candidate` turns the last maps into ``[P, B, features]`` for
the engine's linear layers. An input shared by all candidates ``[B, C, H, W]`` (the
images) needs no copy per candidate: one ordinary convolution against all ``P * out``
filters gives the same maps. On CUDA the convolutions follow the engine's precision mode
(:func:`optsuite.engine.precision`): cuDNN's TF32 (on by default in torch) only in tf32
mode, so float32 mode is float32 in the convolutions as in the matrix products.

Shapes: P candidates, B samples, C input channels, ``out`` filters per candidate, k x k kernels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .modes import current_precision


def population_conv2d(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Every candidate's k x k convolution, stride 1, zero padding k // 2 (odd k keeps H and W).

    ``h [B, C, H, W]`` (shared) or ``[B, P * C, H, W]`` (per candidate), ``w [P, out, C, k, k]``,
    ``b [P, out]`` -> ``[B, P * out, H, W]``.
    """
    P, out, C, k, _ = w.shape
    groups, rest = divmod(h.shape[1], C)
    if rest or groups not in (1, P):
        raise ValueError(f"input with {h.shape[1]} channels is neither shared ({C}) nor per candidate ({P} x {C})")
    allowed, torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32, current_precision() == "tf32"
    try:
        return F.conv2d(h, w.reshape(P * out, C, k, k), b.reshape(P * out), padding=k // 2, groups=groups)
    finally:
        torch.backends.cudnn.allow_tf32 = allowed


def by_candidate(h: torch.Tensor, population: int) -> torch.Tensor:
    """``[B, P * C, H, W]`` -> ``[P, B, C * H * W]``: each candidate's maps flattened per sample (channel, row, column)."""
    return h.reshape(h.shape[0], population, -1).transpose(0, 1)
