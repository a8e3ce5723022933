"""What optsuite run and report print fits the terminal: compact tables folded to COLUMNS, the full ones behind
--wide, and no ranking table after a ranking that could not be made."""
import re

import pytest

from optsuite.cli import main
from optsuite.report.terminal import render
from optsuite.report.tables import Table
from optsuite.report.stats import Interval

LONG = ["gd(lr=0.1,algorithm=adamw,weight_decay=0.001)", "montecarlo(population=16,radius=0.5,mode=local)",
        "snes(population=8,sigma0=0.3,mirrored=true)"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("terminal") / "store"
    argv = ["run", "-q", "-p", "sphere(dim=3)", "-p", "rosenbrock(dim=3)", "-s", "2", "-b", "evaluations=100"]
    assert main(argv + [a for label in LONG for a in ("-o", label)] + ["--out", str(out)]) == 0
    return out


def report(store, capsys, monkeypatch, columns, *flags):
    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    assert main(["report", str(store), *flags]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", [100, 72])
def test_the_printed_report_fits_columns_and_keeps_numbers_whole(store, capsys, monkeypatch, columns):
    out = report(store, capsys, monkeypatch, columns)
    assert max(map(len, out.splitlines())) <= columns
    for problem in ("sphere(dim=3)", "rosenbrock(dim=3)"):
        assert problem in out
    rows = [line for line in out.splitlines() if re.search(r"\d \[", line)]
    assert len(rows) == 6  # one per problem and entry, each interval on one line, never split
    assert all(re.search(r"-?[\d.e+-]+ \[-?[\d.e+-]+, -?[\d.e+-]+\]", line) for line in rows)


def test_wide_prints_the_full_table_at_its_own_width(store, capsys, monkeypatch):
    out = report(store, capsys, monkeypatch, 100, "--wide")
    assert out.startswith("problem ") and max(map(len, out.splitlines())) > 100  # the summary, all its columns
    assert "montecarlo(mode=local,population=16,radius=0.5)" in out  # whole, on one line


def test_a_ranking_that_could_not_be_made_prints_no_table(store, tmp_path, capsys, monkeypatch):
    assert "Cross-problem ranking: Friedman test" in report(store, capsys, monkeypatch, 100)
    one = tmp_path / "one"
    assert main(["run", "-q", "-p", "sphere(dim=3)", "-o", "gd", "-o", "montecarlo", "-s", "2", "-b", "evaluations=50",
                 "--out", str(one)]) == 0
    for flags in ((), ("--wide",)):
        out = report(one, capsys, monkeypatch, 100, *flags)
        assert "Cross-problem ranking: n/a" in out and "Ranking across problems" not in out


def test_the_compact_rows_go_best_first(store, capsys, monkeypatch):
    out = report(store, capsys, monkeypatch, 200)
    for block in out.split("\n\n")[:2]:
        values = [float(m.group(1)) for m in re.finditer(r"  (-?[\d.e+-]+) \[", block)]
        assert values == sorted(values) and len(values) == 3  # losses: lowest first


def test_render_folds_text_but_never_a_number():
    table = Table("t", "title", ["optimizer", "value"],
                  [["a-very-long-optimizer-label-" * 3, Interval(0.123456, 0.1, 0.2, 5)]])
    text = render([table], width=40)
    assert max(map(len, text.splitlines())) <= 40 and "0.123 [0.100, 0.200]" in text


def test_compact_tables_give_the_budget_a_column_and_say_shared_items_once(tmp_path, monkeypatch, capsys):
    """Budgets in a column of their own, never in a label that folds mid-number; what all labels share said once."""
    from optsuite.cli import main

    store = tmp_path / "store"
    assert main(["run", "-p", "sphere(dim=4)", "-o", "snes(population=8,sigma0=0.3)", "-o", "pgpe(population=8,sigma0=0.3)",
                 "-b", "evaluations=200", "-s", "1", "--out", str(store), "-q"]) == 0
    assert main(["run", "-p", "sphere(dim=4)", "-o", "snes(population=8,sigma0=0.3)", "-o", "pgpe(population=8,sigma0=0.3)",
                 "-b", "evaluations=800", "-s", "1", "--out", str(store), "-q", "--add"]) == 0
    monkeypatch.setenv("COLUMNS", "60")
    capsys.readouterr()
    assert main(["report", str(store)]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 60
    assert "population=8" not in out.replace("share: population=8, sigma0=0.3", "")  # said once, in the title
    assert "labels leave out what they share: population=8, sigma0=0.3" in " ".join(out.split())
    rows = [line.split() for line in out.splitlines() if line.startswith(("snes", "pgpe"))]
    assert sorted(r[1] for r in rows) == ["200", "200", "800", "800"]  # the budget column
