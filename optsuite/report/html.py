"""The report as one self-contained HTML page: figures embedded as PNG data, no scripts or styles from elsewhere.

The first screen holds the headline: the headline table (optimizers by problem, linked to
the whole table it summarizes), one figure across problems and the lines saying what is and
is not significant. A table of contents follows (a side bar
on wide screens); then the sections, each problem's folded (``<details>``). A small inline
script sorts any table by a click on its header (numbers by their ``data-v`` value) and
opens a folded section when a link points into it.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from . import tables

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
.layout{display:grid;grid-template-columns:10em minmax(0,1fr);gap:1em;padding:0 1em}
nav{position:sticky;top:0;align-self:start;max-height:100vh;overflow:auto;overflow-wrap:anywhere;font-size:12px;padding-top:1em}
nav ol{padding-left:2em;margin:0}
@media (max-width:900px){.layout{display:block}nav{position:static;max-height:none}}
main{min-width:0}
h1{font-size:20px;margin:.6em 0 .1em}h2{font-size:17px;margin:1em 0 .4em;display:inline}
.meta{color:#555;font-size:12px;margin:0 0 .6em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.4em 0;font-size:12px}
td,th{border:1px solid #ccc;padding:1px 5px;overflow-wrap:anywhere;min-width:3em}
td.num{overflow-wrap:normal;min-width:0}.ci{white-space:nowrap}th{overflow-wrap:break-word}td:first-child{min-width:8em}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
.num{text-align:right}caption{font-weight:bold;text-align:left}
#headline-table table{font-size:11.5px}#headline-table th{white-space:normal;overflow-wrap:break-word;max-width:10em}#headline-table td:nth-child(n+3){overflow-wrap:break-word}
ul.notes{font-size:11px;color:#555;margin:.2em 0 .5em}
.headline{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.headline figure{flex:1 1 30em;margin:0}.headline .significance{flex:1 1 24em;font-size:13px}
figure{margin:1em 0}figure img{max-width:100%;height:auto}figcaption{font-size:12px;color:#444;max-width:60em}
details{border-top:1px solid #ddd;padding:.3em 0}summary{cursor:pointer}
section{margin-bottom:1em}
"""

SCRIPT = """
document.querySelectorAll('th').forEach(th => th.addEventListener('click', () => {
  const table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
  const asc = th.dataset.dir !== 'asc';
  table.querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = asc ? 'asc' : 'desc';
  const key = row => { const c = row.cells[col]; return c.dataset.v === undefined ? c.textContent : c.dataset.v; };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (a.cells[col].dataset.v !== undefined) {
      if (x === '' || y === '') return (x === '') - (y === '');
      return (asc ? 1 : -1) * (parseFloat(x) - parseFloat(y));
    }
    return (asc ? 1 : -1) * x.localeCompare(y);
  });
  rows.forEach(r => body.appendChild(r));
}));
function openTarget() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const folded = target && target.closest('details');
  if (folded) { folded.open = true; target.scrollIntoView(); }
}
window.addEventListener('hashchange', openTarget);
openTarget();
"""


def anchor(title: str) -> str:
    return "s-" + (re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() or "section")


def embedded(figure, folder: Path) -> str:
    """A ``<figure>`` with the PNG inline as base64 data and its caption."""
    data = base64.b64encode((folder / figure.path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(Path(figure.path).stem)}">'
            f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")


def table_html(table, ident: str | None = None) -> str:
    return f'<div class=scroll id="{html.escape(ident or "t-" + table.name)}">{tables.to_html(table)}</div>'


def headline(report, folder: Path) -> str:
    lines = "".join(f"<li>{html.escape(s)}</li>" for s in report.significance)
    shown = embedded(report.figure, folder) if report.figure else ""
    link = f'<a href="#t-{html.escape(report.full.name)}">{html.escape(report.full.title)}</a>'
    full = f"<p class=meta>The costs, tuning and paired tests of each: {link}</p>"
    return (f'<section id=headline>{table_html(report.table, "headline-table")}{full}'
            f'<div class=headline>{shown}<div class=significance><b>What is and is not significant</b>'
            f"<ul>{lines}</ul></div></div></section>")


def section_html(section, folder: Path, shown=None) -> str:
    """A section, folded where it says so; its figures but ``shown`` (the headline's)."""
    title = f"<h2>{html.escape(section.title)}</h2>"
    body = [f"<p><em>{html.escape(n)}</em></p>" for n in section.notes]
    body += [table_html(t) for t in section.tables]
    body += [embedded(f, folder) for f in section.figures if f != shown]
    if section.folded:
        return f'<details id="{anchor(section.title)}"><summary>{title}</summary>{"".join(body)}</details>'
    return f'<section id="{anchor(section.title)}">{title}{"".join(body)}</section>'


def contents(report) -> str:
    items = "".join(f'<li><a href="#{anchor(s.title)}">{html.escape(s.title)}</a></li>' for s in report.sections)
    return f'<nav><b>Contents</b><ol><li><a href="#headline">Headline</a></li>{items}</ol></nav>'


def page(report, header: list[str], folder: Path) -> str:
    """The whole page; ``folder``: the report folder the figures' paths are relative to."""
    meta = "".join(f"<p class=meta>{html.escape(h)}</p>" for h in header)
    sections = "".join(section_html(s, folder, report.figure) for s in report.sections)
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'><title>Comparison report</title>"
            f"<style>{STYLE}</style></head><body><div class=layout>{contents(report)}<main>"
            f"<h1>Comparison report</h1>{meta}{headline(report, folder)}{sections}</main></div>"
            f"<script>{SCRIPT}</script></body></html>\n")
