"""Analytic solve: the exact least-squares (ridge) optimum of a linear readout, in one pass."""
from __future__ import annotations

import torch

from optsuite.optimizer import Optimizer, StepInfo
from optsuite.registry import register_optimizer


def solve_normal_equations(batches, ridge: float) -> torch.Tensor:
    """``argmin_W sum ||phi W - y||^2 + ridge n ||W||^2`` from streamed ``(phi [n, f], y [n, k])``; -> ``W [f, k]``.

    Accumulates phi^T phi and phi^T y in float64 chunk by chunk, so memory is
    ``O(f^2 + f k)`` whatever the number of samples. A singular system (e.g. constant
    features) gets the minimum-norm solution.
    """
    gram = rhs = None
    n = 0
    for phi, y in batches:
        phi, y = phi.double(), y.double()
        if gram is None:
            gram = torch.zeros(phi.shape[1], phi.shape[1], dtype=torch.float64, device=phi.device)
            rhs = torch.zeros(phi.shape[1], y.shape[1], dtype=torch.float64, device=phi.device)
        gram += phi.T @ phi
        rhs += phi.T @ y
        n += phi.shape[0]
    if gram is None:
        raise ValueError("the linear readout streamed no samples")
    gram += ridge * n * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, factor)
    return torch.linalg.pinv(gram, hermitian=True) @ rhs


@register_optimizer("analytic")
class Analytic(Optimizer):
    """Exact least-squares optimum of a problem's linear readout (streamed normal equations)."""

    requires = ("linear_readout",)

    def init(self, problem, seed: int) -> None:
        self.x = problem.initial(seed).clone()

    def step(self, problem, draw) -> StepInfo:
        readout = problem.linear_readout()
        w = solve_normal_equations(readout.batches(), readout.ridge)
        self.x = readout.pack(w).to(problem.device, problem.dtype)
        loss = problem.evaluate(self.x[None], draw)[0]
        return StepInfo(float(loss), done=True)

    def best(self) -> torch.Tensor:
        return self.x.clone()
