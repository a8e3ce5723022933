"""Regenerate the NoProp-DT reproduction table of reports/noprop_reproduction.md.

Per seed s: data_seed = s (the split, where the dataset has no official one) and
feature_seed = s (the random projections), run seed s. Three methods:
- NoProp-DT, mlp blocks, every block and the head trained alone with AdamW;
- NoProp-DT, random-feature blocks, every readout and the (squared-loss) head solved
  in closed form by the analytic optimizer: no gradient anywhere;
- backprop-net of the same size, trained end to end with AdamW.

    .venv/bin/python -m optsuite.benchmarks.noprop_reproduction --dataset digits --seeds 3
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from optsuite.budget import Budget
from optsuite.parts import PartsResult, plan, run_parts
from optsuite.problems.noprop import READOUT_DRAWS
from optsuite.problems.noprop_blocks import FEATURE_INITS
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

ADAMW = {"algorithm": "adamw", "lr": 1e-3, "weight_decay": 1e-3}


def train_parts(settings: dict, optimizer: str, hyper: dict, steps_per_part: int | None, seed: int,
                jobs: int) -> PartsResult:
    """``noprop-dt(**settings)`` trained part by part, ``steps_per_part`` steps each (None: each solver's default)."""
    network = PROBLEMS.create("noprop-dt", **settings)
    planned = plan(network, optimizer, hyper)
    budget = Budget(steps=steps_per_part * len(planned)) if steps_per_part else None  # split equally
    return run_parts(network, planned, budget, seed, jobs)


def measure(args: argparse.Namespace, seed: int) -> dict[str, tuple[float, float, float]]:
    """method -> (test accuracy, sample-forwards, seconds) for one seed."""
    net = {"dataset": args.dataset, "T": args.T, "data_seed": seed}
    out = {}
    started = time.perf_counter()
    mlp = train_parts({**net, "hidden": args.hidden}, "gd", ADAMW, args.steps, seed, args.jobs)
    out["NoProp-DT mlp, AdamW per block"] = (mlp.metrics["test_accuracy"], mlp.spent["sample_forwards"],
                                             time.perf_counter() - started)
    started = time.perf_counter()
    rf = train_parts({**net, "block": "random-features", "hidden": args.features, "ridge": args.ridge,
                      "readout_draws": args.readout_draws, "feature_init": args.feature_init, "feature_seed": seed},
                     "analytic", {}, None, seed, args.jobs)
    out["NoProp-DT random features, closed form"] = (rf.metrics["test_accuracy"], rf.spent["sample_forwards"],
                                                     time.perf_counter() - started)
    started = time.perf_counter()
    bp = run(PROBLEMS.create("backprop-net", **net, hidden=args.hidden), OPTIMIZERS.create("gd", **ADAMW),
             Budget(steps=args.backprop_steps), seed)
    out["backprop-net (same size), AdamW"] = (bp.metrics["test_accuracy"], bp.spent["sample_forwards"], time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--T", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=128, help="mlp block width (backprop-net matches the size)")
    parser.add_argument("--steps", type=int, default=2000, help="AdamW steps per NoProp part")
    parser.add_argument("--backprop-steps", type=int, default=2000)
    parser.add_argument("--features", type=int, default=2048, help="random features per block")
    parser.add_argument("--ridge", type=float, default=0.0, help="per sample, for the random-feature parts")
    parser.add_argument("--readout-draws", type=int, default=READOUT_DRAWS, help="noise draws per training example")
    parser.add_argument("--feature-init", choices=FEATURE_INITS, default=FEATURE_INITS[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for seed in range(args.seeds):
        for method, value in measure(args, seed).items():
            rows.setdefault(method, []).append(value)
            print(f"seed {seed} {method}: test accuracy {value[0]:.4f}", flush=True)
    print(f"\n{args.dataset}, T = {args.T}, {args.seeds} seeds\n")
    print("| method | test accuracy % (mean ± sd) | per seed | sample-forwards | wall s (mean) |")
    print("|---|---|---|---|---|")
    for method, values in rows.items():
        acc = [100 * v[0] for v in values]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(f"| {method} | {statistics.mean(acc):.2f} ± {sd:.2f} | {', '.join(f'{a:.2f}' for a in acc)} "
              f"| {values[0][1]:,.0f} | {statistics.mean(v[2] for v in values):.0f} |")


if __name__ == "__main__":
    main()
