"""Batched population evaluation of dense populations ``[P, dim]`` for MLP-style problems.

Problems build their population forward passes from these few functions, so that the
evaluation engine can be tuned (layout, chunking, precision) in one place:
``unpack``, ``shared_linear``, ``batched_linear`` (the layers) and ``population_mlp`` (a whole
MLP built on them; on CUDA, outside autograd, two-layer MLPs run through the fused kernel of
:mod:`optsuite.engine.fused`).

Shapes: P candidates, B samples, ``in``/``out`` features.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import UserError
from ..population import LowRank
from . import fused, lowrank
from .lowrank import LowRankWeight
from .memory import chunked
from .modes import current_precision, fused_applies

# oneDNN's float32 linear (input @ weight^T + bias, no autograd), as torch's CPU compiler calls it; None without oneDNN
ONEDNN_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None

# in place where the backward pass allows it, to keep one activation tensor per layer
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "sigmoid": torch.sigmoid_,
    "silu": torch.nn.functional.silu,
    "identity": lambda h: h,
}
ONEDNN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "silu": "swish", "identity": "none"}


def unpack(params: torch.Tensor | LowRank, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    """Split ``params [P, dim]`` into views ``[P, *shape]`` for each shape, in order; a low-rank population into
    its matrices' :class:`~.lowrank.LowRankWeight` and the rest dense (:func:`.lowrank.unpack`)."""
    if isinstance(params, LowRank):
        return lowrank.unpack(params, shapes)
    sizes = [int(torch.Size(s).numel()) for s in shapes]
    if sum(sizes) != params.shape[-1]:
        raise UserError(f"a parameter vector has {params.shape[-1]} entries where the problem needs {sum(sizes)}")
    parts = torch.split(params, sizes, dim=-1)
    return [p.reshape(params.shape[0], *s) for p, s in zip(parts, shapes)]


def shared_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None,
                  activation: str = "identity") -> torch.Tensor:
    """Every candidate's linear layer on one shared input, then ``activation``: ``x [B, in]``, ``w [P, in, out]``,
    ``b [P, out]`` -> ``[P, B, out]``.

    Where :func:`uses_onednn` holds (float32 on the CPU, no gradient): one oneDNN product
    ``x @ [in, P * out]`` (the weights copied side by side) with the bias and the
    activation fused in, returned as the ``[P, B, out]`` view of its ``[B, P * out]``
    output; the next layer's product reads those strides. On an AMD EPYC CPU, one thread,
    the two-layer blocks of ``optsuite bench --small`` evaluated 1.0-4.0x faster so than
    on MKL's products, which ``torch.matmul`` and ``torch.bmm`` call
    (reports/engine_benchmark.md). Elsewhere one
    batched matrix product against ``x`` broadcast over candidates (stride 0, no copy),
    with the bias fused in; its output is contiguous ``[P, B, out]``. A low-rank weight takes
    :func:`.lowrank.shared_linear`.
    """
    if isinstance(w, LowRankWeight):
        return ACTIVATIONS[activation](lowrank.shared_linear(x, w, b))
    if uses_onednn(x, w):
        P, n_in, n_out = w.shape
        bias = None if b is None else b.reshape(P * n_out)
        # the weights side by side [in, P * out] (a copy in runs of ``out`` floats, several times
        # cheaper than transposing each candidate's), passed as the transposed view oneDNN reads
        weights = w.permute(1, 0, 2).reshape(n_in, P * n_out).T
        h = ONEDNN_LINEAR(x, weights, bias, ONEDNN_ACTIVATIONS[activation], [], "")
        return h.view(x.shape[0], P, n_out).transpose(0, 1)
    return ACTIVATIONS[activation](batched_linear(x.expand(w.shape[0], *x.shape), w, b))


def uses_onednn(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether :func:`shared_linear` takes oneDNN's product: float32 on the CPU, outside autograd and bf16 autocast."""
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)
    return (ONEDNN_LINEAR is not None and x.device.type == "cpu" and x.dtype == w.dtype == torch.float32
            and not needs_grad and current_precision() != "bf16")


