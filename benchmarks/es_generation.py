"""Whole ES generations against plain inference, and the run loop's own cost per step.

    python -m optsuite.benchmarks.es_generation [--threads 1 2] [--repeats 7] [--small] [--device cuda]

Per row (a NoProp-DT block, T = 10, t = 5, or a whole ``noprop-net``), per-sample throughput as a
fraction of inference: the samples a generation evaluates (P candidates x B rows) per second of one
whole generation (``ask``, ``evaluate``, ``tell``), over the samples per second of plain inference,
``evaluate`` of the mean alone on the whole training split (one network, shared weights: the physical
floor of a generation), in calls of 256, 512 or 1,024 rows or all at once, whichever is fastest (on
the CPU, calls of 512-1,024 rows ran 1.2-1.5x faster per sample than one call over the split, whose
activations leave the caches). Methods: dense ``openes`` (full-rank noise ``[P, dim]``) and ``eggroll`` at
rank 1 and 4 (low-rank populations, never ``[P, dim]``), and each one's ``evaluate`` alone. The methods
take turns sample by sample in one process, for each thread count; compare the ratios, not the
seconds, on a shared machine. The 784-input rows read MNIST-shaped IDX files of random pixels written
to a temporary folder (``--mnist DIR`` reads a real MNIST folder instead): throughput depends on the
shapes, not the pixels.

Run loop: the CPU seconds per step of :func:`optsuite.run.run` minus those of the calls it makes (the
problem's ``draw`` and the optimizer's ``step`` on the problem itself), from the difference between
runs of two lengths, so that ``init`` and the final metrics cancel; for ``gd`` and ``snes`` on
``sphere(dim=10)`` and ``noprop-block(T=3,t=2,hidden=8)``. CPU time (one thread), not wall time, so
that another process's load is not counted.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from optsuite.benchmarks import print_lines
from optsuite.benchmarks.population_eval import timed, timing_samples
from optsuite.budget import Budget
from optsuite.crn import Draw
from optsuite.device import device_name, resolve_device
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run


@dataclass(frozen=True)
class Row:
    label: str
    problem: str
    settings: dict
    population: int


ROWS = [
    Row("digits, H = 16", "noprop-block", {"dataset": "digits", "hidden": 16, "batch_size": 128}, 64),
    Row("digits, H = 256", "noprop-block", {"dataset": "digits", "hidden": 256, "batch_size": 64}, 256),
    Row("784 inputs, H = 256", "noprop-block", {"dataset": "mnist", "hidden": 256, "batch_size": 64}, 256),
    Row("784 inputs, H = 256", "noprop-block", {"dataset": "mnist", "hidden": 256, "batch_size": 128}, 64),
    Row("noprop-net, digits, T = 3, H = 16", "noprop-net", {"dataset": "digits", "T": 3, "hidden": 16,
                                                            "batch_size": 128}, 64),
]
BLOCK = {"T": 10, "t": 5}
METHODS = {"openes": {}, "eggroll r=1": {"rank": 1}, "eggroll r=4": {"rank": 4}}
LOOP_ROWS = [("sphere", {"dim": 10}), ("noprop-block", {"T": 3, "t": 2, "hidden": 8})]
LOOP_OPTIMIZERS = ("gd", "snes")
SMALL = {"digits, H = 256": 64, "784 inputs, H = 256": 32}  # --small: smaller populations, one 784 row


def write_random_mnist(folder: Path, train: int = 60000, test: int = 10000, seed: int = 0) -> Path:
    """MNIST's four IDX files of random pixels and labels in ``folder``; -> the folder."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">u4").tobytes() + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + labels.tobytes())
    return folder


class Generations:
    """Whole generations of one optimizer on ``problem``, each on the next draw."""

    def __init__(self, problem, name: str, hyper: dict) -> None:
        self.problem, self.optimizer, self.step = problem, OPTIMIZERS.create(name, **hyper), 0
        self.optimizer.init(problem, 0)

    def draw(self) -> Draw:
        self.step += 1
        return self.problem.draw(self.step, 0)

    def generation(self) -> None:
        with torch.no_grad():
            self.optimizer.tell(self.problem.evaluate(self.optimizer.ask(), self.draw()))

    def evaluation(self) -> Callable[[], object]:
        """``evaluate`` of one asked population, again and again (the same one: evaluation only)."""
        population, draw = self.optimizer.ask(), self.draw()

        def call() -> object:
            with torch.no_grad():
                return self.problem.evaluate(population, draw)

        return call


INFERENCE_ROWS = (256, 512, 1024, None)  # rows per call of plain inference (None: the whole split at once)


def inference(problem, rows: int | None) -> Callable[[], object]:
    """``evaluate`` of the mean alone over the whole training split, in calls of ``rows`` rows (None: one call)."""
    mean, n = problem.initial(0)[None], problem.n_train
    step = rows or n
    draws = [Draw(0, 0, torch.arange(i, min(n, i + step), device=problem.device), 0) for i in range(0, n, step)]

    def call() -> object:
        with torch.no_grad():
            return [problem.evaluate(mean, draw) for draw in draws]

    return call


