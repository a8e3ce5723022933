"""Population optimizers on BBOB functions: COCO's expected running time (ERT) to targets 1e-1..1e-8.

    .venv/bin/python -m optsuite.benchmarks.bbob_ert --out reports/bbob.md

One run per instance (seed = instance), no restarts; a run stops at the final target
1e-8, at its budget of ``--budget-per-dim * dim`` evaluations, or when the optimizer
stops itself. ERT = evaluations of all runs (up to the hit, else all spent) / runs
that hit; "-" when none did; "(k/n)" counts hits when not all runs hit. A run that
failed is not a miss: it is left out, "[k failed]" counts such runs and "failed" marks
a cell where every run did; each failure is listed with its error. Evaluations count
whole generations.
"""
from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

from joblib import Parallel, delayed

from optsuite.benchmarks import command_line
from optsuite.registry import OPTIMIZERS
from optsuite.report.ert import expected_running_time
from optsuite.targets import run_named_to_targets

TARGETS = [10.0**-k for k in range(1, 9)]
# label -> (registered name, hyperparameters); sigma0 = 2 is the usual start for the domain [-5, 5]^n
OPTIMIZER_SPECS = {
    "pycma": ("cma", {"sigma0": 2.0}),
    "torch-cma": ("torch-cma", {"sigma0": 2.0}),
    "pycma-sep": ("cma", {"sigma0": 2.0, "separable": True}),
    "torch-cma-sep": ("torch-cma", {"sigma0": 2.0, "separable": True}),
    "snes": ("snes", {"sigma0": 2.0}),
    "montecarlo": ("montecarlo", {"radius": 2.0}),
    "beam": ("beam", {"sigma0": 2.0}),
    "ngopt": ("nevergrad:NGOpt", {"sigma0": 2.0}),
}
# nevergrad's ask/tell costs about 0.8 ms per evaluation here: NGOpt runs in dimension 5 only
MAX_DIM = {"ngopt": 5}


def available(labels: list[str]) -> list[str]:
    """The labels whose optimizer is registered (beam and nevergrad may be absent)."""
    names = set(OPTIMIZERS.names())
    return [l for l in labels if OPTIMIZER_SPECS[l][0] in names
            or OPTIMIZER_SPECS[l][0].split(":")[0] + ":<name>" in names]


def job(label: str, function: int, dim: int, instance: int, budget: int) -> tuple:
    """Arguments of :func:`run_named_to_targets` for one run: ``label``'s optimizer on f``function``
    in ``dim``, instance (and seed) ``instance``."""
    name, hyper = OPTIMIZER_SPECS[label]
    if name.startswith("nevergrad:"):
        hyper = {**hyper, "ng_budget": budget}  # NGOpt picks its algorithm from the budget
    problem_args = {"function": function, "dim": dim, "instance": instance}
    return "bbob", problem_args, name, hyper, instance, TARGETS, budget


def format_ert(runs: list[dict], k: int) -> str:
    """ERT of target ``k`` over the runs that finished (status ok), with the hit count where not all hit;
    a run that failed (an error, a NaN) is no miss: it is left out and counted, "failed" when every run
    did; "n/a" without runs."""
    if not runs:
        return "n/a"
    finished = [r for r in runs if r["status"] == "ok"]
    failed = f"{len(runs) - len(finished)} failed" if len(finished) < len(runs) else ""
    if not finished:
        return "failed"
    hits = [r["hits"][k] for r in finished]
    ert = expected_running_time(hits, [r["spent"] for r in finished])
    successes = sum(math.isfinite(h) for h in hits)
    text = "-" if math.isinf(ert) else f"{ert:.3g}" + ("" if successes == len(finished) else f" ({successes}/{len(finished)})")
    return f"{text} [{failed}]" if failed else text


def table(cells: list[dict], labels: list[str], functions: list[int], dims: list[int]) -> list[str]:
    """Markdown rows: one per function, dimension and target; one column per optimizer."""
    lines = ["| f | dim | target | " + " | ".join(labels) + " |", "|---" * (3 + len(labels)) + "|"]
    for dim in dims:
        for function in functions:
            for k, target in enumerate(TARGETS):
                row = [f"f{function}", str(dim), f"{target:.0e}"]
                for label in labels:
                    runs = [c for c in cells if (c["label"], c["function"], c["dim"]) == (label, function, dim)]
                    row.append(format_ert(runs, k))
                lines.append("| " + " | ".join(row) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, nargs="+", default=[1, 2, 8, 10, 15])
    parser.add_argument("--dims", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--instances", type=int, default=5, help="instances 1..N, one run each")
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZER_SPECS), choices=list(OPTIMIZER_SPECS))
    parser.add_argument("--budget-per-dim", type=int, nargs="+", default=[2000, 1000],
                        help="evaluations per dimension, one value per --dims entry (or one for all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the table and the command here (markdown)")
    args = parser.parse_args()
    factors = args.budget_per_dim * len(args.dims) if len(args.budget_per_dim) == 1 else args.budget_per_dim
    budgets = dict(zip(args.dims, factors))
    labels = available(args.optimizers)
    started = time.perf_counter()
    keys = [(l, f, d, i) for d in args.dims for f in args.functions for l in labels
            for i in range(1, args.instances + 1) if d <= MAX_DIM.get(l, d)]
    outcomes = Parallel(n_jobs=args.jobs)(delayed(run_named_to_targets)(*job(*k, budgets[k[2]] * k[2])) for k in keys)
    cells = [{"label": l, "function": f, "dim": d, "instance": i, "hits": o.hits, "spent": o.spent, "status": o.status,
              "error": o.error} for (l, f, d, i), o in zip(keys, outcomes)]
    seconds = time.perf_counter() - started
    failed = [c for c in cells if c["status"] != "ok"]
    lines = table(cells, labels, args.functions, args.dims)
    lines += ["", f"{len(cells)} runs, {len(failed)} not ok, {seconds:.0f} s wall on {platform.processor() or platform.machine()}"
              f" ({args.jobs} job(s)); budgets: " + ", ".join(f"dim {d}: {b * d} evaluations" for d, b in budgets.items())]
    lines += [f"- {c['label']} f{c['function']} dim {c['dim']} instance {c['instance']}: {c['status']} ({c['error']})"
              for c in failed]
    print("\n".join(lines))
    if args.out:
        command = command_line(__spec__.name)
        args.out.write_text(report(command, lines))


def report(command: str, lines: list[str]) -> str:
    """The markdown report: what was run, how to rerun it, the table."""
    return "\n".join([
        "# BBOB: expected running time of the population optimizers",
        "",
        "ERT (evaluations) to reach f - f_opt <= target on COCO's bbob functions through cocoex;",
        "one run per instance 1-5 (seed = instance), no restarts; a run stops at 1e-8, at its budget",
        "(below the table) or when the optimizer stops itself. `-`: no run reached the target;",
        "`(k/n)`: k of n runs did. `failed`: every run failed (an error or NaN, not a miss);",
        "`[k failed]`: k runs failed and are left out (each is listed below the table with its error).",
        "pycma and pycma-sep are the references for torch-cma and",
        "torch-cma-sep (same sigma0 = 2, default population). Evaluations count whole generations.",
        "`n/a`: not run (NGOpt only in dimension 5: nevergrad's ask/tell costs about 0.8 ms per evaluation).",
        "",
        "Regenerate:",
        "",
        "```bash",
        command,
        "```",
        "",
        *lines,
        "",
    ])


if __name__ == "__main__":
    main()
