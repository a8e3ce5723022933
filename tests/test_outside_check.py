"""The outside-implementation benchmark: it says in one line when none is installed, and reads its results."""
import math
import sys

from optsuite.benchmarks import outside_check


def test_skips_in_one_line_without_outside_libraries(monkeypatch, capsys):
    monkeypatch.setattr(outside_check, "LIBRARIES", ("no_such_library_here",))
    monkeypatch.setattr(sys, "argv", ["outside_check"])
    outside_check.main()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "skipped" in out


def test_summary_takes_the_median_ratio_over_targets_both_reach_and_names_the_slow_ones():
    case = outside_check.Case("sphere 10", "sphere", {"dim": 10}, 0.5, [0.1, 0.01, 0.001], 100)
    mine = [[10, 40, math.inf], [20, 60, math.inf], [30, 80, 90]]
    theirs = [[10, 20, 50], [20, 30, 60], [30, 40, 70]]
    results = [{"case": case, "ours": "pgpe", "reference": "ref", "mine": mine, "theirs": theirs}]
    row = outside_check.summary(results)[-1]
    assert row == "| pgpe | ref | 1.50 (2) | sphere 10 @ 0.01 |"  # ratios 20/20 and 60/30; 1e-3: ours' median missed
    table = outside_check.table(results)
    assert "| sphere 10 | pgpe | ref | 0.001 | - (1/3) | 60 | - |" in table
