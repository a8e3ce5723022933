"""One table model, rendered as fixed-width text, Markdown, CSV, LaTeX and HTML.

A cell is a string, a number, an :class:`~optsuite.stats.Interval` or None (shown as
"-"). Numbers read the same in every format: three significant digits, scientific
notation below 1e-3 and from 1e5 up, and an interval shares its median's decimals:
``0.973 [0.968, 0.979]``. CSV keeps full precision and splits an interval into
``name``, ``name low`` and ``name high`` columns, so it reads back with pandas.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from .stats import Interval

Value = Union[str, int, float, Interval, None]
FORMATS = ("md", "csv", "tex", "html")


@dataclass
class Table:
    """``rows [r][len(columns)]`` of values; ``name`` is the file stem, ``notes`` explain the columns, ``marked``
    holds the (row, column) of cells to stand out (the best of a column: bold, or `` *`` in plain text)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Value]]
    notes: list[str] = field(default_factory=list)
    marked: set[tuple[int, int]] = field(default_factory=set)

    def shown(self, wrap) -> list[list[str]]:
        """Every cell as text (:func:`format_value`), the marked ones passed through ``wrap``."""
        return [[wrap(format_value(v)) if (r, c) in self.marked else format_value(v) for c, v in enumerate(row)]
                for r, row in enumerate(self.rows)]


def _decimals(x: float) -> int | None:
    """Decimals for three significant digits, or None for scientific notation."""
    if x == 0 or (1e-3 <= abs(x) < 1e5):
        return 0 if x == 0 else max(0, 2 - math.floor(math.log10(abs(x))))
    return None


def counted(n: int, noun: str) -> str:
    """``counted(1, "problem") -> "1 problem"``, ``counted(3, "problem") -> "3 problems"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_number(x: float, decimals: int | None | str = "auto", infinity: str = "∞") -> str:
    """``0.97312 -> '0.973'``, ``1152000 -> '1.15e+06'``, ``3000.0 -> '3000'``, NaN -> '-'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return infinity if x > 0 else "-" + infinity
    if decimals == "auto":
        decimals = 0 if float(x).is_integer() and abs(x) < 1e5 else _decimals(x)
    text = f"{x:.2e}" if decimals is None else f"{x:.{decimals}f}"
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text


def _interval_decimals(value: Interval) -> int | None:
    """The median's decimals; a zero median takes them from the smallest non-zero bound."""
    shown = [x for x in (value.median, value.low, value.high) if math.isfinite(x)]
    if not shown or not math.isfinite(value.median):
        return None
    nonzero = [abs(x) for x in shown if x != 0]
    return _decimals(value.median if value.median != 0 or not nonzero else min(nonzero))


def format_value(value: Value, infinity: str = "∞") -> str:
    if isinstance(value, Interval):
        d = _interval_decimals(value)
        median = format_number(value.median, d, infinity)
        if math.isnan(value.low):
            return f"{median} [n/a]" if value.n == 1 else median
        return f"{median} [{format_number(value.low, d, infinity)}, {format_number(value.high, d, infinity)}]"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return format_number(float(value), infinity=infinity)
    return "-" if value is None else str(value)


def numeric_column(table: Table, column: int) -> bool:
    """Whether every value of the column is a number or an interval (right-aligned, never broken)."""
    kinds = [v for v in (row[column] for row in table.rows) if v is not None]
    return bool(kinds) and all(isinstance(v, (int, float, Interval, np.number)) for v in kinds)


def to_text(table: Table) -> str:
    """Fixed-width columns under a header rule; numbers right-aligned."""
    if not table.rows:
        return "(no results)"
    body = table.shown(lambda text: text + " *")
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(table.columns)]
    right = [numeric_column(table, i) for i in range(len(widths))]

    def line(cells):
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join([line(table.columns), line(["-" * w for w in widths]), *map(line, body)])


