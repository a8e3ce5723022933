"""A fused Triton kernel for a population of two-layer MLPs on one shared input.

``out[p] = act(x @ W1[p] + b1[p]) @ W2[p] + b2[p]`` for every candidate p, with the
hidden activations kept on chip: one program takes a tile of samples of one candidate,
walks the hidden units in blocks, and adds each block's share of the output to an
accumulator, so only ``x`` and the parameters are read and only ``[P, B, out]`` is
written. Candidates of neighbouring programs share ``x`` through the L2 cache.
The parameters are first copied into zero-padded, 16-aligned blocks (W1 ``[P, K', H']``,
W2 ``[P, H', N']``) on every call, so the kernel's loads are unmasked and aligned.
On CUDA the tile sizes are tuned once per shape and precision, by timing each of
``CONFIGS`` (a fraction of a second plus their compilation, cached on disk by Triton).

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

import math
import os
import time
from typing import Callable, Sequence

import torch

from ..errors import UserError

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
ALIGN = 16  # K and H are padded to multiples of this; BLOCK_K is this
TILES = (  # BLOCK_B, BLOCK_H, num_warps, num_stages
    (128, 16, 4, 3), (128, 32, 4, 3), (256, 32, 8, 3), (64, 64, 4, 3), (128, 64, 8, 3), (64, 128, 4, 3),
    (128, 128, 8, 2),
)
# the candidates the tuning times: each tile with the first layer's K loop unrolled or pipelined
CONFIGS = tuple(tile + (pipelined,) for pipelined in (False, True) for tile in TILES)
TUNE = True  # on CUDA, time CONFIGS on the first call per shape and precision; else take the first that fits
_BEST: dict[tuple, dict] = {}


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


if triton is not None:

    @triton.jit
    def _dot(a, b, acc, PREC: tl.constexpr):
        if PREC == "bf16":
            out = tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16), acc)
        elif PREC == "bf16-emulated":  # the interpreter's bfloat16 products are wrong; these equal them exactly
            out = tl.dot(a.to(tl.bfloat16).to(tl.float32), b.to(tl.bfloat16).to(tl.float32), acc)
        else:
            out = tl.dot(a, b, acc, input_precision=PREC)
        return out

    @triton.jit
    def _first_layer_step(x_ptr, w1, rows, hs, k0, hidden, K_PAD: tl.constexpr, H_PAD: tl.constexpr,
                          BLOCK_K: tl.constexpr, PREC: tl.constexpr):
        ks = k0 + tl.arange(0, BLOCK_K)
        xt = tl.load(x_ptr + rows[:, None] * K_PAD + ks[None, :])
        wt = tl.load(w1 + ks[:, None] * H_PAD + hs[None, :])
        return _dot(xt, wt, hidden, PREC)

    @triton.jit
    def _mlp2_kernel(x_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, out_ptr, B, N,
                     K_PAD: tl.constexpr, H_PAD: tl.constexpr, N_PAD: tl.constexpr, ACT: tl.constexpr,
                     PREC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
                     PIPELINED: tl.constexpr):
        cand = tl.program_id(1).to(tl.int64)
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)  # x has rows up to a multiple of BLOCK_B
        ns = tl.arange(0, N_PAD)
        w1, b1 = w1_ptr + cand * (K_PAD * H_PAD), b1_ptr + cand * H_PAD
        w2, b2 = w2_ptr + cand * (H_PAD * N_PAD), b2_ptr + cand * N_PAD
        acc = tl.zeros((BLOCK_B, N_PAD), dtype=tl.float32)
        for h0 in range(0, H_PAD, BLOCK_H):
            hs = h0 + tl.arange(0, BLOCK_H)
            hidden = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            if PIPELINED:  # a loop whose loads the compiler pipelines over num_stages
                for k0 in tl.range(0, K_PAD, BLOCK_K):
                    hidden = _first_layer_step(x_ptr, w1, rows, hs, k0, hidden, K_PAD, H_PAD, BLOCK_K, PREC)
            else:  # unrolled
                for k0 in tl.static_range(0, K_PAD, BLOCK_K):
                    hidden = _first_layer_step(x_ptr, w1, rows, hs, k0, hidden, K_PAD, H_PAD, BLOCK_K, PREC)
            hidden += tl.load(b1 + hs)[None, :]
            if ACT == 0:
                hidden = tl.maximum(hidden, 0.0)
            elif ACT == 1:
                hidden = 2.0 * tl.sigmoid(2.0 * hidden) - 1.0
            elif ACT == 2:
                hidden = tl.sigmoid(hidden)
            elif ACT == 4:
                hidden = hidden * tl.sigmoid(hidden)
            # padded hidden units meet zero rows of W2, so they add nothing
            acc = _dot(hidden, tl.load(w2 + hs[:, None] * N_PAD + ns[None, :]), acc, PREC)
        acc += tl.load(b2 + ns)[None, :]
        out = out_ptr + cand * B * N + rows[:, None] * N + ns[None, :]
        tl.store(out, acc, mask=(rows[:, None] < B) & (ns[None, :] < N))


def _pow2(n: int, least: int = 16) -> int:
    return max(least, 1 << max(0, int(n) - 1).bit_length())


def _round_up(n: int, multiple: int) -> int:
    return -(-int(n) // multiple) * multiple


def padded_sizes(sizes: Sequence[int]) -> tuple[int, int, int]:
    """(K', H', N'): K and H rounded up to multiples of ``ALIGN``, N to a power of two (at least 16)."""
    k, h, n = sizes
    return _round_up(k, ALIGN), _round_up(h, ALIGN), _pow2(n)


def pack(params: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    """``params [P, dim]`` -> zero-padded W1 ``[P, K', H']``, b1 ``[P, H']``, W2 ``[P, H', N']``, b2 ``[P, N']``."""
    k, h, n = sizes
    kp, hp, np_ = padded_sizes(sizes)
    w1, b1, w2, b2 = torch.split(params, [k * h, h, h * n, n], dim=1)
    pad = torch.nn.functional.pad
    p = params.shape[0]
    return [pad(w1.reshape(p, k, h), (0, hp - h, 0, kp - k)), pad(b1, (0, hp - h)),
            pad(w2.reshape(p, h, n), (0, np_ - n, 0, hp - h)), pad(b2, (0, np_ - n))]


def fitting_configs(sizes: Sequence[int]) -> list[dict]:
    """The ``CONFIGS`` whose hidden tile divides H' (a 16-unit tile always does)."""
    hp = padded_sizes(sizes)[1]
    return [{"BLOCK_B": b, "BLOCK_H": h, "num_warps": w, "num_stages": s, "PIPELINED": p}
            for b, h, w, s, p in CONFIGS if hp % h == 0 and h <= hp]


def _launch(x: torch.Tensor, packed: list[torch.Tensor], out: torch.Tensor, sizes: Sequence[int], act: int,
            dot: str, cfg: dict) -> None:
    kp, hp, np_ = padded_sizes(sizes)
    population, batch = out.shape[0], out.shape[1]
    for first in range(0, population, MAX_GRID_Y):  # CUDA grids are at most 65,535 programs high
        parts = [t[first : first + MAX_GRID_Y] for t in packed]
        grid = (triton.cdiv(batch, cfg["BLOCK_B"]), parts[0].shape[0])
        _mlp2_kernel[grid](x, *parts, out[first:], batch, sizes[2], K_PAD=kp, H_PAD=hp, N_PAD=np_, ACT=act,
                           PREC=dot, BLOCK_K=ALIGN, **cfg)


def tuned_config(x, packed, out, sizes, act: int, dot: str) -> dict:
    """The fastest of :func:`fitting_configs` for this shape and precision, timed once and remembered."""
    key = (out.shape[1], *padded_sizes(sizes), act, dot, out.device.index)
    if key not in _BEST:
        sync = lambda: torch.cuda.synchronize(out.device)
        _BEST[key] = fastest(fitting_configs(sizes), lambda cfg: _launch(x, packed, out, sizes, act, dot, cfg), sync)
    return _BEST[key]


def fastest(configs: list[dict], launch: Callable[[dict], None], sync: Callable[[], None], rounds: int = 3,
            min_ms: float = 5.0) -> dict:
    """The config whose ``launch`` is fastest: the best of ``rounds`` rounds of at least ``min_ms`` each.

    Each config is launched once to compile it (one the compiler cannot fit, for its
    registers or shared memory, is passed over) and once more to size its rounds.
    """
    timings = {}
    for i, cfg in enumerate(configs):
        try:
            launch(cfg)
            sync()
        except Exception:  # noqa: BLE001 - the compiler's errors have no common type across Triton versions
            continue
        count = max(1, math.ceil(min_ms / max(_round_ms(launch, cfg, 1, sync), 1e-3)))
        timings[i] = min(_round_ms(launch, cfg, count, sync) for _ in range(rounds))
    if not timings:
        raise UserError("no tile configuration of the fused kernel compiles for this block")
    return configs[min(timings, key=timings.get)]


def _round_ms(launch: Callable[[dict], None], cfg: dict, count: int, sync: Callable[[], None]) -> float:
    """Milliseconds per launch over ``count`` launches."""
    sync()
    start = time.perf_counter()
    for _ in range(count):
        launch(cfg)
    sync()
    return (time.perf_counter() - start) * 1e3 / count


def population_mlp2(params: torch.Tensor, x: torch.Tensor, sizes: Sequence[int], activation: str = "relu",
                    mode: str = "float32", config: dict | None = None) -> torch.Tensor:
    """Every candidate's two-layer MLP on ``x``: ``params [P, dim]``, ``x [B, K]`` -> ``[P, B, N]`` float32.

    ``sizes`` = (K, H, N); parameters laid out as ``engine.mlp_shapes`` does (W1, b1, W2, b2).
    ``mode``: float32, tf32 or bf16 products (see the module's note). ``config``: the tile
    (``BLOCK_B``, ``BLOCK_H``, ``num_warps``, ``num_stages``, ``PIPELINED``); None: tuned on CUDA when
    ``TUNE`` is set, else the first of :func:`fitting_configs`.
    """
    if triton is None:
        raise UserError("the fused kernel needs Triton (pip install triton) and a CUDA device")
    if mode not in DOT_PRECISION:
        raise UserError(f"unknown precision {mode!r}; choose one of {', '.join(DOT_PRECISION)}")
    k, h, n = (int(s) for s in sizes)
    if params.shape[1] != k * h + h + h * n + n or x.shape[1] != k:
        raise UserError(f"params [P, {params.shape[1]}] and x [B, {x.shape[1]}] do not fit sizes {tuple(sizes)}")
    return forward(params, x, (k, h, n), ACTIVATION_CODES[activation], DOT_PRECISION[mode], config)


def forward(params: torch.Tensor, x: torch.Tensor, sizes: tuple[int, int, int], act: int, dot: str,
            config: dict | None = None) -> torch.Tensor:
    """:func:`population_mlp2` past its checks, with the activation's code and ``tl.dot``'s precision
    (tf32x3, tf32, bf16, or any other that Triton takes, such as bf16x3)."""
    k, _, n = sizes
    batch = x.shape[0]
    if params.shape[0] == 0 or batch == 0:  # no program to launch
        return torch.zeros(params.shape[0], batch, n, device=params.device, dtype=torch.float32)
    packed = pack(params, sizes)
    rows = _round_up(batch, max(b for b, *_ in CONFIGS))
    x = torch.nn.functional.pad(x, (0, padded_sizes(sizes)[0] - k, 0, rows - batch))
    out = torch.empty(params.shape[0], batch, n, device=params.device, dtype=torch.float32)
    dot = "bf16-emulated" if dot == "bf16" and interpreted() else dot
    if config is None:
        tune = TUNE and params.device.type == "cuda" and not interpreted()
        config = tuned_config(x, packed, out, sizes, act, dot) if tune else fitting_configs(sizes)[0]
    _launch(x, packed, out, sizes, act, dot, config)
    return out
