"""A fused Triton kernel for a population of NoProp MLP blocks (the paper's block shape).

For every candidate p, on inputs x ``[B, n_in]`` and z ``[B, d]`` (shared, or one per
candidate) and the class embedding E ``[K, d]`` (shared or per candidate)::

    hx = silu(x Wx + bx), hz = silu(z Wz + bz), h = silu([hx, hz] Wf + bf)
    u_hat = softmax(h Wo + bo) E                                  -> [P, B, d]

One program takes a tile of samples of one candidate and keeps every intermediate
(``hx``, ``hz``, ``h``, the logits) on chip: it walks the hidden units of ``hx`` and ``hz``
in blocks, each adding its share of the fused layer to ``h``. Only x, z, the parameters
and E are read and only u_hat is written: one launch where the batched-product path
launches a dozen kernels, each a round trip through memory. The tiles are fixed (not
tuned as :mod:`optsuite.fused` tunes its own). The parameters are first copied into
zero-padded blocks (``Wf`` split in its hx and hz halves), so loads are unmasked; padded
hidden units are silu(0) = 0 and padded classes get a bias of -inf, so they add nothing.
Products follow :mod:`optsuite.fused`'s precision modes (float32: three-pass TF32).

Needs Triton and a CUDA device; with ``TRITON_INTERPRET=1`` set before Triton is
imported, the same kernel runs on CPU tensors (slowly), which the tests use.
Shapes: P candidates, B samples, n_in inputs, d embedding dims, H hidden units, K classes.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .errors import UserError
from .fused import DOT_PRECISION, MAX_GRID_Y, interpreted, triton

MAX_HIDDEN = 256  # h [BLOCK_B, H] stays in registers
MAX_WIDTH = 128  # d and K: the embedding dims and classes
# H' K' floats: the [H', K'] output-layer tile in 32 KB of shared memory, which leaves room
# for the rest on every CUDA GPU (99 KB a block on sm_86/89); K = 10 fits up to H = 256
MAX_OUTPUT_TILE = 8192
BLOCK_K = 16  # the x path's input loop
BLOCK_H = 32  # hidden units of hx and hz at a time (at most H'), so a weight tile is [BLOCK_H, H']
BLOCK_B = 32  # samples per program (16 in the interpreter is as exact and faster)

if triton is not None:
    import triton.language as tl

    from .fused import _dot

    @triton.jit
    def _silu(v):
        return v * tl.sigmoid(v)

    @triton.jit
    def _block_kernel(x_ptr, z_ptr, e_ptr, wx_ptr, bx_ptr, wz_ptr, bz_ptr, wa_ptr, wb_ptr, bf_ptr, wo_ptr, bo_ptr,
                      out_ptr, B, D, x_stride, z_stride, e_stride,
                      N_PAD: tl.constexpr, D_PAD: tl.constexpr, H_PAD: tl.constexpr, K_PAD: tl.constexpr,
                      PREC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
        cand = tl.program_id(1).to(tl.int64)
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)  # x and z have rows up to a multiple of BLOCK_B
        hs, ds, ks = tl.arange(0, H_PAD), tl.arange(0, D_PAD), tl.arange(0, K_PAD)
        x, wx = x_ptr + cand * x_stride, wx_ptr + cand * (N_PAD * H_PAD)
        zt = tl.load(z_ptr + cand * z_stride + rows[:, None] * D_PAD + ds[None, :])
        wz, wa, wb = wz_ptr + cand * (D_PAD * H_PAD), wa_ptr + cand * (H_PAD * H_PAD), wb_ptr + cand * (H_PAD * H_PAD)
        # the fused layer's input [hx, hz] in BLOCK_H units at a time, each adding its share to h
        h = tl.zeros((BLOCK_B, H_PAD), dtype=tl.float32)
        for j0 in tl.static_range(0, H_PAD, BLOCK_H):
            js = j0 + tl.arange(0, BLOCK_H)
            hx = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, N_PAD, BLOCK_K):  # the x path's inputs, BLOCK_K columns at a time (a loop, not unrolled)
                cols = k0 + tl.arange(0, BLOCK_K)
                hx = _dot(tl.load(x + rows[:, None] * N_PAD + cols[None, :]),
                          tl.load(wx + cols[:, None] * H_PAD + js[None, :]), hx, PREC)
            hx = _silu(hx + tl.load(bx_ptr + cand * H_PAD + js)[None, :])
            h = _dot(hx, tl.load(wa + js[:, None] * H_PAD + hs[None, :]), h, PREC)
            hz = _dot(zt, tl.load(wz + ds[:, None] * H_PAD + js[None, :]),
                      tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32), PREC)
            hz = _silu(hz + tl.load(bz_ptr + cand * H_PAD + js)[None, :])
            h = _dot(hz, tl.load(wb + js[:, None] * H_PAD + hs[None, :]), h, PREC)
        h = _silu(h + tl.load(bf_ptr + cand * H_PAD + hs)[None, :])
        # logits -> softmax (padded classes: bias -inf) -> @ E
        logits = _dot(h, tl.load(wo_ptr + cand * (H_PAD * K_PAD) + hs[:, None] * K_PAD + ks[None, :]),
                      tl.zeros((BLOCK_B, K_PAD), dtype=tl.float32), PREC)
        logits += tl.load(bo_ptr + cand * K_PAD + ks)[None, :]
        weights = tl.exp(logits - tl.max(logits, 1)[:, None])
        probs = weights / tl.sum(weights, 1)[:, None]
        e = tl.load(e_ptr + cand * e_stride + ks[:, None] * D_PAD + ds[None, :])
        u_hat = _dot(probs, e, tl.zeros((BLOCK_B, D_PAD), dtype=tl.float32), PREC)
        out = out_ptr + cand * B * D + rows[:, None] * D + ds[None, :]
        tl.store(out, u_hat, mask=(rows[:, None] < B) & (ds[None, :] < D))


def _pow2(n: int, least: int = 16) -> int:
    return max(least, 1 << max(0, int(n) - 1).bit_length())


def padded_sizes(sizes: Sequence[int]) -> tuple[int, int, int, int]:
    """(n_in', d', H', K'): n_in rounded up to a multiple of ``BLOCK_K``, the others to powers of two (at least 16)."""
    n_in, d, hidden, classes = sizes
    return -(-int(n_in) // BLOCK_K) * BLOCK_K, _pow2(d), _pow2(hidden), _pow2(classes)


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


def pack(params: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    """``params [P, dim]`` (Wx, bx, Wz, bz, Wf, bf, Wo, bo) -> their zero-padded blocks, Wf as its hx and hz halves;
    the padded classes' biases are -inf."""
    n_in, d, h, k = sizes
    np_, dp, hp, kp = padded_sizes(sizes)
    p, pad = params.shape[0], torch.nn.functional.pad
    wx, bx, wz, bz, wf, bf, wo, bo = torch.split(params, [n_in * h, h, d * h, h, 2 * h * h, h, h * k, k], dim=1)
    wf = wf.reshape(p, 2 * h, h)
    square = lambda w: pad(w, (0, hp - h, 0, hp - h))
    return [pad(wx.reshape(p, n_in, h), (0, hp - h, 0, np_ - n_in)), pad(bx, (0, hp - h)),
            pad(wz.reshape(p, d, h), (0, hp - h, 0, dp - d)), pad(bz, (0, hp - h)),
            square(wf[:, :h]), square(wf[:, h:]), pad(bf, (0, hp - h)),
            pad(wo.reshape(p, h, k), (0, kp - k, 0, hp - h)), pad(bo, (0, kp - k), value=float("-inf"))]


