"""A fused Triton kernel for a population of two-layer MLPs on one shared input.

``out[p] = act(x @ W1[p] + b1[p]) @ W2[p] + b2[p]`` for every candidate p, with the
hidden activations kept on chip: one program takes a tile of samples of one candidate,
walks the hidden units in blocks, and adds each block's share of the output to an
accumulator, so only ``x`` and the parameters are read and only ``[P, B, out]`` is
written. Candidates of neighbouring programs share ``x`` through the L2 cache.

Precision of the matrix products (``tl.dot``), float32 accumulation in every mode:
- ``float32``: three-pass TF32 (``tf32x3``): each operand split in a TF32 high part and
  its remainder, so the products keep about float32's accuracy on the tensor cores;
- ``tf32``: one TF32 pass (10-bit mantissas);
- ``bf16``: operands rounded to bfloat16.

Needs Triton and a CUDA device; with ``TRITON_INTERPRET=1`` set before Triton is
imported, the same kernel runs on CPU tensors (slowly), which the tests use.
Shapes: P candidates, B samples, K inputs, H hidden units, N outputs.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from .errors import UserError

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the environment
    triton = None

# the engine's precision modes -> the kernel's product precision
DOT_PRECISION = {"float32": "tf32x3", "tf32": "tf32", "bf16": "bf16"}
ACTIVATION_CODES = {"relu": 0, "tanh": 1, "sigmoid": 2, "identity": 3, "silu": 4}
MAX_OUTPUTS = 128  # the output accumulator [BLOCK_B, N] stays in registers
MAX_GRID_Y = 65535


def interpreted() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def why_not(params: torch.Tensor, x: torch.Tensor, sizes: Sequence[int], activation: str) -> str | None:
    """Why :func:`population_mlp2` cannot run this forward pass, or None when it can."""
    if triton is None:
        return "Triton is not installed"
    if params.device.type != "cuda" and not (interpreted() and params.device.type == "cpu"):
        return f"it runs on CUDA devices, not {params.device.type}"
    if len(sizes) != 3 or sizes[2] > MAX_OUTPUTS:
        return f"it takes two-layer MLPs with at most {MAX_OUTPUTS} outputs, not sizes {tuple(sizes)}"
    if activation not in ACTIVATION_CODES:
        return f"no {activation!r} activation in the kernel"
    if not params.dtype == x.dtype == torch.float32:
        return f"it takes float32 tensors, not {params.dtype} and {x.dtype}"
    if torch.is_grad_enabled() and (params.requires_grad or x.requires_grad):
        return "it has no backward pass (autograd is on)"
    return None


def supports(params: torch.Tensor, x: torch.Tensor, sizes: Sequence[int], activation: str) -> bool:
    """Whether :func:`population_mlp2` can run this forward pass."""
    return why_not(params, x, sizes, activation) is None


if triton is not None:

    @triton.jit
    def _dot(a, b, acc, PREC: tl.constexpr):
        if PREC == "bf16":
            return tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16), acc)
        if PREC == "bf16-emulated":  # the interpreter's bfloat16 products are wrong; these equal them exactly
            return tl.dot(a.to(tl.bfloat16).to(tl.float32), b.to(tl.bfloat16).to(tl.float32), acc)
        return tl.dot(a, b, acc, input_precision=PREC)

    @triton.jit
    def _mlp2_kernel(x_ptr, p_ptr, out_ptr, B, K, H, N, dim,
                     ACT: tl.constexpr, PREC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_K: tl.constexpr,
                     BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr):
        cand = tl.program_id(1).to(tl.int64)
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
        ns = tl.arange(0, BLOCK_N)
        row_ok, n_ok = rows < B, ns < N
        w1 = p_ptr + cand * dim  # W1 [K, H], b1 [H], W2 [H, N], b2 [N], row-major, in that order
        b1, w2 = w1 + K * H, w1 + K * H + H
        b2 = w2 + H * N
        acc = tl.zeros((BLOCK_B, BLOCK_N), dtype=tl.float32)
        for h0 in range(0, H, BLOCK_H):
            hs = h0 + tl.arange(0, BLOCK_H)
            h_ok = hs < H
            hidden = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, K, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                k_ok = ks < K
                xt = tl.load(x_ptr + rows[:, None] * K + ks[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
                wt = tl.load(w1 + ks[:, None] * H + hs[None, :], mask=k_ok[:, None] & h_ok[None, :], other=0.0)
                hidden = _dot(xt, wt, hidden, PREC)
            hidden += tl.load(b1 + hs, mask=h_ok, other=0.0)[None, :]
            if ACT == 0:
                hidden = tl.maximum(hidden, 0.0)
            elif ACT == 1:
                hidden = 2.0 * tl.sigmoid(2.0 * hidden) - 1.0
            elif ACT == 2:
                hidden = tl.sigmoid(hidden)
            elif ACT == 4:
                hidden = hidden * tl.sigmoid(hidden)
            # padded hidden units meet zero rows of W2, so they add nothing
            wo = tl.load(w2 + hs[:, None] * N + ns[None, :], mask=h_ok[:, None] & n_ok[None, :], other=0.0)
            acc = _dot(hidden, wo, acc, PREC)
        acc += tl.load(b2 + ns, mask=n_ok, other=0.0)[None, :]
        out = out_ptr + cand * B * N + rows[:, None] * N + ns[None, :]
        tl.store(out, acc, mask=row_ok[:, None] & n_ok[None, :])


def _pow2(n: int, least: int = 16) -> int:
    return max(least, 1 << max(0, int(n) - 1).bit_length())


def launch_config(batch: int, inputs: int, hidden: int) -> dict:
    """Tile sizes and warps for a block: the whole hidden layer in one tile up to 64 units, else 64 at a time."""
    block_h = min(64, _pow2(hidden))
    block_b = 128 if batch > 64 else 64
    return {"BLOCK_B": block_b, "BLOCK_K": min(32, _pow2(inputs)), "BLOCK_H": block_h,
            "num_warps": 8 if block_h >= 64 else 4}


def population_mlp2(params: torch.Tensor, x: torch.Tensor, sizes: Sequence[int], activation: str = "relu",
                    mode: str = "float32", config: dict | None = None) -> torch.Tensor:
    """Every candidate's two-layer MLP on ``x``: ``params [P, dim]``, ``x [B, K]`` -> ``[P, B, N]`` float32.

    ``sizes`` = (K, H, N); parameters laid out as ``engine.mlp_shapes`` does (W1, b1, W2, b2).
    ``mode``: float32, tf32 or bf16 products (see the module's note); ``config`` overrides
    :func:`launch_config` (tile sizes, warps).
    """
    if triton is None:
        raise UserError("the fused kernel needs Triton (pip install triton) and a CUDA device")
    if mode not in DOT_PRECISION:
        raise UserError(f"unknown precision {mode!r}; choose one of {', '.join(DOT_PRECISION)}")
    k, h, n = (int(s) for s in sizes)
    if params.shape[1] != k * h + h + h * n + n or x.shape[1] != k:
        raise ValueError(f"params [P, {params.shape[1]}] and x [B, {x.shape[1]}] do not fit sizes {tuple(sizes)}")
    params, x = params.contiguous(), x.contiguous()
    population, batch = params.shape[0], x.shape[0]
    out = torch.empty(population, batch, n, device=params.device, dtype=torch.float32)
    cfg = {**launch_config(batch, k, h), **(config or {})}
    dot = DOT_PRECISION[mode]
    dot = "bf16-emulated" if dot == "bf16" and interpreted() else dot
    for first in range(0, population, MAX_GRID_Y):  # CUDA grids are at most 65,535 programs high
        part = params[first : first + MAX_GRID_Y]
        grid = (triton.cdiv(batch, cfg["BLOCK_B"]), part.shape[0])
        _mlp2_kernel[grid](x, part, out[first:], batch, k, h, n, params.shape[1], ACT=ACTIVATION_CODES[activation],
                           PREC=dot, BLOCK_N=_pow2(n), **cfg)
    return out
