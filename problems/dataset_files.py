"""Readers for dataset files in a user's folder: MNIST's IDX files and CIFAR-10's pickle batches.

Nothing is downloaded: a missing or malformed file raises a one-line UserError that
names the files expected.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import io
import pickle
import zlib
from pathlib import Path

import numpy as np

from optsuite.errors import UserError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)

# dataset -> (its files, the subfolders of data_root they may lie in)
FILES = {"mnist": (MNIST_FILES, ("raw", "MNIST/raw")), "cifar10": (CIFAR10_FILES, ("cifar-10-batches-py",))}

CLASSES = 10  # MNIST's digits and CIFAR-10's classes: labels 0..9

# IDX element type codes -> big-endian numpy dtypes
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find_folder(root: str | None, dataset: str, names: tuple[str, ...], subfolders: tuple[str, ...]) -> Path:
    """The first of ``root`` and ``root/<subfolder>`` holding every file of ``names`` (raw or .gz)."""
    expected = ", ".join(names)
    if root is None:
        raise UserError(f"dataset {dataset!r} needs data_root: a folder with {expected}")
    base = Path(root).expanduser()
    for folder in (base, *(base / s for s in subfolders)):
        try:
            if all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in names):
                return folder
        except OSError as exc:  # e.g. a folder this process may not read
            raise UserError(f"dataset {dataset!r}: cannot look into {folder} ({exc.strerror})") from None
    raise UserError(f"dataset {dataset!r}: no folder at or under {base} holds {expected} (raw or .gz)")


@functools.lru_cache(maxsize=8)
def fingerprint(dataset: str, root: str) -> str:
    """16 hex digits of the SHA-256 of ``dataset``'s files in ``root`` (:data:`FILES`), each as read (a .gz
    decompressed, so the same data raw or compressed has one fingerprint): what the data is, wherever it lies."""
    folder = find_folder(root, dataset, *FILES[dataset])
    digest = hashlib.sha256()
    for name in FILES[dataset][0]:
        data = read_bytes(folder / name)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:16]


def read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped if it is ``path.gz``."""
    gz = path.with_name(path.name + ".gz")
    try:
        if path.is_file():
            return path.read_bytes()
        return gzip.decompress(gz.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:  # zlib: a gzip body that does not decompress
        raise UserError(f"cannot read {gz if not path.is_file() else path}: {exc}") from None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (raw or .gz) as an array of its declared shape, e.g. ``[n, 28, 28]`` uint8."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number)")
    ndim, dtype = data[3], np.dtype(IDX_TYPES[data[2]])
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path} is truncated: its header declares {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    if len(data) - header != int(np.prod(shape)) * dtype.itemsize:
        raise UserError(f"{path} is malformed: shape {shape} does not match its {len(data) - header} data bytes")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_mnist(root: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train [60000, 28, 28], y_train, x_test [10000, 28, 28], y_test)`` from IDX files.

    Looks in ``root``, ``root/raw`` and ``root/MNIST/raw`` (torchvision's layout).
    """
    folder = find_folder(root, "mnist", *FILES["mnist"])
    x_tr, y_tr, x_te, y_te = (read_idx(folder / n) for n in MNIST_FILES)
    for x, y, part in ((x_tr, y_tr, "train"), (x_te, y_te, "t10k")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UserError(f"mnist {part} files in {folder} disagree: images {x.shape}, labels {y.shape}")
        check_labels(y, f"mnist {part} labels in {folder}")
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def check_labels(y: np.ndarray, what: str) -> None:
    """Refuse labels ``y [n]`` outside 0..CLASSES - 1 (a file of something else, or damaged)."""
    bad = y[(y < 0) | (y >= CLASSES)]
    if len(bad):
        raise UserError(f"{what}: {len(bad)} labels outside 0..{CLASSES - 1} (e.g. {bad[0]}); is it the right file?")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file cannot run code."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a data file")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: ``(x [n, 3, 32, 32] uint8, y [n] int64)``."""
    data = read_bytes(path)
    try:
        batch = NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
        x = np.asarray(batch[b"data"], dtype=np.uint8)
        y = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:  # any unpickling or layout failure is a malformed file
        raise UserError(f"{path} is not a CIFAR-10 python batch ({type(exc).__name__})") from None
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or y.shape != (len(x),):
        raise UserError(f"{path} is malformed: data {x.shape}, labels {y.shape}; expected [n, 3072] and [n]")
    check_labels(y, f"the labels of {path}")
    return x.reshape(-1, 3, 32, 32), y


def read_cifar10(root: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train [50000, 3, 32, 32], y_train, x_test [10000, 3, 32, 32], y_test)``.

    Looks in ``root`` and ``root/cifar-10-batches-py`` (the archive's folder).
    """
    folder = find_folder(root, "cifar10", *FILES["cifar10"])
    train = [read_cifar_batch(folder / n) for n in CIFAR10_FILES[:-1]]
    x_te, y_te = read_cifar_batch(folder / CIFAR10_FILES[-1])
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_te, y_te
