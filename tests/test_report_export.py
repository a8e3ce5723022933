"""optsuite export, read back by the field's own readers: cocopp (COCO), iohinspector and ioh (IOHprofiler), pandas."""
import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest

from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.report.export import WRITERS
from optsuite.report.output_folder import inside
from optsuite.report.reach import reference
from optsuite.report.results import Results, slug
from store_edits import rewrite

REFERENCES = ("analytic", "gd")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two test functions (known optimum 0) and a minibatch least-squares problem, three optimizers, 3 seeds."""
    out = tmp_path_factory.mktemp("export") / "store"
    argv = ["run", "-q", "-p", "sphere(dim=5)", "-p", "rosenbrock(dim=3)", "-p", "least-squares(batch_size=64)",
            "-o", "gd(lr=0.05)", "-o", "snes(sigma0=0.3)", "-o", "montecarlo", "-s", "3", "-b", "steps=25",
            "--out", str(out)]
    assert main(argv) == 0
    return out


def exported(store, tmp_path, fmt):
    out = tmp_path / fmt
    assert main(["export", str(store), "--format", fmt, "--out", str(out)]) == 0
    return out


def expected_runs(results):
    """(entry, problem number) -> per seed: (final cost, final best loss, the trace, COCO's Fopt)."""
    runs = {}
    for number, key in enumerate(results.problems(), start=1):
        traces = {c["cell_id"]: results.trace(c["cell_id"]) for _, c in results.cells_of(key).iterrows()}
        fopt = min(reference(results, key, REFERENCES).loss, *(t["best_loss"].min() for t in traces.values()))
        for _, c in results.cells_of(key).iterrows():
            t = traces[c["cell_id"]]
            runs.setdefault((c["entry"], number), {})[int(c["seed"]) + 1] = (
                float(t["sample_forwards"].iloc[-1]), float(t["best_loss"].min()), t, fopt)
    return runs


COCOPP = """
import glob, json, sys, warnings
import cocopp
warnings.simplefilter("ignore")
cocopp.genericsettings.interactive_mode = False
from optsuite.report.cocopp_suite import register
register(sys.argv[1])  # as the README says: our problems' names, our cost unit
folders = sorted(glob.glob(sys.argv[1] + "/*/"))
for folder in folders:
    for ds in cocopp.load(folder):
        print("RUNS", json.dumps([folder.rstrip("/").split("/")[-1], int(ds.funcId), list(map(int, ds.instancenumbers)),
                                  list(map(float, ds.maxevals)), list(map(float, ds.finalfunvals))]))
cocopp.main("-o " + sys.argv[2] + " " + " ".join(folders))
"""


@pytest.mark.slow
def test_cocopp_reads_the_coco_export_and_post_processes_it(store, tmp_path):
    out = exported(store, tmp_path, "coco")
    results = Results.load(store)
    done = subprocess.run([sys.executable, "-c", COCOPP, str(out), str(tmp_path / "ppdata")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    read = {}
    for line in done.stdout.splitlines():
        if line.startswith("RUNS "):
            folder, func, instances, maxevals, finals = json.loads(line[5:])
            read[(folder, func)] = dict(zip(instances, zip(maxevals, finals)))
    expected = expected_runs(results)
    assert {(slug(e), f) for e, f in expected} == set(read)
    for (entry, number), runs in expected.items():
        got = read[(slug(entry), number)]
        assert sorted(got) == sorted(runs)  # one run per seed, instance = seed + 1
        for instance, (cost, best, trace, fopt) in runs.items():
            hit = trace[trace["best_loss"] - fopt <= 1e-8]  # COCO reads a run up to its final target
            assert got[instance][0] == (float(hit["sample_forwards"].iloc[0]) if len(hit) else cost)
            assert got[instance][1] == pytest.approx(best - fopt, rel=1e-6, abs=1e-8)
    problems = pd.read_csv(out / "problems.csv")
    assert list(problems["problem"]) == results.problems()
    assert (tmp_path / "ppdata" / "index.html").exists()
    assert list((tmp_path / "ppdata").glob("*/pprldmany_*D_noiselessall.svg"))
    figures = {p: p.read_text() for p in (tmp_path / "ppdata").rglob("*.svg")}
    titles = {title for text in figures.values() for title in re.findall(r"<!-- (\d+ [^>]+?) -->", text)}
    for number, key in enumerate(results.problems(), start=1):  # cocopp's function titles are our problems
        assert f"{number} {key}" in titles
    assert not any(re.search(r"Sphere|Ellipsoid|Rastrigin|Rosenbrock", text) for text in figures.values())
    assert all("log10(# sample-forwards / dimension)" in text for p, text in figures.items() if "pprldmany" in p.name)
    ran = {(int(p.number), int(p.dim)) for p in problems.itertuples()}
    for page in (tmp_path / "ppdata").rglob("*.html"):  # every figure a page shows is there, but a function's
        for shown in re.findall(r'(?:href|src|data)="([^"]+\.(?:svg|png))"', page.read_text()):  # other dimensions
            function = re.search(r"_f(\d+)_(\d+)D", shown)
            assert (page.parent / shown).exists() or function and (int(function[1]), int(function[2])) not in ran
            assert not function or int(function[1]) <= len(ran)  # no BBOB function we do not have

    assert set(problems.loc[problems["problem"] != "least-squares(batch_size=64)", "reference_source"]) == \
        {"the known optimum"}


def test_iohinspector_reads_the_ioh_export_with_the_stores_runs_and_values(store, tmp_path):
    iohinspector = pytest.importorskip("iohinspector")
    import polars as pl

    out = exported(store, tmp_path, "ioh")
    manager = iohinspector.DataManager()
    manager.add_folder(str(out))
    overview = manager.overview.to_pandas()
    expected = expected_runs(Results.load(store))
    assert len(overview) == sum(len(runs) for runs in expected.values())
    for _, run in overview.iterrows():
        cost, best, *_ = expected[(run["algorithm_name"], run["function_id"])][run["instance"]]
        assert run["evals"] == cost and run["best_y"] == pytest.approx(best, rel=1e-12)
    data = manager.load(monotonic=True, include_meta_data=True)
    lowest = data.group_by(["algorithm_name", "function_id", "instance"]).agg(pl.col("raw_y").min()).to_pandas()
    for _, run in lowest.iterrows():
        assert run["raw_y"] == pytest.approx(expected[(run["algorithm_name"], run["function_id"])][run["instance"]][1],
                                             rel=1e-9)


def test_the_ioh_export_has_the_layout_iohs_own_logger_writes(store, tmp_path):
    ioh = pytest.importorskip("ioh")
    problem = ioh.get_problem(1, instance=1, dimension=3)
    logger = ioh.logger.Analyzer(root=str(tmp_path), folder_name="ioh-own", algorithm_name="rs",
                                 store_positions=False)
    problem.attach_logger(logger)
    for _ in range(5):
        problem(np.zeros(3))
    logger.close()
    (own,) = (tmp_path / "ioh-own").glob("IOHprofiler_f1_*.json")
    theirs = json.loads(own.read_text())
    out = exported(store, tmp_path, "ioh")
    ours_file = next((out / slug("gd(lr=0.05)")).glob("IOHprofiler_f1_*.json"))
    ours = json.loads(ours_file.read_text())
    assert set(theirs) <= set(ours) and ours["attributes"] == theirs["attributes"] == ["evaluations", "raw_y"]
    assert ours["version"] == version("optsuite")  # the writer's own version, not ioh's
    for mine, own_part in ((ours["scenarios"][0], theirs["scenarios"][0]),
                           (ours["scenarios"][0]["runs"][0], theirs["scenarios"][0]["runs"][0]),
                           (ours["scenarios"][0]["runs"][0]["best"], theirs["scenarios"][0]["runs"][0]["best"])):
        assert set(mine) == set(own_part)
    for data in (ours["scenarios"][0]["path"], theirs["scenarios"][0]["path"]):
        folder, name = data.split("/")
        assert folder.startswith("data_f1_") and name.startswith("IOHprofiler_f1_DIM") and name.endswith(".dat")
    own_dat = (own.parent / theirs["scenarios"][0]["path"]).read_text().splitlines()
    our_dat = (ours_file.parent / ours["scenarios"][0]["path"]).read_text().splitlines()
    assert own_dat[0] == our_dat[0] == "evaluations raw_y" and own_dat[1].split()[0] == our_dat[1].split()[0] == "1"


def test_the_csv_export_is_one_long_table_of_runs_and_one_of_steps(store, tmp_path):
    out = exported(store, tmp_path, "csv")
    results = Results.load(store)
    cells, traces = pd.read_csv(out / "cells.csv"), pd.read_csv(out / "traces.csv")
    assert len(cells) == len(results.cells) and set(cells["entry"]) == set(results.entries())
    assert len(traces) == len(results.traces) and {"problem_key", "entry", "seed", "best_loss"} <= set(traces)
    finals = traces.groupby(["problem_key", "entry", "seed"])["sample_forwards"].max()
    spent = cells.set_index(["problem_key", "entry", "seed"])["spent_sample_forwards"]
    pd.testing.assert_series_equal(finals.sort_index(), spent.sort_index(), check_names=False, check_dtype=False)


def test_a_store_reads_with_pandas_as_the_readme_says(store):
    cells = pd.read_parquet(store / "cells.parquet")
    results = Results.load(store)
    assert len(cells) == len(results.cells) and set(cells["cell_id"]) == set(results.cells["cell_id"])
    assert {"problem_key", "entry"} <= set(results.cells) and len(results.traces) > 0


@pytest.mark.parametrize("argv,needle", [
    (["export", "STORE", "--format", "xls", "--out", "OUT"], "unknown export format 'xls'; choose coco, ioh, csv"),
    (["export", "/no/such/store", "--format", "coco", "--out", "OUT"], "no results store at /no/such/store"),
    (["export", "STORE", "--format", "coco", "--out", "FILE"], "cannot make that folder (a file is in the way)"),
    (["export", "STORE", "--format", "coco", "--out", "OUT", "--cost", "joules"], "unknown cost 'joules'"),
    (["export", "STORE", "--format", "csv", "--out", "OUT", "--cost", "flops"], "unknown cost 'flops'"),
    (["export", "STORE", "--format", "coco", "--out", "OUT", "--reference", "nosuch"],
     "--reference 'nosuch' is no optimizer of the store; its optimizers: gd, montecarlo, snes"),
    (["export", "STORE", "--format", "coco", "--out", ""], "Invalid value for '--out': an empty path names no folder"),
])
def test_export_bad_input_exits_2_with_one_line_and_makes_no_folder(argv, needle, store, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    names = {"STORE": str(store), "OUT": str(tmp_path / "new" / "out"), "FILE": str(tmp_path / "file")}
    capsys.readouterr()
    assert main([names.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "new").exists()


@pytest.fixture
def crafted(store, tmp_path):
    """The store, its optimizer labels edited (as in a shared store whose cells.parquet was changed and its
    manifest made to agree): ``..`` and two labels that name one folder."""
    copy = tmp_path / "crafted"
    shutil.copytree(store, copy)
    cells = pd.read_parquet(copy / "cells.parquet")
    labels = {"gd(lr=0.05)": "..", "snes(sigma0=0.3)": "snes(sigma0=0.3)", "montecarlo": "montecarlo"}
    rewrite(copy, "cells.parquet", cells.assign(label=cells["label"].map(labels)))
    return copy


@pytest.mark.parametrize("fmt", ["coco", "ioh"])
def test_an_export_writes_nothing_outside_out_whatever_the_labels(fmt, crafted, tmp_path, capsys):
    out = tmp_path / "dir" / "mine"
    assert main(["export", str(crafted), "--format", fmt, "--out", str(out)]) == 0
    assert [p.name for p in (tmp_path / "dir").iterdir()] == ["mine"]
    assert sorted(p.name for p in out.iterdir()) == ["montecarlo", "optimizer", "problems.csv", "snes-sigma0-0.3",
                                                     *(["suite.json"] if fmt == "coco" else [])]
    cells = pd.read_parquet(crafted / "cells.parquet")
    rewrite(crafted, "cells.parquet", cells.assign(label=cells["label"].replace({"montecarlo": "snes[sigma0=0.3]"})))
    capsys.readouterr()
    assert main(["export", str(crafted), "--format", fmt, "--out", str(tmp_path / "two")]) == 2
    err = capsys.readouterr().err.strip()
    assert "would share the folder 'snes-sigma0-0.3'" in err and len(err.splitlines()) == 1


def test_a_name_from_the_store_never_leaves_its_folder(tmp_path):
    assert inside(tmp_path, "gd") == tmp_path / "gd"
    for name in ("..", ".", "/etc", "a/../..", ""):
        with pytest.raises(UserError, match="would write outside"):
            inside(tmp_path, name)


@pytest.mark.parametrize("fmt", ["csv", "coco"])
def test_an_interrupted_export_leaves_the_folder_as_it_was(fmt, store, tmp_path, monkeypatch):
    from optsuite.report import export_coco, export_csv
    from optsuite.report.export import export

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    written = []

    def interrupted(real):  # SIGTERM (raised as KeyboardInterrupt) once the first files are written
        def write(*args):
            paths = real(*args)
            written.extend(paths)
            if fmt == "csv" or len(written) > 3:
                raise KeyboardInterrupt
            return paths
        return write

    if fmt == "csv":
        monkeypatch.setitem(WRITERS, "csv", interrupted(export_csv.write))
    else:
        monkeypatch.setattr(export_coco, "write_problem", interrupted(export_coco.write_problem))
    with pytest.raises(KeyboardInterrupt):
        export(Results.load(store), fmt, out, REFERENCES)
    assert written and [p.name for p in out.iterdir()] == ["notes.txt"]
    monkeypatch.undo()
    files = export(Results.load(store), fmt, out, REFERENCES)
    assert all(p.is_file() for p in files) and not [p for p in out.iterdir() if p.name.startswith(".")]
