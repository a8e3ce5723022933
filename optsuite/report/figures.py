"""Comparison figures (matplotlib, Agg), each saved as PNG and SVG.

- anytime: best loss so far against sample-forwards and against seconds; median line
  and 25-75% band over seeds, each run read up to where it stopped.
- ecdf: COCO-style empirical distribution of (run, target) pairs reached against
  sample-forwards, with the targets of :mod:`optsuite.reach` (``ECDF_PRECISIONS``).

An optimizer family (``gd``, ``cma``, ...) has one colour, its entries lighter shades of it
(:func:`colours`); each budget of a store has a line style (:func:`budget_styles`). Legends sit
outside the axes, below them (:func:`outside_legend`), titled with what
the lines show, so no line is hidden under one; the axes and
legends carry SVG ids (``plot-area-N``, ``legend-N``) that the browser test measures. Lines that
coincide (methods that reach no target) are drawn in dashes that take turns (:func:`shared_dashes`),
so each stays visible. Every figure has a caption function
(``*_caption``) saying what it shows, for the report.
NoProp's own figures are in :mod:`optsuite.report.noprop_figures`.
"""
from __future__ import annotations

import re
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "optsuite"})  # small, reproducible SVG
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from .anytime import COSTS, cost_to_reach, value_until_end  # noqa: E402
from .reach import ECDF_PRECISIONS, Reference  # noqa: E402
from .results import Results, slug, trace_loss  # noqa: E402

GRID_POINTS = 200
MATH = "mathtext"  # the gid of a text meant as mathtext: every other text is drawn as written (:func:`as_written`)
COST_UNITS = {"sample_forwards": "sample-forwards (samples through the model)", "seconds": "wall-clock seconds"}


BUDGET_STYLES = ("-", "--", ":", "-.")


def colours(entries: list[str], families: dict[str, str] | None = None) -> dict[str, tuple]:
    """A fixed colour per optimizer family (``families``: entry -> family, default each entry its own), the
    same in every figure of a report; a family's second, third, ... entries are lighter shades of its colour."""
    families = families or {}
    family = lambda e: families.get(e, e)
    names = sorted({family(e) for e in entries})
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    labels = {e: e.split(" @ ")[0] for e in entries}  # one label at several budgets: one colour, its styles differ
    shades: dict[str, list[str]] = {}
    for e in sorted(entries):
        shades.setdefault(family(e), [])
        if labels[e] not in shades[family(e)]:
            shades[family(e)].append(labels[e])
    out = {}
    for e in entries:
        base = np.array(cmap(names.index(family(e)) % cmap.N))
        lighter = min(0.6, 0.3 * shades[family(e)].index(labels[e]))
        out[e] = tuple(base + (1 - base) * lighter * np.array([1, 1, 1, 0]))
    return out


def families(results: Results) -> dict[str, str]:
    """Entry -> its optimizer family (the registered optimizer's name)."""
    cells = results.cells
    return dict(zip(cells["entry"], cells["optimizer"])) if "optimizer" in cells else {}


def budget_styles(results: Results) -> dict[str, str]:
    """Entry -> the line style of its budget (the store's budgets in order of their values)."""
    if "budget" not in results.cells:
        return {}
    def values(budget) -> list[float]:
        try:
            return [float(v) for v in json.loads(budget).values()]
        except (TypeError, ValueError, AttributeError):
            return []
    ordered = sorted(results.cells["budget"].dropna().unique(), key=lambda b: (values(b), str(b)))
    return {e: BUDGET_STYLES[ordered.index(b) % len(BUDGET_STYLES)]
            for e, b in zip(results.cells["entry"], results.cells["budget"]) if b in ordered}


def outside_legend(fig, ax, note: str, **kwargs):
    """``ax``'s lines in a legend of the figure titled ``note`` (what the lines show), below its axes (never over a plotting area), drawn solid but
    for the budgets' styles."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    columns = 1 if max(map(len, labels)) > 60 or fig.get_figwidth() < 9 else 2
    legend = fig.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize=8, title=note,
                        title_fontsize=8, **kwargs)
    for handle, line in zip(handles, legend.get_lines()):  # dashes that take turns show nothing in a short handle
        line.set_linestyle(getattr(handle, "legend_style", handle.get_linestyle()))
    return legend


def literal(text: str) -> str:
    """``text`` with its dollar signs escaped, so that matplotlib draws it as written instead of as mathtext."""
    return re.sub(r"(?<!\\)\$", r"\\$", text)


def as_written(fig) -> None:
    """Escape the dollar signs of every text of ``fig`` (titles, legends, annotations) but those whose gid is
    :data:`MATH`: a ``$`` in a problem key or an optimizer label is drawn, not parsed as mathtext. Tick labels are
    drawn by the axes' formatters: those given as text must pass through :func:`literal` themselves."""
    for text in fig.findobj(Text):
        if text.get_gid() != MATH:
            text.set_text(literal(text.get_text()))


