"""Layers of a low-rank population (:class:`optsuite.population.LowRank`), never forming ``[P, dim]``.

Candidate p's weight is ``W + A_p B_p^T`` (``W [in, out]`` shared, ``A_p [in, r]``, ``B_p [out, r]``), so
its layer on inputs ``h`` is ``h W + (h A_p) B_p^T``: one product with the shared mean for all rows, then a
rank-r correction per candidate (EGGROLL, Sarkar et al., arXiv 2511.16652). On an input shared by every
candidate (``x [B, in]``, a network's first layer) the shared product is computed once for the B rows
and ``x A`` once for all candidates, ``x @ [in, P r]``; on per-candidate inputs ``[P, B, in]`` it is
one product over the P B rows, which is the work of plain inference of P B samples through one
network. A correction costs ``P B r (in + out)`` multiply-adds against the layer's ``P B in out``.
Biases, and any part outside a matrix, arrive dense ``[P, ...]``.

Shapes: P candidates, B samples, ``in``/``out`` features, rank r.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..population import LowRank


@dataclass(frozen=True)
class LowRankWeight:
    """A population's weight ``[P, in, out]`` as ``mean [in, out] + a[p] @ b[p]^T`` (``a [P, in, r]``,
    ``b [P, out, r]``)."""

    mean: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.a.shape[0], *self.mean.shape))

    def dense(self) -> torch.Tensor:
        """``[P, in, out]``."""
        return self.mean + self.a @ self.b.transpose(1, 2)

    def __getitem__(self, index: tuple[slice, slice]) -> "LowRankWeight":
        """``w[:, rows]``: the weight of some of the inputs (rows of every candidate's ``[in, out]``), as a tensor
        ``[P, in, out]`` is sliced."""
        every, rows = index
        if every != slice(None) or not isinstance(rows, slice):
            raise TypeError("a low-rank weight is sliced as w[:, start:stop]")
        return LowRankWeight(self.mean[rows], self.a[:, rows], self.b)


def unpack(population: LowRank, shapes: Sequence[tuple[int, ...]]) -> list:
    """:func:`optsuite.engine.unpack` of a low-rank population: a :class:`LowRankWeight` for each 2-D shape that is
    a matrix of the layout, every other shape dense ``[P, *shape]``."""
    matrices = {(m.offset, m.rows, m.cols): k for k, m in enumerate(population.layout.matrices)}
    out, offset, P = [], 0, len(population)
    for shape in shapes:
        size = int(torch.Size(shape).numel())
        k = matrices.get((offset, *shape)) if len(shape) == 2 else None
        if k is None:
            out.append(population.window_dense(offset, offset + size).reshape(P, *shape))
        else:
            a, b = population.factors[k]
            out.append(LowRankWeight(population.mean[offset : offset + size].reshape(shape), a, b))
        offset += size
    if offset != population.layout.dim:
        from ..errors import UserError

        raise UserError(f"a parameter vector has {population.layout.dim} entries where the problem needs {offset}")
    return out


def shared_linear(x: torch.Tensor, w: LowRankWeight, bias: torch.Tensor | None) -> torch.Tensor:
    """Every candidate's layer on one shared input: ``x [B, in]`` -> ``[P, B, out]``.

    ``x W`` once for the B rows, ``x A`` once for every candidate (``[B, P r]``), then per candidate
    ``(x A_p) B_p^T`` added to it (with the bias ``[P, out]``) in one batched product.
    """
    P, n_in, r = w.a.shape
    base = x @ w.mean  # [B, out]
    xa = (x @ w.a.transpose(0, 1).reshape(n_in, P * r)).reshape(x.shape[0], P, r).transpose(0, 1)  # [P, B, r]
    if bias is None:
        return torch.baddbmm(base.expand(P, *base.shape), xa, w.b.transpose(1, 2))
    return (base + bias[:, None, :]).baddbmm_(xa, w.b.transpose(1, 2))


def batched_linear(h: torch.Tensor, w: LowRankWeight, bias: torch.Tensor | None) -> torch.Tensor:
    """Each candidate's layer on its own inputs: ``h [P, B, in]`` -> ``[P, B, out]``: ``h W`` as one product over
    the P B rows, then ``(h_p A_p) B_p^T`` per candidate (with the bias) in one batched product."""
    P, B, n_in = h.shape
    base = (h.reshape(P * B, n_in) @ w.mean).reshape(P, B, -1)
    if bias is not None:
        base += bias[:, None, :]
    return base.baddbmm_(torch.bmm(h, w.a), w.b.transpose(1, 2))