def row_lines(row: Row, settings: dict, population: int, device: torch.device, repeats: int) -> Iterator[str]:
    problem = PROBLEMS.create(row.problem, **{**settings, "device": str(device)})
    batch, n = problem.batch_size, problem.n_train
    calls = {f"inference {rows}": timed(inference(problem, rows), device) for rows in INFERENCE_ROWS}
    for method, hyper in METHODS.items():
        name = method.split()[0]
        runs = Generations(problem, name, {"population": population, "sigma0": 0.02, **hyper})
        calls[method] = timed(runs.generation, device)
        calls[f"{method} evaluate"] = timed(runs.evaluation(), device)
    taken = timing_samples(calls, repeats)
    best = min(INFERENCE_ROWS, key=lambda rows: statistics.median(taken[f"inference {rows}"]))
    floor = n / statistics.median(taken[f"inference {best}"])
    cells = []
    for method in METHODS:
        whole, alone = (population * batch / statistics.median(taken[k]) / floor for k in (method, f"{method} evaluate"))
        cells.append(f"{alone:.2f} | {whole:.2f} ({statistics.median(taken[method]) * 1e3:,.0f} ms)")
    yield (f"| {row.label} ({problem.dim:,} params) | {population} | {batch} | {floor / 1e6:.3f} ({best or n}) | "
           + " | ".join(cells) + " |")


def cpu_seconds(fn: Callable[[], object]) -> float:
    """The process's CPU seconds in ``fn()``: what other processes of a shared machine do is not counted."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def loop_overhead(problem_name: str, settings: dict, optimizer: str, repeats: int, short: int = 20,
                  long: int = 220) -> float:
    """Milliseconds of CPU per step that :func:`run` adds to the calls it makes (median of ``repeats`` differences
    between ``long`` and ``short`` steps, so that ``init`` and the final metrics cancel; both runs must take all
    their steps: snes on the sphere stops, converged, after 246)."""
    problem = PROBLEMS.create(problem_name, **settings)

    def through_run(steps: int) -> float:
        def calls() -> None:
            result = run(problem, OPTIMIZERS.create(optimizer), Budget(steps=steps), seed=0)
            assert result.spent["steps"] == steps, f"{optimizer} stopped after {result.spent['steps']} steps"

        return cpu_seconds(calls)

    def by_hand(steps: int) -> float:
        def calls() -> None:
            opt = OPTIMIZERS.create(optimizer)
            opt.init(problem, 0)
            for step in range(steps):
                opt.step(problem, problem.draw(step, 0))
            problem.metrics(opt.best())

        return cpu_seconds(calls)

    differences = []
    for _ in range(repeats):
        per_run = (through_run(long) - through_run(short)) / (long - short)
        per_hand = (by_hand(long) - by_hand(short)) / (long - short)
        differences.append((per_run - per_hand) * 1e3)
    return statistics.median(differences)


def lines(args: argparse.Namespace) -> Iterator[str]:
    device = resolve_device(args.device)
    yield f"device: {device_name(device)}; torch {torch.__version__}; repeats {args.repeats}"
    with ExitStack() as stack:
        mnist = args.mnist or write_random_mnist(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        for threads in args.threads:
            torch.set_num_threads(threads)
            yield ""
            yield f"threads: {threads}. Per-sample throughput over inference's (evaluate | whole generation)"
            yield ("| block | P | B | inference: M samples/s (rows per call) | "
                   + " | ".join(f"{m}: evaluate, generation" for m in METHODS) + " |")
            yield "|---|---:|---:|---:|" + "---:|" * len(METHODS)
            seen = set()
            for row in ROWS:
                if args.only and args.only not in row.label:
                    continue
                population = SMALL.get(row.label, row.population) if args.small else row.population
                if args.small and (row.label, population) in seen:
                    continue
                seen.add((row.label, population))
                settings = {**(BLOCK if row.problem == "noprop-block" else {}), **row.settings}
                if settings["dataset"] == "mnist":
                    settings["data_root"] = str(mnist)
                yield from row_lines(row, settings, population, device, args.repeats)
    if args.no_loop:
        return
    torch.set_num_threads(min(args.threads))
    yield ""
    yield f"run loop: milliseconds per step that run() adds to the calls it makes ({torch.get_num_threads()} thread)"
    for problem_name, settings in LOOP_ROWS:
        for optimizer in LOOP_OPTIMIZERS:
            overhead = loop_overhead(problem_name, settings, optimizer, max(3, args.repeats // 2))
            yield f"- {optimizer} on {problem_name}({', '.join(f'{k}={v}' for k, v in settings.items())}): {overhead:.4f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optsuite.benchmarks.es_generation", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads, each in turn")
    parser.add_argument("--repeats", type=int, default=7, help="timing samples per method")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mnist", type=Path, help="a folder with MNIST's IDX files (default: random pixels)")
    parser.add_argument("--small", action="store_true", help="smaller populations, for a quick look")
    parser.add_argument("--only", help="only the rows whose label holds this text (e.g. 'H = 16')")
    parser.add_argument("--no-loop", action="store_true", help="leave out the run loop's cost")
    return print_lines(lines(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
