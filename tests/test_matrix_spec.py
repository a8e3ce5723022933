"""Matrix specs: expansion, and every mistake reported before anything runs, one line each with its location."""
import textwrap

import pytest

from conftest import one_line_error
from optsuite.budget import Budget
from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.keys import config_key
from optsuite.runners.spec import load_matrix, packaged

GOOD = """
seeds = 2
budgets = [{ steps = 20 }, { evaluations = 500 }]

[[problems]]
name = "sphere"
grid = { dim = [3, 5] }

[[problems]]
name = "least-squares"
settings = { batch_size = 32 }
budgets = { steps = 10 }

[[optimizers]]
name = "gd"
hyper = { algorithm = "sgd" }
grid = { lr = [0.01, 0.1], momentum = [0.0, 0.9] }

[[optimizers]]
name = "analytic"
"""


def write(tmp_path, text, name="matrix.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def mistakes(tmp_path, text):
    """The error lines of a spec, each checked to start with the file's path."""
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_matrix(str(path))
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    return [line[len(f"{path}: "):] for line in lines]


def test_grids_seeds_and_budgets_expand_to_every_cell_with_unsupported_pairs_skipped(tmp_path):
    matrix = load_matrix(str(write(tmp_path, 'unsupported = "skip"\n' + GOOD)))
    # sphere: 2 dims x 4 gd points x 2 budgets x 2 seeds; analytic cannot run on sphere.
    # least-squares: own single budget: (4 gd points + analytic) x 2 seeds.
    assert len(matrix.cells) == 2 * 4 * 2 * 2 + 5 * 2
    assert len({c.cell_id for c in matrix.cells}) == len(matrix.cells)
    lsq = [c for c in matrix.cells if c.problem == "least-squares"]
    assert {c.optimizer for c in lsq} == {"gd", "analytic"} and all(c.budget == Budget(steps=10) for c in lsq)
    gd = {(c.hyper["lr"], c.hyper["momentum"]) for c in matrix.cells if c.optimizer == "gd"}
    assert gd == {(0.01, 0.0), (0.01, 0.9), (0.1, 0.0), (0.1, 0.9)}
    assert all(c.hyper["algorithm"] == "sgd" for c in matrix.cells if c.optimizer == "gd")
    assert {c.problem_args["dim"] for c in matrix.cells if c.problem == "sphere"} == {3, 5}
    assert len(matrix.skipped) == 2 and all("optimizers[1]" in s for s in matrix.skipped)


def test_unsupported_pairs_are_mistakes_unless_skipped(tmp_path):
    lines = mistakes(tmp_path, GOOD)
    assert lines == [f"problems[0] (dim={d}) x optimizers[1]: optimizer 'analytic' needs a problem with a linear readout; "
                     "'sphere' has none" for d in (3, 5)]


def test_every_mistake_is_reported_at_once_with_its_location(tmp_path):
    lines = mistakes(tmp_path, """
        seeds = [0, 1, 1]
        budgets = { evaluations = -5 }
        colour = "blue"

        [run]
        jobs = 0

        [[problems]]
        name = "spheer"

        [[problems]]
        name = "sphere"
        settings = { dim = "ten", colour = 3 }

        [[optimizers]]
        name = "gd"
        hyper = { lr = "fast" }
        grid = { momentum = [0.0, "lots"] }
        """)
    expected = [
        "colour: unknown key",
        "seeds[2]: seed 1 is listed twice",
        "budgets[0]: budget evaluations=-5 must be positive",
        "run.jobs: expected a positive integer, got 0",
        "problems[0].name: unknown problem 'spheer' (did you mean 'sphere'?); known:",
        "problems[1].settings.dim: expected an integer, got 'ten'",
        "problems[1].settings.colour: problem 'sphere' has no setting 'colour'; known: dim, device",
        "optimizers[0].hyper.lr: expected a number, got 'fast'",
        "optimizers[0].grid.momentum[1]: expected a number, got 'lots'",
    ]
    assert len(lines) == len(expected)
    for needle in expected:
        assert any(line.startswith(needle) for line in lines), needle


def test_bad_values_are_found_by_building_each_configuration(tmp_path):
    lines = mistakes(tmp_path, """
        [[problems]]
        name = "sphere"
        grid = { dim = [4, 0] }

        [[optimizers]]
        name = "montecarlo"
        hyper = { population = 1 }
        """)
    assert len(lines) == 2
    assert lines[0].startswith("optimizers[0]: montecarlo: population=1 must be at least 2")
    assert lines[1].startswith("problems[0] (dim=0): problem 'sphere': dim=0 must be a positive integer")


def test_duplicate_cells_name_both_entries(tmp_path):
    lines = mistakes(tmp_path, """
        [[problems]]
        name = "sphere"

        [[optimizers]]
        name = "gd"
        hyper = { lr = 0.1 }

        [[optimizers]]
        name = "gd"
        grid = { lr = [0.01, 0.1] }
        """)
    assert lines == ["optimizers[1] (lr=0.1) repeats optimizers[0]: 1 duplicate cell: the same configuration twice"]


def test_toml_syntax_error_is_one_line(tmp_path):
    lines = mistakes(tmp_path, "[[problems]]\nname = sphere\n")
    assert len(lines) == 1 and lines[0].startswith("TOML syntax error:") and "line 2" in lines[0]


def test_packaged_matrices_resolve_by_name_and_validate():
    assert {"default", "gpu", "gradient-free"} <= set(packaged())
    default = load_matrix("default")
    assert default.name == "default" and len(default.cells) + len(default.tunings) > 0
    evaluations = default.cells + [c for t in default.tunings for c in t.evaluations]
    seeds = {c.seed for c in evaluations}
    where = lambda c: config_key(c.problem, c.problem_args)
    with_gd = {where(c) for c in evaluations if c.optimizer == "gd"}
    paired = {(where(c), c.label) for c in evaluations if c.optimizer != "gd" and where(c) in with_gd}
    # every paired test against gd can pass Holm's correction: the smallest two-sided Wilcoxon p is 2 / 2^n
    assert len(paired) > 1 and len(paired) * 2 / 2 ** len(seeds) < 0.05
    assert {c.problem for c in evaluations} == {"noprop-dt", "noprop-net", "backprop-net"}
    assert {c.seed for c in default.trials()}.isdisjoint(seeds)
    free = load_matrix("gradient-free")
    assert {c.optimizer for t in free.tunings for c in t.evaluations} >= {"gd", "pgpe", "openes", "lm-ma-es"}
    assert {len(t.evaluations) for t in free.tunings} == {6}
    gpu = load_matrix("gpu", local=False)  # validated on the CPU; the GPU is the workers' business
    assert all(c.device.startswith("cuda") for c in gpu.cells)


def test_cli_reports_spec_mistakes_with_exit_code_2(tmp_path, capsys):
    path = write(tmp_path, """
        [[problems]]
        name = "sphere"
        [[optimizers]]
        name = "gd"
        hyper = { lrr = 0.1 }
        [[optimizers]]
        name = "nosuch"
        """)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err)
    assert err[0].startswith(f"error: {path}: optimizers[0].hyper.lrr: optimizer 'gd' has no hyperparameter 'lrr' (did you mean 'lr'?); known:")
    assert err[1].startswith(f"{path}: optimizers[1].name: unknown optimizer 'nosuch'")


