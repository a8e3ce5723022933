"""Registers, spills and shared memory of the fused mlp-block kernel, compiled ahead of time for a GPU.

    python -m optsuite.benchmarks.kernel_resources [--arch 90] [--precision float32]

Compiles ``optsuite.engine.fused_block``'s kernel with Triton for a CUDA architecture (sm_90:
H100/H200; 80: A100) at the mlp-block shapes of the default and gpu matrices and a wider
one, for each tile of ``fused_block.CONFIGS``, and reads the compiled code's resource use
with the ``cuobjdump`` that Triton ships. No GPU is needed. A stack above 0 bytes means
registers spilled to local memory, which slows the kernel; shared memory is per program
(99 KB per block on sm_86/89, 227 KB on sm_90). Needs Triton (``pip install triton``),
without ``TRITON_INTERPRET`` set.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from typing import Iterator

from optsuite.benchmarks import print_lines

SHAPES = {  # (n_in, d, H, K)
    "default matrix (digits, hidden 16)": (64, 10, 16, 10),
    "gpu matrix (MNIST-1D, hidden 128)": (40, 10, 128, 10),
    "hidden 256": (40, 10, 256, 10),
}
POINTERS = ("p_ptr", "x_ptr", "z_ptr", "e_ptr", "out_ptr")
INTEGERS = ("B", "N_IN", "D", "H", "K", "p_stride", "x_stride_p", "x_stride_b", "z_stride_p", "z_stride_b",
            "e_stride_p", "e_stride_k")


def resources(sizes: tuple[int, int, int, int], config: tuple[int, int, int], dot: str, arch: int) -> dict:
    """Registers per thread, stack bytes per thread and shared bytes per program of one compiled kernel."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from optsuite.engine import fused_block

    np_, dp, hp, kp = fused_block.padded_sizes(sizes)
    block_b, block_h, warps = config
    constants = dict(N_PAD=np_, D_PAD=dp, H_PAD=hp, K_PAD=kp, PREC=dot, BLOCK_B=block_b,
                     BLOCK_H=min(hp, block_h), BLOCK_K=fused_block.BLOCK_K)
    signature = {**{p: "*fp32" for p in POINTERS}, **{i: "i32" for i in INTEGERS},
                 **{c: "constexpr" for c in constants}}
    source = ASTSource(fused_block._block_kernel, signature, constexprs=constants)
    kernel = triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps})
    with tempfile.TemporaryDirectory() as folder:
        cubin = os.path.join(folder, "kernel.cubin")
        with open(cubin, "wb") as f:
            f.write(kernel.asm["cubin"])
        cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
        dump = subprocess.run([cuobjdump, "--dump-resource-usage", cubin], capture_output=True, text=True).stdout
    found = re.search(r"REG:(\d+) STACK:(\d+)", dump)
    if found is None:
        raise RuntimeError(f"cuobjdump printed no resource usage: {dump[-300:]}")
    return {"registers": int(found[1]), "stack": int(found[2]), "shared": int(kernel.metadata.shared)}


def report(arch: int, precision: str) -> Iterator[str]:
    from optsuite.engine import fused, fused_block

    if fused.triton is None:
        yield "skipped: Triton is not installed"
        return
    dot = fused.DOT_PRECISION[precision]
    yield f"fused mlp-block kernel, sm_{arch}, {precision} ({dot} products); Triton {fused.triton.__version__}"
    yield (f"{'shape':<38} {'(n_in, d, H, K)':<18} {'BLOCK_B, BLOCK_H, warps':<24} {'registers':>9} {'stack B':>8} "
           f"{'shared B':>9}")
    for label, sizes in SHAPES.items():
        for config in fused_block.CONFIGS:
            try:
                used = resources(sizes, config, dot, arch)
            except Exception as exc:  # noqa: BLE001 - Triton's compile errors have no common type across versions
                yield f"{label:<38} {str(sizes):<18} {str(config):<24} failed: {type(exc).__name__}: {str(exc)[:120]}"
                continue
            yield (f"{label:<38} {str(sizes):<18} {str(config):<24} {used['registers']:>9} {used['stack']:>8} "
                   f"{used['shared']:>9}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability times 10 (90: H100/H200)")
    parser.add_argument("--precision", default="float32", choices=("float32", "tf32", "bf16"))
    args = parser.parse_args(argv)
    return print_lines(report(args.arch, args.precision))


if __name__ == "__main__":
    sys.exit(main())
