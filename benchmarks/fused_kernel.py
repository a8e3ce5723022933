"""The fused Triton kernel's tile sizes and its fraction of the GPU's matrix ceilings.

    python -m optsuite.benchmarks.fused_kernel [--hidden 32 256] [--population 4096] [--batch 1024]

Measures, in one run on a CUDA device: the dense matrix-product ceilings (one large
square product in float32, tf32 and bf16), then for each block width and ``tl.dot``
precision (tf32x3 is the engine's float32 mode; bf16x3 is measured as an alternative) its
relative error against float64 and, for each tile the engine's tuning may pick
(``fused.fitting_configs``), M sample-evals/s, useful TFLOP/s (the block's own FLOPs;
tf32x3 and bf16x3 make three passes for them) and that rate as a fraction of the tf32 and
bf16 ceilings.
"""
from __future__ import annotations

import argparse
import statistics
import sys

import torch

from optsuite.engine import fused
from optsuite.benchmarks.population_eval import block_inputs, block_sizes, timed, timing_samples
from optsuite.engine import MATMUL_PRECISION, mlp_flops, population_mlp

DOTS = ("tf32x3", "bf16x3", "tf32", "bf16")  # tl.dot precisions: float32 mode, an alternative, tf32, bf16
MODE_OF = {dot: mode for mode, dot in fused.DOT_PRECISION.items()}


def ceilings(size: int = 8192, repeats: int = 5) -> dict[str, float]:
    """TFLOP/s of one ``size``-square matrix product in each precision."""
    device = torch.device("cuda")
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    rates = {}
    for mode, dtype in (("float32", torch.float32), ("tf32", torch.float32), ("bf16", torch.bfloat16)):
        torch.set_float32_matmul_precision(MATMUL_PRECISION[mode])
        x, y = a.to(dtype), b.to(dtype)
        seconds = statistics.median(timing_samples({mode: timed(lambda: x @ y, device)}, repeats)[mode])
        rates[mode] = 2 * size**3 / seconds / 1e12
    torch.set_float32_matmul_precision("highest")
    return rates


def relative_error(hidden: int, dot: str, device: torch.device) -> float:
    """``||out - ref|| / ||ref||`` of the kernel with ``dot`` against float64 (P=8, batch 1024)."""
    params, x = block_inputs(hidden, 8, 1024, device, torch.float64)
    block = block_sizes(hidden)
    reference = population_mlp(params, x, block, kernel="bmm")
    out = fused.forward(params.float(), x.float(), block, fused.ACTIVATION_CODES["relu"], dot).double()
    return float((out - reference).norm() / reference.norm())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--population", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dots", nargs="+", default=list(DOTS), help=f"tl.dot precisions among {', '.join(DOTS)}")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() or fused.triton is None:
        print("error: the fused kernel benchmark needs a CUDA device and Triton", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; triton {fused.triton.__version__}")
    ceiling = ceilings()
    print("ceilings (8192^3 product): " + "  ".join(f"{m} {r:.1f} TFLOP/s" for m, r in ceiling.items()))
    print(f"{'H':>4} {'dot':>7} {'error':>8} {'B_B':>4} {'B_H':>4} {'warps':>5} {'stages':>6} {'K loop':>9} "
          f"{'M/s':>9} "
          f"{'TFLOP/s':>8} {'of tf32':>8} {'of bf16':>8}")
    relu = fused.ACTIVATION_CODES["relu"]
    for hidden in args.hidden:
        block = block_sizes(hidden)
        params, x = block_inputs(hidden, args.population, args.batch, device)
        samples = args.population * args.batch
        for dot in args.dots:
            error = relative_error(hidden, dot, device)
            best = None
            for cfg in fused.fitting_configs(block):
                call = timed(lambda: fused.forward(params, x, block, relu, dot, cfg), device)
                row = (f"{hidden:>4} {dot:>7} {error:>8.1e} {cfg['BLOCK_B']:>4} {cfg['BLOCK_H']:>4} "
                       f"{cfg['num_warps']:>5} {cfg['num_stages']:>6} {'pipelined' if cfg['PIPELINED'] else 'unrolled':>9}")
                try:
                    seconds = statistics.median(timing_samples({"k": call}, args.repeats)["k"])
                except Exception as exc:  # noqa: BLE001 - a tile the compiler rejects (shared memory, registers)
                    print(f"{row}  failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}")
                    continue
                tflops = samples * mlp_flops(block) / seconds / 1e12
                best = max(best or 0.0, samples / seconds / 1e6)
                print(f"{row} {samples / seconds / 1e6:>9.0f} {tflops:>8.1f} {tflops / ceiling['tf32']:>8.1%} "
                      f"{tflops / ceiling['bf16']:>8.1%}", flush=True)
            if best:
                print(f"   fastest: H={hidden} {dot} ({MODE_OF.get(dot, 'not a mode')}) {best:,.0f} M sample-evals/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
