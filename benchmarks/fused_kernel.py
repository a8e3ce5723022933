"""The fused Triton kernel's tile sizes and its fraction of the GPU's matrix ceilings.

    python benchmarks/fused_kernel.py [--hidden 32 256] [--population 4096] [--batch 1024]

Measures, in one run on a CUDA device: the dense matrix-product ceilings (one large
square product in float32, tf32 and bf16), then for each block width and precision the
kernel with each candidate tile configuration, printing M sample-evals/s, useful TFLOP/s
(the block's own FLOPs; float32 mode makes three TF32 passes for them) and that rate as a
fraction of the tf32 and bf16 ceilings. The first configuration of each row is the one the
engine picks (``fused.launch_config``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

if not __package__:  # run as a script from a checkout, without installing
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
    from population_eval import block_inputs, block_sizes, timed, timing_samples
else:
    from .population_eval import block_inputs, block_sizes, timed, timing_samples

from optsuite import fused
from optsuite.engine import MATMUL_PRECISION, mlp_flops

CANDIDATE_CONFIGS = [  # BLOCK_B, BLOCK_H, BLOCK_K, num_warps
    (128, 32, 32, 4), (128, 32, 16, 4), (64, 32, 32, 4), (256, 32, 32, 8), (256, 32, 16, 4),
    (128, 64, 32, 8), (128, 64, 16, 8), (64, 64, 32, 4), (256, 64, 32, 8), (128, 128, 32, 8), (64, 128, 16, 4),
]


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


def configs_for(hidden: int, batch: int) -> list[dict]:
    picked = fused.launch_config(batch, 74, hidden)
    out = [picked]
    for b, h, k, w in CANDIDATE_CONFIGS:
        cfg = {"BLOCK_B": b, "BLOCK_H": h, "BLOCK_K": k, "num_warps": w}
        if h <= max(16, 1 << (hidden - 1).bit_length()) and cfg not in out:
            out.append(cfg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--population", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() or fused.triton is None:
        print("error: the fused kernel benchmark needs a CUDA device and Triton", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; triton {fused.triton.__version__}")
    ceiling = ceilings()
    print("ceilings (8192^3 product): " + "  ".join(f"{m} {r:.1f} TFLOP/s" for m, r in ceiling.items()))
    print(f"{'H':>4} {'mode':>7} {'B_B':>4} {'B_H':>4} {'B_K':>4} {'warps':>5} {'M/s':>9} {'TFLOP/s':>8} "
          f"{'of tf32':>8} {'of bf16':>8}")
    for hidden in args.hidden:
        block = block_sizes(hidden)
        params, x = block_inputs(hidden, args.population, args.batch, device)
        samples = args.population * args.batch
        for mode in fused.DOT_PRECISION:
            for cfg in configs_for(hidden, args.batch):
                call = timed(lambda: fused.population_mlp2(params, x, block, "relu", mode, cfg), device)
                try:
                    seconds = statistics.median(timing_samples({"k": call}, args.repeats)["k"])
                except Exception as exc:  # a configuration the compiler rejects (shared memory, registers)
                    print(f"{hidden:>4} {mode:>7} {cfg['BLOCK_B']:>4} {cfg['BLOCK_H']:>4} {cfg['BLOCK_K']:>4} "
                          f"{cfg['num_warps']:>5}  failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}")
                    continue
                tflops = samples * mlp_flops(block) / seconds / 1e12
                print(f"{hidden:>4} {mode:>7} {cfg['BLOCK_B']:>4} {cfg['BLOCK_H']:>4} {cfg['BLOCK_K']:>4} "
                      f"{cfg['num_warps']:>5} {samples / seconds / 1e6:>9.0f} {tflops:>8.1f} "
                      f"{tflops / ceiling['tf32']:>8.1%} {tflops / ceiling['bf16']:>8.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
