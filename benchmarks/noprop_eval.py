"""Population evaluation speed of the NoProp problems' own blocks, beside a per-candidate loop.

    python -m optsuite.benchmarks.noprop_eval [--device cuda] [--small] [--threads 1] [--kernel bmm]

Problems: the mlp block (``noprop-block``, block t) and the whole network (``noprop-net``)
at the shapes of the default matrix (digits, T = 3, hidden 16) and of the gpu matrix
(MNIST-1D, T = 10, hidden 128, t = 5; skipped where the mnist1d package is missing), each
``evaluate`` on one draw of its own batch (128). The cnn block (``block = "cnn"``, the
paper's 32 channels, hidden 64) at MNIST (1x28x28) and CIFAR-10 (3x32x32) shapes on random
images, chunked as ``evaluate`` chunks it. Per row: M sample-evals/s of the population call
(on CUDA the mlp blocks take the fused kernel of ``optsuite.engine.fused_block``), of the same call
on the batched-product path alone (``kernels("bmm")``) and of a loop over its candidates
(the same code, one at a time; the first ``LOOPED`` of them), the ratios, achieved TFLOP/s
(the problems' FLOP counts), the largest relative difference between the population call
and the loop on those candidates (the population evaluation's correctness on this device)
and the relative error of float32 against float64 (of the losses; of u_hat for the cnn
block). Timings are medians of samples of at least 50 ms, the three methods taking turns.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from typing import Callable, Iterator

import torch

from optsuite.benchmarks import print_lines
from optsuite.benchmarks.population_eval import timed, timing_samples
from optsuite.device import device_name, resolve_device
from optsuite.engine import chunked, kernels
from optsuite.errors import UserError
from optsuite.problems.noprop_cnn import CNNBlock
from optsuite.registry import PROBLEMS

DEFAULT = {"dataset": "digits", "T": 3, "hidden": 16}  # runners/matrices/default.toml
GPU = {"dataset": "mnist1d", "T": 10, "hidden": 128}  # runners/matrices/gpu.toml
PROBLEM_ROWS = [
    ("mlp block, default matrix", "noprop-block", {**DEFAULT, "t": 2}),
    ("noprop-net, default matrix", "noprop-net", DEFAULT),
    ("mlp block, gpu matrix", "noprop-block", {**GPU, "t": 5}),
    ("noprop-net, gpu matrix", "noprop-net", GPU),
]
IMAGES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
CNN_CHANNELS, CNN_HIDDEN, BATCH = 32, 64, 128
LOOPED = 64  # candidates the loop runs: its rate does not depend on the population


def random_population(dim: int, population: int, base: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``[P, dim]``: ``base [dim]`` plus N(0, 0.1^2) noise, seeded."""
    g = torch.Generator().manual_seed(seed)
    return (base.cpu() + 0.1 * torch.randn(population, dim, generator=g)).to(base)


def rates(evaluate: Callable[[torch.Tensor], object], params: torch.Tensor, batch: int, device: torch.device,
          repeats: int) -> tuple[float, float, float, float]:
    """M sample-evals/s of ``evaluate(params [P, dim])`` (the engine's choice of kernels), of the same on the
    batched-product path alone and of a loop of one-candidate calls, measured in turns; and the largest relative
    difference between the population call and the loop on the looped candidates."""
    looped = params[:LOOPED]

    def bmm() -> object:
        with kernels("bmm"):
            return evaluate(params)

    calls = {"ours": timed(lambda: evaluate(params), device), "bmm": timed(bmm, device),
             "loop": timed(lambda: [evaluate(p[None]) for p in looped], device)}
    with torch.no_grad():
        taken = timing_samples(calls, repeats)
        together, apart = evaluate(looped).double(), torch.cat([evaluate(p[None]) for p in looped]).double()
    samples = {"ours": len(params) * batch, "bmm": len(params) * batch, "loop": len(looped) * batch}
    difference = float(((together - apart).abs() / apart.abs().clamp_min(1e-12)).max())
    return (*(samples[k] / statistics.median(taken[k]) / 1e6 for k in ("ours", "bmm", "loop")), difference)


def relative_error(low: torch.Tensor, high: torch.Tensor) -> float:
    return float((low.double() - high).norm() / high.norm())