def save(fig, folder: Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG, its axes and legends named in the SVG (``plot-area-N``, ``legend-N``)."""
    as_written(fig)
    for i, ax in enumerate(fig.axes):
        ax.patch.set_gid(f"plot-area-{i}")
    for i, legend in enumerate([*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]):
        legend.set_gid(f"legend-{i}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in ("png", "svg")]
    for path in paths:
        metadata = {"Date": None} if path.suffix == ".svg" else None  # same store, same bytes
        fig.savefig(path, dpi=120, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return paths


def shared_dashes(index: int, count: int, dash: float = 4.0):
    """The line style of the ``index``-th of ``count`` lines drawn on top of each other: dashes that take turns."""
    return "-" if count < 2 else (index * dash, (dash, dash * (count - 1)))


def step_lines(ax, grid: np.ndarray, curves: dict[str, np.ndarray], palette: dict, labels: dict[str, str],
               styles: dict[str, str] | None = None) -> None:
    """Fractions ``[G]`` on ``grid [G]`` as step lines, one per entry in its ``styles`` (default solid); the entries
    at 0 throughout share the line at 0 in dashes that take turns, drawn on top, so none hides another."""
    flat = [e for e, y in curves.items() if not np.any(np.asarray(y) > 0)]
    styles = styles or {}
    for entry, y in curves.items():
        zero = entry in flat
        line = ax.step(grid, y, where="post", color=palette[entry], label=labels[entry], zorder=3 if zero else 2,
                       linestyle=shared_dashes(flat.index(entry), len(flat)) if zero else styles.get(entry, "-"),
                       linewidth=2 if zero else 1.5)[0]
        line.legend_style = styles.get(entry, "-")  # what its legend handle shows
    ax.set_ylim(-0.05, 1.02)


def quantile_band(runs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[R, G] -> 3 x [G]``: 25%, 50%, 75% over runs, NaN where fewer than half the runs have a value."""
    enough = np.isfinite(runs).sum(0) * 2 >= len(runs)
    safe = np.where(np.isfinite(runs), runs, np.nan)
    q = np.full((3, runs.shape[1]), np.nan)
    if enough.any():
        q[:, enough] = np.nanquantile(safe[:, enough], [0.25, 0.5, 0.75], axis=0)
    return q[0], q[1], q[2]


def median_line(ax, grid: np.ndarray, traces: list[pd.DataFrame], cost: str, column: str, colour, label: str,
                linestyle: str = "-") -> None:
    """The runs ``traces`` read on ``grid [G]`` up to their ends: the median line, its 25-75% band, and a dot at
    each run's last row (where it stopped; a run that spent all its cost at once is only that dot)."""
    runs = np.array([value_until_end(t, cost, grid, column) for t in traces]).reshape(len(traces), len(grid))
    low, mid, high = quantile_band(runs)
    ax.plot(grid, mid, color=colour, label=label, linestyle=linestyle)
    ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)
    ends = np.array([(t[cost].iloc[-1], t[column].iloc[-1]) for t in traces if len(t)], dtype=float).reshape(-1, 2)
    if len(ends):
        ax.plot(ends[:, 0], ends[:, 1], "o", color=colour, markersize=3, alpha=0.8, clip_on=False)
    ax.set_xlim(grid[0], grid[-1])


def log_grid(traces: list[pd.DataFrame], cost: str, margin: float = 1.0) -> np.ndarray:
    """``[G]``: ``GRID_POINTS`` log-spaced costs from the smallest positive trace cost / ``margin`` to the largest,
    and every run's last cost (so a run's last step is drawn where it happened)."""
    spent = np.concatenate([t[cost].to_numpy(dtype=float) for t in traces if len(t)] + [np.array([])])
    positive = spent[spent > 0] if (spent > 0).any() else np.array([1.0])
    ends = [float(t[cost].iloc[-1]) for t in traces if len(t) and t[cost].iloc[-1] > 0]
    return np.union1d(np.geomspace(positive.min() / margin, max(positive.max(), positive.min() * 10), GRID_POINTS), ends)


