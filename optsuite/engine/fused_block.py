"""A fused Triton kernel for a population of NoProp MLP blocks (the paper's block shape).

For every candidate p, on inputs x ``[B, n_in]`` and z ``[B, d]`` (shared, or one per
candidate) and the class embedding E ``[K, d]`` (shared or per candidate)::

    hx = silu(x Wx + bx), hz = silu(z Wz + bz), h = silu([hx, hz] Wf + bf)
    u_hat = softmax(h Wo + bo) E                                  -> [P, B, d]

One program takes a tile of samples of one candidate and keeps every intermediate
(``hx``, ``hz``, ``h``, the logits) on chip: it walks the hidden units of ``hx`` and ``hz``
in blocks, each adding its share of the fused layer to ``h``. Only x, z, the parameters
and E are read and only u_hat is written: one launch where the batched-product path
launches a dozen kernels, each a round trip through memory. The kernel reads the flat
parameter vectors, x, z and E where they lie (any candidate and row strides, e.g. a
block's slice of a whole network's parameters, or a z broadcast over candidates), with
masked loads: nothing is copied or padded first. Tiles run over padded widths; units
past H load zero weights (silu(0) = 0) and classes past K a bias of -inf, so they add
nothing. On CUDA the tile is the fastest of a few (``CONFIGS``), timed on the first call
per shape, as :mod:`optsuite.engine.fused` times its own. Products follow :mod:`optsuite.engine.fused`'s
precision modes (float32: three-pass TF32).

Needs Triton and a CUDA device; with ``TRITON_INTERPRET=1`` set before Triton is
imported, the same kernel runs on CPU tensors (slowly), which the tests use.
Shapes: P candidates, B samples, n_in inputs, d embedding dims, H hidden units, K classes.
"""
from __future__ import annotations

from typing import Sequence

import torch

from . import fused
from ..errors import UserError
from .fused import DOT_PRECISION, MAX_GRID_Y, interpreted, triton

MAX_HIDDEN = 256  # h [BLOCK_B, H] stays in registers
MAX_WIDTH = 128  # d and K: the embedding dims and classes
# H' K' floats: the [H', K'] output-layer tile in 32 KB of shared memory, which leaves room
# for the rest on every CUDA GPU (99 KB a block on sm_86/89); K = 10 fits up to H = 256
MAX_OUTPUT_TILE = 8192
BLOCK_K = 16  # the x path's input loop
# (BLOCK_B samples per program, BLOCK_H hidden units of hx and hz at a time, num_warps); a
# weight tile is [BLOCK_H, H']. On CUDA the fastest is timed once per shape and precision
# (when optsuite.engine.fused.TUNE is set); the first is taken untuned, and in the interpreter.
CONFIGS = ((32, 32, 8), (16, 16, 4), (32, 16, 4), (32, 32, 4), (64, 32, 8), (16, 16, 8))
_BEST: dict[tuple, tuple] = {}

