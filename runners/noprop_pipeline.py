"""Train a NoProp-DT network part by part: the T block problems and the head, each its own run.

No part sees another in training, so the T + 1 runs are independent (in parallel with
joblib where ``jobs > 1``). The trained parts are assembled into ``noprop-net`` whose
metrics give the network's test accuracy; the cost is the sum of the parts' ledgers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from joblib import Parallel, delayed

from optsuite.errors import UserError
from optsuite.budget import UNITS, Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

PART_SETTINGS = ("ridge", "readout_draws")  # settings of the block and head problems, not of the network
SUMMED = tuple(u for u in UNITS if u != "peak_memory_bytes")  # peak memory: the largest part's


@dataclass
class PipelineResult:
    status: str  # "ok", or the first failed part's status ("nan", "failed")
    metrics: dict[str, float]  # the assembled network's metrics (empty if a part failed)
    spent: dict[str, float]  # summed over parts (peak memory: the largest)
    parts: list[dict[str, Any]] = field(default_factory=list)  # one record per part

    @property
    def test_accuracy(self) -> float:
        return self.metrics.get("test_accuracy", math.nan)


def part_specs(settings: dict[str, Any], T: int, head_loss: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, problem name, problem settings) of blocks 1..T and the head."""
    specs = [(f"block {t}", "noprop-block", {**settings, "t": t}) for t in range(1, T + 1)]
    return specs + [("head", "noprop-head", {**settings, "loss": head_loss})]


def train_part(label: str, problem: str, settings: dict[str, Any], optimizer: str, hyper: dict[str, Any],
               budget: Budget | None, seed: int) -> tuple[dict[str, Any], torch.Tensor | None]:
    """One part's run: (record, trained parameters ``[dim_part]`` or None on failure)."""
    result = run(PROBLEMS.create(problem, **settings), OPTIMIZERS.create(optimizer, **hyper), budget, seed)
    record = {"part": label, "status": result.status, "stop": result.stop, "error": result.error or "",
              **{f"metric_{k}": v for k, v in result.metrics.items()}, **{f"spent_{k}": v for k, v in result.spent.items()}}
    return record, result.best


def total_cost(records: list[dict[str, Any]]) -> dict[str, float]:
    spent = {unit: sum(r.get(f"spent_{unit}", 0) for r in records) for unit in SUMMED}
    spent["peak_memory_bytes"] = max(r.get("spent_peak_memory_bytes", 0) for r in records)
    return spent


def train_noprop(settings: dict[str, Any], optimizer: str, hyper: dict[str, Any] | None = None,
                 budget: Budget | None = None, seed: int = 0, jobs: int = 1,
                 head_loss: str | None = None) -> PipelineResult:
    """Train every part of a NoProp-DT network with ``optimizer(**hyper)`` under ``budget`` each.

    ``settings``: noprop-net settings, plus ``ridge``/``readout_draws`` for the parts.
    ``head_loss``: default squared where the optimizer needs a linear readout (a
    closed-form head), else cross-entropy. Bad names or settings raise UserError
    before anything runs; a failed part is recorded and leaves the metrics empty.
    """
    hyper = hyper or {}
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UserError(f"jobs={jobs!r} must be a positive integer")
    net = PROBLEMS.create("noprop-net", **{k: v for k, v in settings.items() if k not in PART_SETTINGS})
    opt_cls = OPTIMIZERS.get(optimizer)
    head_loss = head_loss or ("squared" if "linear_readout" in opt_cls.requires else "cross-entropy")
    specs = part_specs(settings, net.T, head_loss)
    OPTIMIZERS.create(optimizer, **hyper)
    for label, problem, args in (specs[0], specs[-1]):  # every block shares block 1's capabilities
        reason = opt_cls.supports(PROBLEMS.create(problem, **args))
        if reason:
            raise UserError(f"{label}: {reason}")
    runs = Parallel(n_jobs=jobs)(delayed(train_part)(*spec, optimizer, hyper, budget, seed) for spec in specs)
    records = [r for r, _ in runs]
    failed = [r for r in records if r["status"] != "ok"]
    metrics = {} if failed else net.metrics(net.assemble([best for _, best in runs[:-1]], runs[-1][1]))
    return PipelineResult(failed[0]["status"] if failed else "ok", metrics, total_cost(records), records)


def summary_lines(results: list[PipelineResult]) -> list[str]:
    """One line per seed (accuracy and total cost), one per part that did not finish ok, then the mean."""
    lines = []
    for seed, r in enumerate(results):
        s = r.spent
        lines.append(f"seed {seed}: {r.status}  test_accuracy {r.test_accuracy:.4f}  sample_forwards {s['sample_forwards']:,}"
                     f"  flops {s['flops']:.3g}  seconds {s['seconds']:.1f}  peak_memory_bytes {s['peak_memory_bytes']:,}")
        lines += [f"  {p['part']}: {p['status']} ({p['error']})" for p in r.parts if p["status"] != "ok"]
    accuracies = torch.tensor([r.test_accuracy for r in results], dtype=torch.float64)
    spread = f" ± {float(accuracies.std()):.4f}" if len(results) > 1 else ""
    lines.append(f"mean test_accuracy {float(accuracies.mean()):.4f}{spread} over {len(results)} seed(s)")
    return lines
