"""Classification datasets as standardised tensors, split into train and test.

- ``digits``: scikit-learn's bundled 8x8 digits, the embedded default (no folder);
  a seeded stratified split (``test_fraction``, 20% by default).
- ``mnist1d``: MNIST-1D generated locally by the ``mnist1d`` package (never
  downloaded), 4000 train / 1000 test: its official split.
- ``mnist``: IDX files from ``data_root`` (raw or .gz; torchvision's ``MNIST/raw``
  works), 60000 / 10000: the official split.
- ``cifar10``: the python pickle batches from ``data_root`` (``cifar-10-batches-py/``),
  50000 / 10000: the official split.

Where a dataset has an official test split it is used and ``seed``/``test_fraction``
do not change it. Inputs are flattened and standardised per feature with train
statistics only; an image dataset keeps its image shape (digits 1x8x8, mnist 1x28x28,
cifar10 3x32x32) beside the flat features, mnist1d has none. Loaded datasets are cached in-process: many problems on one dataset
read it once.
"""
from __future__ import annotations

import functools
import numbers
import random
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from optsuite.errors import UserError, did_you_mean

from .dataset_files import fingerprint, read_cifar10, read_mnist


@dataclass(frozen=True)
class Dataset:
    """Train and test splits: ``x [n, d]`` float32 standardised on train, ``y [n]`` int64.

    ``shape``: an image's ``(channels, height, width)``, whose product is ``d``, or None for
    inputs that are not images; a row of ``x`` is its image flattened in that order.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    shape: tuple[int, int, int] | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def to(self, device: torch.device) -> "Dataset":
        move = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")}
        return Dataset(self.name, n_classes=self.n_classes, shape=self.shape, **move)


def image_shape(x: np.ndarray) -> tuple[int, int, int] | None:
    """``(channels, height, width)`` of inputs ``x [n, H, W]`` or ``[n, C, H, W]``; None for ``x [n, d]``."""
    if x.ndim == 3:
        return (1, *x.shape[1:])
    return tuple(x.shape[1:]) if x.ndim == 4 else None


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten ``[n, ...]`` inputs to ``[n, d]`` float32, standardised with train mean and std."""
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32)
    x_train, x_test = flat(x_train), flat(x_test)
    mean, std = x_train.mean(0, dtype=np.float64), x_train.std(0, dtype=np.float64)
    std[std < 1e-8] = 1.0  # constant pixels stay zero instead of dividing by zero
    mean, std = mean.astype(np.float32), std.astype(np.float32)
    as_x = lambda a: torch.as_tensor((a - mean) / std)
    return as_x(x_train), as_x(x_test)


def make_dataset(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> Dataset:
    """A :class:`Dataset` from train and test arrays ``x [n, ...]`` (images ``[n, H, W]`` or ``[n, C, H, W]``), ``y [n]``."""
    x_tr, x_te = standardise(x_train, x_test)
    as_y = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.int64)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(name, x_tr, as_y(y_train), x_te, as_y(y_test), n_classes, image_shape(x_train))


def split(name: str, x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float) -> Dataset:
    """A stratified split of ``x [n, ...]``, ``y [n]`` with ``seed``, standardised with train statistics."""
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return make_dataset(name, x_tr, y_tr, x_te, y_te)


def load_digits_arrays(root: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x [1797, 8, 8], y [1797])``: no official test split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def load_mnist1d_arrays(root: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train [4000, 40], y_train, x_test [1000, 40], y_test)``: MNIST-1D's default generator settings.

    ``make_dataset`` seeds the global ``random`` and numpy streams; they are restored.
    """
    from mnist1d.data import get_dataset_args
    from mnist1d.data import make_dataset as generate

    states = random.getstate(), np.random.get_state()
    try:
        data = generate(get_dataset_args())
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    return data["x"], data["y"], data["x_test"], data["y_test"]


# name -> reader(root): (x, y) to be split, or (x_train, y_train, x_test, y_test): an official split
LOADERS = {"digits": load_digits_arrays, "mnist1d": load_mnist1d_arrays, "mnist": read_mnist, "cifar10": read_cifar10}
OFFICIAL_SPLIT = {"mnist1d", "mnist", "cifar10"}
FROM_FILES = {"mnist", "cifar10"}  # read from data_root; the others need none
# the settings of a problem on a dataset, for ``optsuite list NAME``
DATA_HELP = {"dataset": "digits, mnist1d (generated here), mnist or cifar10 (read from data_root)",
             "data_root": "the folder mnist and cifar10 are read from",
             "data_seed": "the train/test split of a dataset without an official one (digits)"}


def load_dataset(name: str = "digits", root: str | None = None, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Load ``name`` (see :data:`LOADERS`; any case), split with ``seed`` unless it has an official test split.

    ``root`` is the data folder of a dataset read from files (:data:`FROM_FILES`); given for
    another, it is refused rather than ignored. Cached: the same arguments return the same
    (shared, never to be modified) tensors.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in LOADERS:
        raise UserError(f"unknown dataset {name!r}{did_you_mean(str(name).lower(), LOADERS)}; known: {', '.join(sorted(LOADERS))}")
    name = key
    if root is not None and name not in FROM_FILES:
        raise UserError(f"dataset {name!r} reads no data_root (given {str(root)!r}); data_root is for "
                        f"{' and '.join(sorted(FROM_FILES))}: set dataset too")
    if not 0 < test_fraction < 1:
        raise UserError(f"test_fraction={test_fraction} must lie strictly between 0 and 1")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise UserError(f"data_seed={seed!r} must be an integer from 0 to 2**32 - 1")
    if name in OFFICIAL_SPLIT:
        seed, test_fraction = 0, 0.2  # unused: one cache entry whatever the caller's split settings
    return cached_dataset(name, None if root is None else str(root), int(seed), float(test_fraction))


def data_fingerprint(name: str = "digits", root: str | None = None) -> str | None:
    """A fingerprint of the files of a dataset read from ``root`` (:data:`FROM_FILES`), None for the others: a store
    keys problems without ``data_root`` (a location) and records this, so that other data of the same name is
    refused rather than mixed."""
    name = name.lower() if isinstance(name, str) else name
    if root is None or name not in FROM_FILES:
        return None
    return fingerprint(name, str(root))


@functools.lru_cache(maxsize=8)
def cached_dataset(name: str, root: str | None, seed: int, test_fraction: float) -> Dataset:
    arrays = LOADERS[name](root)
    if name in OFFICIAL_SPLIT:
        return make_dataset(name, *arrays)
    return split(name, *arrays, seed, test_fraction)
