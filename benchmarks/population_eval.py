"""Population evaluation speed (DESIGN section 7 shapes) and the optimizer's own step cost.

    optsuite bench [--small] [--device cuda] [--precision tf32] [--no-steps]
    python -m optsuite.benchmarks.population_eval [the same options] [--steps-only]

Evaluation: the block [x(64); z(10)] -> H -> 10 on a batch of B samples for P
candidates, by the engine (``population_mlp``), a per-candidate Python loop,
``torch.func.vmap`` and, when jax is installed, ``jax.jit(jax.vmap)`` of the same block on
the same numbers and device (``jax_anchor.vmapped_mlp``; with ``--threads 1`` the process
is pinned to one CPU core, so XLA's thread pool shares the one core torch runs on), all in
one run under the same precision;
sample-evaluations per second, achieved TFLOP/s and the ratios ours/loop, ours/vmap and
ours/jax. Steps: one
generation's ask + tell, evaluation excluded, of pycma (full and CMA_diagonal) and of
the registered device optimizers (torch-cma full with either factor and separable, snes),
means and medians (a full covariance's lazy factorisations fall in some generations only).
Timings are
medians of samples after warm-up calls, synchronized on CUDA, the methods taking
turns; the machine may be shared, so compare the ratios within one run.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from optsuite.benchmarks import jax_anchor, print_lines
from optsuite.crn import generator
from optsuite.device import device_name, resolve_device
from optsuite.engine import (KERNELS, PRECISIONS, chunk_size, memory_cap, mlp_activation_bytes, mlp_dim, mlp_flops,
                             mlp_shapes, population_mlp, precision, unpack, uses_fused)
from optsuite.errors import UserError
from optsuite.problem import Problem
from optsuite.registry import OPTIMIZERS

INPUTS, OUTPUTS = 74, 10  # [x(64); z(10)] -> H -> 10 classes


@dataclass(frozen=True)
class Sizes:
    """What one benchmark run measures."""

    hidden: tuple[int, ...]  # block widths H
    populations: tuple[int, ...]  # P of the evaluation rows
    batch: int  # B samples per candidate
    step_population: int  # P of the step rows; also one of ``populations``
    repeats: int  # timed samples per median (a sample: calls or generations lasting at least 50 ms)


FULL = Sizes(hidden=(32, 256), populations=(256, 4096), batch=1024, step_population=256, repeats=5)
SMALL = Sizes(hidden=(32, 256), populations=(32, 128), batch=256, step_population=32, repeats=5)

# GPU targets (H100/H200, float32 engine): M sample-evals/s at (H, P), and ms per generation at P = 256
EVAL_TARGETS = {(32, 4096): 7800.0, (256, 4096): 1300.0}
STEP_TARGETS = {("torch-cma full", 2730): 5.0, ("torch-cma full, cholesky", 2730): 5.0,
                ("torch-cma separable", 21770): 1.0, ("snes", 21770): 1.0}
FULL_COVARIANCE_MAX_DIM = 5000  # above: n^2 covariance and O(n^3) eigendecompositions, not timed
JAX_PRECISION = {"float32": "highest", "tf32": "tensorfloat32", "bf16": "bfloat16"}  # jax's matmul precision per mode


@dataclass(frozen=True)
class StepMethod:
    """One optimizer whose step is timed: pycma (``optimizer`` None) or a registered name."""

    label: str
    optimizer: str | None
    settings: dict
    separable: bool


STEP_METHODS = (
    StepMethod("pycma full", None, {"CMA_diagonal": False}, False),
    StepMethod("pycma diagonal", None, {"CMA_diagonal": True}, True),
    StepMethod("torch-cma full", "torch-cma", {"separable": False}, False),
    StepMethod("torch-cma full, eigh/10", "torch-cma", {"separable": False, "eigen_interval": 10}, False),
    StepMethod("torch-cma full, cholesky", "torch-cma", {"separable": False, "factor": "cholesky"}, False),
    StepMethod("torch-cma separable", "torch-cma", {"separable": True}, True),
    StepMethod("snes", "snes", {}, True),
)


# -- timing ------------------------------------------------------------------------------
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> Callable[[], float]:
    """``fn`` as a call that returns its wall seconds, synchronized on CUDA."""
    def call() -> float:
        start = time.perf_counter()
        fn()
        synchronize(device)
        return time.perf_counter() - start

    return call


def timing_samples(calls: dict[str, Callable[[], float]], repeats: int,
                   min_seconds: float = 0.05) -> dict[str, list[float]]:
    """``repeats`` samples of seconds per call for each of ``calls`` (each call returns its own seconds).

    Two warm-up calls each; the second sets how many calls make one sample of at least
    ``min_seconds``, so a loaded machine's scheduling averages out within a sample. The
    methods take turns sample by sample, so a changing load falls on all of them alike.
    """
    counts = {}
    for name, call in calls.items():
        call()
        counts[name] = max(1, math.ceil(min_seconds / max(call(), 1e-9)))
    taken: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            taken[name].append(sum(call() for _ in range(counts[name])) / counts[name])
    return taken


# -- evaluation ----------------------------------------------------------------------------
def block_sizes(hidden: int) -> tuple[int, int, int]:
    return (INPUTS, hidden, OUTPUTS)


def one_candidate(params: torch.Tensor, x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """The baselines' forward of one candidate: ``params [dim]``, ``x [B, in]`` -> ``[B, out]``."""
    layers = unpack(params[None], mlp_shapes(sizes))
    h = x
    for i, (w, b) in enumerate(zip(layers[::2], layers[1::2])):
        h = torch.addmm(b[0], torch.relu(h) if i else h, w[0])
    return h


