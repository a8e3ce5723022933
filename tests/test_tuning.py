"""Tuning as part of a matrix: trials on disjoint seeds at a fraction of the budget, the pick by train loss,
evaluation with the pick, resume, and the pick and its cost in the report."""
import json
import textwrap

import pandas as pd
import pytest

from optsuite.cli import main
from optsuite.report.results import Results
from optsuite.runners.spec import load_matrix
from optsuite.store import Store

MATRIX = """
name = "tuned"
seeds = 5
budgets = { evaluations = 400 }
tuning = { seeds = 2, fraction = 0.5 }
[[problems]]
name = "sphere"
settings = { dim = 4 }
[[optimizers]]
name = "snes"
tune = { sigma0 = [3.0, 0.3, 1e-4] }
[[optimizers]]
name = "montecarlo"
hyper = { radius = 0.5 }
"""


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tuned")
    spec = folder / "m.toml"
    spec.write_text(MATRIX)
    assert main(["run", str(spec), "--out", str(folder / "store"), "-q"]) == 0
    return spec, folder / "store"


def test_dry_run_lists_the_tuning_cells_apart_and_counts_the_evaluations_still_to_pick(tmp_path, capsys):
    spec = tmp_path / "m.toml"
    spec.write_text(MATRIX)
    assert main(["run", str(spec), "--dry-run", "--out", str(tmp_path / "s")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "tuning cells: 6, 0 stored"
    trials = lines[1:7]
    assert all("seed=100" in l and "budget=evaluations=200" in l and "snes(sigma0=" in l for l in trials)
    assert lines[7] == "matrix tuned: 5 cells (+ 5 once their tuning is done), 0 stored"
    assert all("montecarlo" in l for l in lines[8:13])
    waiting = lines[13:18]
    assert all(l.startswith("(after tuning)") and "snes(sigma0=tuned)" in l and l.endswith("waits for its tuning")
               for l in waiting) and [l.split("seed=")[1][0] for l in waiting] == list("01234")


def test_the_pick_has_the_lowest_median_final_train_loss_on_the_tuning_seeds(tuned):
    spec, store = tuned
    cells = Store(store).cells()
    trials = cells[cells["role"] == "tune"]
    assert len(trials) == 6 and set(trials["seed"]) == {1000, 1001} and set(trials["budget"]) == {'{"evaluations": 200}'}
    medians = trials.groupby(trials["hyper"].map(lambda h: json.loads(h)["sigma0"]))["metric_train_loss"].median()
    evaluations = cells[(cells["role"] == "evaluate") & (cells["optimizer"] == "snes")]
    assert len(evaluations) == 5 and set(evaluations["seed"]) == set(range(5))
    assert {json.loads(h)["sigma0"] for h in evaluations["hyper"]} == {medians.idxmin()}
    assert set(evaluations["label"]) == {"snes(sigma0=tuned)"}
    assert set(evaluations["tuning_group"]) == set(trials["tuning_group"])


def test_a_second_run_resumes_every_trial_and_evaluation(tuned, capsys):
    spec, store = tuned
    before = Store(store).cells().set_index("cell_id")["run_id"]
    assert main(["run", str(spec), "--out", str(store)]) == 0
    err = capsys.readouterr().err
    assert "11 of 11 tuning and evaluation cells already stored" in err and "5 of 5 evaluation with the tuned values" in err
    assert Store(store).cells().set_index("cell_id")["run_id"].equals(before)


def test_the_report_shows_the_pick_and_the_tuning_cost_and_leaves_the_trials_out(tuned, tmp_path):
    spec, store = tuned
    results = Results.load(store)
    assert len(results.cells) == 10 and set(results.entries()) == {"montecarlo(radius=0.5)", "snes(sigma0=tuned)"}
    snes = results.cells[results.cells["optimizer"] == "snes"]
    tuned = results.tuning(snes)
    assert tuned.trials == 6 and tuned.spent["sample_forwards"] == results.trials["spent_sample_forwards"].sum()
    assert tuned.per_run["sample_forwards"] == tuned.spent["sample_forwards"] / 5
    assert main(["report", str(store), "--out", str(tmp_path / "rep")]) == 0
    quality = pd.read_csv(tmp_path / "rep" / "tables" / "quality-sphere-dim-4.csv").set_index("optimizer")
    assert quality.loc["snes(sigma0=tuned)", "tuned"] == tuned.picked and tuned.picked.startswith("sigma0=")
    assert quality.loc["snes(sigma0=tuned)", "tuning sample-forwards"] == tuned.spent["sample_forwards"]
    plain = pd.read_csv(tmp_path / "rep" / "tables" / "equal-sample-forwards-sphere-dim-4.csv")
    shifted = pd.read_csv(tmp_path / "rep" / "tables" / "equal-sample-forwards-tuned-sphere-dim-4.csv")
    assert shifted["sample-forwards budget"].max() > plain["sample-forwards budget"].max()


@pytest.mark.parametrize("change,message", [
    ('tuning = { seeds = [3, 1000], fraction = 0.5 }', "tuning.seeds: seed 3 is also an evaluation seed"),
    ('tuning = { seeds = 2, fraction = 1.5 }', "tuning.fraction: expected a number in (0, 1], got 1.5"),
    ('tuning = { seeds = 2, speed = 1 }', "tuning.speed: unknown key"),
])
def test_bad_tuning_settings_are_refused_with_their_place(tmp_path, change, message):
    spec = tmp_path / "m.toml"
    spec.write_text(MATRIX.replace("tuning = { seeds = 2, fraction = 0.5 }", change))
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_matrix(str(spec))


@pytest.mark.parametrize("tune,message", [
    ("{ sigma0 = [0.3, -1.0] }", "sigma0=-1.0 must be positive"),
    ("{ speed = [1, 2] }", "optimizers[0].tune.speed: optimizer 'snes' has no hyperparameter 'speed'"),
    ("{ sigma0 = 0.3 }", "optimizers[0].tune.sigma0: expected a non-empty list"),
])
def test_bad_tuning_grids_are_refused_with_their_place(tmp_path, tune, message):
    spec = tmp_path / "m.toml"
    spec.write_text(MATRIX.replace("tune = { sigma0 = [3.0, 0.3, 1e-4] }", f"tune = {tune}"))
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_matrix(str(spec))


def test_a_tuned_value_cannot_also_be_set(tmp_path):
    spec = tmp_path / "m.toml"
    spec.write_text(MATRIX.replace('name = "snes"\n', 'name = "snes"\nhyper = { sigma0 = 0.5 }\n'))
    with pytest.raises(Exception, match="optimizers.0..tune.sigma0: also set in hyper or grid"):
        load_matrix(str(spec))
