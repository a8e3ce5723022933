"""How much of a device's memory a population's evaluation may take, and evaluation in chunks that fit.

Shapes: P candidates.
"""
from __future__ import annotations

import os
from typing import Callable

import torch

CUDA_MEMORY_FRACTION = 0.5  # of the free CUDA memory: the rest is for the caller's own tensors
CPU_MEMORY_FRACTION = 0.25  # of the available RAM: the machine may be shared
# On the CPU a chunk's activations also stay within about an L2 cache, so each layer's
# output is read again before it leaves the cache: at P = 256, B = 1024 this ran 1.7-2.2x
# faster than one chunk for the whole population (reports/engine_benchmark.md).
CPU_CHUNK_BYTES = 4 << 20


def available_memory(device: str | torch.device) -> int:
    """Bytes free on ``device``: ``torch.cuda.mem_get_info`` on a GPU, the available RAM (psutil) elsewhere.
    Read afresh on every call, since other tensors come and go."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    return int(psutil.virtual_memory().available)


def memory_cap(device: str | torch.device) -> int:
    """Bytes one chunk's activations may take on ``device``: a fraction of :func:`available_memory`."""
    fraction = CUDA_MEMORY_FRACTION if torch.device(device).type == "cuda" else CPU_MEMORY_FRACTION
    return int(available_memory(device) * fraction)


def free_ram() -> int:
    """Bytes of free (never-used) RAM: one system call; 0 where the OS does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def chunk_budget(device: str | torch.device) -> int:
    """Activation bytes per chunk when none is named: :func:`memory_cap`, on the CPU at most ``CPU_CHUNK_BYTES``.

    On the CPU the free RAM is read first: where its fraction holds a whole chunk, so does
    the fraction of the available RAM (never less than the free), and psutil's reading,
    which took 25-55 us (up to a tenth of a small population's evaluation), is skipped.
    """
    if torch.device(device).type == "cuda":
        return memory_cap(device)
    if free_ram() * CPU_MEMORY_FRACTION >= CPU_CHUNK_BYTES:
        return CPU_CHUNK_BYTES
    return min(memory_cap(device), CPU_CHUNK_BYTES)


def chunk_size(population: int, bytes_per_candidate: int, max_bytes: int) -> int:
    """Candidates per chunk so that a chunk's activations stay under ``max_bytes`` (at least 1)."""
    return max(1, min(population, int(max_bytes // max(1, bytes_per_candidate))))


def chunked(fn: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor, bytes_per_candidate: int,
            max_bytes: int | None = None) -> torch.Tensor:
    """``fn`` over ``params [P, dim]`` in chunks whose activations stay under ``max_bytes``; -> ``[P, ...]``.

    ``max_bytes`` None: :func:`chunk_budget` of the parameters' device.
    """
    cap = chunk_budget(params.device) if max_bytes is None else max_bytes
    size = chunk_size(params.shape[0], bytes_per_candidate, cap)
    if params.shape[0] <= size:
        return fn(params)
    return torch.cat([fn(params[i : i + size]) for i in range(0, params.shape[0], size)])
