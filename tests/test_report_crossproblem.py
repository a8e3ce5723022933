"""Statistics across problems: Friedman and Nemenyi on the largest complete block, Holm over the paired tests,
the performance profile, and the lines that say what is significant."""
import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from optsuite.report import builder, profile
from optsuite.report.crossproblem import complete_block, headline, ranking
from optsuite.report.reach import reference
from optsuite.report.significance import seeds_needed, significance_lines
from optsuite.report.summary import quality_by_problem, row_verdict
from report_fixtures import ranked_results as store

def test_the_block_is_the_largest_set_of_entries_run_on_the_same_problems():
    ran = pd.DataFrame({"a": [1, 1, 1, 1], "b": [1, 1, 1, 0], "c": [1, 1, 1, 0], "d": [1, 0, 0, 0]},
                       index=list("pqrs")).astype(bool)
    assert complete_block(ran) == (["a", "b", "c"], ["p", "q", "r"])  # 3 x 3 beats 4 x 1 and 1 x 4


def test_the_friedman_and_nemenyi_tests_are_scipys_and_scikit_posthocs_on_the_ranks():
    r = ranking(store(swap={1}))
    assert list(r.ranks.columns) == ["a", "b", "c", "d"] and r.left_out == {"solo": 1}
    expected = scipy_stats.friedmanchisquare(*r.ranks.to_numpy().T)
    assert r.statistic == pytest.approx(expected.statistic) and r.p_value == pytest.approx(expected.pvalue)
    assert r.p_value < 0.01 and list(r.mean_ranks.index) == ["a", "b", "c", "d"]
    assert r.ranks.loc["p1", "c"] == 4 and r.ranks.loc["p0", "c"] == 3
    pd.testing.assert_frame_equal(r.pairwise, scikit_posthocs.posthoc_nemenyi_friedman(r.ranks), check_exact=False)
    assert r.pairwise.loc["a", "d"] < 0.05 < r.pairwise.loc["a", "b"]
    q = scipy_stats.studentized_range.ppf(0.95, 4, np.inf) / np.sqrt(2)
    assert r.critical_difference == pytest.approx(q * np.sqrt(4 * 5 / (6 * 5)))
    assert f"p = " in headline(r) and "Friedman test over 5 problems and 4 optimizers" in headline(r)


def test_no_test_is_claimed_without_enough_problems_or_optimizers():
    one = ranking(store(problems=1, extra=False))
    assert one.p_value is None and "needs 3+ optimizers run on the same 2+ problems" in one.reason
    assert headline(one).startswith("Cross-problem ranking: n/a:")


def test_holm_adjusts_every_paired_test_against_the_baseline_in_the_store_together():
    results = store(problems=3, seeds=6)
    rows = quality_by_problem(results, "d")
    tested = [r for key in rows for r in rows[key] if r["test"] is not None]
    raw = [r["test"].p_value for r in tested]
    assert len(tested) == 3 * 3 + 1  # a, b, c on three problems and solo on p0
    np.testing.assert_allclose([r["p_holm"] for r in tested], multipletests(raw, method="holm")[1])
    # every raw p is 2/2^6 = 0.031 < 0.05, but Holm over 10 tests lifts them all to 0.31
    assert all(p == pytest.approx(2 / 64) for p in raw) and {row_verdict(r) for r in tested} == {"n.s."}
    lines = significance_lines(ranking(results), rows, "d")
    assert any("10 of the 10 paired tests" in line for line in lines)
    assert any(f"that needs {seeds_needed(10)} seeds" in line for line in lines)
    assert 2.0 ** (1 - seeds_needed(10)) * 10 < 0.05 <= 2.0 ** (2 - seeds_needed(10)) * 10


def test_a_test_that_survives_holm_is_named_as_significant():
    results = store(problems=2, seeds=9, extra=False)
    rows = quality_by_problem(results, "d")
    lines = significance_lines(ranking(results), rows, "d")
    assert all(row_verdict(r) == "better" for key in rows for r in rows[key] if r["test"])
    assert lines[-1].startswith("Significant against d (Holm over 6 paired tests") and "a better on p0" in lines[-1]


def test_the_performance_profile_counts_instances_within_a_factor_of_the_fastest():
    costs = pd.DataFrame({"x": [10.0, 40.0, np.inf], "y": [20.0, 10.0, np.inf]})
    ratios = profile.ratios(costs)
    assert ratios["x"].tolist() == [1.0, 4.0, np.inf] and ratios["y"].tolist() == [2.0, 1.0, np.inf]
    assert profile.profile(ratios["x"], np.array([1.0, 3.9, 4.0])).tolist() == [1 / 3, 1 / 3, 2 / 3]
    results = store(problems=2, seeds=3, extra=False)
    refs = {k: reference(results, k) for k in results.problems()}
    found = profile.instance_costs(results, refs, ["a", "d"])
    assert len(found) == 6 and (found["a"] < found["d"]).all()  # a's traces decay faster


def test_the_report_prints_the_ranking_with_its_test_and_p_value():
    results = store(swap={1})
    rows = quality_by_problem(results, "d")
    text = "\n\n".join(builder.printed(results, "d", rows, wide=True))
    line = next(l for l in text.splitlines() if l.startswith("Cross-problem ranking"))
    assert f"p = " in line and "Friedman" in line and "best mean rank 1.00: a" in line
