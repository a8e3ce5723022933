"""Tiny MNIST (IDX) and CIFAR-10 (pickle batch) folders written for tests: the readers' real formats, random pixels."""
import gzip
import pickle

import numpy as np

from optsuite.problems.dataset_files import CIFAR10_FILES, MNIST_FILES


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX format: magic, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, n_train=30, n_test=10, gz=False, seed=0, size=4):
    """MNIST's four IDX files of ``size`` x ``size`` images in ``folder``; returns (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [rng.integers(0, 256, (n_train, size, size)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_test, size, size)), np.arange(n_test) % 10]
    for name, array in zip(MNIST_FILES, arrays):
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def write_cifar(folder, per_batch=6):
    """CIFAR-10's six python batches (3x32x32 images) of ``per_batch`` images each in ``folder``."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(CIFAR10_FILES):
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": [(i + j) % 10 for j in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch))
