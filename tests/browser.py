"""A report page rendered in headless Chromium (Playwright driving the system's chromium): what the tests check.

Run as a script to screenshot a report: ``python tests/browser.py REPORT.html SHOT.png`` prints
the page's height in screens and its figures' rendered sizes.
"""
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

VIEWPORT = {"width": 1280, "height": 800}


def chromium() -> str | None:
    """The system Chromium's path (Debian's ``chromium`` package), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Rendered:
    console_errors: list[str]
    headline_top: float  # px from the top of the page
    page_height: float  # px, every section folded as delivered
    figures: list[tuple[str, float, float]]  # alt, rendered width and height (px) with every section opened
    sorted_column: list[str]  # a column's cells after two clicks on its header (descending)
    table_widths: list[tuple[str, float]]  # each table's caption and rendered width (px), every section opened
    page_width: float  # px the page scrolls to sideways, every section opened
    split_words: list[str]  # headline cells after its two label columns whose words do not fit their cell unbroken

    @property
    def screens(self) -> float:
        return self.page_height / VIEWPORT["height"]


# the words (runs of text without a space or hyphen) that a line break cuts in two, in the cells given
SPLIT_WORDS = """cells => cells.flatMap(cell => {
    const split = [], walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
        for (const m of node.textContent.matchAll(/[^\\s-]+/g)) {
            const range = document.createRange();
            range.setStart(node, m.index);
            range.setEnd(node, m.index + m[0].length);
            const lines = new Set(Array.from(range.getClientRects(), r => Math.round(r.top)));
            if (lines.size > 1) split.push(m[0]);
        }
    }
    return split;
})"""


def render(page_path: Path, screenshot: Path | None = None, sort_header: str | None = None) -> Rendered:
    """Open ``page_path`` from disk with the network blocked; ``sort_header``: a header to click twice."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("http*://**", lambda route: (errors.append(f"network request: {route.request.url}"), route.abort()))
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        top = page.locator("#headline-table").bounding_box()["y"]
        height = page.evaluate("document.documentElement.scrollHeight")
        if screenshot:
            page.screenshot(path=str(screenshot))
        column = []
        if sort_header:
            header = page.locator("#headline-table th", has_text=sort_header).first
            header.click()
            header.click()
            index = header.evaluate("th => th.cellIndex")
            column = page.eval_on_selector_all("#headline-table tbody tr",
                                               f"rows => rows.map(r => r.cells[{index}].textContent)")
        split = page.eval_on_selector_all("#headline-table tr > :nth-child(n+3)", SPLIT_WORDS)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        widths = page.eval_on_selector_all(
            "table", "ts => ts.map(t => [t.caption ? t.caption.textContent : '', t.getBoundingClientRect().width])")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        sizes = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.alt, i.getBoundingClientRect().width, i.getBoundingClientRect().height,"
                   " i.naturalWidth])")
        browser.close()
    return Rendered(errors, top, height, [(a, w if n else 0.0, h) for a, w, h, n in sizes], column,
                    [(c, w) for c, w in widths], page_width, split)


@dataclass
class FigureBoxes:
    """One SVG figure as the browser lays it out: its width and the boxes (x0, y0, x1, y1 px) of its plotting areas
    and legends (the ids ``plot-area-N`` and ``legend-N`` that :func:`optsuite.report.figures.save` gives them)."""

    name: str
    width: float
    plot_areas: list[tuple[float, float, float, float]]
    legends: list[tuple[float, float, float, float]]

    def covered(self) -> list[tuple]:
        """The (legend, plotting area) pairs whose boxes overlap."""
        return [(g, a) for g in self.legends for a in self.plot_areas
                if g[0] < a[2] and a[0] < g[2] and g[1] < a[3] and a[1] < g[3]]


def figure_boxes(svgs: list[Path]) -> list[FigureBoxes]:
    """Each SVG of ``svgs`` opened in Chromium: where its plotting areas and legends are."""
    from playwright.sync_api import sync_playwright

    boxes = "sel => Array.from(document.querySelectorAll(sel)).map(e => { const b = e.getBoundingClientRect(); " \
            "return [b.left, b.top, b.right, b.bottom]; })"
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)
        for svg in svgs:
            page.goto(svg.resolve().as_uri(), wait_until="load")
            width = page.evaluate("document.documentElement.getBoundingClientRect().width")
            out.append(FigureBoxes(svg.stem, width, [tuple(b) for b in page.evaluate(boxes, "[id^=plot-area-]")],
                                   [tuple(b) for b in page.evaluate(boxes, "[id^=legend-]")]))
        browser.close()
    return out


if __name__ == "__main__":
    shown = render(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(f"height {shown.page_height:.0f} px = {shown.screens:.2f} screens of {VIEWPORT['height']} px; "
          f"headline table top {shown.headline_top:.0f} px; console errors: {shown.console_errors or 'none'}")
    for alt, w, h in shown.figures:
        print(f"  {alt}: {w:.0f} x {h:.0f} px")
    print(f"page width {shown.page_width:.0f} px; widest table {max(w for _, w in shown.table_widths):.0f} px")
    sys.exit(1 if shown.console_errors or os.environ.get("STRICT") and not shown.figures else 0)
