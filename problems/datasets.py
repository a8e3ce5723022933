"""Classification datasets as standardised tensors with a seeded stratified split.

``digits`` (scikit-learn's bundled 8x8 digits) is the embedded default: it needs no
download and no folder.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from optsuite.errors import UserError


@dataclass(frozen=True)
class Dataset:
    """Train and test splits: ``x [n, d]`` float32 standardised on train, ``y [n]`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def to(self, device: torch.device) -> "Dataset":
        move = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")}
        return Dataset(self.name, n_classes=self.n_classes, **move)


def split(name: str, x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float) -> Dataset:
    """A stratified split of ``x [n, ...]`` (flattened), standardised with train statistics."""
    x = x.reshape(len(x), -1).astype(np.float64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean, std = x_tr.mean(0), x_tr.std(0)
    std[std < 1e-8] = 1.0  # constant pixels stay zero instead of dividing by zero
    as_x = lambda a: torch.as_tensor((a - mean) / std, dtype=torch.float32)
    as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)
    n_classes = int(y.max()) + 1
    return Dataset(name, as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te), n_classes)


def load_digits_arrays(root: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


LOADERS = {"digits": load_digits_arrays}


def load_dataset(name: str = "digits", root: str | None = None, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Load ``name`` (see :data:`LOADERS`), split with ``seed``; ``root`` is the data folder where one is read."""
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}")
    if not 0 < test_fraction < 1:
        raise UserError(f"test_fraction={test_fraction} must lie strictly between 0 and 1")
    x, y = LOADERS[name](root)
    return split(name, x, y, seed, test_fraction)
