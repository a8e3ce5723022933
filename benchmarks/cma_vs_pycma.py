"""torch-cma against pycma: median evaluations to reach loss targets on sphere, ellipsoid, Rosenbrock.

    .venv/bin/python -m optsuite.benchmarks.cma_vs_pycma --out reports/cma_vs_pycma.md

Both start from each problem's standard start with sigma0 = 0.5 and default
population; full and separable (diagonal) variants are paired, and torch-cma full with a
Cholesky factor (``factor=cholesky``) is paired with pycma full. A run stops at the
smallest target, its own stop criteria or 10000 * dim evaluations; inf: the median
run missed the target. Evaluations count whole generations. A ratio (ours / pycma)
within 1.5 is the acceptance bar.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from optsuite.benchmarks import command_line
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.targets import run_to_targets

# variant -> torch-cma's settings; pycma takes the same ``separable``
PAIRS = {"full": {"separable": False}, "separable": {"separable": True},
         "cholesky": {"separable": False, "factor": "cholesky"}}
PROBLEM_NAMES = ("sphere", "ellipsoid", "rosenbrock")


def median_hits(problem_name: str, dim: int, optimizer: str, hyper: dict, seeds: int,
                targets: list[float]) -> list[float]:
    """Median over seeds of the evaluations to each target ``[targets]`` (inf when most runs miss)."""
    per_seed = []
    for seed in range(seeds):
        problem = PROBLEMS.create(problem_name, dim=dim)
        outcome = run_to_targets(problem, OPTIMIZERS.create(optimizer, **hyper), seed, targets, 10000 * dim)
        per_seed.append(outcome.hits)
    return [statistics.median(column) for column in zip(*per_seed)]


def compare(problem_name: str, dim: int, variant: str, seeds: int, targets: list[float]) -> list[dict]:
    """One row per target: pycma's and torch-cma's median evaluations and their ratio."""
    hyper = PAIRS[variant]
    ref = median_hits(problem_name, dim, "cma", {"separable": hyper["separable"]}, seeds, targets)
    ours = median_hits(problem_name, dim, "torch-cma", hyper, seeds, targets)
    return [{"problem": problem_name, "dim": dim, "variant": variant, "target": t, "pycma": r, "torch-cma": o,
             "ratio": o / r if math.isfinite(r) and math.isfinite(o) else math.nan}
            for t, r, o in zip(targets, ref, ours)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--seeds", type=int, default=11)
    parser.add_argument("--targets", type=float, nargs="+", default=[1e-3, 1e-8])
    parser.add_argument("--variants", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--out", type=Path, help="also write the table and the command here (markdown)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    lines = ["| problem | dim | variant | target | pycma | torch-cma | ratio |", "|---|---|---|---|---|---|---|"]
    print("\n".join(lines))
    for name in PROBLEM_NAMES:
        for dim in args.dims:
            for variant in args.variants:
                for row in compare(name, dim, variant, args.seeds, args.targets):
                    lines.append(f"| {row['problem']} | {row['dim']} | {row['variant']} | {row['target']:.0e} | "
                                 f"{row['pycma']:.0f} | {row['torch-cma']:.0f} | {row['ratio']:.2f} |")
                    print(lines[-1], flush=True)
    lines += ["", f"median over seeds 0..{args.seeds - 1}; {time.perf_counter() - started:.0f} s wall, one thread"]
    print(lines[-1])
    if args.out:
        command = command_line(__spec__.name)
        header = ["# torch-cma against pycma", "", __doc__.split("\n\n", 2)[2].strip(), "", "```bash", command, "```", ""]
        args.out.write_text("\n".join(header + lines) + "\n")


if __name__ == "__main__":
    main()