def problem_row(label: str, name: str, settings: dict, population: int, device: torch.device, repeats: int) -> dict:
    """One NoProp problem's ``evaluate``: population call, loop and float32 error, or why it was skipped."""
    try:
        problem = PROBLEMS.create(name, **settings, device=device.type)
        exact = PROBLEMS.create(name, **settings, device=device.type, dtype="float64")
    except (ImportError, UserError) as exc:
        return {"label": label, "P": population, "skipped": f"{type(exc).__name__}: {exc}"}
    params, draw = random_population(problem.dim, population, problem.initial(0)), problem.draw(0, 0)
    ours, bmm, loop, difference = rates(lambda p: problem.evaluate(p, draw), params, problem.samples(draw), device,
                                        repeats)
    with torch.no_grad():
        error = relative_error(problem.evaluate(params, draw), exact.evaluate(params.double(), draw))
    return {"label": label, "P": population, "dim": problem.dim, "ours": ours, "bmm": bmm, "loop": loop, "error": error,
            "difference": difference, "tflops": ours * 1e6 * problem.flops_per_sample / 1e12}


def cnn_row(dataset: str, population: int, device: torch.device, repeats: int, channels: int, hidden: int) -> dict:
    """The cnn block on random ``IMAGES[dataset]`` inputs, shared z ``[B, 10]``, one-hot embedding."""
    image, d = IMAGES[dataset], 10
    block = CNNBlock(image, d, d, hidden, channels)
    g = torch.Generator().manual_seed(1)
    x, z = torch.randn(BATCH, math.prod(image), generator=g), torch.randn(BATCH, d, generator=g)
    params = random_population(block.dim, population, block.initial(0))
    inputs = [t.to(device) for t in (params, x, z, torch.eye(d))]

    def evaluate(p: torch.Tensor, x: torch.Tensor, z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        per_candidate = BATCH * block.floats_per_sample * p.element_size() * 2  # as NoPropProblem.evaluate
        return chunked(lambda chunk: block.forward(chunk, x, z, embed), p, per_candidate)

    p, x, z, embed = inputs
    ours, bmm, loop, difference = rates(lambda q: evaluate(q, x, z, embed), p, BATCH, device, repeats)
    with torch.no_grad():
        error = relative_error(evaluate(p, x, z, embed), evaluate(*(t.double() for t in inputs)))
    return {"label": f"cnn block, {dataset} {'x'.join(map(str, image))}, c={channels}", "P": population,
            "dim": block.dim, "ours": ours, "bmm": bmm, "loop": loop, "error": error, "difference": difference,
            "tflops": ours * 1e6 * block.flops_per_sample / 1e12}


def lines(rows: list[dict]) -> Iterator[str]:
    yield (f"{'problem':<40} {'P':>5} {'dim':>8} {'ours M/s':>9} {'bmm M/s':>9} {'loop M/s':>9} {'ours/bmm':>8} "
           f"{'ours/loop':>9} {'TFLOP/s':>8} {'vs loop':>8}  f32 error")
    for r in rows:
        if "skipped" in r:
            yield f"{r['label']:<40} {r['P']:>5}  skipped: {r['skipped']}"
            continue
        yield (f"{r['label']:<40} {r['P']:>5} {r['dim']:>8} {r['ours']:>9.3f} {r['bmm']:>9.3f} {r['loop']:>9.3f} "
               f"{r['ours'] / r['bmm']:>8.2f} {r['ours'] / r['loop']:>9.2f} {r['tflops']:>8.4f} "
               f"{r['difference']:>8.1e}  {r['error']:.1e}")


def benchmark(device: str | None = None, small: bool = False, threads: int | None = None,
              repeats: int = 5, kernel: str = "auto") -> Iterator[str]:
    """The report, line by line as each row finishes; ``kernel`` is the path of the ``ours`` column (``auto``:
    the engine's choice, ``bmm``: batched products, as the bmm column)."""
    if threads is not None:
        torch.set_num_threads(threads)
    with kernels(kernel):
        yield from report(device, small, repeats, kernel)


def report(device: str | None, small: bool, repeats: int, kernel: str) -> Iterator[str]:
    dev = resolve_device(device)
    populations = (32,) if small else (256, 1024)
    channels, hidden = (8, 16) if small else (CNN_CHANNELS, CNN_HIDDEN)
    yield f"device: {device_name(dev)}; torch {torch.__version__}; {'small' if small else 'full'} sizes; ours: {kernel}"
    yield "NoProp problems' evaluate (batch 128) and the cnn block, population call vs a loop over candidates"
    rows = [problem_row(*spec, p, dev, repeats) for spec in PROBLEM_ROWS for p in populations]
    rows += [cnn_row(name, p, dev, repeats, channels, hidden) for name in IMAGES for p in populations[:1]]
    yield from lines(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--small", action="store_true", help="CPU-friendly sizes: P = 32, cnn with 8 channels")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5, help="timed samples per median")
    parser.add_argument("--kernel", default="auto", choices=("auto", "bmm"),
                        help="the path of the ours column (auto: fused kernels on CUDA where they apply)")
    args = parser.parse_args(argv)
    return print_lines(benchmark(args.device, args.small, args.threads, args.repeats, args.kernel))


if __name__ == "__main__":
    sys.exit(main())