def anytime_panel(ax, results: Results, problem: pd.DataFrame, cost: str, palette: dict) -> None:
    traces = {c: results.trace(c) for c in problem["cell_id"]}
    grid = log_grid(list(traces.values()), cost)
    styles = budget_styles(results)
    positive = True
    for entry, group in problem.groupby("entry", sort=True):
        runs = [traces[c] for c in group["cell_id"]]
        losses = np.concatenate([t["best_loss"].to_numpy(dtype=float) for t in runs] + [np.array([])])
        positive &= bool(np.all(losses[np.isfinite(losses)] > 0))
        median_line(ax, grid, runs, cost, "best_loss", palette[entry], f"{entry} (n={len(group)})",
                    styles.get(entry, "-"))
    ax.set_xscale("log")
    ax.set_yscale("log" if positive and any(len(t) for t in traces.values()) else "linear")
    ax.set_xlabel(COST_UNITS[cost])
    ax.set_ylabel(f"best {trace_loss(problem)} so far")
    ax.grid(True, which="major", alpha=0.3)


def anytime_caption(results: Results, key: str) -> str:
    return (f"{key}: the best {trace_loss(results.cells_of(key))} so far against sample-forwards (left) and "
            "wall-clock seconds (right); line: median over seeds, band: 25-75% of seeds, each run read up to where "
            "it stopped (a dot: each run's last row; the line ends where fewer than half the runs are still going)")


def anytime_figure(results: Results, key: str, palette: dict, folder: Path) -> list[Path]:
    """Best loss against sample-forwards and seconds for one problem."""
    problem = results.cells_of(key)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for ax, cost in zip(axes, ("sample_forwards", "seconds")):
        anytime_panel(ax, results, problem, cost, palette)
        ax.set_title(f"best loss vs {COSTS[cost]}")
    fig.suptitle(key)
    outside_legend(fig, axes[0], "line: median over seeds; band: 25-75% of seeds (shown where at least half the runs "
                   "have started and not yet stopped); dots: each run's last row")
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
    step_lines(ax, grid, {e: (h[None, :] <= grid[:, None]).mean(1) for e, h in hits.items()}, palette,
               {e: f"{e} ({np.isfinite(h).mean():.0%})" for e, h in hits.items()}, budget_styles(results))
    ax.set_xscale("log")
    ax.set_ylabel("fraction of (run, target) pairs reached")
    ax.set_title(f"{key}: ECDF of {len(targets)} targets")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(f"{COST_UNITS['sample_forwards']}\ntargets: reference + $10^{{-0.2}}$ ... $10^{{-6}}$ x (start - "
                  f"reference); reference {ref.loss:.4g} ({literal(ref.source)}), start {ref.start:.4g}", fontsize=8)
    ax.xaxis.label.set_gid(MATH)
    outside_legend(fig, ax, "optimizer (share of the pairs reached by the end)")
    return save(fig, folder, f"ecdf-{slug(key)}")


def ecdf_caption(key: str, ref: Reference) -> str:
    return (f"{key}: the fraction of (run, target) pairs reached within each sample-forward budget, over "
            f"{len(ECDF_PRECISIONS)} targets from reference + 10^-0.2 to 10^-6 x (start - reference), reference "
            f"{ref.loss:.4g} ({ref.source}), start {ref.start:.4g}; the legend gives the share reached by the end; "
            "methods that reach no target share the line at 0 in alternating dashes")


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
    styles = budget_styles(results)
    for ax, cost in zip(axes, ("sample_forwards", "seconds")):
        grid = log_grid(list(traces.values()), cost)
        for entry, group in problem.groupby("entry", sort=True):
            median_line(ax, grid, [traces[c] for c in group["cell_id"]], cost, "test_accuracy", palette[entry],
                        f"{entry} (n={len(group)})", styles.get(entry, "-"))
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel(COST_UNITS[cost])
        ax.set_ylabel("test accuracy")
        ax.set_title(f"test accuracy vs total {COSTS[cost]}")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(key)
    outside_legend(fig, axes[0], "accuracy of the parameters kept at 8 log-spaced fractions of each run's budget (a "
                   "network trained part by part: assembled from every part at the same fraction)\nline: median over "
                   "seeds; band: 25-75%")
    return save(fig, folder, f"accuracy-{slug(key)}")


def accuracy_caption(key: str) -> str:
    return (f"{key}: test accuracy against the run's total sample-forwards (left) and seconds (right), at 8 "
            "log-spaced fractions of each run's budget; line: median over seeds, band: 25-75%")
