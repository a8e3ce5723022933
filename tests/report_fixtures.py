"""Constructed results for the report tests: cells and traces with known numbers."""
import json

import numpy as np
import pandas as pd

from optsuite.report.results import Results


def cell(problem, label, seed, status="ok", args=None, **metrics):
    """One cell row; ``metrics`` are given without the ``metric_`` prefix."""
    cell_id = f"{problem}-{json.dumps(args or {})}-{label}-{seed}"
    row = {"cell_id": cell_id, "problem": problem, "problem_args": json.dumps(args or {}, sort_keys=True),
           "optimizer": label.split("(")[0], "label": label, "hyper": "{}", "seed": seed,
           "budget": '{"evaluations": 100}', "status": status, "error": "" if status == "ok" else "boom",
           "spent_sample_forwards": 1000.0, "spent_seconds": 1.0}
    row.update({f"metric_{k}": v for k, v in metrics.items()})
    return row


def trace(cell_id, sample_forwards, best_loss, seconds_per_forward=1e-3):
    """Trace rows: cumulative costs ``[n]`` and best loss so far ``[n]``."""
    sf = np.asarray(sample_forwards, dtype=float)
    return [{"cell_id": cell_id, "step": i + 1, "steps": i + 1, "evaluations": i + 1, "sample_forwards": s,
             "flops": 10 * s, "seconds": s * seconds_per_forward, "loss": b, "best_loss": b}
            for i, (s, b) in enumerate(zip(sf, best_loss))]


def decaying(cell_id, rate, start=10.0, steps=20, per_step=50.0):
    """A run whose best loss falls geometrically: ``start * rate ** k``."""
    sf = per_step * np.arange(1, steps + 1)
    return trace(cell_id, sf, start * rate ** np.arange(steps))


def paired_results(seeds=8):
    """Problem "toy": gd; "better" 0.1 lower test loss with noise; "same" identical to gd; "few" on 3 seeds."""
    rng = np.random.default_rng(0)
    base = 1.0 + rng.normal(0, 0.05, seeds)
    cells, traces = [], []
    for label, losses in [("gd", base), ("better", base - 0.1 - rng.uniform(0, 0.02, seeds)),
                          ("same", base), ("few", base[:3] - 0.5)]:
        for seed, loss in enumerate(losses):
            row = cell("toy", label, seed, test_loss=float(loss), train_loss=float(loss))
            cells.append(row)
            traces += decaying(row["cell_id"], {"gd": 0.8, "better": 0.6, "same": 0.8, "few": 0.5}[label])
    return Results(pd.DataFrame(cells), pd.DataFrame(traces))


def mixed_results():
    """Two problems with accuracy; one optimizer has a NaN run, a failed run without trace, and a timeout."""
    cells, traces = [], []
    for problem in ("alpha", "beta"):
        for label, rate, acc in [("gd", 0.8, 0.9), ("cma", 0.7, 0.92)]:
            for seed in range(4):
                status = {(1, "cma"): "nan", (2, "cma"): "failed", (3, "cma"): "timeout"}.get((seed, label), "ok")
                metrics = {} if status == "failed" else {"test_accuracy": acc + 0.01 * seed, "test_loss": 1 - acc,
                                                         "train_loss": 0.9 - acc}
                row = cell(problem, label, seed, status, **metrics)
                cells.append(row)
                if status != "failed":
                    traces += decaying(row["cell_id"], rate)
    return Results(pd.DataFrame(cells), pd.DataFrame(traces))


ORDER = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}  # test loss offsets: a best


def ranked_results(problems=5, seeds=6, swap=(), extra=True, network=False):
    """Problems p0.. with entries a-d (a best; ``swap``: problems where c and d trade places), and an entry "solo"
    that ran only p0; every run traced, decaying faster for the better entries; with ``network``, the problems
    are networks with a test accuracy (1 - test loss / 2) traced at every fifth step."""
    rng = np.random.default_rng(0)
    cells, traces = [], []
    for p in range(problems):
        for entry, offset in ORDER.items():
            if p in swap and entry in "cd":
                offset = ORDER["d" if entry == "c" else "c"]
            for seed in range(seeds):
                loss = 1.0 + offset + rng.normal(0, 0.01)
                row = cell(f"p{p}", entry, seed, test_loss=loss, train_loss=loss,
                           **({"test_accuracy": 1 - loss / 2} if network else {}))
                row["network"] = network
                cells.append(row)
                steps = decaying(row["cell_id"], 0.5 + offset)
                for i, step in enumerate(steps):
                    if network and i % 5 == 4:
                        step["test_accuracy"] = (1 - loss / 2) * (i + 1) / len(steps)
                traces += steps
        if extra and p == 0:
            for seed in range(seeds):
                cells.append(cell("p0", "solo", seed, test_loss=0.5, train_loss=0.5))
    return Results(pd.DataFrame(cells), pd.DataFrame(traces))


BUDGET_ACCURACY = {  # label -> test accuracy at the two budgets (None: not run at that budget)
    "gd(lr=tuned)": (0.96, 0.955),
    "snes(population=64,sigma0=tuned) + head: analytic": (0.93, 0.945),
    "openes(population=64,sigma0=tuned) + head: analytic": (0.92, 0.95),
    "nevergrad:TwoPointsDE(population=64) + head: analytic": (0.36, None),
}


def budget_results(seeds=6):
    """Networks at two budgets (sample_forwards 8e6 and 3.2e7): the entries of ``BUDGET_ACCURACY`` on
    "net" (seconds: 1 per 1e6 sample-forwards of budget), and "analytic" on network "rf" at both budgets,
    its cost 58,000 sample-forwards whatever the budget."""
    rng = np.random.default_rng(1)
    cells = []
    for index, budget in enumerate((8e6, 3.2e7)):
        runs = [(label, "net", acc[index], budget) for label, acc in BUDGET_ACCURACY.items()]
        for label, problem, accuracy, spent in runs + [("analytic", "rf", 0.98, 58_000.0)]:
            if accuracy is None:
                continue
            for seed in range(seeds):
                row = cell(problem, label, seed, test_accuracy=accuracy + rng.normal(0, 0.002),
                           test_loss=1 - accuracy, train_loss=1 - accuracy)
                row.update(budget=json.dumps({"sample_forwards": budget}), network=True, spent_sample_forwards=spent,
                           spent_seconds=spent / 1e6)
                cells.append(row)
    return Results(pd.DataFrame(cells), pd.DataFrame())
