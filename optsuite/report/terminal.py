"""Tables for a terminal: rich tables folded to its width (``COLUMNS`` where set, else the terminal's, else 80).

Numbers never break: only the first column (the labels) folds; the others keep their width.
"""
from __future__ import annotations

import re
import shutil
from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from .tables import Table, numeric_column


def terminal_width() -> int:
    """``COLUMNS`` where set, else the terminal's width, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


LABEL_WIDTH = 6  # the narrowest the labels get; below that, the numbers give way


def stacked(name: str, values: int) -> str:
    """A header wider than its column's ``values`` characters, its words on lines of their own."""
    return name if len(name) <= values else re.sub(r"(?<=-)|\s+", "\n", name).strip()


def to_rich(table: Table, width: int) -> RichTable:
    """``table`` for a terminal ``width`` characters wide: every column but the first as wide as its values (where
    the table would not fit, its header's words stacked), never wrapped; the first (the label) what is left, folded (down to
    ``LABEL_WIDTH`` characters)."""
    cells = table.shown(lambda text: text + " *")
    values = [max((len(row[i]) for row in cells), default=0) for i in range(len(table.columns))]
    headers = list(table.columns)
    if sum(max(v, len(h)) for v, h in zip(values, headers)) + 3 * (len(headers) - 1) > width:  # stack where it helps
        headers = [name if i == 0 else stacked(name, values[i]) for i, name in enumerate(headers)]
    natural = [max(v, *map(len, h.split("\n"))) for v, h in zip(values, headers)]
    room = width - sum(natural[1:]) - 3 * (len(natural) - 1)
    out = RichTable(title=Text(table.title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD,
                    show_edge=False, pad_edge=False)
    for i, name in enumerate(headers):
        first = i == 0
        out.add_column(name, justify="right" if numeric_column(table, i) else "left", no_wrap=not first,
                       overflow="fold", width=min(natural[0], max(room, LABEL_WIDTH)) if first else None)
    for row in cells:
        out.add_row(*row)
    return out


def render(blocks: list[Table | str], width: int | None = None) -> str:
    """``blocks`` (tables and lines of text) as plain text no wider than ``width`` (default :func:`terminal_width`)."""
    width = width or terminal_width()
    console = Console(file=StringIO(), width=width, color_system=None, highlight=False, emoji=False, markup=False)
    for i, block in enumerate(blocks):
        if isinstance(block, Table):
            console.print(*([""] if i else []), to_rich(block, width), sep="\n")
        else:
            console.print(Text(block))
    return "\n".join(line.rstrip() for line in console.file.getvalue().rstrip("\n").splitlines())
