"""The evaluation engine: a whole population's losses in one batched call.

- :mod:`.dense`: dense populations ``[P, dim]`` through batched matrix products (oneDNN on the CPU);
- :mod:`.lowrank`: low-rank populations (:class:`optsuite.population.LowRank`), one shared product
  for the mean plus rank-r corrections per candidate, never forming ``[P, dim]``;
- :mod:`.fused`, :mod:`.fused_block`: fused Triton kernels (CUDA) for two-layer MLPs and the NoProp block;
- :mod:`.conv`: convolutions of a population as channel groups;
- :mod:`.memory`: how much memory an evaluation may take, and evaluation in chunks that fit;
- :mod:`.modes`: the precision of products and the choice of kernel, as context variables.

Problems import the layer functions from here; the names below are the engine's public surface.
"""
from .dense import (ACTIVATIONS, ONEDNN_LINEAR, batched_linear, mlp_activation_bytes, mlp_dim, mlp_flops, mlp_shapes,
                    population_linear, population_mlp, shared_linear, unpack, uses_fused, uses_onednn)
from .lowrank import LowRankWeight
from .memory import (CPU_CHUNK_BYTES, CPU_MEMORY_FRACTION, CUDA_MEMORY_FRACTION, available_memory, chunk_budget,
                     chunk_size, chunked, free_ram, memory_cap)
from .modes import KERNELS, MATMUL_PRECISION, PRECISIONS, current_precision, fused_applies, kernels, precision

__all__ = [
    "ACTIVATIONS", "CPU_CHUNK_BYTES", "CPU_MEMORY_FRACTION", "CUDA_MEMORY_FRACTION", "KERNELS", "LowRankWeight", "MATMUL_PRECISION",
    "ONEDNN_LINEAR", "PRECISIONS", "available_memory", "batched_linear", "chunk_budget", "chunk_size", "chunked",
    "current_precision", "free_ram", "fused_applies", "kernels", "memory_cap", "mlp_activation_bytes", "mlp_dim",
    "mlp_flops", "mlp_shapes", "population_linear", "population_mlp", "precision", "shared_linear", "unpack",
    "uses_fused", "uses_onednn",
]
