"""NoProp's figure: per-block training against whole networks (noprop-net, backprop-net).

Three panels per dataset: each block's final local loss by optimizer, the whole
networks' test accuracy, and the training cost of a network's blocks summed against
the whole networks' (left out, and said so, where every bar would be the same). Every
bar is labelled with its optimizer and value. Drawn where the store has both
``noprop-block`` cells and ``noprop-net`` or ``backprop-net`` cells.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..keys import settings_of
from .figures import literal, plt, save
from .results import ACCURACY, Results, loss_metric, ok_runs, slug
from .stats import bootstrap_median
from .summary import interval
from .tables import format_number

NETWORKS = ("noprop-net", "backprop-net")
CAPTION = ("NoProp trained block by block against whole networks: each block's final local loss by optimizer (left), "
           "the whole networks' test accuracy, median with its 95% bootstrap interval (middle), and the sample-forwards "
           "of a network's blocks summed against the whole networks' (right, where they differ); every bar is labelled "
           "with its optimizer and value")
# the NoProp problems' defaults of the settings read here, for cells that leave them unset (a report reads stores
# and imports no problem; tests/test_layout.py checks these against the problems' own defaults)
DEFAULTS = {"dataset": "digits", "block": "mlp"}


def args_of(problem_args: str) -> dict:
    """A cell's problem settings; {} where they are unreadable."""
    return settings_of(problem_args) or {}


def dataset_of(problem_args: str) -> str:
    return str(args_of(problem_args).get("dataset", DEFAULTS["dataset"]))


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
        costs = cost_bars(mine(blocks), mine(nets))
        spent = {float(v) for *_, v, _ in costs if np.isfinite(v)}
        fig, axes = plt.subplots(1, 3 if len(spent) > 1 else 2, figsize=(16, 5.5), layout="constrained")
        block_loss_panel(axes[0], mine(blocks), palette)
        network_accuracy_panel(axes[1], mine(nets), palette)
        if len(spent) > 1:
            cost_panel(axes[2], costs, palette)
        else:
            fig.supxlabel("training cost not drawn: every block family (blocks summed) and network spent "
                          f"{format_number(spent.pop()) if spent else '-'} sample-forwards (median)", fontsize=8)
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
    name = {f: str(args_of(a).get("block", DEFAULTS["block"])) for f, a in zip(blocks["family"], blocks["problem_args"])}
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
    ax.set_xticks(range(len(slots)), [literal(f"{family_label(f, blocks)}\nt={t}") for f, t in slots])
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
    """``(group, entry, value, error or None)`` bars: one slot per group, one bar per entry, coloured by entry,
    each labelled with its entry (below) and value (on top); the group names above the bars."""
    groups = list(dict.fromkeys(g for g, *_ in bars))
    entries = sorted({e for _, e, *_ in bars})
    width = 0.8 / len(entries)
    ticks = []
    for group, entry, value, err in bars:
        x = groups.index(group) - 0.4 + width * (entries.index(entry) + 0.5)
        drawn = ax.bar(x, value, width, yerr=err, color=palette[entry], capsize=2)
        ax.bar_label(drawn, [format_number(value)], fontsize=6, padding=2)
        ticks.append((x, entry))
    ax.set_xticks([x for x, _ in ticks], [literal(e) for _, e in ticks], rotation=90, fontsize=6)
    for i, group in enumerate(groups):
        ax.text(i, 1.01, group, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)


def network_accuracy_panel(ax, nets: pd.DataFrame, palette: dict) -> None:
    bars = []
    for (key, entry), group in nets.groupby(["problem_key", "entry"], sort=True):
        ci = interval(group, ACCURACY, key) or bootstrap_median([])
        err = [[ci.median - ci.low], [ci.high - ci.median]] if np.isfinite(ci.low) else None
        bars.append((network_name(nets, key), entry, ci.median, err))
    grouped_bars(ax, bars, palette)
    ax.set_ylabel("test accuracy (median, 95% bootstrap interval)")
    ax.set_ylim(0, 1.1)
    ax.set_title("whole-network test accuracy", pad=16)
    ax.grid(True, axis="y", alpha=0.3)


def cost_bars(blocks: pd.DataFrame, nets: pd.DataFrame) -> list[tuple[str, str, float, None]]:
    """Sample-forwards: each block family's blocks summed (each block's median) and each network's median."""
    column = "spent_sample_forwards"
    blocks = blocks.assign(family=[family_of(a) for a in blocks["problem_args"]])
    bars = [(f"{family_label(f, blocks)} blocks", e,
             sum(ok_median(g[g["problem_key"] == k], column) for k in g["problem_key"].unique()), None)
            for (f, e), g in blocks.groupby(["family", "entry"], sort=True)]
    return bars + [(network_name(nets, k), e, ok_median(g, column), None)
                   for (k, e), g in nets.groupby(["problem_key", "entry"], sort=True)]


def cost_panel(ax, bars: list[tuple[str, str, float, None]], palette: dict) -> None:
    grouped_bars(ax, bars, palette)
    ax.set_yscale("log")
    ax.set_ylabel("sample-forwards (median; blocks summed over t)")
    ax.set_title("training cost", pad=16)
    ax.grid(True, axis="y", alpha=0.3)