def to_markdown(table: Table) -> str:
    esc = lambda s: s.replace("|", r"\|")
    rule = ["---:" if numeric_column(table, i) else "---" for i in range(len(table.columns))]
    lines = [f"**{esc(table.title)}**", "", "| " + " | ".join(map(esc, table.columns)) + " |",
             "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in table.shown(lambda text: f"**{text}**")]
    lines += [""] + [f"- {esc(n)}" for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "∞": r"$\infty$", "Δ": r"$\Delta$", "<": r"$<$", ">": r"$>$"}


def latex_escape(text: str) -> str:
    return re.sub("|".join(map(re.escape, LATEX_SPECIALS)), lambda m: LATEX_SPECIALS[m.group()], text)


def latex_cell(table: Table, row: int, column: int, value: Value) -> str:
    text = latex_escape(format_value(value))
    return rf"\textbf{{{text}}}" if (row, column) in table.marked else text


def to_latex(table: Table) -> str:
    """A ``table`` float around a ``tabular``; notes go into the caption."""
    align = "".join("r" if numeric_column(table, i) else "l" for i in range(len(table.columns)))
    row = lambda cells: " & ".join(latex_escape(c) for c in cells) + r" \\"
    caption = " ".join([table.title + "."] + table.notes)
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
        rf"\begin{{tabular}}{{{align}}}", r"\hline", row(table.columns), r"\hline",
        *(" & ".join(cells) + r" \\" for cells in [[latex_cell(table, r, c, v) for c, v in enumerate(values)]
                                                  for r, values in enumerate(table.rows)]),
        r"\hline", r"\end{tabular}", r"\end{table}", "",
    ])


def sort_key(value: Value) -> str:
    """A number cell's value for sorting (an interval's median; '' for none), as the HTML ``data-v`` attribute."""
    number = value.median if isinstance(value, Interval) else value
    if number is None or isinstance(number, str) or (isinstance(number, float) and math.isnan(number)):
        return ""
    return repr(float(number)).replace("inf", "Infinity")


def to_html(table: Table) -> str:
    """A ``<table>``; number cells carry their value in ``data-v`` for sorting, an interval's brackets in a ``ci``
    span (it may break before them, never inside); marked cells are ``<strong>``."""
    def cells(values, tag, keys=(), row=None):
        out = []
        for i, v in enumerate(values):
            number = numeric_column(table, i)
            attrs = (" class=num" if number else "") + (f' data-v="{keys[i]}"' if keys and number else "")
            text = re.sub(r" (\[.*\])$", r" <span class=ci>\1</span>", html.escape(v)) if number else html.escape(v)
            out.append(f"<{tag}{attrs}>{f'<strong>{text}</strong>' if (row, i) in table.marked else text}</{tag}>")
        return "".join(out)

    body = "\n".join(f"<tr>{cells([format_value(v) for v in r], 'td', [sort_key(v) for v in r], i)}</tr>"
                     for i, r in enumerate(table.rows))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
    return (f"<table>\n<caption>{html.escape(table.title)}</caption>\n<thead><tr>{cells(table.columns, 'th')}"
            f"</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n" + (f"<ul class=notes>{notes}</ul>\n" if notes else ""))


def to_frame(table: Table) -> pd.DataFrame:
    """The numbers behind the table, full precision; an interval column becomes three."""
    data: dict[str, list] = {}
    for i, name in enumerate(table.columns):
        values = [row[i] for row in table.rows]
        if any(isinstance(v, Interval) for v in values):
            for part, suffix in (("median", ""), ("low", " low"), ("high", " high")):
                data[name + suffix] = [getattr(v, part) if isinstance(v, Interval) else np.nan for v in values]
        else:
            data[name] = [np.nan if v is None else v for v in values]
    return pd.DataFrame(data)


RENDERERS = {"md": to_markdown, "tex": to_latex, "html": to_html,
             "csv": lambda t: to_frame(t).to_csv(index=False)}


def write(table: Table, folder: Path, formats=FORMATS) -> list[Path]:
    """Write ``folder/<name>.<ext>`` for each format; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = folder / f"{table.name}.{ext}"
        path.write_text(RENDERERS[ext](table), encoding="utf-8")
        paths.append(path)
    return paths
