"""A comparison report of a results store: every table in four formats, figures, and an index.

Layout of the output folder::

    report.md, report.html     every table and figure in one page, with the command that made it
    tables/NAME.{md,csv,tex,html}
    figures/NAME.{png,svg}
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import figures, noprop_figures, tables
from .equalcost import EQUAL_COSTS, equal_cost_table
from .networks import network_problems, networks_table
from .reach import reference, target_table
from .results import Results
from .summary import failures_table, quality_by_problem, quality_table, rank_table, summarize
from .tables import Table


@dataclass
class Section:
    """A heading with its tables, figures (paths relative to the report folder) and notes."""

    title: str
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def problem_section(results: Results, key: str, baseline: str | None, references: Sequence[str], rows: list[dict],
                    palette: dict, out: Path) -> Section:
    """Problem ``key``'s tables and figures; ``rows``: its :func:`~optsuite.report.summary.quality_rows`."""
    section = Section(key, [quality_table(results, key, baseline, rows)])
    ref = reference(results, key, references)
    if ref is None:
        section.notes.append("no run of this problem recorded a trace: no target, equal-cost or anytime views")
        return section
    section.tables.append(target_table(results, key, ref))
    section.tables += [t for t in (equal_cost_table(results, key, c, tuning) for tuning in (False, True)
                                   for c in EQUAL_COSTS) if t is not None]
    figure_dir = out / "figures"
    for paths in (figures.anytime_figure(results, key, palette, figure_dir),
                  figures.ecdf_figure(results, key, ref, palette, figure_dir)):
        section.figures.append(os.path.relpath(paths[0], out))
    return section


def network_figures(results: Results, palette: dict, out: Path) -> list[str]:
    """The accuracy-against-cost figure of every network problem whose runs trace their accuracy."""
    drawn = [figures.accuracy_figure(results, key, palette, out / "figures") for key in network_problems(results)]
    return [os.path.relpath(paths[0], out) for paths in drawn if paths]


def printed(results: Results, baseline: str | None, rows: dict[str, list[dict]]) -> list[Table]:
    """What ``optsuite run`` and ``optsuite report`` print: the Networks table where the store has networks,
    then the summary of every problem."""
    networks = networks_table(results, baseline, rows)
    return ([networks] if networks else []) + [summarize(results, baseline, rows)]


def build(results: Results, baseline: str | None, references: Sequence[str], out: Path,
          rows: dict[str, list[dict]] | None = None) -> list[Section]:
    """All sections; figures are written under ``out/figures`` as they are made.

    ``baseline``: the resolved label of the paired tests (:func:`~optsuite.report.summary.resolve_baseline`)
    or None; ``references``: optimizer names whose final train loss sets each problem's loss targets
    (:func:`~optsuite.report.reach.reference`). Each problem's quality rows (bootstrap intervals, paired
    tests) are computed once, unless given as ``rows`` (:func:`~optsuite.report.summary.quality_by_problem`),
    and feed both the overview's summary and the problem's quality table.
    """
    rows = quality_by_problem(results, baseline) if rows is None else rows
    palette = figures.colours(results.entries())
    failures = failures_table(results)
    networks = networks_table(results, baseline, rows)
    overview = Section("Overview", [summarize(results, baseline, rows), rank_table(results)]
                       + ([failures] if failures.rows else []))
    if baseline is None:
        overview.notes.append("no paired tests: no baseline optimizer (--baseline LABEL) is in the store")
    head = [Section("Networks", [networks], figures=network_figures(results, palette, out))] if networks else []
    sections = head + [overview] + [problem_section(results, key, baseline, references, rows[key], palette, out)
                                    for key in results.problems()]
    paths, note = noprop_figures.blocks_figure(results, palette, out / "figures")
    sections.append(Section("NoProp per-block versus whole network",
                            figures=[os.path.relpath(p, out) for p in paths if p.suffix == ".png"],
                            notes=[note] if note else []))
    return sections


def markdown(sections: list[Section], header: list[str]) -> str:
    lines = ["# Comparison report", "", *header, ""]
    for s in sections:
        lines += [f"## {s.title}", ""] + [f"_{n}_\n" for n in s.notes]
        for t in s.tables:
            lines += [tables.to_markdown(t), f"(also [CSV](tables/{t.name}.csv), [LaTeX](tables/{t.name}.tex))", ""]
        lines += [f"![{Path(f).stem}]({f})\n" for f in s.figures]
    return "\n".join(lines)


def html_page(sections: list[Section], header: list[str]) -> str:
    style = ("body{font-family:sans-serif;max-width:75em;margin:auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px}.num{text-align:right}caption{font-weight:bold}"
             "img{max-width:100%}")
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>Comparison report</title><style>{style}</style>"
             "</head><body><h1>Comparison report</h1>", *(f"<p>{html.escape(h)}</p>" for h in header)]
    for s in sections:
        parts += [f"<h2>{html.escape(s.title)}</h2>", *(f"<p><em>{html.escape(n)}</em></p>" for n in s.notes)]
        parts += [tables.to_html(t) for t in s.tables]
        parts += [f'<p><img src="{html.escape(f)}" alt="{html.escape(Path(f).stem)}"></p>' for f in s.figures]
    return "\n".join(parts + ["</body></html>\n"])


def write(results: Results, out: Path, baseline: str | None, references: Sequence[str], command: str,
          rows: dict[str, list[dict]] | None = None) -> list[Path]:
    """Write the whole report under ``out``; returns the index files. Arguments as in :func:`build`."""
    out.mkdir(parents=True, exist_ok=True)
    sections = build(results, baseline, references, out, rows)
    for s in sections:
        for t in s.tables:
            tables.write(t, out / "tables")
    statuses = results.cells["status"].value_counts()
    header = [f"Regenerate: `{command}`",
              f"{len(results.cells)} runs ({', '.join(f'{n} {s}' for s, n in statuses.items())}), "
              f"{len(results.problems())} problems, {len(results.entries())} optimizers."]
    index = [out / "report.md", out / "report.html"]
    index[0].write_text(markdown(sections, header), encoding="utf-8")
    index[1].write_text(html_page(sections, [h.replace("`", "") for h in header]), encoding="utf-8")
    return index
