"""Populations: what an optimizer asks a problem to evaluate, dense or low-rank.

A population of P candidates is either a dense tensor ``[P, dim]`` or a :class:`LowRank`
population: a shared mean ``[dim]`` plus, for candidate p, a perturbation that is
``A_k[p] @ B_k[p]^T`` on each matrix k of the problem's :class:`Layout` (rank r, A ``[P, rows, r]``,
B ``[P, cols, r]``) and dense on every other entry (``rest [P, n_rest]``: biases, embeddings,
anything outside a matrix). The optimizer folds its step sizes into A and ``rest``.

A problem that declares its layout (:meth:`optsuite.problem.Problem.parameter_layout`)
evaluates a low-rank population natively, without forming ``[P, dim]`` (the engine's
:mod:`optsuite.engine.lowrank`); :func:`evaluate` gives every other problem the population made
dense, so every problem takes every optimizer. Both forms cost the same in the ledger.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence, Union

import torch

from .errors import UserError


@dataclass(frozen=True)
class Matrix:
    """A ``rows x cols`` matrix stored row-major at ``offset`` of a flat parameter vector."""

    offset: int
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.rows * self.cols

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Layout:
    """Which slices of a flat parameter vector ``[dim]`` are matrices (in increasing offset, disjoint)."""

    dim: int
    matrices: tuple[Matrix, ...] = ()

    def __post_init__(self) -> None:
        end = 0
        for m in self.matrices:
            if m.offset < end or m.rows < 1 or m.cols < 1:
                raise UserError(f"a parameter layout's matrices must be disjoint, non-empty and in order: {m}")
            end = m.end
        if end > self.dim:
            raise UserError(f"a parameter layout's matrices end at {end}, past dim {self.dim}")

    @classmethod
    def of_shapes(cls, shapes: Sequence[tuple[int, ...]]) -> "Layout":
        """The layout of parameters stored as ``shapes`` in order: every 2-D shape is a matrix."""
        matrices, offset = [], 0
        for shape in shapes:
            if len(shape) == 2:
                matrices.append(Matrix(offset, *shape))
            offset += int(torch.Size(shape).numel())
        return cls(offset, tuple(matrices))

    @classmethod
    def concat(cls, layouts: Sequence["Layout"]) -> "Layout":
        """The layout of vectors laid end to end."""
        matrices, offset = [], 0
        for layout in layouts:
            matrices += [Matrix(m.offset + offset, m.rows, m.cols) for m in layout.matrices]
            offset += layout.dim
        return cls(offset, tuple(matrices))

    def padded(self, dim: int) -> "Layout":
        """This layout followed by ``dim - self.dim`` entries outside any matrix."""
        return Layout(dim, self.matrices)

    @functools.cached_property
    def rest(self) -> torch.Tensor:
        """Positions ``[n_rest]`` (int64, increasing) of the entries outside every matrix."""
        inside = torch.zeros(self.dim, dtype=torch.bool)
        for m in self.matrices:
            inside[m.offset : m.end] = True
        return torch.nonzero(~inside).flatten()

    def rest_columns(self, start: int, stop: int) -> tuple[int, int]:
        """The columns ``lo..hi`` of a population's ``rest`` that hold entries ``start..stop`` (their positions
        increase, so those entries are consecutive columns)."""
        lo, hi = torch.searchsorted(self.rest, torch.tensor([start, stop])).tolist()
        return lo, hi

    def window(self, start: int, stop: int) -> "Layout":
        """The layout of entries ``start..stop``; a matrix may not straddle either end."""
        kept = []
        for m in self.matrices:
            if m.offset < stop and m.end > start:
                if m.offset < start or m.end > stop:
                    raise UserError(f"entries {start}..{stop} cut the matrix at {m.offset}..{m.end}")
                kept.append(Matrix(m.offset - start, m.rows, m.cols))
        return Layout(stop - start, tuple(kept))


@dataclass(frozen=True)
class LowRank:
    """P candidates ``mean + delta_p``: ``delta_p`` is ``factors[k][0][p] @ factors[k][1][p]^T`` on matrix k of
    ``layout`` and ``rest[p]`` on the entries outside every matrix (:attr:`Layout.rest`, in order).

    ``mean [dim]``; ``factors``: per matrix ``(A [P, rows, r], B [P, cols, r])``; ``rest [P, n_rest]``.
    """

    mean: torch.Tensor
    layout: Layout
    factors: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    rest: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.factors) != len(self.layout.matrices):
            raise UserError(f"a low-rank population needs one factor pair per matrix: {len(self.factors)} for "
                            f"{len(self.layout.matrices)}")

    # -- what code written for a tensor [P, dim] asks ---------------------------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.rest.shape[0], self.layout.dim))

    def __len__(self) -> int:
        return self.rest.shape[0]

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def dtype(self) -> torch.dtype:
        return self.mean.dtype

    def element_size(self) -> int:
        return self.mean.element_size()

    @property
    def rank(self) -> int:
        return max((a.shape[-1] for a, _ in self.factors), default=0)

    def __getitem__(self, rows: slice) -> "LowRank":
        """Candidates ``rows`` (a slice), as :func:`optsuite.engine.chunked` takes them."""
        if not isinstance(rows, slice):
            raise TypeError("a low-rank population is indexed by a slice of candidates")
        return LowRank(self.mean, self.layout, tuple((a[rows], b[rows]) for a, b in self.factors), self.rest[rows])

    # -- forms -------------------------------------------------------------------------------
    def dense(self) -> torch.Tensor:
        """The population made dense ``[P, dim]``."""
        return self.window_dense(0, self.layout.dim)

    def window_dense(self, start: int, stop: int) -> torch.Tensor:
        """Entries ``start..stop`` of every candidate, dense ``[P, stop - start]`` (matrices may straddle the ends)."""
        P = len(self)
        lo, hi = self.layout.rest_columns(start, stop)
        if hi - lo == stop - start:  # no matrix there: a bias, say
            return self.mean[start:stop] + self.rest[:, lo:hi]
        out = self.mean[start:stop].expand(P, stop - start).clone()
        for m, (a, b) in zip(self.layout.matrices, self.factors):
            first, last = max(start, m.offset), min(stop, m.end)
            if first < last:
                out[:, first - start : last - start] += (a @ b.transpose(1, 2)).reshape(P, m.size)[:, first - m.offset : last - m.offset]
        if hi > lo:
            out[:, self.layout.rest[lo:hi].to(self.device) - start] += self.rest[:, lo:hi]
        return out

    def window(self, start: int, stop: int) -> Union["LowRank", torch.Tensor]:
        """Entries ``start..stop``: a low-rank population of them, or dense ``[P, stop - start]`` where no matrix
        lies there (a matrix may not straddle either end)."""
        layout = self.layout.window(start, stop)
        if not layout.matrices:
            return self.window_dense(start, stop)
        inside = [(m.offset >= start and m.end <= stop) for m in self.layout.matrices]
        lo, hi = self.layout.rest_columns(start, stop)
        return LowRank(self.mean[start:stop], layout, tuple(f for f, keep in zip(self.factors, inside) if keep),
                       self.rest[:, lo:hi])

    def squared_norms(self) -> torch.Tensor:
        """``||mean + delta_p||^2`` ``[P]`` float64, from the factors: never forms ``[P, dim]``.

        ``||M + A B^T||^2 = ||M||^2 + 2 <M B, A> + <A^T A, B^T B>`` per matrix.
        """
        mean = self.mean.double()
        positions = self.layout.rest.to(self.device)
        total = (mean[positions] + self.rest.double()).pow(2).sum(-1)
        for m, (a, b) in zip(self.layout.matrices, self.factors):
            w, a, b = mean[m.offset : m.end].reshape(m.rows, m.cols), a.double(), b.double()
            total = (total + w.pow(2).sum() + 2 * ((w @ b) * a).sum((1, 2))
                     + (a.transpose(1, 2) @ a * (b.transpose(1, 2) @ b)).sum((1, 2)))
        return total


Population = Union[torch.Tensor, LowRank]


def dense(population: Population) -> torch.Tensor:
    """``population`` as a dense tensor ``[P, dim]``."""
    return population.dense() if isinstance(population, LowRank) else population


def split(population: Population, sizes: Sequence[int]) -> list[Population]:
    """``population`` cut into consecutive windows of ``sizes`` entries (as ``torch.split(..., dim=-1)``)."""
    if not isinstance(population, LowRank):
        return list(torch.split(population, list(sizes), dim=-1))
    out, start = [], 0
    for size in sizes:
        out.append(population.window(start, start + size))
        start += size
    return out


def squared_norms(population: Population) -> torch.Tensor:
    """``||candidate||^2`` of each candidate ``[P]`` float64."""
    if isinstance(population, LowRank):
        return population.squared_norms()
    return population.double().pow(2).sum(-1)


def evaluate(problem, population: Population, draw) -> torch.Tensor:
    """``problem.evaluate`` of ``population``: a low-rank population as it is where the problem declares a layout
    (and so evaluates it natively), made dense for any other problem."""
    if isinstance(population, LowRank) and problem.parameter_layout() is None:
        population = population.dense()
    return problem.evaluate(population, draw)