def batched_linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None,
                   contiguous: bool = True) -> torch.Tensor:
    """Each candidate's layer on its own activations: ``h [P, B, in]``, ``w [P, in, out]`` -> ``[P, B, out]``.

    A narrowing layer (``out < in``, e.g. a 10-class head) is computed transposed,
    ``(w^T h^T)^T``: on the CPU that ran 1.1-1.8x faster for ``out = 10``. Its output is
    then copied to contiguous memory for the next layer's product, unless ``contiguous``
    is False (a last layer, whose output only losses read: the copy was up to a tenth of a
    small population's evaluation). A low-rank weight takes :func:`.lowrank.batched_linear`.
    """
    if isinstance(w, LowRankWeight):
        return lowrank.batched_linear(h, w, b)
    if w.shape[2] >= w.shape[1]:
        return torch.bmm(h, w) if b is None else torch.baddbmm(b[:, None, :], h, w)
    hT, wT = h.transpose(1, 2), w.transpose(1, 2)
    yT = torch.bmm(wT, hT) if b is None else torch.baddbmm(b[:, :, None], wT, hT)
    return yT.transpose(1, 2).contiguous() if contiguous else yT.transpose(1, 2)


def population_linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """``h [B, in]`` (shared) or ``[P, B, in]``, ``w [P, in, out]``, ``b [P, out]`` -> ``[P, B, out]``."""
    return shared_linear(h, w, b) if h.dim() == 2 else batched_linear(h, w, b)


def mlp_shapes(sizes: Sequence[int]) -> list[tuple[int, ...]]:
    """Parameter shapes of an MLP with layer widths ``sizes``: ``(in, out)`` weight then ``(out,)`` bias per layer."""
    if len(sizes) < 2 or min(sizes) < 1:
        raise UserError(f"MLP layer sizes {tuple(sizes)} need at least two widths, each at least 1")
    return [s for n_in, n_out in zip(sizes, sizes[1:]) for s in ((n_in, n_out), (n_out,))]


def mlp_dim(sizes: Sequence[int]) -> int:
    """Length of the flat parameter vector of an MLP with layer widths ``sizes``."""
    return sum(int(torch.Size(s).numel()) for s in mlp_shapes(sizes))


def mlp_flops(sizes: Sequence[int]) -> int:
    """Multiply-add FLOPs of one sample through the MLP (2 per weight)."""
    return sum(2 * n_in * n_out for n_in, n_out in zip(sizes, sizes[1:]))


def mlp_activation_bytes(sizes: Sequence[int], batch: int, dtype: torch.dtype) -> int:
    """Bytes of one candidate's activations ``[B, width]`` over all layers, doubled for temporaries."""
    return 2 * batch * sum(sizes[1:]) * torch.empty((), dtype=dtype).element_size()


def population_mlp(params: torch.Tensor, x: torch.Tensor, sizes: Sequence[int], activation: str = "relu",
                   max_bytes: int | None = None, kernel: str | None = None) -> torch.Tensor:
    """Every candidate's MLP on the shared input: ``params [P, dim]``, ``x [B, sizes[0]]`` -> ``[P, B, sizes[-1]]``.

    ``sizes``: layer widths, input first; ``activation`` after every layer but the last.
    The population runs in chunks under ``max_bytes`` (None: :func:`chunk_budget`).
    ``kernel``: ``bmm`` (batched matrix products, differentiable, any device), ``fused``
    (:mod:`optsuite.engine.fused`: two-layer MLPs, Triton, no autograd) or ``auto``: fused where it
    applies, which is on CUDA outside autograd, else bmm; None: :func:`kernels`' choice. The
    fused kernel follows :func:`precision`'s mode and returns float32.
    """
    if activation not in ACTIVATIONS:
        raise UserError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    if uses_fused(params, x, sizes, activation, kernel):
        mode = current_precision()
        run = lambda chunk: fused.population_mlp2(chunk, x, sizes, activation, mode)
        return chunked(run, params, x.shape[0] * sizes[-1] * 4, max_bytes)
    shapes, act = mlp_shapes(sizes), ACTIVATIONS[activation]

    def forward(chunk: torch.Tensor) -> torch.Tensor:
        layers = unpack(chunk, shapes)
        h = shared_linear(x, layers[0], layers[1], activation if len(layers) > 2 else "identity")
        last = len(layers) // 2 - 2  # index of the last layer in the loop
        for i, (w, b) in enumerate(zip(layers[2::2], layers[3::2])):
            h = batched_linear(act(h) if i else h, w, b, contiguous=i < last)
        return h

    return chunked(forward, params, mlp_activation_bytes(sizes, x.shape[0], params.dtype), max_bytes)


def uses_fused(params: torch.Tensor, x: torch.Tensor, sizes: Sequence[int], activation: str,
               kernel: str | None = None) -> bool:
    """Whether :func:`population_mlp` with ``kernel`` runs the fused kernel on these inputs.

    Raises UserError for ``kernel="fused"`` where it cannot run, saying why.
    """
    return fused_applies(kernel, params.device, lambda: "a low-rank population" if isinstance(params, LowRank)
                         else fused.why_not(params, x, sizes, activation))