def block_inputs(hidden: int, population: int, batch: int, device: torch.device,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``params [P, dim]`` (scale 0.1) and inputs ``x [B, 74]`` for the block of width ``hidden``."""
    g = generator("population-eval", hidden, population, batch, device=device)
    params = 0.1 * torch.randn(population, mlp_dim(block_sizes(hidden)), generator=g, device=device, dtype=dtype)
    return params, torch.randn(batch, INPUTS, generator=g, device=device, dtype=dtype)


def jax_device(device: torch.device):
    """The jax device of ``device``'s platform, or a string saying why there is none."""
    try:
        import jax
    except ImportError:
        return "jax is not installed"
    try:
        return jax.devices("gpu" if device.type == "cuda" else "cpu")[0]
    except RuntimeError as exc:
        return f"jax has no {device.type} backend ({exc})"


def jax_method(params: torch.Tensor, x: torch.Tensor, block: tuple[int, ...], target, mode: str) -> Callable[[], None]:
    """One ``jax.jit(jax.vmap)`` evaluation of the block per call, on copies of ``params`` and ``x`` on ``target``."""
    import jax

    fn = jax_anchor.vmapped_mlp(block)
    p, xs = (jax.device_put(t.cpu().numpy(), target) for t in (params, x))

    def call() -> None:
        with jax.default_matmul_precision(JAX_PRECISION[mode]):
            fn(p, xs).block_until_ready()

    return call


def evaluation_row(hidden: int, population: int, sizes: Sizes, device: torch.device, mode: str,
                   kernel: str = "auto") -> dict:
    """Seconds per population evaluation of ours (the engine with ``kernel``), its bmm path, the loop, vmap and jax."""
    block = block_sizes(hidden)
    params, x = block_inputs(hidden, population, sizes.batch, device)
    chunk = chunk_size(population, mlp_activation_bytes(block, sizes.batch, params.dtype), memory_cap(device))
    single = functools.partial(one_candidate, sizes=block)
    methods = {
        "ours": lambda: population_mlp(params, x, block, kernel=kernel),
        "bmm": lambda: population_mlp(params, x, block, kernel="bmm"),
        "loop": lambda: torch.stack([single(p, x) for p in params]),
        "vmap": lambda: torch.func.vmap(single, in_dims=(0, None), chunk_size=chunk)(params, x),
    }
    target = jax_device(device)
    if not isinstance(target, str):
        methods["jax"] = jax_method(params, x, block, target, mode)
    with torch.no_grad(), precision(mode, device):
        if not uses_fused(params, x, block, "relu", kernel):
            del methods["bmm"]  # ours is the bmm path here
        taken = timing_samples({name: timed(fn, device) for name, fn in methods.items()}, sizes.repeats)
    seconds = {name: statistics.median(t) for name, t in taken.items()}
    samples = population * sizes.batch
    rates = {name: samples / s / 1e6 for name, s in seconds.items()}
    return {"H": hidden, "P": population, "dim": params.shape[1], "seconds": seconds,
            "ours_rate": rates["ours"], "ours_tflops": samples * mlp_flops(block) / seconds["ours"] / 1e12,
            "bmm_rate": rates.get("bmm", rates["ours"]), "loop_rate": rates["loop"], "vmap_rate": rates["vmap"],
            "jax_rate": rates.get("jax"), "kernel": "fused" if "bmm" in rates else "bmm"}


def precision_errors(hidden: int, batch: int, device: torch.device, population: int = 8,
                     kernel: str = "auto") -> dict[str, float]:
    """Relative error ``||out - ref|| / ||ref||`` of the engine with ``kernel`` in each precision against float64."""
    params, x = block_inputs(hidden, population, batch, device, torch.float64)
    block = block_sizes(hidden)
    reference = population_mlp(params, x, block, kernel="bmm")
    errors = {}
    for mode in PRECISIONS:
        with torch.no_grad(), precision(mode, device):
            out = population_mlp(params.float(), x.float(), block, kernel=kernel).double()
        errors[mode] = float((out - reference).norm() / reference.norm())
    return errors


# -- optimizer steps -------------------------------------------------------------------------
class NearlyFreeProblem(Problem):
    """A sum of squares of the first 8 coordinates: its ``evaluate`` costs next to nothing and is timed.

    A step's time minus ``evaluate_seconds`` is the optimizer's own ask + tell.
    """

    name = "nearly-free"

    def __init__(self, dim: int, device: torch.device) -> None:
        self.dim, self.device, self.evaluate_seconds = dim, device, 0.0

    def initial(self, seed: int) -> torch.Tensor:
        return torch.zeros(self.dim, device=self.device, dtype=self.dtype)

    def evaluate(self, params: torch.Tensor, draw) -> torch.Tensor:
        start = time.perf_counter()
        losses = params[:, :8].square().sum(1)
        synchronize(self.device)
        self.evaluate_seconds += time.perf_counter() - start
        return losses


def pycma_generation(method: StepMethod, dim: int, population: int) -> Callable[[], float]:
    """One pycma ask + tell per call, the fitness computation excluded."""
    import cma
    import numpy as np

    options = {"popsize": population, "seed": 1, "verbose": -9, "verb_log": 0, "verb_disp": 0, **method.settings}
    es = cma.CMAEvolutionStrategy(np.zeros(dim), 0.5, options)

    def generation() -> float:
        start = time.perf_counter()
        candidates = es.ask()
        asked = time.perf_counter()
        losses = [float(c[:8] @ c[:8]) for c in candidates]
        told = time.perf_counter()
        es.tell(candidates, losses)
        return asked - start + time.perf_counter() - told

    return generation


def registered(name: str) -> type:
    """The optimizer class registered as ``name``.

    A sibling module's missing dependency (pycma, nevergrad) can stop the registry from
    loading the rest; then the optimizer's own module (``torch-cma``: ``torch_cma``) is
    imported alone.
    """
    try:
        return OPTIMIZERS.get(name)
    except (ImportError, UserError):
        module = importlib.import_module(f"optsuite.optimizers.{name.replace('-', '_')}")
        return next(v for v in vars(module).values() if isinstance(v, type) and getattr(v, "name", None) == name)


def optimizer_generation(method: StepMethod, dim: int, population: int, device: torch.device) -> Callable[[], float]:
    """One ``step`` of the registered optimizer per call, its problem's evaluation excluded."""
    optimizer = registered(method.optimizer)(population=population, **method.settings)
    problem = NearlyFreeProblem(dim, device)
    optimizer.init(problem, seed=0)
    steps = iter(range(1 << 62))

    def generation() -> float:
        problem.evaluate_seconds = 0.0
        start = time.perf_counter()
        optimizer.step(problem, problem.draw(next(steps), seed=0))
        synchronize(device)
        return time.perf_counter() - start - problem.evaluate_seconds

    return generation


def step_row(method: StepMethod, dim: int, population: int, repeats: int, device: torch.device) -> dict:
    """Median and mean ms per generation, or why the method was skipped."""
    row = {"method": method.label, "n": dim, "P": population}
    if not method.separable and dim > FULL_COVARIANCE_MAX_DIM:
        return {**row, "skipped": f"full covariance at n={dim:,}: n^2 memory and O(n^3) eigendecompositions"}
    try:
        generation = (pycma_generation(method, dim, population) if method.optimizer is None
                      else optimizer_generation(method, dim, population, device))
    except ImportError as exc:
        return {**row, "skipped": f"not available: {exc}"}
    except (UserError, StopIteration) as exc:
        return {**row, "skipped": f"not registered: {exc or method.optimizer}"}
    ms = [1e3 * t for t in timing_samples({method.label: generation}, repeats)[method.label]]
    return {**row, "median_ms": statistics.median(ms), "mean_ms": statistics.fmean(ms)}


# -- report ------------------------------------------------------------------------------------
def target_note(target: float | None, value: float, higher_is_better: bool, device: torch.device) -> str:
    if target is None:
        return ""
    bound = f"{'>=' if higher_is_better else '<='} {target:,.0f}" if target >= 10 else f"<= {target:g}"
    if device.type != "cuda":
        return f"{bound} (GPU)"
    met = value >= target if higher_is_better else value <= target
    return f"{bound} {'met' if met else 'MISSED'}"


def jax_line(device: torch.device, mode: str) -> str:
    """Which jax the JAX column ran, on what, at which matrix precision; or why it is empty."""
    target = jax_device(device)
    if isinstance(target, str):
        return f"no JAX column: {target}"
    import jax

    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    threads = f"pinned to core {min(cores)}" if len(cores) == 1 else "XLA's default threads"
    where = f"{target.platform} ({threads})" if target.platform == "cpu" else target.device_kind
    return f"jax {jax.__version__} on {where}, matmul precision {JAX_PRECISION[mode]}"


def evaluation_lines(rows: list[dict], device: torch.device) -> Iterator[str]:
    yield f"ours: the engine's {rows[0]['kernel']} kernel; bmm: its batched-matrix-product path"
    yield (f"{'H':>4} {'P':>5} {'dim':>6} {'ours M/s':>9} {'TFLOP/s':>8} {'bmm M/s':>9} {'loop M/s':>9} "
           f"{'vmap M/s':>9} {'ours/bmm':>8} {'ours/loop':>9} {'ours/vmap':>9} {'jax M/s':>9} {'ours/jax':>8}"
           "  target M/s")
    for r in rows:
        note = target_note(EVAL_TARGETS.get((r["H"], r["P"])), r["ours_rate"], True, device)
        jax_rate = r["jax_rate"]
        jax = f"{jax_rate:>9.2f} {r['ours_rate'] / jax_rate:>8.2f}" if jax_rate else f"{'-':>9} {'-':>8}"
        yield (f"{r['H']:>4} {r['P']:>5} {r['dim']:>6} {r['ours_rate']:>9.2f} {r['ours_tflops']:>8.4f} "
               f"{r['bmm_rate']:>9.2f} {r['loop_rate']:>9.2f} {r['vmap_rate']:>9.2f} "
               f"{r['ours_rate'] / r['bmm_rate']:>8.2f} {r['ours_rate'] / r['loop_rate']:>9.2f} "
               f"{r['ours_rate'] / r['vmap_rate']:>9.2f} {jax}  {note}")


def step_lines(rows: list[dict], device: torch.device) -> Iterator[str]:
    yield f"{'method':<24} {'n':>6} {'P':>5} {'median ms':>10} {'mean ms':>9}  target (mean) ms"
    for r in rows:
        if "skipped" in r:
            yield f"{r['method']:<24} {r['n']:>6} {r['P']:>5}  skipped: {r['skipped']}"
            continue
        # on the mean: the lazy factorisations of a full covariance fall in some generations only
        note = target_note(STEP_TARGETS.get((r["method"], r["n"])), r["mean_ms"], False, device)
        yield f"{r['method']:<24} {r['n']:>6} {r['P']:>5} {r['median_ms']:>10.3f} {r['mean_ms']:>9.3f}  {note}"


def check_lines(evaluations: list[dict], steps: list[dict]) -> Iterator[str]:
    """The CPU checks: batched never slower than the loop, nor than jax where it ran; a separable step cheaper
    than the evaluation."""
    if not evaluations:
        return
    worst = min(r["ours_rate"] / r["loop_rate"] for r in evaluations)
    yield f"check: batched >= loop in every row: {'yes' if worst >= 1 else 'NO'} (lowest ours/loop {worst:.2f})"
    if all(r["jax_rate"] for r in evaluations):
        worst = min(r["ours_rate"] / r["jax_rate"] for r in evaluations)
        yield f"check: ours >= jax in every row: {'yes' if worst >= 1 else 'NO'} (lowest ours/jax {worst:.2f})"
    evaluation_ms = {(r["dim"], r["P"]): r["seconds"]["ours"] * 1e3 for r in evaluations}
    for r in steps:
        if "median_ms" in r and r["method"] in {m.label for m in STEP_METHODS if m.separable}:
            ms = evaluation_ms.get((r["n"], r["P"]))
            if ms is not None:
                verdict = "yes" if r["median_ms"] < ms else "NO"
                yield (f"check: {r['method']} step < evaluation at n={r['n']}, P={r['P']}: {verdict} "
                       f"({r['median_ms']:.3f} ms vs {ms:.3f} ms)")


def benchmark(small: bool = False, device: str | None = None, mode: str = "float32", steps: bool = True,
              repeats: int | None = None, threads: int | None = None, kernel: str = "auto",
              evaluations: bool = True) -> Iterator[str]:
    """The benchmark's report, line by line as each measurement finishes (``evaluations`` False: the
    optimizer steps alone).

    ``threads``: CPU threads for torch (None: torch's default); ``threads=1`` also pins the
    process to one CPU core, where XLA's CPU runtime starts its pool of threads (it does,
    whatever its flags say). On a shared, loaded CPU, one thread avoids the stalls of
    threads waiting for each other.
    """
    if mode not in PRECISIONS:
        raise UserError(f"unknown precision {mode!r}; choose one of {', '.join(PRECISIONS)}")
    if kernel not in KERNELS:
        raise UserError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    if repeats is not None and repeats < 1:
        raise UserError(f"--repeats {repeats} must be at least 1")
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads {threads} must be at least 1")
        torch.set_num_threads(threads)
        if threads == 1 and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # threads started from here on inherit it
    sizes = SMALL if small else FULL
    sizes = sizes if repeats is None else dataclasses.replace(sizes, repeats=repeats)
    dev = resolve_device(device)
    yield (f"device: {device_name(dev)}; torch {torch.__version__}; precision {mode}; "
           f"{'small' if small else 'full'} sizes")
    rows = []
    if evaluations:
        yield f"evaluation: [x(64); z(10)] -> H -> 10, batch {sizes.batch}, median of {sizes.repeats} samples"
        yield f"jax: {jax_line(dev, mode)}"
        rows = [evaluation_row(h, p, sizes, dev, mode, kernel) for h in sizes.hidden for p in sizes.populations]
        yield from evaluation_lines(rows, dev)
        yield f"precision: relative error against float64 (P=8, batch {sizes.batch}; tf32 is a no-op on the CPU)"
        for h in sizes.hidden:
            errors = precision_errors(h, sizes.batch, dev, kernel=kernel)
            yield f"  H={h:<4} " + "  ".join(f"{m} {e:.2e}" for m, e in errors.items())
    step_rows = []
    if steps:
        yield (f"optimizer step per generation (ask + tell, evaluation excluded), median and mean of {sizes.repeats} "
               "samples")
        dims = [mlp_dim(block_sizes(h)) for h in sizes.hidden]
        step_rows = [step_row(m, n, sizes.step_population, sizes.repeats, dev) for n in dims for m in STEP_METHODS]
        yield from step_lines(step_rows, dev)
    yield from check_lines(rows, step_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CPU-friendly sizes (seconds)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--no-steps", dest="steps", action="store_false", help="skip the optimizer step timings")
    parser.add_argument("--steps-only", dest="evaluations", action="store_false",
                        help="the optimizer step timings alone")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per median")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--kernel", default="auto", choices=KERNELS,
                        help="the engine's kernel for 'ours' (auto: fused on CUDA where it applies)")
    args = parser.parse_args(argv)
    return print_lines(benchmark(args.small, args.device, args.precision, args.steps, args.repeats, args.threads,
                                 args.kernel, args.evaluations))


if __name__ == "__main__":
    sys.exit(main())
