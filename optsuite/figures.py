"""Comparison figures (matplotlib, Agg), each saved as PNG and SVG.

- anytime: best loss so far against sample-forwards and against seconds; median line
  and 25-75% band over seeds.
- ecdf: COCO-style empirical distribution of (run, target) pairs reached against
  sample-forwards, with the targets of :mod:`optsuite.reach` (``ECDF_PRECISIONS``).
- blocks: NoProp per-block training against whole networks (noprop-net, backprop-net).
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "optsuite"})  # small, reproducible SVG
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .anytime import COSTS, cost_to_reach, value_within  # noqa: E402
from .reach import ECDF_PRECISIONS, Reference  # noqa: E402
from .results import ACCURACY, Results, loss_metric, ok_runs, slug  # noqa: E402
from .stats import bootstrap_median  # noqa: E402
from .summary import interval  # noqa: E402

GRID_POINTS = 200
COST_UNITS = {"sample_forwards": "sample-forwards (samples through the model)", "seconds": "wall-clock seconds"}
NETWORKS = ("noprop-net", "backprop-net")


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


def args_of(problem_args: str) -> dict:
    """A cell's problem settings; {} where they are unreadable."""
    try:
        args = json.loads(problem_args)
    except (TypeError, ValueError):
        return {}
    return args if isinstance(args, dict) else {}


def dataset_of(problem_args: str) -> str:
    return str(args_of(problem_args).get("dataset", "digits"))  # the problems' default dataset


def block_settings(blocks: pd.DataFrame) -> str:
    """The blocks' settings other than ``t``: ``"T=3,block=random-features"`` (``;`` between several)."""
    shown = {family_of(a) for a in blocks["problem_args"]}
    return "; ".join(sorted(s or "defaults" for s in shown))


def block_index(problem_args: str) -> int:
    t = args_of(problem_args).get("t", 1)
    return t if isinstance(t, int) else 1


def blocks_figure(results: Results, palette: dict, folder: Path) -> tuple[list[Path], str]:
    """Per-block local losses beside whole-network accuracy and cost; paths and a note of what was drawn."""
    cells = results.cells
    blocks, nets = cells[cells["problem"] == "noprop-block"], cells[cells["problem"].isin(NETWORKS)]
    if blocks.empty or nets.empty:
        return [], "per-block versus whole-network figure skipped: the store needs noprop-block cells and " \
                    "noprop-net or backprop-net cells"
    paths = []
    for dataset in sorted(set(map(dataset_of, blocks["problem_args"]))):
        mine = lambda f: f[[dataset_of(a) == dataset for a in f["problem_args"]]]
        fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
        block_loss_panel(axes[0], mine(blocks), palette)
        network_accuracy_panel(axes[1], mine(nets), palette)
        cost_panel(axes[2], mine(blocks), mine(nets), palette)
        fig.suptitle(f"NoProp per-block training vs whole networks ({dataset}; blocks: "
                     f"{block_settings(mine(blocks))})")
        paths += save(fig, folder, f"blocks-vs-network-{slug(dataset)}")
    return paths, ""


def ok_median(frame: pd.DataFrame, column: str) -> float:
    return float(ok_runs(frame)[column].median()) if column in frame else np.nan


def family_of(problem_args: str) -> str:
    """A block's settings other than ``t``: blocks of one family make up one network."""
    return ",".join(f"{k}={v}" for k, v in sorted(args_of(problem_args).items()) if k != "t")


def family_label(family: str, blocks: pd.DataFrame) -> str:
    """The block family's name (``mlp``, ``random-features``), or all its settings where that is ambiguous."""
    name = {f: str(args_of(a).get("block", "mlp")) for f, a in zip(blocks["family"], blocks["problem_args"])}
    return name[family] if sum(n == name[family] for n in name.values()) == 1 else family


def block_loss_panel(ax, blocks: pd.DataFrame, palette: dict) -> None:
    """One slot per (family, t), a line per optimizer within each family."""
    metric = loss_metric(blocks)
    blocks = blocks.assign(t=[block_index(a) for a in blocks["problem_args"]],
                           family=[family_of(a) for a in blocks["problem_args"]])
    slots = sorted({(f, t) for f, t in zip(blocks["family"], blocks["t"])})
    for entry, group in blocks.groupby("entry", sort=True):
        for i, (family, part) in enumerate(group.groupby("family", sort=True)):
            ts = sorted(part["t"].unique())
            ax.plot([slots.index((family, t)) for t in ts],
                    [ok_median(part[part["t"] == t], metric.column) if metric else np.nan for t in ts],
                    marker="o", color=palette[entry], label=entry if i == 0 else None)
    ax.set_xticks(range(len(slots)), [f"{family_label(f, blocks)}\nt={t}" for f, t in slots])
    if metric and (ok_runs(blocks)[metric.column].dropna() > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("block family and index t (1 = nearest the noise)")
    ax.set_ylabel(f"final local {metric.title if metric else 'loss'} (median over seeds)")
    ax.set_title("per-block local loss")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def network_name(nets: pd.DataFrame, key: str) -> str:
    """The network's problem name, or its full key where one name has several settings."""
    name = nets.loc[nets["problem_key"] == key, "problem"].iloc[0]
    return name if nets.loc[nets["problem"] == name, "problem_key"].nunique() == 1 else key


def grouped_bars(ax, bars: list[tuple[str, str, float, list | None]], palette: dict) -> None:
    """``(group, entry, value, error or None)`` bars: one slot per group, one bar per entry, coloured by entry."""
    groups = list(dict.fromkeys(g for g, *_ in bars))
    entries = sorted({e for _, e, *_ in bars})
    width = 0.8 / len(entries)
    for group, entry, value, err in bars:
        x = groups.index(group) - 0.4 + width * (entries.index(entry) + 0.5)
        ax.bar(x, value, width, yerr=err, color=palette[entry], capsize=2)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)


def network_accuracy_panel(ax, nets: pd.DataFrame, palette: dict) -> None:
    bars = []
    for (key, entry), group in nets.groupby(["problem_key", "entry"], sort=True):
        ci = interval(group, ACCURACY, key) or bootstrap_median([])
        err = [[ci.median - ci.low], [ci.high - ci.median]] if np.isfinite(ci.low) else None
        bars.append((network_name(nets, key), entry, ci.median, err))
    grouped_bars(ax, bars, palette)
    ax.set_ylabel("test accuracy (median, 95% bootstrap interval)")
    ax.set_ylim(0, 1)
    ax.set_title("whole-network test accuracy (colours as in the legend)")
    ax.grid(True, axis="y", alpha=0.3)


def cost_panel(ax, blocks: pd.DataFrame, nets: pd.DataFrame, palette: dict) -> None:
    """Sample-forwards: each block family's blocks summed (each block's median) against each network's median."""
    column = "spent_sample_forwards"
    blocks = blocks.assign(family=[family_of(a) for a in blocks["problem_args"]])
    bars = [(f"{family_label(f, blocks)}\nblocks", e,
             sum(ok_median(g[g["problem_key"] == k], column) for k in g["problem_key"].unique()), None)
            for (f, e), g in blocks.groupby(["family", "entry"], sort=True)]
    bars += [(network_name(nets, k), e, ok_median(g, column), None)
             for (k, e), g in nets.groupby(["problem_key", "entry"], sort=True)]
    grouped_bars(ax, bars, palette)
    ax.set_yscale("log")
    ax.set_ylabel("sample-forwards (median; blocks summed over t)")
    ax.set_title("training cost")
    ax.grid(True, axis="y", alpha=0.3)
