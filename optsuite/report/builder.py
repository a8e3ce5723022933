"""A comparison report of a results store: every table in four formats, figures, and two index pages.

Layout of the output folder::

    report.html     one self-contained page (figures embedded, no network access): the headline first
    report.md       the same tables and figures, the figures linked from figures/
    tables/NAME.{md,csv,tex,html}
    figures/NAME.{png,svg}

The headline is the table of :mod:`.headline` (optimizers by budgets, best first: over the networks, or
every problem where the store has none), one figure across problems (the critical-difference
diagram, else the performance profile) and what is and is not significant
(:mod:`.significance`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import crossfigures, figures, html, noprop_figures, profile, tables, terminal
from .compact import compact_note, compact_tables
from .crossproblem import Ranking, headline, ranking, ranking_table
from .equalcost import EQUAL_COSTS, equal_cost_table
from .headline import headline_table
from .networks import network_problems, networks_table
from .output_folder import staged
from .reach import reference, target_table
from .results import Results
from .significance import significance_lines
from .summary import failures_table, quality_by_problem, quality_table, summarize
from .tables import Table, counted


INDEX = ("report.md", "report.html")  # written last: a reader finds them only beside a whole report
ENTRIES = (*INDEX, "tables", "figures")  # what a report writes into its folder


@dataclass(frozen=True)
class Figure:
    """A figure's PNG path relative to the report folder and the caption saying what it shows."""

    path: str
    caption: str


@dataclass
class Section:
    """A heading with its tables, figures and notes; ``folded`` sections open on demand in the HTML page."""

    title: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folded: bool = False


@dataclass
class Report:
    """The headline (a table, the full table it summarizes, a figure or None, the significance lines) and the
    sections after it."""

    table: Table
    full: Table
    figure: Figure | None
    significance: list[str]
    sections: list[Section]


def figure(paths: list[Path] | None, out: Path, caption: str) -> list[Figure]:
    """The PNG of a figure function's ``paths`` as a :class:`Figure`; none where the figure was not drawn."""
    return [Figure(os.path.relpath(paths[0], out), caption)] if paths else []


def problem_section(results: Results, key: str, baseline: str | None, references: Sequence[str], rows: list[dict],
                    palette: dict, out: Path) -> Section:
    """Problem ``key``'s tables and figures; ``rows``: its :func:`~optsuite.report.summary.quality_by_problem` rows."""
    section = Section(key, [quality_table(results, key, baseline, rows)], folded=True)
    ref = reference(results, key, references)
    if ref is None:
        section.notes.append("no run of this problem recorded a trace: no target, equal-cost or anytime views")
        return section
    section.tables.append(target_table(results, key, ref))
    section.tables += [t for t in (equal_cost_table(results, key, c, tuning) for tuning in (False, True)
                                   for c in EQUAL_COSTS) if t is not None]
    figure_dir = out / "figures"
    section.figures += figure(figures.anytime_figure(results, key, palette, figure_dir), out,
                              figures.anytime_caption(results, key))
    section.figures += figure(figures.ecdf_figure(results, key, ref, palette, figure_dir), out,
                              figures.ecdf_caption(key, ref))
    if key in network_problems(results):  # no figure where its runs trace no accuracy
        section.figures += figure(figures.accuracy_figure(results, key, palette, figure_dir), out,
                                  figures.accuracy_caption(key))
    return section


def cross_section(results: Results, ranked: Ranking, references: Sequence[str], palette: dict,
                  out: Path) -> Section:
    """The ranking across problems, its critical-difference diagram and the performance profile of its block."""
    section = Section("Across problems", [ranking_table(ranked)])
    if ranked.pairwise is not None:
        section.figures += figure(crossfigures.cd_figure(ranked, palette, out / "figures"), out,
                                  crossfigures.cd_caption(ranked))
    refs = {k: ref for k in ranked.ranks.index if (ref := reference(results, k, references)) is not None}
    costs = profile.instance_costs(results, refs, list(ranked.ranks.columns))
    if len(refs) and len(costs) and costs.shape[1] > 1:
        section.figures += figure(crossfigures.profile_figure(costs, palette, out / "figures"), out,
                                  crossfigures.profile_caption(costs))
    else:
        section.notes.append("no performance profile: it needs two or more optimizers run on the same traced problems")
    return section