if triton is not None:
    import triton.language as tl

    from .fused import _dot

    @triton.jit
    def _silu(v):
        return v * tl.sigmoid(v)

    @triton.jit
    def _block_kernel(p_ptr, x_ptr, z_ptr, e_ptr, out_ptr, B, N_IN, D, H, K, p_stride,
                      x_stride_p, x_stride_b, z_stride_p, z_stride_b, e_stride_p, e_stride_k,
                      N_PAD: tl.constexpr, D_PAD: tl.constexpr, H_PAD: tl.constexpr, K_PAD: tl.constexpr,
                      PREC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
        cand = tl.program_id(1).to(tl.int64)
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
        hs, ds, ks = tl.arange(0, H_PAD), tl.arange(0, D_PAD), tl.arange(0, K_PAD)
        row_in, h_in, d_in, k_in = rows < B, hs < H, ds < D, ks < K
        # one candidate's parameters, in order: Wx [N_IN, H], bx, Wz [D, H], bz, Wf [2H, H], bf, Wo [H, K], bo
        w = p_ptr + cand * p_stride
        bx = w + N_IN * H
        wz = bx + H
        bz = wz + D * H
        wf = bz + H
        bf = wf + 2 * H * H
        wo = bf + H
        bo = wo + H * K
        x = x_ptr + cand * x_stride_p + rows[:, None] * x_stride_b
        zt = tl.load(z_ptr + cand * z_stride_p + rows[:, None] * z_stride_b + ds[None, :],
                     mask=row_in[:, None] & d_in[None, :], other=0.0)
        # the fused layer's input [hx, hz] in BLOCK_H units at a time, each adding its share to h;
        # units past H load zero weights and biases, so they are silu(0) = 0 and add nothing. A
        # loop, not unrolled: unrolled, the blocks' tiles stayed live together and spilled
        # registers (a 3.4 KB stack per thread at H = 128, benchmarks/kernel_resources.py)
        h = tl.zeros((BLOCK_B, H_PAD), dtype=tl.float32)
        for j0 in range(0, H_PAD, BLOCK_H):
            js = j0 + tl.arange(0, BLOCK_H)
            j_in = js < H
            hx = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, N_PAD, BLOCK_K):  # the x path's inputs, BLOCK_K columns at a time (a loop, not unrolled)
                cols = k0 + tl.arange(0, BLOCK_K)
                c_in = cols < N_IN
                xt = tl.load(x + cols[None, :], mask=row_in[:, None] & c_in[None, :], other=0.0)
                wt = tl.load(w + cols[:, None] * H + js[None, :], mask=c_in[:, None] & j_in[None, :], other=0.0)
                hx = _dot(xt, wt, hx, PREC)
            hx = _silu(hx + tl.load(bx + js, mask=j_in, other=0.0)[None, :])
            square = j_in[:, None] & h_in[None, :]
            h = _dot(hx, tl.load(wf + js[:, None] * H + hs[None, :], mask=square, other=0.0), h, PREC)
            wzt = tl.load(wz + ds[:, None] * H + js[None, :], mask=d_in[:, None] & j_in[None, :], other=0.0)
            hz = _dot(zt, wzt, tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32), PREC)
            hz = _silu(hz + tl.load(bz + js, mask=j_in, other=0.0)[None, :])
            h = _dot(hz, tl.load(wf + (H + js)[:, None] * H + hs[None, :], mask=square, other=0.0), h, PREC)
        h = _silu(h + tl.load(bf + hs, mask=h_in, other=0.0)[None, :])
        # logits -> softmax (classes past K: bias -inf, probability 0) -> @ E
        wot = tl.load(wo + hs[:, None] * K + ks[None, :], mask=h_in[:, None] & k_in[None, :], other=0.0)
        logits = _dot(h, wot, tl.zeros((BLOCK_B, K_PAD), dtype=tl.float32), PREC)
        logits += tl.load(bo + ks, mask=k_in, other=float("-inf"))[None, :]
        weights = tl.exp(logits - tl.max(logits, 1)[:, None])
        probs = weights / tl.sum(weights, 1)[:, None]
        e = tl.load(e_ptr + cand * e_stride_p + ks[:, None] * e_stride_k + ds[None, :],
                    mask=k_in[:, None] & d_in[None, :], other=0.0)
        u_hat = _dot(probs, e, tl.zeros((BLOCK_B, D_PAD), dtype=tl.float32), PREC)
        tl.store(out_ptr + cand * B * D + rows[:, None] * D + ds[None, :], u_hat, mask=row_in[:, None] & d_in[None, :])


def padded_sizes(sizes: Sequence[int]) -> tuple[int, int, int, int]:
    """(n_in', d', H', K'): n_in rounded up to a multiple of ``BLOCK_K``, the others to powers of two (at least 16)."""
    n_in, d, hidden, classes = sizes
    return fused._round_up(n_in, BLOCK_K), fused._pow2(d), fused._pow2(hidden), fused._pow2(classes)


def why_not(params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor,
            sizes: Sequence[int]) -> str | None:
    """Why :func:`population_block` cannot run this forward pass, or None when it can."""
    if triton is None:
        return "Triton is not installed"
    if params.device.type != "cuda" and not (interpreted() and params.device.type == "cpu"):
        return f"it runs on CUDA devices, not {params.device.type}"
    n_in, d, hidden, classes = sizes
    if hidden > MAX_HIDDEN or max(d, classes) > MAX_WIDTH:
        return f"it takes at most {MAX_HIDDEN} hidden units and {MAX_WIDTH} classes and embedding dims"
    _, _, hp, kp = padded_sizes(sizes)
    if hp * kp > MAX_OUTPUT_TILE:
        return f"its output layer's tile (H' x K' = {hp} x {kp}) would not fit in shared memory"
    if any(t.dtype != torch.float32 for t in (params, x, z, embed)):
        return "it takes float32 tensors"
    if torch.is_grad_enabled() and any(t.requires_grad for t in (params, x, z, embed)):
        return "it has no backward pass (autograd is on)"
    return None


