"""Batched population evaluation primitives for MLP-style problems.

Problems build their population forward passes from these few functions, so that the
evaluation engine can be tuned (layout, chunking, precision) in one place.

Shapes: P candidates, B samples, ``in``/``out`` features.
"""
from __future__ import annotations

from typing import Callable

import torch


def unpack(params: torch.Tensor, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    """Split ``params [P, dim]`` into views ``[P, *shape]`` for each shape, in order."""
    sizes = [int(torch.Size(s).numel()) for s in shapes]
    if sum(sizes) != params.shape[-1]:
        raise ValueError(f"parameter vector has {params.shape[-1]} entries, shapes need {sum(sizes)}")
    parts = torch.split(params, sizes, dim=-1)
    return [p.reshape(params.shape[0], *s) for p, s in zip(parts, shapes)]


def shared_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Every candidate's linear layer on one shared input: ``x [B, in]``, ``w [P, in, out]``, ``b [P, out]`` -> ``[P, B, out]``.

    The shared input makes this one large matrix product ``x @ [in, P * out]``.
    """
    P, n_in, n_out = w.shape
    y = (x @ w.permute(1, 0, 2).reshape(n_in, P * n_out)).reshape(x.shape[0], P, n_out).transpose(0, 1)
    return y if b is None else y + b[:, None, :]


def batched_linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Each candidate's layer on its own activations: ``h [P, B, in]``, ``w [P, in, out]`` -> ``[P, B, out]``."""
    if b is None:
        return torch.bmm(h, w)
    return torch.baddbmm(b[:, None, :], h, w)


def chunked(fn: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor, bytes_per_candidate: int,
            max_bytes: int = 1 << 30) -> torch.Tensor:
    """``fn`` over ``params [P, dim]`` in chunks whose activations stay under ``max_bytes``; -> ``[P]``."""
    size = max(1, int(max_bytes // max(1, bytes_per_candidate)))
    if params.shape[0] <= size:
        return fn(params)
    return torch.cat([fn(params[i : i + size]) for i in range(0, params.shape[0], size)])