@pytest.mark.parametrize("argv,needle", [
    (["run", "no-such-matrix"], "no matrix file 'no-such-matrix'"),
    (["run", "default", "-p", "sphere"], "not both"),
    (["run", "-p", "sphere", "-j", "0"], "--jobs 0: expected a positive integer, got 0"),
    (["run", "-p", "sphere", "--backend", "mpi"], "unknown backend 'mpi'"),
    (["run", "-p", "sphere(dim=ten)"], "-p sphere(dim=ten): dim: expected an integer, got 'ten'"),
])
def test_cli_input_mistakes(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_dry_run_lists_cells_and_runs_nothing(tmp_path, capsys):
    path = write(tmp_path, 'unsupported = "skip"\n' + GOOD)
    store = tmp_path / "store"
    assert main(["run", str(path), "--dry-run", "--out", str(store)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "matrix matrix: 42 cells, 0 stored"
    cells = [line for line in lines if "seed=" in line]
    assert len(cells) == 42 and all(line.endswith("  -") for line in cells)
    assert sum(line.startswith("skipped ") for line in lines) == 2
    assert not store.exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_gpu_setting_needs_a_gpu_here_unless_cells_run_elsewhere(tmp_path):
    text = """
        [[problems]]
        name = "sphere"
        settings = { device = "cuda" }
        [[optimizers]]
        name = "gd"
        """
    lines = mistakes(tmp_path, text)
    assert len(lines) == 1 and lines[0].startswith("problems[0].settings.device: device 'cuda' asked for")
    cells = load_matrix(str(write(tmp_path, text)), local=False).cells  # a Dask cluster's workers judge
    assert [c.device for c in cells] == ["cuda"]


ND = ["-p", "noprop-dt(T=2,hidden=8)", "-s", "1", "-b", "sample_forwards=6e4", "--dry-run"]


@pytest.mark.parametrize("argv,needle", [
    (["-o", "cma + head: analytic + head: gd"], "part 'head' is overridden twice"),
    (["-o", "cma + head: gd(lr=1e999)"], "-o cma + head: gd(lr=1e999): part 'head': lr: inf is not a finite number"),
    (["-p", "sphere(dim=10,dim=20)", "-o", "gd"], "problem setting 'dim' is given twice (dim=10, dim=20)"),
    (["-o", "gd", "-b", "evaluations=2000", "-b", "evaluations=3000"], "budget evaluations is given twice"),
    (["-o", "gd", "-b", "steps=0.5"], "budget steps=0.5 must be a whole number"),
    (["-o", "gd", "-b", "evaluations=2000.7"], "budget evaluations=2000.7 must be a whole number"),
    (["-o", "gd", "-b", "peak_memory_bytes=1.5"], "budget peak_memory_bytes=1.5 must be a whole number"),
])
def test_nonsense_is_refused_in_one_line(argv, needle, capsys):
    assert main(["run", *ND, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("solver,place,needle", [
    ("nosuch", "", "unknown optimizer 'nosuch'"),
    ("gd(lrr=1)", ": lrr", "optimizer 'gd' has no hyperparameter 'lrr' (did you mean 'lr'?)"),
    ("gd(lr='fast')", ": lr", "expected a number, got 'fast'"),
    ("gd(lr=1e999)", ": lr", "inf is not a finite number"),
])
@pytest.mark.parametrize("given", ["flag", "toml"])
def test_a_mistake_in_a_part_override_is_one_line_at_its_place(solver, place, needle, given, tmp_path, capsys):
    if given == "flag":
        argv, at = ["run", *ND, "-o", f"cma + head: {solver}"], f"error: -o cma + head: {solver}: part 'head'{place}: "
    else:
        spec = write(tmp_path, f"""
            [[problems]]
            name = "noprop-dt"
            settings = {{ T = 2, hidden = 8 }}
            [[optimizers]]
            name = "cma"
            parts = {{ head = "{solver}" }}
            """)
        argv, at = ["run", str(spec), "--dry-run"], f"error: {spec}: optimizers[0].parts.head{place}: "
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(at + needle), err


def test_a_matrix_name_too_long_for_a_folder_is_refused_before_any_folder_is_made(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write(tmp_path, f'name = "{"n" * 300}"\n[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n')
    assert main(["run", str(spec), "-q"]) == 2
    err = capsys.readouterr().err
    assert "name: " in err and "at most 255 bytes" in err and sorted(tmp_path.iterdir()) == [spec]
    long = tmp_path / "new" / ("x" * 300)  # the file system refuses it: the folders made on the way go again
    assert main(["run", "-p", "sphere", "-o", "gd", "-s", "1", "-b", "steps=2", "--out", str(long), "-q"]) == 2
    assert "cannot write there (File name too long)" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [spec]


@pytest.mark.parametrize("key", ["jobs", "time_limit", "gpu_slots", "batch_runs"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_a_run_setting_is_checked_by_one_rule_in_the_run_table_and_as_a_flag(key, value, tmp_path, capsys):
    spec = write(tmp_path, f'[run]\n{key} = {value}\n[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n')
    assert main(["run", str(spec), "--dry-run"]) == 2
    in_table = capsys.readouterr().err.strip()
    assert main(["run", "-p", "sphere", "-o", "gd", f"--{key.replace('_', '-')}", value, "--dry-run"]) == 2
    as_flag = capsys.readouterr().err.strip()
    assert in_table.startswith(f"error: {spec}: run.{key}: ") and as_flag.startswith(f"error: --{key.replace('_', '-')} ")
    assert in_table.split(f"run.{key}: ")[1].replace(".0", "") == as_flag.split(f"{value}: ")[1].replace(".0", "")


P = ["-p", "sphere(dim=10)", "-o", "gd", "-s", "1", "-b", "evaluations=2000"]


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_time_limit_must_be_a_positive_finite_number(value, tmp_path, capsys):
    assert main(["run", *P, "--time-limit", value, "--out", str(tmp_path / "s"), "-q"]) == 2
    one_line_error(capsys, f"--time-limit {value}")
    spec = write(tmp_path, f"[run]\ntime_limit = {value}\n[[problems]]\nname = \"sphere\"\n[[optimizers]]\nname = \"gd\"\n")
    assert main(["run", str(spec), "--dry-run"]) == 2
    one_line_error(capsys, "run.time_limit")


@pytest.mark.parametrize("code,needle", [("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
                                         ("raise KeyError('x')\n", "KeyError")])
def test_an_import_that_exits_or_raises_is_one_line_naming_the_file(code, needle, tmp_path, capsys):
    (tmp_path / "bad.py").write_text(code)
    spec = write(tmp_path, 'imports = ["bad.py"]\n[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n')
    assert main(["run", str(spec), "--dry-run"]) == 2
    one_line_error(capsys, f"{tmp_path / 'bad.py'} failed to import ({needle}")


@pytest.mark.parametrize("name", [".", ".."])
def test_a_matrix_name_must_be_one_plain_folder_name(name, tmp_path, capsys):
    spec = write(tmp_path, f'name = "{name}"\n[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n')
    assert main(["run", str(spec), "--dry-run"]) == 2
    one_line_error(capsys, "name:")


def test_non_finite_numbers_are_refused_at_validation_with_their_place(tmp_path, capsys):
    spec = write(tmp_path, """
        [[problems]]
        name = "noprop-block"
        settings = { T = 2, ridge = inf }
        [[optimizers]]
        name = "gd"
        hyper = { lr = nan }
        grid = { momentum = [0.0, -inf] }
        """)
    assert main(["run", str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(f"{spec}: ")[1].split(":")[0] for line in err] == [
        "problems[0].settings.ridge", "optimizers[0].hyper.lr", "optimizers[0].grid.momentum[1]"]
    assert all("is not a finite number" in line for line in err)


def test_a_population_too_large_for_memory_is_refused_before_running(tmp_path, capsys):
    out = tmp_path / "store"
    assert main(["run", "-p", "sphere(dim=10)", "-o", "montecarlo(population=1000000000)", "--out", str(out), "-q"]) == 2
    one_line_error(capsys, "a generation of 1,000,000,000 candidates of 10 parameters needs at least 160 GB")
    assert not out.exists()
    assert main(["noprop", "-o", "beam(beam=100000000)", "--set", "T=2", "--out", str(out), "-q"]) == 2
    one_line_error(capsys, "block 1: optimizer 'beam': a generation of")


def test_validation_reports_an_unknown_setting_with_the_other_mistakes_and_close_names(tmp_path, capsys):
    spec = write(tmp_path, """
        [[problems]]
        name = "noprop-block"
        settings = { hiden = 16, T = "three" }
        [[optimizers]]
        name = "snez"
        """)
    assert main(["run", str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    hiden = next(line for line in err if ".hiden:" in line)
    assert "(did you mean 'hidden'?)" in hiden and all(f" {k}," in hiden for k in ("t", "ridge", "readout_draws"))
    assert any(".T: expected an integer" in line for line in err)
    assert any("unknown optimizer 'snez' (did you mean 'snes'?)" in line for line in err)


def test_a_list_value_reaches_validation_as_a_list(capsys):
    assert main(["run", "-p", "sphere", "-o", "beam(sigma0=[0.1,0.2])", "--dry-run"]) == 2
    one_line_error(capsys, "-o beam(sigma0=[0.1,0.2]): sigma0: expected a number, got [0.1, 0.2]")
