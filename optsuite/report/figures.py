"""Comparison figures (matplotlib, Agg), each saved as PNG and SVG.

- anytime: best loss so far against sample-forwards and against seconds; median line
  and 25-75% band over seeds.
- ecdf: COCO-style empirical distribution of (run, target) pairs reached against
  sample-forwards, with the targets of :mod:`optsuite.reach` (``ECDF_PRECISIONS``).
NoProp's own figures are in :mod:`optsuite.report.noprop_figures`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "optsuite"})  # small, reproducible SVG
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .anytime import COSTS, cost_to_reach, value_within  # noqa: E402
from .reach import ECDF_PRECISIONS, Reference  # noqa: E402
from .results import Results, loss_metric, ok_runs, slug  # noqa: E402

GRID_POINTS = 200
COST_UNITS = {"sample_forwards": "sample-forwards (samples through the model)", "seconds": "wall-clock seconds"}


def colours(entries: list[str]) -> dict[str, tuple]:
    """A fixed colour per optimizer, the same in every figure of a report."""
    cmap = plt.get_cmap("tab10" if len(entries) <= 10 else "tab20")
    return {e: cmap(i % cmap.N) for i, e in enumerate(sorted(entries))}


def save(fig, folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in ("png", "svg")]
    for path in paths:
        metadata = {"Date": None} if path.suffix == ".svg" else None  # same store, same bytes
        fig.savefig(path, dpi=120, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return paths


def quantile_band(runs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[R, G] -> 3 x [G]``: 25%, 50%, 75% over runs, NaN where fewer than half the runs have a value."""
    enough = np.isfinite(runs).sum(0) * 2 >= len(runs)
    safe = np.where(np.isfinite(runs), runs, np.nan)
    q = np.full((3, runs.shape[1]), np.nan)
    if enough.any():
        q[:, enough] = np.nanquantile(safe[:, enough], [0.25, 0.5, 0.75], axis=0)
    return q[0], q[1], q[2]


def log_grid(traces: list[pd.DataFrame], cost: str, margin: float = 1.0) -> np.ndarray:
    """``[GRID_POINTS]`` log-spaced costs from the smallest positive trace cost / ``margin`` to the largest."""
    spent = np.concatenate([t[cost].to_numpy(dtype=float) for t in traces if len(t)] + [np.array([])])
    positive = spent[spent > 0] if (spent > 0).any() else np.array([1.0])
    return np.geomspace(positive.min() / margin, max(positive.max(), positive.min() * 10), GRID_POINTS)


def anytime_panel(ax, results: Results, problem: pd.DataFrame, cost: str, palette: dict) -> None:
    traces = {c: results.trace(c) for c in problem["cell_id"]}
    grid = log_grid(list(traces.values()), cost)
    positive = True
    for entry, group in problem.groupby("entry", sort=True):
        runs = np.array([value_within(traces[c], cost, grid) for c in group["cell_id"]])
        low, mid, high = quantile_band(runs)
        positive &= bool(np.all(runs[np.isfinite(runs)] > 0))
        ax.plot(grid, mid, color=palette[entry], label=f"{entry} (n={len(group)})")
        ax.fill_between(grid, low, high, color=palette[entry], alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log" if positive else "linear")
    ax.set_xlabel(COST_UNITS[cost])
    ax.set_ylabel("best minibatch loss so far")
    ax.grid(True, which="major", alpha=0.3)


def anytime_figure(results: Results, key: str, palette: dict, folder: Path) -> list[Path]:
    """Best loss against sample-forwards and seconds for one problem."""
    problem = results.cells_of(key)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for ax, cost in zip(axes, ("sample_forwards", "seconds")):
        anytime_panel(ax, results, problem, cost, palette)
        ax.set_title(f"best loss vs {COSTS[cost]}")
    fig.suptitle(key)
    axes[0].legend(fontsize=8)
    fig.supxlabel("line: median over seeds; band: 25-75% of seeds (shown where at least half the runs have started)",
                  fontsize=8)
    return save(fig, folder, f"anytime-{slug(key)}")


def ecdf_figure(results: Results, key: str, ref: Reference, palette: dict, folder: Path) -> list[Path]:
    """Fraction of (run, target) pairs reached within each sample-forward budget, per optimizer."""
    problem = results.cells_of(key)
    targets = ref.targets(ECDF_PRECISIONS)
    traces = {c: results.trace(c) for c in problem["cell_id"]}
    hits = {entry: np.concatenate([cost_to_reach(traces[c], "sample_forwards", targets) for c in group["cell_id"]])
            for entry, group in problem.groupby("entry", sort=True)}
    grid = log_grid(list(traces.values()), "sample_forwards", margin=1.5)
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    for entry, h in hits.items():
        reached = (h[None, :] <= grid[:, None]).mean(1)
        ax.step(grid, reached, where="post", color=palette[entry], label=f"{entry} ({np.isfinite(h).mean():.0%})")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(COST_UNITS["sample_forwards"])
    ax.set_ylabel("fraction of (run, target) pairs reached")
    ax.set_title(f"{key}: ECDF of {len(targets)} targets")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, title="optimizer (reached by the end)", title_fontsize=8)
    fig.supxlabel(f"targets: reference + $10^{{-0.2}}$ ... $10^{{-6}}$ x (start - reference); reference "
                  f"{ref.loss:.4g} ({ref.source}), start {ref.start:.4g}", fontsize=8)
    return save(fig, folder, f"ecdf-{slug(key)}")


def accuracy_traces(results: Results, problem: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each run's trace rows that record a test accuracy (a network's checkpoints), by cell id."""
    out = {}
    for cell_id in problem["cell_id"]:
        trace = results.trace(cell_id)
        out[cell_id] = trace.dropna(subset=["test_accuracy"]) if "test_accuracy" in trace else trace.iloc[:0]
    return out


def accuracy_figure(results: Results, key: str, palette: dict, folder: Path) -> list[Path] | None:
    """Test accuracy against sample-forwards and seconds for one problem whose runs trace it (networks, at the
    checkpoints of their budgets); None when no run does."""
    problem = results.cells_of(key)
    traces = accuracy_traces(results, problem)
    if not any(len(t) for t in traces.values()):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for ax, cost in zip(axes, ("sample_forwards", "seconds")):
        grid = log_grid(list(traces.values()), cost)
        for entry, group in problem.groupby("entry", sort=True):
            runs = np.array([value_within(traces[c], cost, grid, "test_accuracy") for c in group["cell_id"]])
            low, mid, high = quantile_band(runs)
            ax.plot(grid, mid, color=palette[entry], label=f"{entry} (n={len(group)})")
            ax.fill_between(grid, low, high, color=palette[entry], alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel(COST_UNITS[cost])
        ax.set_ylabel("test accuracy")
        ax.set_title(f"test accuracy vs total {COSTS[cost]}")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(key)
    axes[0].legend(fontsize=8)
    fig.supxlabel("accuracy of the parameters kept at 8 log-spaced fractions of each run's budget (a network trained "
                  "part by part: assembled from every part at the same fraction); line: median over seeds; band: 25-75%",
                  fontsize=8)
    return save(fig, folder, f"accuracy-{slug(key)}")
