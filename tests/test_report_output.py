"""The written report: files in every format, figures, the blocks figure, and the CLI."""
import pandas as pd
import pytest

from optsuite.report import builder, figures, noprop_figures
from optsuite.cli import main
from optsuite.report.results import Results
from report_fixtures import cell, decaying, mixed_results


def assert_figure(path_stem):
    png, svg = path_stem.with_suffix(".png"), path_stem.with_suffix(".svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "<svg" in svg.read_text()[:1000] and svg.stat().st_size > 10_000


def test_report_writes_every_table_and_figure_despite_failed_runs(tmp_path):
    index = builder.write(mixed_results(), tmp_path, None, ("analytic", "gd"), "optsuite report STORE --out OUT")
    md = index[0].read_text()
    assert "Regenerate: `optsuite report STORE --out OUT`" in md and "1 failed" in md
    assert "per-block versus whole-network figure skipped" in md
    for problem in ("alpha", "beta"):
        for kind in ("quality", "targets", "equal-sample-forwards", "equal-seconds"):
            for ext in ("md", "csv", "tex", "html"):
                assert (tmp_path / "tables" / f"{kind}-{problem}.{ext}").stat().st_size > 0
        for kind in ("anytime", "ecdf"):
            assert_figure(tmp_path / "figures" / f"{kind}-{problem}")
            assert f"figures/{kind}-{problem}.png" in md
    quality = pd.read_csv(tmp_path / "tables" / "quality-alpha.csv")
    assert list(quality["ok runs"]) == ["1/4 (1 nan, 1 failed, 1 timeout)", "4/4"]
    assert "<table>" in index[1].read_text()
    failures = pd.read_csv(tmp_path / "tables" / "failures.csv", keep_default_na=False)  # status "nan" is text
    assert sorted(failures["status"]) == ["failed", "failed", "nan", "nan", "timeout", "timeout"]
    assert set(failures["error"]) == {"boom"}


def test_blocks_figure_is_drawn_when_the_store_has_blocks_and_networks(tmp_path):
    cells, traces = [], []
    for label in ("gd", "cma"):
        for seed in range(3):
            for t in (1, 2, 3):
                cells.append(cell("noprop-block", label, seed, args={"t": t}, test_loss=0.1 * t, train_loss=0.1 * t))
            for net in ("noprop-net", "backprop-net"):
                cells.append(cell(net, label, seed, test_accuracy=0.8 + 0.01 * seed, test_loss=0.5))
    for row in cells:
        traces += decaying(row["cell_id"], 0.7)
    paths, note = noprop_figures.blocks_figure(Results(pd.DataFrame(cells), pd.DataFrame(traces)), figures.colours(["gd", "cma"]),
                                        tmp_path)
    assert note == "" and len(paths) == 2
    assert_figure(paths[0].with_suffix(""))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "store"
    assert main(["run", "-q", "-p", "sphere(dim=3)", "-o", "gd(lr=0.1)", "-o", "montecarlo", "-s", "2",
                 "-b", "evaluations=100", "--out", str(out)]) == 0
    return out


def test_cli_report_prints_the_table_and_writes_the_report(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    capsys.readouterr()
    assert main(["report", str(store), "--out", str(tmp_path / "rep"), "--baseline", "montecarlo"]) == 0
    captured = capsys.readouterr()
    assert "gd(lr=0.1)" in captured.out and "against montecarlo" in captured.out
    assert "report:" in captured.err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"optsuite report {store} --out {tmp_path / 'rep'} --baseline montecarlo" in md


@pytest.mark.parametrize("argv,needle", [
    (["report", "/no/such/store"], "no results store at /no/such/store"),
    (["report", "EMPTY"], "holds no cells"),
    (["report", "STORE", "--baseline", "adamw"], "baseline 'adamw' is not in the store"),
    (["report", "STORE", "--out", "FILE"], "cannot make that folder (a file is in the way)"),
    (["report", "STORE", "--out", "NEW", "--baseline", "adamw"], "baseline 'adamw' is not in the store"),
    (["report", "STORE", "--out", "NEW", "--reference", "montecarl"],
     "--reference 'montecarl' is no optimizer of the store (did you mean 'montecarlo'?); its optimizers: gd, "
     "montecarlo"),
    (["report", "STORE", "--out", ""], "Invalid value for '--out': an empty path names no folder"),
])
def test_cli_report_bad_input_exits_2_with_one_line_and_makes_no_folder(argv, needle, store, tmp_path, capsys,
                                                                        monkeypatch):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    argv = [{"EMPTY": str(tmp_path / "empty"), "STORE": str(store), "FILE": str(tmp_path / "file"),
             "NEW": str(tmp_path / "new" / "report")}.get(a, a) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == before


KILLED = """
import os, signal, sys
from optsuite.cli import main
from optsuite.report import html
if sys.argv[1] == "while writing":  # once the tables and figures are written, before the index
    html.page = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
else:  # while the new report's entries move into place: after the old ones went and the new figures came
    real, moves = os.replace, []
    def replace(src, dst):
        moves.append(dst)
        if len(moves) == 6:
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst)
    os.replace = replace
sys.exit(main(sys.argv[2:]))
"""


def files(folder):
    """Every file under ``folder`` and its bytes, the hidden ones left out."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


@pytest.mark.slow
def test_a_killed_report_never_leaves_a_partial_report_that_looks_whole(store, tmp_path):
    import subprocess
    import sys

    other = tmp_path / "other"
    assert main(["run", "-q", "-p", "rosenbrock(dim=2)", "-o", "gd", "-o", "snes", "-s", "2", "-b", "steps=10",
                 "--out", str(other)]) == 0
    fresh = tmp_path / "fresh"
    assert main(["report", str(other), "--out", str(fresh)]) == 0
    out = tmp_path / "report"
    assert main(["report", str(store), "--out", str(out)]) == 0
    first = files(out)
    killed = lambda when: subprocess.run([sys.executable, "-c", KILLED, when, "report", str(other), "--out", str(out)],
                                         capture_output=True, timeout=300).returncode
    assert killed("while writing") == -9
    assert files(out) == first  # the earlier report, whole and alone
    assert killed("while moving") == -9
    left = files(out)
    assert "report.html" not in left and "report.md" not in left and not any(n.startswith("tables") for n in left)
    new = files(fresh)
    assert left and all(n.startswith("figures/") and new[n] == data for n, data in left.items())  # new and whole
    assert main(["report", str(other), "--out", str(out)]) == 0
    assert sorted(files(out)) == sorted(new)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # the killed writers' leftovers are gone


@pytest.mark.slow
def test_report_computes_each_problems_quality_rows_once_and_shares_them(tmp_path, monkeypatch):
    from optsuite.report import summary

    calls = []
    original = summary.quality_rows
    monkeypatch.setattr(summary, "quality_rows", lambda r, key, b: calls.append(key) or original(r, key, b))
    results = mixed_results()
    computed = builder.write(results, tmp_path / "computed", "gd", ("gd",), "CMD")[0].read_text()
    assert sorted(calls) == ["alpha", "beta"]
    overview = pd.read_csv(tmp_path / "computed" / "tables" / "summary.csv")
    alpha = pd.read_csv(tmp_path / "computed" / "tables" / "quality-alpha.csv")
    columns = ["test accuracy", "test accuracy low", "test accuracy high"]
    shared = overview.loc[overview["problem"] == "alpha", ["ok", *columns]].rename(columns={"ok": "ok runs"})
    pd.testing.assert_frame_equal(shared.reset_index(drop=True), alpha[["ok runs", *columns]])
    given = summary.quality_by_problem(results, "gd")
    calls.clear()
    assert builder.write(results, tmp_path / "given", "gd", ("gd",), "CMD", given)[0].read_text() == computed
    assert calls == []


def test_the_report_counts_one_problem_and_one_optimizer_in_the_singular(tmp_path):
    from report_fixtures import paired_results

    results = paired_results()
    one = Results(results.cells[results.cells["label"] == "gd"], results.traces)
    builder.write(one, tmp_path, None, ("gd",), "CMD")
    assert "8 runs (8 ok), 1 problem, 1 optimizer." in (tmp_path / "report.md").read_text()
    builder.write(results, tmp_path / "all", None, ("gd",), "CMD")
    assert "1 problem, 4 optimizers." in (tmp_path / "all" / "report.md").read_text()