def printed(results: Results, baseline: str | None, rows: dict[str, list[dict]], wide: bool = False) -> list[str]:
    """What ``optsuite run`` and ``optsuite report`` print, block by block. By default the compact tables
    (:mod:`.compact`) and what is and is not significant, folded to the terminal's width (:mod:`.terminal`);
    ``wide``: the full Networks table where the store has networks and the summary of every problem, at their
    own width. The ranking across problems follows its test's line only where a test was made."""
    ranked = ranking(results)
    rank = [ranking_table(ranked)] if ranked.p_value is not None else []
    if not wide:
        lines = significance_lines(ranked, rows, baseline)
        return [terminal.render([*compact_tables(results, baseline, rows), compact_note(baseline), "", *lines, *rank])]
    networks = networks_table(results, baseline, rows)
    blocks = [tables.to_text(t) for t in ([networks] if networks else []) + [summarize(results, baseline, rows)]]
    return blocks + ["\n".join([headline(ranked), *map(tables.to_text, rank)])]


def build(results: Results, baseline: str | None, references: Sequence[str], out: Path,
          rows: dict[str, list[dict]] | None = None) -> Report:
    """The headline and all sections; figures are written under ``out/figures`` as they are made.

    ``baseline``: the resolved label of the paired tests (:func:`~optsuite.report.summary.resolve_baseline`)
    or None; ``references``: optimizer names whose final train loss sets each problem's loss targets
    (:func:`~optsuite.report.reach.reference`). Each problem's quality rows (bootstrap intervals, paired
    tests) are computed once, unless given as ``rows`` (:func:`~optsuite.report.summary.quality_by_problem`),
    and feed both the overview's summary and the problem's quality table.
    """
    rows = quality_by_problem(results, baseline) if rows is None else rows
    palette = figures.colours(results.entries(), figures.families(results))
    failures = failures_table(results)
    networks = networks_table(results, baseline, rows)
    summary = summarize(results, baseline, rows)
    ranked = ranking(results)
    overview = Section("Summary", [summary] + ([failures] if failures.rows else []))
    if baseline is None:
        overview.notes.append("no paired tests: no baseline optimizer (--baseline LABEL) is in the store")
    head = [Section("Networks", [networks])] if networks else []
    cross = cross_section(results, ranked, references, palette, out)
    sections = head + [cross, overview] + [problem_section(results, key, baseline, references, rows[key], palette, out)
                                           for key in results.problems()]
    paths, note = noprop_figures.blocks_figure(results, palette, out / "figures")
    sections.append(Section("NoProp per-block versus whole network",
                            figures=figure(paths, out, noprop_figures.CAPTION), notes=[note] if note else []))
    top = headline_table(results, network_problems(results) or results.problems(), rows, baseline,
                         together=networks is not None)
    return Report(top, networks or summary, next(iter(cross.figures), None),
                  significance_lines(ranked, rows, baseline), sections)


def markdown(report: Report, header: list[str]) -> str:
    lines = ["# Comparison report", "", *header, "", "## Headline", "", tables.to_markdown(report.table),
             "**What is and is not significant**", ""] + [f"- {s}" for s in report.significance] + [""]
    for s in report.sections:
        lines += [f"## {s.title}", ""] + [f"_{n}_\n" for n in s.notes]
        for t in s.tables:
            lines += [tables.to_markdown(t), f"(also [CSV](tables/{t.name}.csv), [LaTeX](tables/{t.name}.tex))", ""]
        lines += [f"![{Path(f.path).stem}]({f.path})\n\n_{f.caption}_\n" for f in s.figures]
    return "\n".join(lines)


def write(results: Results, out: Path, baseline: str | None, references: Sequence[str], command: str,
          rows: dict[str, list[dict]] | None = None) -> list[Path]:
    """Write the whole report under ``out``; returns the index files. Arguments as in :func:`build`.

    The report appears only once it is whole (:func:`~.output_folder.staged`): an earlier report's files go, its
    index first, and the new index files come last."""
    out.mkdir(parents=True, exist_ok=True)
    with staged(out, last=INDEX, replaces=ENTRIES) as stage:
        write_files(results, stage, baseline, references, command, rows)
    return [out / name for name in INDEX]


def write_files(results: Results, out: Path, baseline: str | None, references: Sequence[str], command: str,
                rows: dict[str, list[dict]] | None = None) -> list[Path]:
    """Write the report's files into the folder ``out``; returns the index files."""
    report = build(results, baseline, references, out, rows)
    for t in [report.table] + [t for s in report.sections for t in s.tables]:
        tables.write(t, out / "tables")
    statuses = results.cells["status"].value_counts()
    header = [f"Regenerate: `{command}`",
              f"{len(results.cells)} runs ({', '.join(f'{n} {s}' for s, n in statuses.items())}), "
              f"{counted(len(results.problems()), 'problem')}, {counted(len(results.entries()), 'optimizer')}."]
    index = [out / name for name in INDEX]
    index[0].write_text(markdown(report, header), encoding="utf-8")
    index[1].write_text(html.page(report, [h.replace("`", "") for h in header], out), encoding="utf-8")
    return index