def population_block(params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor,
                     sizes: Sequence[int], mode: str = "float32", config: tuple[int, int, int] | None = None
                     ) -> torch.Tensor:
    """u_hat ``[P, B, d]`` float32 of every candidate's block: ``params [P, dim]``, ``x [B, n_in]`` or
    ``[P, B, n_in]``, ``z [B, d]`` or ``[P, B, d]``, ``embed [K, d]`` or ``[P, K, d]``; ``sizes`` = (n_in, d, H, K).

    ``mode``: float32, tf32 or bf16 products. ``config``: one of ``CONFIGS``; None: tuned on
    CUDA, else the first. Call :func:`why_not` first.
    """
    if mode not in DOT_PRECISION:
        raise UserError(f"unknown precision {mode!r}; choose one of {', '.join(DOT_PRECISION)}")
    sizes = n_in, d, h, k = tuple(int(s) for s in sizes)
    population, batch = params.shape[0], x.shape[-2]
    if params.shape[1] != n_in * h + h + d * h + h + 2 * h * h + h + h * k + k:
        raise UserError(f"params [P, {params.shape[1]}] do not fit an mlp block of sizes {tuple(sizes)}")
    out = torch.empty(population, batch, d, device=params.device, dtype=torch.float32)
    if population == 0 or batch == 0:
        return out
    params = params if params.stride(1) == 1 else params.contiguous()
    tensors = [params, *(strided(t) for t in (x, z, embed)), out]
    dot = DOT_PRECISION[mode]
    dot = "bf16-emulated" if dot == "bf16" and interpreted() else dot
    if config is None:
        tune = fused.TUNE and params.device.type == "cuda" and not interpreted()
        config = tuned_config(tensors, sizes, dot) if tune else CONFIGS[0]
    _launch(tensors, sizes, dot, config)
    return out


def strided(t: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``t [rows, w]`` (shared) or ``[P, rows, w]`` with unit stride along w (copied where it has none), its
    candidate stride (0 when shared) and its row stride."""
    t = t if t.stride(-1) == 1 else t.contiguous()
    return t, (t.stride(0) if t.dim() == 3 else 0), t.stride(-2)


def _launch(tensors: list, sizes: tuple[int, int, int, int], dot: str, config: tuple[int, int, int]) -> None:
    params, (x, x_p, x_b), (z, z_p, z_b), (embed, e_p, e_k), out = tensors
    np_, dp, hp, kp = padded_sizes(sizes)
    block_b, block_h, warps = config
    population, batch = out.shape[0], out.shape[1]
    for first in range(0, population, MAX_GRID_Y):  # CUDA grids are at most 65,535 programs high
        last = min(population, first + MAX_GRID_Y)
        grid = (triton.cdiv(batch, block_b), last - first)
        _block_kernel[grid](params[first:last], x[first:last] if x_p else x, z[first:last] if z_p else z,
                            embed[first:last] if e_p else embed, out[first:last], batch, *sizes,
                            params.stride(0), x_p, x_b, z_p, z_b, e_p, e_k, N_PAD=np_, D_PAD=dp, H_PAD=hp, K_PAD=kp,
                            PREC=dot, BLOCK_B=block_b, BLOCK_H=min(hp, block_h), BLOCK_K=BLOCK_K, num_warps=warps)


def tuned_config(tensors: list, sizes: tuple[int, int, int, int], dot: str) -> tuple[int, int, int]:
    """The fastest of ``CONFIGS`` for this shape and precision, timed once (``fused.fastest``) and remembered."""
    out = tensors[-1]
    key = (*padded_sizes(sizes), tensors[1][1] > 0, dot, out.device.index)
    if key not in _BEST:
        sync = lambda: torch.cuda.synchronize(out.device)
        _BEST[key] = fused.fastest(list(CONFIGS), lambda cfg: _launch(tensors, sizes, dot, cfg), sync)
    return _BEST[key]
