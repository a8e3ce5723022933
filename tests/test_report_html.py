"""The one-file HTML report: self-contained, the headline on the first screen, in a real browser (headless Chromium).

In CI (``CI`` set) a missing Chromium or Playwright fails the browser test instead of skipping it:
``.ci/run`` installs Debian's chromium package, and the dev extras Playwright.
"""
import base64
import os
import re
from importlib.util import find_spec

import pytest

from optsuite.report import builder
from browser import VIEWPORT, chromium, figure_boxes, render
from report_fixtures import budget_results, ranked_results


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    results = ranked_results(problems=3, seeds=6, swap={1}, network=True)
    builder.write(results, out, "d", ("d",), "optsuite report STORE --out OUT")
    return out / "report.html"


def browser_or_skip():
    missing = [what for what, found in (("chromium", chromium()), ("playwright", find_spec("playwright"))) if not found]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} missing in CI: .ci/run installs them")
        pytest.skip(f"{' and '.join(missing)} not installed")


@pytest.mark.slow
def test_the_page_needs_nothing_but_itself(report):
    page = report.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|figures/|tables/)""", page)
    assert "<link" not in page and not re.search(r"<script[^>]+src", page)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == page.count("<img") == page.count("<figcaption>") >= 5
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert page.count("<details") == 3  # one folded section per problem
    for target in re.findall(r'href="#([^"]+)"', page):
        assert f'id="{target}"' in page or f"id={target}" in page


@pytest.mark.slow
def test_the_report_renders_in_chromium_with_the_headline_on_the_first_screen(report, tmp_path):
    browser_or_skip()
    shown = render(report, tmp_path / "first-screen.png", sort_header="test accuracy")
    assert shown.console_errors == []
    assert 0 <= shown.headline_top < VIEWPORT["height"]
    assert len(shown.figures) >= 5 and all(w > 0 and h > 0 for _, w, h in shown.figures), shown.figures
    assert (tmp_path / "first-screen.png").stat().st_size > 10_000
    medians = [float(c.split()[0]) for c in shown.sorted_column if c != "-"]
    assert len(medians) == 12 and medians == sorted(medians, reverse=True)  # two clicks: descending
    assert shown.page_width <= VIEWPORT["width"]
    assert max(w for _, w in shown.table_widths) <= VIEWPORT["width"], shown.table_widths
    assert shown.split_words == []


def test_wide_tables_wrap_within_the_viewport(tmp_path):
    """Long labels and two budgets of five columns each: every table fits the screen's width, and the headline's
    headers and values wrap between words ("baseline", "seconds"), never inside one."""
    browser_or_skip()
    builder.write(budget_results(), tmp_path, "gd(lr=tuned)", ("gd",), "optsuite report STORE --out OUT")
    shown = render(tmp_path / "report.html")
    assert shown.split_words == []
    assert shown.page_width <= VIEWPORT["width"]
    assert len(shown.table_widths) >= 5 and max(w for _, w in shown.table_widths) <= VIEWPORT["width"], \
        shown.table_widths


def test_no_legend_covers_a_plotting_area(report):
    """Every figure of the report, laid out by the browser: legends found, none over an axes' plotting area."""
    browser_or_skip()
    shown = figure_boxes(sorted((report.parent / "figures").glob("*.svg")))
    assert sum(len(f.legends) for f in shown) >= 5 and all(f.plot_areas for f in shown)
    assert [(f.name, f.covered()) for f in shown if f.covered()] == []
    cd = next(f for f in shown if f.name == "critical-difference")
    axis = max(a[2] - a[0] for a in cd.plot_areas)
    assert axis >= 0.5 * cd.width  # the ranks get at least half the figure's width, beside the labels


def test_the_critical_difference_axis_keeps_its_room_beside_long_labels(tmp_path):
    from optsuite.report import crossfigures, crossproblem, figures

    browser_or_skip()
    results = ranked_results(problems=4, seeds=6, swap={1}, extra=False)
    long = "(population=64,separable=True,sigma0=tuned) + head: analytic @ sample_forwards=3.2e+07"
    results.cells["entry"] = results.cells["entry"] + long
    paths = crossfigures.cd_figure(crossproblem.ranking(results), figures.colours(results.entries()), tmp_path)
    (cd,) = figure_boxes([paths[1]])
    assert max(a[2] - a[0] for a in cd.plot_areas) >= 0.5 * cd.width
