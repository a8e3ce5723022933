"""Streamed least squares: the normal equations accumulated chunk by chunk, solved exactly."""
from __future__ import annotations

from typing import Iterable

import torch

from .errors import UserError


class NormalEquations:
    """Running ``phi^T phi`` and ``phi^T y`` in float64: memory ``O(f^2 + f k)`` whatever the number of rows."""

    def __init__(self) -> None:
        self.gram: torch.Tensor | None = None
        self.rhs: torch.Tensor | None = None
        self.n = 0

    def add(self, phi: torch.Tensor, y: torch.Tensor) -> None:
        """Rows ``phi [n, f]`` with targets ``y [n, k]``."""
        phi, y = phi.double(), y.double()
        if self.gram is None:
            self.gram = phi.new_zeros(phi.shape[1], phi.shape[1])
            self.rhs = phi.new_zeros(phi.shape[1], y.shape[1])
        self.gram += phi.T @ phi
        self.rhs += phi.T @ y
        self.n += phi.shape[0]

    def solve(self, ridge: float) -> torch.Tensor:
        """``argmin_W sum ||phi W - y||^2 + ridge n ||W||^2`` over the rows so far; -> ``W [f, k]``.

        A singular system (e.g. constant features) gets the minimum-norm solution.
        """
        if self.gram is None:
            raise UserError("a least-squares solve got no rows: the training set is empty")
        eye = torch.eye(self.gram.shape[0], dtype=self.gram.dtype, device=self.gram.device)
        gram = self.gram + ridge * self.n * eye
        factor, info = torch.linalg.cholesky_ex(gram)
        if int(info) == 0:
            return torch.cholesky_solve(self.rhs, factor)
        return torch.linalg.pinv(gram, hermitian=True) @ self.rhs


def solve_normal_equations(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], ridge: float) -> torch.Tensor:
    """The least-squares readout ``W [f, k]`` from streamed ``(phi [n, f], y [n, k])`` chunks, in one pass."""
    equations = NormalEquations()
    for phi, y in batches:
        equations.add(phi, y)
    return equations.solve(ridge)
