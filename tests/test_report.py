"""Report statistics, trace readouts and table rendering, on constructed numbers."""
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from optsuite.report.anytime import budget_grid, cost_to_reach, value_within
from optsuite.report.equalcost import equal_cost_table
from optsuite.report.reach import reference, target_table
from optsuite.report.stats import Interval, bootstrap_median, ranks, wilcoxon_paired
from optsuite.report.results import ACCURACY, TEST_LOSS
from optsuite.report.crossproblem import ranking
from optsuite.report.summary import quality_table, summarize, verdict
from optsuite.report.tables import Table, format_value, to_frame, to_html, to_latex, to_markdown, write
from report_fixtures import mixed_results, paired_results, trace


def test_bootstrap_interval_contains_the_median_and_narrows_with_more_seeds():
    values = np.random.default_rng(1).normal(0.9, 0.05, 60)
    few, many = bootstrap_median(values[:5]), bootstrap_median(values)
    for ci, x in ((few, values[:5]), (many, values)):
        assert ci.median == np.median(x) and ci.low <= ci.median <= ci.high and ci.n == len(x)
    assert many.high - many.low < 0.5 * (few.high - few.low)
    assert bootstrap_median(values) == many  # seeded: the same interval every time
    assert bootstrap_median(values, seed="other") != many


def test_bootstrap_of_one_or_no_value_has_no_interval_and_ignores_nan():
    one = bootstrap_median([0.5, math.nan])
    assert one.median == 0.5 and math.isnan(one.low) and one.n == 1
    assert bootstrap_median([]).n == 0
    assert bootstrap_median([1.0, math.inf, math.inf]).high == math.inf


def test_paired_test_matches_scipy_and_says_why_when_it_cannot_be_made():
    results = paired_results(seeds=8)
    table = quality_table(results, "toy", "gd")
    rows = {r[0]: dict(zip(table.columns, r)) for r in table.rows}
    cells = results.cells.set_index(["label", "seed"])["metric_test_loss"]
    expected = scipy_stats.wilcoxon(cells["better"].to_numpy(), cells["gd"].to_numpy()).pvalue
    assert rows["better"]["p (Wilcoxon)"] == pytest.approx(expected, rel=1e-12)
    assert rows["better"]["p (Wilcoxon)"] < 0.01 and rows["better"]["verdict"] == "better"
    assert rows["better"]["Δ test loss vs gd"].median < -0.1
    assert rows["same"]["p (Wilcoxon)"] is None
    assert rows["same"]["verdict"] == "n/a: all 8 paired differences are zero"
    assert rows["few"]["verdict"] == "n/a: only 3 paired seeds (need 5)"
    assert rows["gd"]["verdict"] == "-"


def test_verdicts_follow_the_direction_of_the_metric():
    gd = np.random.default_rng(3).normal(size=12)
    higher = wilcoxon_paired(gd + 1, gd)
    assert higher.p_value < 0.01
    assert verdict(higher, TEST_LOSS) == "worse" and verdict(higher, ACCURACY) == "better"
    symmetric = wilcoxon_paired(gd + np.tile([1.0, -1.0], 6) * np.repeat(np.arange(1, 7), 2), gd)
    assert symmetric.p_value > 0.5 and verdict(symmetric, TEST_LOSS) == "n.s."


def test_ranks_put_best_first_share_ties_and_put_nan_last():
    assert list(ranks([0.9, 0.95, 0.9, math.nan], higher_is_better=True)) == [2.5, 1, 2.5, 4]
    assert list(ranks([3.0, 1.0, 2.0], higher_is_better=False)) == [3, 1, 2]


def test_failed_nan_and_timeout_runs_are_counted_not_lost():
    results = mixed_results()
    summary = summarize(results, None)
    cma = next(r for r in summary.rows if r[:2] == ["alpha", "cma"])
    assert cma[2].startswith("1/4 (") and all(f"1 {s}" in cma[2] for s in ("nan", "failed", "timeout"))
    assert cma[3].n == 1  # accuracy only from the one ok run
    ranked = ranking(results).mean_ranks
    assert list(ranked.index) == ["cma", "gd"] and ranked.iloc[0] == 1


def test_equal_cost_readout_picks_the_last_row_within_the_budget():
    rows = pd.DataFrame(trace("c", [10, 20, 30], [5.0, 3.0, 1.0]))
    got = value_within(rows, "sample_forwards", [5, 10, 25, 30, 100])
    assert np.isnan(got[0]) and list(got[1:]) == [5.0, 3.0, 1.0, 1.0]
    assert list(cost_to_reach(rows, "sample_forwards", [6, 3, 2, 0.5])) == [10, 20, 30, math.inf]
    assert list(cost_to_reach(rows.iloc[:0], "seconds", [1.0])) == [math.inf]


def test_budget_grid_is_log_spaced_and_covers_the_largest_cost():
    grid = budget_grid(970, 1_152_000, 4)
    assert len(grid) == 4 and grid[0] >= 970 and grid[-1] >= 1_152_000 and np.all(np.diff(np.log(grid)) > 1)


