"""The headline answers which method wins, by how much, at what cost: one row per entry, budgets as columns, best
first and marked, the difference from the baseline with its interval and verdict, costs per problem, shared
hyperparameters said once."""
import re

from optsuite.report import builder
from optsuite.report.headline import headline_table
from optsuite.report.labels import parse_label, shared_items
from optsuite.report.summary import quality_by_problem
from optsuite.report.tables import to_markdown
from report_fixtures import BUDGET_ACCURACY, budget_results, mixed_results


def headline(results, baseline="gd(lr=tuned)", together=True):
    rows = quality_by_problem(results, baseline)
    return headline_table(results, results.problems(), rows, baseline, together)


def column(table, name):
    return [row[table.columns.index(name)] for row in table.rows]


def test_one_row_per_entry_with_budgets_as_columns():
    table = headline(budget_results())
    assert len(table.rows) == len(BUDGET_ACCURACY) + 1  # analytic's two budgets are one row too
    assert not any("@" in row[0] for row in table.rows)
    assert [c for c in table.columns if c.endswith("test accuracy")] == ["8e+06: test accuracy",
                                                                        "3.2e+07: test accuracy"]
    assert column(table, "problem").count("net") == len(BUDGET_ACCURACY)


def test_rows_go_best_first_at_the_largest_budget_and_the_best_is_marked():
    table = headline(budget_results())
    large = column(table, "3.2e+07: test accuracy")
    medians = [v.median for v in large if v is not None]
    assert medians == sorted(medians, reverse=True) and large[-1] is None  # nevergrad ran only the small budget
    assert table.rows[0][0] == "analytic"
    for name in ("8e+06: test accuracy", "3.2e+07: test accuracy"):
        index = table.columns.index(name)
        assert {(0, index)} == {m for m in table.marked if m[1] == index}  # analytic's 0.98 in both
    assert re.search(r"\| \*\*0\.98\d \[0\.9\d\d, 0\.9\d\d\]\*\* \|", to_markdown(table))


def test_the_difference_from_the_baseline_has_its_interval_and_verdict():
    table = headline(budget_results())
    snes = next(row for row in table.rows if row[0].startswith("snes"))
    delta = snes[table.columns.index("8e+06: Δ vs gd(lr=tuned)")]
    assert -0.04 < delta.low <= delta.median <= delta.high < -0.02
    assert snes[table.columns.index("8e+06: verdict")] == "n.s."  # 6 seeds, a family of 7: Holm cannot pass
    gd = next(row for row in table.rows if row[0] == "gd(lr=tuned)")
    assert gd[table.columns.index("3.2e+07: verdict")] == "baseline"


def test_costs_are_each_rows_own_problem_in_sample_forwards_and_seconds():
    table = headline(budget_results())
    analytic = table.rows[0]
    assert analytic[table.columns.index("3.2e+07: sample-forwards")] == 58_000
    assert analytic[table.columns.index("3.2e+07: seconds")] == 0.058
    snes = next(row for row in table.rows if row[0].startswith("snes"))
    assert snes[table.columns.index("3.2e+07: sample-forwards")] == 3.2e7


def test_shared_hyperparameters_move_to_the_caption():
    table = headline(budget_results())
    assert "snes(sigma0=tuned)" in column(table, "optimizer")
    assert "nevergrad:TwoPointsDE" in column(table, "optimizer")
    assert any("head: analytic, population=64" in note for note in table.notes)
    assert shared_items([parse_label("a(x=1,y=2)"), parse_label("b(x=1,y=3)"), parse_label("c")]) == {"x=1"}
    assert parse_label("cma(sigma0=0.1,p=[1,2]) + head: analytic").text(frozenset({"p=[1,2]"})) == \
        "cma(sigma0=0.1) + head: analytic"


def test_problems_that_are_not_networks_rank_each_apart(tmp_path):
    results = mixed_results()
    table = headline(results, "gd", together=False)
    assert column(table, "problem") == ["alpha", "alpha", "beta", "beta"]
    assert len([m for m in table.marked]) == 2  # the best of each problem
    assert any("none could be made" in note for note in table.notes)  # 4 seeds: no paired test
    report = builder.build(results, "gd", ("gd",), tmp_path)
    assert report.table.name == "headline" and report.table.columns[:2] == ["optimizer", "problem"]