def rows_of(t: torch.Tensor, rows: int, width: int) -> tuple[torch.Tensor, int]:
    """``t [B, w]`` or ``[P, B, w]`` zero-padded to ``[rows, width]`` (or ``[P, rows, width]``), and its candidate
    stride (0 when shared)."""
    pad = torch.nn.functional.pad(t, (0, width - t.shape[-1], 0, rows - t.shape[-2])).contiguous()
    return pad, (0 if t.dim() == 2 else rows * width)


def population_block(params: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor,
                     sizes: Sequence[int], mode: str = "float32") -> torch.Tensor:
    """u_hat ``[P, B, d]`` float32 of every candidate's block: ``params [P, dim]``, ``x [B, n_in]`` or
    ``[P, B, n_in]``, ``z [B, d]`` or ``[P, B, d]``, ``embed [K, d]`` or ``[P, K, d]``; ``sizes`` = (n_in, d, H, K).

    ``mode``: float32, tf32 or bf16 products. Call :func:`why_not` first.
    """
    if mode not in DOT_PRECISION:
        raise UserError(f"unknown precision {mode!r}; choose one of {', '.join(DOT_PRECISION)}")
    n_in, d, h, k = (int(s) for s in sizes)
    population, batch = params.shape[0], x.shape[-2]
    if params.shape[1] != n_in * h + h + d * h + h + 2 * h * h + h + h * k + k:
        raise UserError(f"params [P, {params.shape[1]}] do not fit an mlp block of sizes {tuple(sizes)}")
    out = torch.empty(population, batch, d, device=params.device, dtype=torch.float32)
    if population == 0 or batch == 0:
        return out
    np_, dp, hp, kp = padded_sizes(sizes)
    tile = 16 if interpreted() else BLOCK_B
    rows = -(-batch // tile) * tile
    (x, x_stride), (z, z_stride) = rows_of(x, rows, np_), rows_of(z, rows, dp)
    embed, e_stride = rows_of(embed, kp, dp)
    packed = pack(params, sizes)
    dot = DOT_PRECISION[mode]
    dot = "bf16-emulated" if dot == "bf16" and interpreted() else dot
    for first in range(0, population, MAX_GRID_Y):  # CUDA grids are at most 65,535 programs high
        last = min(population, first + MAX_GRID_Y)
        shifted = lambda t, stride: t[first:last] if stride else t
        grid = (rows // tile, last - first)
        _block_kernel[grid](shifted(x, x_stride), shifted(z, z_stride), shifted(embed, e_stride),
                            *(t[first:last] for t in packed), out[first:last], batch, d, x_stride, z_stride, e_stride,
                            N_PAD=np_, D_PAD=dp, H_PAD=hp, K_PAD=kp, PREC=dot, BLOCK_B=tile, BLOCK_H=min(hp, BLOCK_H),
                            BLOCK_K=BLOCK_K)
    return out
