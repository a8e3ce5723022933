"""Linear least squares on a classification dataset: a quadratic with a known optimum.

Parameters ``W [d + 1, k]`` (weights and bias, flattened row-major); the loss is
mean_i ||[x_i, 1] W - onehot(y_i)||^2 + ridge ||W||^2, so the exact optimum solves
the normal equations. A step reads a minibatch; ``metrics`` reads the full splits.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from optsuite.crn import generator
from optsuite.errors import UserError
from optsuite.capabilities import LinearReadout
from optsuite.linalg import solve_normal_equations
from optsuite.problem import Draw, Problem
from optsuite.registry import register_problem

from .datasets import DATA_HELP, load_dataset


@register_problem("least-squares")
class LeastSquares(Problem):
    """Linear least squares on one-hot labels (digits by default): quadratic, known optimum."""

    settings_help = {**DATA_HELP, "batch_size": "rows of a step's minibatch", "ridge": "ridge penalty on W"}

    def __init__(
        self,
        dataset: str = "digits",
        data_root: str | None = None,
        data_seed: int = 0,
        batch_size: int = 128,
        ridge: float = 0.0,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise UserError(f"problem 'least-squares': batch_size={batch_size} must be positive")
        if ridge < 0:
            raise UserError(f"problem 'least-squares': ridge={ridge} must be non-negative")
        self.device = self.check_device(device)
        self.data = load_dataset(dataset, data_root, data_seed).to(self.device)
        self.settings = {"dataset": dataset, "data_seed": data_seed, "batch_size": batch_size, "ridge": ridge}
        self.ridge = float(ridge)
        self.n_train = int(self.data.x_train.shape[0])
        self.batch_size = batch_size
        self.shape = (self.data.n_features + 1, self.data.n_classes)
        self.dim = self.shape[0] * self.shape[1]
        self.flops_per_sample = 2.0 * self.dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, d] -> [n, d + 1]``: inputs with a bias column."""
        return torch.cat([x, torch.ones(x.shape[0], 1, device=x.device, dtype=x.dtype)], 1)

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.data.n_classes).to(self.dtype)

    def initial(self, seed: int) -> torch.Tensor:
        bound = 1.0 / math.sqrt(self.shape[0])  # PyTorch's default Linear init range
        g = generator(seed, "initial")
        w = (torch.rand(self.dim, generator=g) * 2 - 1) * bound
        return w.to(self.device, self.dtype)

    def _loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``params [P, dim]`` on rows ``x [n, d]`` -> ``[P]``."""
        w = params.reshape(-1, *self.shape)
        pred = torch.einsum("nf,pfk->pnk", self.features(x), w)
        loss = ((pred - self.targets(y)) ** 2).sum(-1).mean(-1)
        return loss + self.ridge * (params * params).sum(-1)

    def evaluate(self, params: torch.Tensor, draw: Draw) -> torch.Tensor:
        x, y = self.data.x_train, self.data.y_train
        if draw.indices is not None:
            idx = draw.indices.to(self.device)
            x, y = x[idx], y[idx]
        return self._loss(params, x, y)

    def metrics(self, params: torch.Tensor) -> dict[str, float]:
        d = self.data
        w = params.reshape(self.shape)
        accuracy = (self.features(d.x_test) @ w).argmax(1).eq(d.y_test).float().mean()
        return {
            "train_loss": float(self._loss(params[None], d.x_train, d.y_train)[0]),
            "test_loss": float(self._loss(params[None], d.x_test, d.y_test)[0]),
            "test_accuracy": float(accuracy),
        }

    def linear_readout(self) -> LinearReadout:
        d = self.data

        def batches(chunk: int = 512):
            for i in range(0, self.n_train, chunk):
                yield self.features(d.x_train[i : i + chunk]), self.targets(d.y_train[i : i + chunk])

        pack = lambda w: w.reshape(-1).to(self.dtype)
        return LinearReadout(batches, pack, self.ridge, flops_per_sample=0.0)

    def optimum(self) -> torch.Tensor:
        """The exact minimiser ``[dim]`` of the full training loss (minimum-norm where singular)."""
        return solve_normal_equations(self.linear_readout().batches(), self.ridge).reshape(-1).to(self.dtype)
