"""Low-rank noise for the distribution ES: EGGROLL's perturbations (Sarkar et al., arXiv 2511.16652).

A perturbation of a ``rows x cols`` weight matrix is ``eps = A B^T / sqrt(r)`` with ``A [rows, r]`` and
``B [cols, r]`` standard normal, drawn as the reference code draws them (one ``[cols + rows, r]`` draw, B
first; ESHyperscale/HyperscaleES, ``noiser/eggroll.py``). Every entry has mean 0 and variance 1, and
``E[vec(eps) vec(eps)^T] = I`` at any rank, as for full-rank Gaussian noise; the entries become Gaussian
as r grows. The rank is capped at ``min(rows, cols)`` per matrix. Entries outside the matrices of the
problem's layout (biases, embeddings, a problem without a layout) get dense standard normal noise.
The population built from it is a :class:`~optsuite.population.LowRank`, which a problem with a
parameter layout evaluates without forming ``[P, dim]``.

Shapes: h perturbations (pairs, where mirrored), n parameters, rank r.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from optsuite.errors import UserError
from optsuite.population import Layout, LowRank

RANK_HELP = "rank r of each weight matrix's noise A B^T / sqrt(r) (0: full-rank noise; capped at min(rows, cols))"


def check_rank(name: str, rank: int) -> None:
    if rank < 0:
        raise UserError(f"{name}: rank={rank} must be at least 0 (0: full-rank noise)")


def noise_layout(problem, rank: int) -> Layout | None:
    """The layout low-rank noise follows on ``problem``: its parameter layout, or, where it declares none, a layout
    without matrices (every entry's noise dense); None for ``rank`` 0 (full-rank noise, a dense population)."""
    if not rank:
        return None
    return problem.parameter_layout() or Layout(problem.dim)


def lowrank_floats(problem, population: int, rank: int) -> int:
    """Numbers a generation of low-rank noise holds for ``population`` candidates (its factors and the dense rest,
    mirrored), 0 for full-rank noise."""
    layout = noise_layout(problem, rank)
    if layout is None:
        return 0
    per = sum((m.rows + m.cols) * min(rank, m.rows, m.cols) for m in layout.matrices) + layout.rest.numel()
    return 2 * population * per + problem.dim


@dataclass
class LowRankNoise:
    """Standard normal noise of h perturbations shaped by ``layout``: per matrix k ``(A [h, rows, r_k],
    B [h, cols, r_k])``, read as ``eps_k = A B^T / sqrt(r_k)``, and ``rest [h, n_rest]`` for the other entries."""

    layout: Layout
    factors: list[tuple[torch.Tensor, torch.Tensor]]
    rest: torch.Tensor

    @classmethod
    def draw(cls, layout: Layout, count: int, rank: int, g: torch.Generator, like: torch.Tensor) -> "LowRankNoise":
        """``count`` perturbations from ``g``, on ``like``'s device and dtype: each matrix's factors in order,
        then the rest."""
        normal = lambda *shape: torch.randn(*shape, generator=g, device=like.device, dtype=like.dtype)
        factors = []
        for m in layout.matrices:
            raw = normal(count, m.cols + m.rows, min(rank, m.rows, m.cols))
            factors.append((raw[:, m.cols :], raw[:, : m.cols]))
        return cls(layout, factors, normal(count, layout.rest.numel()))

    def population(self, mean: torch.Tensor, matrix_scale: float | Sequence[float] | torch.Tensor,
                   rest_scale: float | torch.Tensor, mirrored: bool = True) -> LowRank:
        """``mean + scale * eps`` for each perturbation, then (``mirrored``) ``mean - scale * eps``: 2h candidates.

        ``matrix_scale``: one number, or one per matrix; ``rest_scale``: a number or ``[n_rest]``.
        """
        scales = [matrix_scale] * len(self.factors) if isinstance(matrix_scale, (int, float)) else matrix_scale
        factors = []
        for (a, b), scale in zip(self.factors, scales):
            a = a * (scale / math.sqrt(a.shape[-1]))
            factors.append((torch.cat([a, -a]), torch.cat([b, b])) if mirrored else (a, b))
        rest = self.rest * rest_scale
        return LowRank(mean, self.layout, tuple(factors), torch.cat([rest, -rest]) if mirrored else rest)

    def combine(self, weights: torch.Tensor) -> torch.Tensor:
        """``sum_i weights[i] eps_i`` ``[n]`` for ``weights [h]``: one ``[rows, h r] @ [h r, cols]`` product per matrix."""
        out = torch.empty(self.layout.dim, device=self.rest.device, dtype=self.rest.dtype)
        for m, (a, b) in zip(self.layout.matrices, self.factors):
            h, _, r = a.shape
            wa = (a * weights[:, None, None]).permute(1, 0, 2).reshape(m.rows, h * r)
            out[m.offset : m.end] = (wa @ b.permute(1, 0, 2).reshape(m.cols, h * r).T).reshape(-1) / math.sqrt(r)
        out[self.layout.rest.to(out.device)] = weights @ self.rest
        return out

    def matrix_square_means(self) -> torch.Tensor:
        """Mean of ``eps_k^2`` over each matrix's entries ``[h, matrices]``: ``<A^T A, B^T B> / (r rows cols)``."""
        columns = [((a.transpose(1, 2) @ a) * (b.transpose(1, 2) @ b)).sum((1, 2)) / (a.shape[-1] * m.size)
                   for m, (a, b) in zip(self.layout.matrices, self.factors)]
        return torch.stack(columns, 1) if columns else self.rest.new_zeros(self.rest.shape[0], 0)