def test_equal_cost_and_target_tables_order_optimizers_by_speed():
    results = paired_results()
    table = equal_cost_table(results, "toy", "sample_forwards")
    middle = [r for r in table.rows if r[0] == table.rows[len(table.rows) // 2][0]]
    loss = {r[1]: r[3].median for r in middle}
    assert loss["few"] < loss["better"] < loss["gd"] == loss["same"]
    assert reference(results, "toy").source == "best final trace loss of any run"
    ref = reference(results, "toy", ("analytic", "gd"))  # no analytic runs: gd's
    assert ref.source == "best final gd train loss" and ref.start == 10.0
    targets = target_table(results, "toy", ref)
    cost = {(r[0], r[2]): (r[3], r[4].median) for r in targets.rows}
    assert cost[("0.1", "few")] == ("3/3", 200) and cost[("0.1", "better")] == ("8/8", 250)
    assert cost[("0.001", "few")][1] < cost[("0.001", "better")][1] < cost[("0.001", "gd")][1]


SAMPLE = Table("sample", "A sample", ["optimizer", "accuracy", "cost", "note"],
               [["gd", Interval(0.97312, 0.96811, 0.97893, 5), 1_152_000, "ok"],
                ["cma|x", Interval(0.5, math.nan, math.nan, 1), math.inf, None],
                ["a_b & c", None, 3000.0, "50%"]], ["a note"])


def test_numbers_read_the_same_way_everywhere():
    assert format_value(SAMPLE.rows[0][1]) == "0.973 [0.968, 0.979]"
    assert format_value(1_152_000) == "1.15e+06" and format_value(3000.0) == "3000"
    assert format_value(3.06e-84) == "3.06e-84" and format_value(math.nan) == "-"
    assert format_value(Interval(0.0, -0.0, 0.3, 5)) == "0.000 [0.000, 0.300]"
    assert format_value(SAMPLE.rows[1][1]) == "0.500 [n/a]" and format_value(math.inf) == "∞"


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_data(self, data):  # a cell's text, spans inside it included
        if {"td", "th"} & set(self.tags):
            self.rows[-1][-1] += data

    def handle_endtag(self, tag):
        assert self.tags.pop() == tag


def test_every_export_format_is_written_and_parses(tmp_path):
    paths = write(SAMPLE, tmp_path)
    assert sorted(p.suffix for p in paths) == [".csv", ".html", ".md", ".tex"]
    back = pd.read_csv(tmp_path / "sample.csv")
    pd.testing.assert_frame_equal(back, to_frame(SAMPLE), check_dtype=False)
    assert list(back.columns) == ["optimizer", "accuracy", "accuracy low", "accuracy high", "cost", "note"]
    parser = Cells()
    parser.feed((tmp_path / "sample.html").read_text())
    assert "<table>" in to_html(SAMPLE) and parser.rows[1] == ["gd", "0.973 [0.968, 0.979]", "1.15e+06", "ok"]
    tex = (tmp_path / "sample.tex").read_text()
    assert r"\begin{tabular}{lrrl}" in tex and r"a\_b \& c" in tex and r"$\infty$" in tex
    body = [l for l in tex.splitlines() if l.endswith(r"\\")]
    assert len(body) == 4 and all(l.replace(r"\&", "").count("&") == 3 for l in body)
    md = to_markdown(SAMPLE).splitlines()
    assert md[4] == "| gd | 0.973 [0.968, 0.979] | 1.15e+06 | ok |" and r"cma\|x" in md[5]


def test_paired_tests_use_the_baseline_run_at_the_same_budget_and_never_the_baseline_itself():
    from optsuite.report.results import Results
    from optsuite.report.summary import quality_rows
    from report_fixtures import cell

    rows = []
    for seed in range(6):
        for label, budget, loss in [("gd", 100, 2.0 + seed), ("gd", 200, 1.0 + seed), ("cma", 200, 0.5 + seed),
                                    ("snes", 300, 0.1)]:
            row = cell("toy", label, seed, test_loss=loss, train_loss=loss)
            row["budget"] = f'{{"evaluations": {budget}}}'
            row["cell_id"] += f"-{budget}"
            rows.append(row)
    results = Results(pd.DataFrame(rows), pd.DataFrame(trace("x", [1.0], [1.0])))
    tests = {r["entry"]: r["test"] for r in quality_rows(results, results.problems()[0], "gd")}
    assert all(tests[e] is None for e in tests if e.startswith("gd"))
    cma = next(t for e, t in tests.items() if e.startswith("cma"))
    assert cma.pairs == 6 and cma.difference.median == pytest.approx(-0.5)  # against gd at 200, not at 100
    snes = next(t for e, t in tests.items() if e.startswith("snes"))
    assert snes.p_value is None and "other budgets" in snes.reason


def test_target_table_reads_each_trace_once_per_unit_and_matches_per_target_reads(monkeypatch):
    from optsuite.report import reach
    from optsuite.report.anytime import COSTS

    results = paired_results()
    ref = reference(results, "toy", ("gd",))
    calls = []

    def counted(trace_rows, cost, targets):
        calls.append(len(targets))
        return cost_to_reach(trace_rows, cost, targets)

    monkeypatch.setattr(reach, "cost_to_reach", counted)
    table = target_table(results, "toy", ref)
    assert calls == [len(reach.TABLE_PRECISIONS)] * (len(results.cells) * len(COSTS))
    problem = results.cells_of("toy")
    for precision, target, entry, reached, *costs in table.rows:
        traces = [results.trace(c) for c in problem.loc[problem["entry"] == entry, "cell_id"]]
        for unit, got in zip(COSTS, costs):
            each = [cost_to_reach(t, unit, [target])[0] for t in traces]
            assert got == bootstrap_median(each, seed=("toy", entry, unit, float(precision)))
        assert reached == f"{int(np.isfinite(each).sum())}/{len(traces)}"


def test_a_bootstrap_interval_does_not_depend_on_the_order_of_the_runs():
    from optsuite.report.stats import bootstrap_median

    values = [0.538, 0.478, 0.427, 0.544, 0.505, 0.462, 0.497, 0.578, 0.587, 0.472]  # unsorted, its bound 0.544 or 0.558
    assert bootstrap_median(values, seed="k") == bootstrap_median(values[::-1], seed="k") \
        == bootstrap_median(sorted(values), seed="k")
