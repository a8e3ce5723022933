"""Which choices make the closed-form NoProp-DT baseline good: noise draws, ridge, feature init, prediction.

A ``noprop-dt`` network of ``random-features`` blocks, every block's readout and the
squared-loss head solved exactly (the ``analytic`` optimizer's solve), on digits and
MNIST-1D, T = 10. Per seed s: data_seed = s (digits; MNIST-1D has an official split) and
feature_seed = s. Each part's normal equations are accumulated once per (seed, feature
init), with a copy after the first 4 of 10 noise draws (the draws are the same either
way), and solved for every ridge; the first seed's reproduction settings are also run
through the suite (``plan`` + ``run_parts``), which must give the same accuracies.

Ridge is the problem's: per sample, ``(G + ridge * n * I)`` with n the rows of all draws;
"0.1 per draw" (``G + 0.1 * draws * I``) is ridge 0.1 / n_train. Both accuracies are
reported: the head's (``test_accuracy``) and the chain's own, the class whose embedding
is nearest to z_T (``test_chain_accuracy``); the train loss is what a matrix's tuning
would pick by.

    .venv/bin/python -m optsuite.benchmarks.analytic_defaults --dataset digits --seeds 3
    .venv/bin/python -m optsuite.benchmarks.analytic_defaults --dataset mnist1d --seeds 3
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from optsuite.linalg import NormalEquations
from optsuite.parts import plan, run_parts
from optsuite.registry import PROBLEMS

DRAWS = (4, 10)
INITS = ("per-input", "fan-in")
RIDGES = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # per sample; "per draw" is added per dataset
PER_DRAW = 0.1  # the other implementation's ridge on the summed normal equations, per noise draw
REPRODUCTION = ("per-input", 4, 1e-2)  # reports/noprop_reproduction.md's settings
METRICS = ("test_accuracy", "test_chain_accuracy", "train_loss")


def snapshots(problem, draws: tuple[int, ...]):
    """(the part's readout, draws -> its normal equations on the first that many noise draws), in one pass."""
    readout, equations, out = problem.linear_readout(), NormalEquations(), {}
    for phi, y in readout.batches():
        equations.add(phi, y)
        done, rest = divmod(equations.n, problem.n_train)
        if rest == 0 and done in draws:
            out[done] = copy.deepcopy(equations)
    return readout, out


def network_settings(args: argparse.Namespace, seed: int, init: str) -> dict:
    return {"dataset": args.dataset, "T": args.T, "block": "random-features", "hidden": args.features,
            "data_seed": seed, "feature_seed": seed, "feature_init": init}


def measure(args: argparse.Namespace, seed: int, init: str, ridges: tuple[float, ...]) -> dict[tuple, dict]:
    """(init, draws, ridge) -> the assembled network's metrics, for one seed and feature init."""
    network = PROBLEMS.create("noprop-dt", **network_settings(args, seed, init), readout_draws=max(DRAWS))
    started = time.perf_counter()
    parts = {part.label: snapshots(built, DRAWS) for part, built, _ in plan(network, "analytic", {})}
    print(f"  {init}: normal equations {time.perf_counter() - started:.0f} s", flush=True)
    out = {}
    for draws in DRAWS:
        for ridge in ridges:
            bests = {label: readout.pack(eq[draws].solve(ridge)) for label, (readout, eq) in parts.items()}
            metrics = network.metrics(network.assemble(bests))
            out[init, draws, ridge] = {k: metrics[k] for k in METRICS}
    return out


def check_against_the_suite(args: argparse.Namespace, seed: int, shared: dict) -> None:
    """The reproduction settings through plan + run_parts (the analytic optimizer) must match the shared solve."""
    init, draws, ridge = REPRODUCTION
    network = PROBLEMS.create("noprop-dt", **network_settings(args, seed, init), readout_draws=draws, ridge=ridge)
    suite = run_parts(network, plan(network, "analytic", {}), None, seed).metrics
    gaps = [abs(suite[k] - shared[k]) for k in METRICS[:2]]
    print(f"  check: the analytic optimizer through run_parts differs by {max(gaps):.2g}", flush=True)
    if max(gaps) > 1e-9:
        raise SystemExit("the shared solves do not reproduce the analytic optimizer's network")


def cell(values: list[float], percent: bool = True) -> str:
    scale = 100 if percent else 1
    sd = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    mean = statistics.mean(values) * scale
    return f"{mean:.2f} ± {sd:.2f}" if percent else f"{mean:.4g} ± {sd:.2g}"


def table(rows: dict[str, tuple], results: list[dict], with_loss: bool = False) -> None:
    print("| settings | head test % | chain test % (nearest embedding) |" + (" train loss |" if with_loss else ""))
    print("|---|---|---|" + ("---|" if with_loss else ""))
    for label, key in rows.items():
        line = f"| {label} | " + " | ".join(cell([r[key][k] for r in results]) for k in METRICS[:2])
        print(line + (f" | {cell([r[key]['train_loss'] for r in results], False)} |" if with_loss else " |"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--T", type=int, default=10)
    parser.add_argument("--features", type=int, default=2048, help="random features per block")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_train = PROBLEMS.create("noprop-head", dataset=args.dataset).n_train
    per_draw = PER_DRAW / n_train
    ridges = tuple(sorted((*RIDGES, per_draw)))
    results = []
    for seed in range(args.seeds):
        print(f"seed {seed}", flush=True)
        result = {}
        for init in INITS:
            result.update(measure(args, seed, init, ridges))
        if seed == 0:
            check_against_the_suite(args, seed, result[REPRODUCTION])
        results.append(result)
    print(f"\n{args.dataset}, T = {args.T}, {args.features} features, {args.seeds} seeds (mean ± sd); "
          f"ridge per sample, 0.1 per draw = {per_draw:.3g}\n")
    table({"reproduction: 4 draws, ridge 0.01, per-input init": REPRODUCTION,
           "10 draws": ("per-input", 10, 1e-2),
           f"ridge 0.1 per draw ({per_draw:.3g})": ("per-input", 4, per_draw),
           "fan-in init": ("fan-in", 4, 1e-2),
           "all three": ("fan-in", 10, per_draw)}, results)
    print()
    table({f"{init}, {draws} draws, ridge {ridge:.3g}": (init, draws, ridge)
           for init in INITS for draws in DRAWS for ridge in ridges}, results, with_loss=True)


if __name__ == "__main__":
    main()
