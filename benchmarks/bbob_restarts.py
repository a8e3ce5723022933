"""IPOP/BIPOP restarts on BBOB's multimodal functions: our wrapper against pycma's own ``fmin2(..., bipop=True)``.

    .venv/bin/python -m optsuite.benchmarks.bbob_restarts --out reports/bbob_restarts.md

One run per instance (seed = instance); a run stops at the final target 1e-8 or at its
budget of ``--budget-per-dim * dim`` evaluations (restarts continue until then, or
until the ninth large restart ends). ERT and the table layout are those of
:mod:`optsuite.benchmarks.bbob_ert`. ``fmin2-bipop`` is pycma's restart loop itself:
``cma.fmin2(None, x0, 2, options, parallel_objective=..., restarts=9, bipop=True)``
with x0 a callable returning the start points our restarts use (U(-4, 4)^n, run k from
seed ``derive_seed(instance, "restart", k)``, run 0 from the instance itself) and
the default options apart from silence, ``ftarget``, ``maxfevals`` and
``eval_final_mean=False`` (so it, like ours, evaluates only what it samples).
"""
from __future__ import annotations

import argparse
import itertools
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import cma
import numpy as np
import torch
from joblib import Parallel, delayed

from optsuite.benchmarks.bbob_ert import TARGETS, table
from optsuite.benchmarks import command_line
from optsuite.crn import derive_seed
from optsuite.optimizers.cma import pycma_seed
from optsuite.registry import PROBLEMS
from optsuite.report.ert import expected_running_time
from optsuite.targets import TargetRun, evaluations_to_targets, run_named_to_targets

FMIN2 = "fmin2-bipop"
# label -> (registered name, hyperparameters); sigma0 = 2 is the usual start for the domain [-5, 5]^n
SPECS = {
    "torch-cma": ("torch-cma", {"sigma0": 2.0}),
    "torch-cma-ipop": ("torch-cma", {"sigma0": 2.0, "restarts": "ipop"}),
    "torch-cma-bipop": ("torch-cma", {"sigma0": 2.0, "restarts": "bipop"}),
    "pycma-bipop": ("cma", {"sigma0": 2.0, "restarts": "bipop"}),
}
LABELS = [*SPECS, FMIN2]


def fmin2_to_targets(function: int, dim: int, instance: int, targets: list[float], max_evaluations: int) -> TargetRun:
    """pycma's BIPOP on f``function`` (loss f - f_opt), read against ``targets`` like our runs: whole generations."""
    torch.set_num_threads(1)
    problem = PROBLEMS.create("bbob", function=function, dim=dim, instance=instance)
    starts = (problem.initial(instance if k == 0 else derive_seed(instance, "restart", k)).numpy()
              for k in itertools.count())
    trace: list[dict[str, float]] = []

    def population_losses(points: list) -> list[float]:
        losses = problem.evaluate(torch.as_tensor(np.array(points)), None).tolist()
        best = min([*losses, *(r["best_loss"] for r in trace[-1:])])
        trace.append({"evaluations": (trace[-1]["evaluations"] if trace else 0) + len(points), "best_loss": best})
        return losses

    options = {"seed": pycma_seed(instance), "verbose": -9, "verb_log": 0, "verb_disp": 0, "ftarget": min(targets),
               "maxfevals": max_evaluations, "eval_final_mean": False}
    cma.fmin2(None, lambda: next(starts), 2.0, options, parallel_objective=population_losses,
              restarts=9, bipop=True)
    return TargetRun(evaluations_to_targets(trace, targets), trace[-1]["evaluations"], "ok")


def job(label: str, function: int, dim: int, instance: int, budget: int) -> TargetRun:
    """One run of ``label`` on f``function`` in ``dim``, instance (and seed) ``instance``."""
    torch.set_num_threads(1)
    if label == FMIN2:
        return fmin2_to_targets(function, dim, instance, TARGETS, budget)
    name, hyper = SPECS[label]
    problem_args = {"function": function, "dim": dim, "instance": instance}
    return run_named_to_targets("bbob", problem_args, name, hyper, instance, TARGETS, budget)


