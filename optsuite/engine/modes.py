"""The engine's modes: the precision of matrix products, and which kernels population forward passes take.

Both are context variables set by ``with precision(...)`` and ``with kernels(...)``, so a
whole evaluation follows them without passing them down.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

import torch

from ..errors import UserError

# float32 matrix-product setting on CUDA for each precision (bf16 autocasts instead)
MATMUL_PRECISION = {"float32": "highest", "tf32": "high", "bf16": "highest"}
PRECISIONS = tuple(MATMUL_PRECISION)
_PRECISION: ContextVar[str] = ContextVar("precision", default="float32")
KERNELS = ("auto", "bmm", "fused")
_KERNEL: ContextVar[str] = ContextVar("kernel", default="auto")


@contextmanager
def precision(mode: str = "float32", device: str | torch.device = "cpu") -> Iterator[None]:
    """Matrix products inside the block in ``mode``: float32, tf32 or bf16.

    float32: exact float32 products (TF32 switched off on CUDA). tf32: TensorFloat-32
    tensor-core products on CUDA; a no-op on the CPU, which has no tf32, so CPU results
    equal float32. bf16: ``torch.autocast`` to bfloat16 on either device; products and
    their outputs are bfloat16.
    """
    if mode not in MATMUL_PRECISION:
        raise UserError(f"unknown precision {mode!r}; choose one of {', '.join(PRECISIONS)}")
    device_type = torch.device(device).type
    before = torch.get_float32_matmul_precision()
    if device_type == "cuda":
        torch.set_float32_matmul_precision(MATMUL_PRECISION[mode])
    token = _PRECISION.set(mode)
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=mode == "bf16"):
            yield
    finally:
        _PRECISION.reset(token)
        torch.set_float32_matmul_precision(before)


def current_precision() -> str:
    """The mode of the innermost :func:`precision` block (float32 outside any)."""
    return _PRECISION.get()


@contextmanager
def kernels(kernel: str) -> Iterator[None]:
    """Population forward passes inside take ``kernel`` where none is named: ``auto`` (fused kernels on CUDA
    where they apply), ``bmm`` (batched products only) or ``fused`` (a fused kernel or a UserError)."""
    if kernel not in KERNELS:
        raise UserError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    token = _KERNEL.set(kernel)
    try:
        yield
    finally:
        _KERNEL.reset(token)


def fused_applies(kernel: str | None, device: torch.device, why_not: Callable[[], str | None]) -> bool:
    """Whether a fused kernel runs under ``kernel`` (None: :func:`kernels`' choice) on ``device``: never for
    ``bmm``; for ``auto`` on CUDA where ``why_not()`` finds no reason against; for ``fused`` always, and a
    UserError saying why where it cannot."""
    kernel = _KERNEL.get() if kernel is None else kernel
    if kernel not in KERNELS:
        raise UserError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    if kernel == "bmm" or (kernel == "auto" and device.type != "cuda"):
        return False
    reason = why_not()
    if reason is not None and kernel == "fused":
        raise UserError(f"the fused kernel does not apply here: {reason}")
    return reason is None
