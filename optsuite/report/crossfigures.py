"""Figures across problems: the critical-difference diagram of the ranking and the performance profile.

- cd: mean ranks on one axis (1 = best, left), optimizers that the Nemenyi test cannot tell
  apart joined by a bar (scikit-posthocs' ``critical_difference_diagram``), the Friedman
  result in the title (:mod:`.crossproblem`);
- profile: Dolan and Moré's performance profile of the cost to reach each problem's target,
  over (problem, seed) instances (:mod:`.profile`).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import scikit_posthocs

from . import profile
from .crossproblem import Ranking
from .figures import outside_legend, plt, save, step_lines
from .tables import format_number


LABEL_WIDTH = 28  # characters per line of a label beside the critical-difference axis


def wrapped(label: str) -> str:
    """``label`` on lines of at most ``LABEL_WIDTH`` characters, broken after its commas and spaces."""
    return "\n".join(textwrap.wrap(label.replace(",", ", "), LABEL_WIDTH)).replace(", ", ",")


def cd_figure(r: Ranking, palette: dict, folder: Path) -> list[Path] | None:
    """The critical-difference diagram; None where the ranking has no test."""
    if r.pairwise is None:
        return None
    names = {e: wrapped(e) for e in r.mean_ranks.index}  # the labels sit beside the axis: narrow, it keeps its room
    lines = max(n.count("\n") + 1 for n in names.values())
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.2 * lines * len(names)), layout="constrained")
    scikit_posthocs.critical_difference_diagram(r.mean_ranks.rename(names), r.pairwise.rename(index=names, columns=names),
                                                ax=ax, color_palette={names[e]: palette[e] for e in names},
                                                label_props={"fontsize": 9})
    ax.set_title(f"mean rank over {len(r.ranks)} problems (1 = best), Friedman p = {format_number(r.p_value)};\n"
                 "a bar joins optimizers the Nemenyi test cannot tell apart", fontsize=9)
    return save(fig, folder, "critical-difference")


def cd_caption(r: Ranking) -> str:
    return (f"Critical-difference diagram: each optimizer's mean rank over the {len(r.ranks)} problems they all ran "
            f"(1 = best, on the left); a bar joins optimizers whose mean ranks the Nemenyi post-hoc test cannot "
            f"separate at 0.05 (critical difference {r.critical_difference:.2f}); Friedman chi2 = {r.statistic:.2f}, "
            f"p = {format_number(r.p_value)}")


def profile_figure(costs: pd.DataFrame, palette: dict, folder: Path) -> list[Path]:
    """The performance profile of :func:`.profile.instance_costs` ``[instances, entries]``."""
    entries = list(costs.columns)
    ratios = profile.ratios(costs)
    finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
    taus = np.geomspace(1, max(2.0, float(finite.max()) * 1.5 if len(finite) else 2.0), 400)
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    step_lines(ax, taus, {e: profile.profile(ratios[e], taus) for e in entries}, palette,
               {e: f"{e} ({np.isfinite(ratios[e]).mean():.0%} solved)" for e in entries})
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tau: cost to reach the target / the best cost on that instance")
    ax.set_ylabel("fraction of instances within tau")
    ax.set_title(f"performance profile over {len(costs)} (problem, seed) instances")
    ax.grid(True, alpha=0.3)
    outside_legend(fig, ax, "optimizer (share of the instances solved)")
    return save(fig, folder, "performance-profile")


def profile_caption(costs: pd.DataFrame) -> str:
    problems = costs.index.get_level_values(0).nunique()
    return (f"Performance profile (Dolan and Moré) over {len(costs)} (problem, seed) instances of {problems} problems: "
            f"for each optimizer, the fraction of instances on which its sample-forwards to reach the problem's target "
            f"(reference + {profile.PRECISION:g} x (start - reference)) is within a factor tau of the fastest "
            "optimizer's; at tau = 1 the share it was fastest on, on the right the share it reached at all")