def ratio_summary(cells: list[dict], labels: list[str], functions: list[int], dims: list[int]) -> list[str]:
    """Per label: targets reached (f, dim, target triples with a finite ERT) and the median ERT ratio to fmin2."""
    lines = ["| optimizer | (f, dim, target) reached | median ERT / fmin2-bipop where both reach | range |",
             "|---|---|---|---|"]
    for label in labels:
        reached, ratios = 0, []
        for function in functions:
            for dim in dims:
                for k in range(len(TARGETS)):
                    ert = {l: ert_of(cells, l, function, dim, k) for l in (label, FMIN2)}
                    reached += math.isfinite(ert[label])
                    if math.isfinite(ert[label]) and math.isfinite(ert[FMIN2]):
                        ratios.append(ert[label] / ert[FMIN2])
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
        median = f"{statistics.median(ratios):.2f} ({len(ratios)})" if ratios else "-"
        lines.append(f"| {label} | {reached} of {len(functions) * len(dims) * len(TARGETS)} | {median} | {spread} |")
    return lines


def ert_of(cells: list[dict], label: str, function: int, dim: int, k: int) -> float:
    runs = [c for c in cells if (c["label"], c["function"], c["dim"]) == (label, function, dim)]
    return expected_running_time([r["hits"][k] for r in runs], [r["spent"] for r in runs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, nargs="+", default=[15, 16, 17, 18, 19])
    parser.add_argument("--dims", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--instances", type=int, default=10, help="instances 1..N, one run each")
    parser.add_argument("--optimizers", nargs="+", default=LABELS, choices=LABELS)
    parser.add_argument("--budget-per-dim", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the tables and the command here (markdown)")
    args = parser.parse_args()
    started = time.perf_counter()
    keys = [(l, f, d, i) for d in args.dims for f in args.functions for l in args.optimizers
            for i in range(1, args.instances + 1)]
    outcomes = Parallel(n_jobs=args.jobs)(delayed(job)(*k, args.budget_per_dim * k[2]) for k in keys)
    cells = [{"label": l, "function": f, "dim": d, "hits": o.hits, "spent": o.spent, "status": o.status}
             for (l, f, d, _), o in zip(keys, outcomes)]
    seconds = time.perf_counter() - started
    failed = sum(c["status"] != "ok" for c in cells)
    lines = ratio_summary(cells, args.optimizers, args.functions, args.dims) if FMIN2 in args.optimizers else []
    lines += ["", *table(cells, args.optimizers, args.functions, args.dims)]
    lines += ["", f"{len(cells)} runs, {failed} not ok, {seconds:.0f} s wall on "
              f"{platform.processor() or platform.machine()} ({args.jobs} job(s)); budget "
              f"{args.budget_per_dim} x dim evaluations per run"]
    print("\n".join(lines))
    if args.out:
        args.out.write_text(report(command_line(__spec__.name),
                                   lines))


def report(command: str, lines: list[str]) -> str:
    return "\n".join([
        "# BBOB f15-f19: IPOP/BIPOP restarts against pycma's own BIPOP",
        "",
        "ERT (evaluations) to reach f - f_opt <= target on COCO's bbob functions through cocoex; one run",
        "per instance (seed = instance). `torch-cma-ipop`, `torch-cma-bipop` and `pycma-bipop` are",
        "`restarts = \"ipop\"` / `\"bipop\"` (optsuite/optimizers/restarts.py) around torch-cma and around",
        "pycma's CMAEvolutionStrategy; `fmin2-bipop` is pycma's own restart loop, `cma.fmin2(..., restarts=9,",
        "bipop=True)`; `torch-cma` without restarts for reference. All start at sigma0 = 2 from U(-4, 4)^n",
        "with the default population. A run stops at 1e-8 or at its budget. `-`: no run reached the",
        "target; `(k/n)`: k of n runs did. Evaluations count whole generations.",
        "",
        "Regenerate (one core, `OMP_NUM_THREADS=1`):",
        "",
        "```bash",
        f"OMP_NUM_THREADS=1 {command}",
        "```",
        "",
        *lines,
        "",
    ])


if __name__ == "__main__":
    main()
