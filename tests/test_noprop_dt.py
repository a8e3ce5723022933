"""NoProp-DT networks trained part by part as matrix cells: assembly, summed costs, split budgets, mixed solvers,
failures by part, checkpoints, resume after kill -9, the noprop command and the Networks table."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import torch

from optsuite.budget import Budget
from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.parts import CHECKPOINTS, plan, split_budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.runners.cell import Cell, result_rows
from optsuite.store import Store

SMALL = {"T": 3, "hidden": 8}
VOLATILE = ("spent_seconds", "spent_peak_memory_bytes")  # per-part record fields that vary from run to run


def parts_of(row):
    return json.loads(row["parts"])


def test_noprop_dt_is_listed_and_its_parts_are_the_blocks_and_the_head(capsys):
    assert main(["list", "problems"]) == 0 and "noprop-dt" in capsys.readouterr().out
    network = PROBLEMS.create("noprop-dt", **SMALL)
    assert network.part_labels() == ["block 1", "block 2", "block 3", "head"]
    parts = network.parts()
    assert [p.problem for p in parts] == ["noprop-block"] * 3 + ["noprop-head"] and parts[1].settings["t"] == 2
    assert parts[-1].settings["loss"] == "cross-entropy"
    assert network.parts({"head": ("linear_readout",)})[-1].settings["loss"] == "squared"  # a closed form can solve it


def test_a_network_cell_assembles_exactly_what_its_parts_trained_and_sums_their_costs():
    cell = Cell("noprop-dt", "gd", 1, Budget(steps=40), SMALL, {"lr": 0.01})
    row, trace = result_rows(cell)
    assert row["status"] == "ok" and row["network"]
    network = PROBLEMS.create("noprop-dt", **SMALL)
    bests, ledgers = {}, []
    for part in network.parts():
        result = run(part.build(), OPTIMIZERS.create("gd", lr=0.01), Budget(steps=10), seed=1)  # 40 steps / 4 parts
        bests[part.label], ledgers = result.best, ledgers + [result.spent]
    by_hand = network.metrics(network.assemble(bests))
    assert {k: row[f"metric_{k}"] for k in by_hand} == by_hand
    records = parts_of(row)
    assert [r["part"] for r in records] == network.part_labels() and all(r["budget"] == {"steps": 10} for r in records)
    for unit in ("steps", "evaluations", "sample_forwards", "flops"):
        assert row[f"spent_{unit}"] == sum(s[unit] for s in ledgers) == sum(r[f"spent_{unit}"] for r in records)
    assert row["spent_peak_memory_bytes"] == max(r["spent_peak_memory_bytes"] for r in records)


def test_checkpoints_give_the_assembled_networks_accuracy_against_its_total_cost():
    row, trace = result_rows(Cell("noprop-dt", "gd", 0, Budget(sample_forwards=4 * 2560), SMALL, {"lr": 0.01}))
    assert len(trace) == len(CHECKPOINTS) and [r["checkpoint"] for r in trace] == list(CHECKPOINTS)
    spent = [r["sample_forwards"] for r in trace]
    assert spent == sorted(spent) and spent[-1] == row["spent_sample_forwards"]
    assert trace[-1]["test_accuracy"] == row["metric_test_accuracy"]
    assert all(0 <= r["test_accuracy"] <= 1 and r["best_loss"] <= r["loss"] for r in trace)
    whole = result_rows(Cell("noprop-net", "gd", 0, Budget(steps=16), SMALL, {"lr": 0.01}))[1]  # a joint network too
    marked = [r for r in whole if not math.isnan(r.get("checkpoint", math.nan))]
    assert len(whole) == 16 and [r["steps"] for r in marked] == [1, 2, 4, 8, 16]  # 1/128 .. 1/16 share step 1


@pytest.mark.parametrize("init", ["fan-in", "per-input"])
def test_parts_are_built_with_the_networks_projections_and_readout_draws(init):
    network = PROBLEMS.create("noprop-dt", **SMALL, block="random-features", feature_init=init, readout_draws=2)
    parts = [part.build() for part in network.parts({"head": ("linear_readout",)})]
    for block, part in zip(network.blocks, parts):
        assert torch.equal(block.r_z, part.part.r_z) and torch.equal(block.c, part.part.c)
    assert all(p.readout_draws == 2 for p in parts)
    other = PROBLEMS.create("noprop-dt", **SMALL, block="random-features",
                            feature_init="per-input" if init == "fan-in" else "fan-in")
    assert not torch.equal(other.blocks[0].c, network.blocks[0].c)


def test_a_budget_for_the_whole_network_is_split_equally_or_by_size():
    budget = Budget(sample_forwards=1000, seconds=8.0, peak_memory_bytes=10**9)
    equal = split_budget(budget, [10, 30], "equal")
    assert [b.sample_forwards for b in equal] == [500, 500] and [b.seconds for b in equal] == [4.0, 4.0]
    by_size = split_budget(budget, [10, 30], "size")
    assert [b.sample_forwards for b in by_size] == [250, 750] and all(b.peak_memory_bytes == 10**9 for b in by_size)
    row, _ = result_rows(Cell("noprop-dt", "gd", 0, Budget(evaluations=400), {**SMALL, "budget_split": "size"}))
    records = parts_of(row)
    assert sum(r["budget"]["evaluations"] for r in records) <= 400
    assert records[-1]["budget"]["evaluations"] < records[0]["budget"]["evaluations"]  # the head is the smallest part


def test_a_part_override_reaches_the_named_part_only():
    cell = Cell("noprop-dt", "cma", 0, Budget(sample_forwards=40_000), SMALL, {"separable": True, "sigma0": 0.05},
                {"head": {"name": "analytic", "hyper": {}}})
    assert cell.label == "cma(separable=True,sigma0=0.05) + head: analytic"
    row, _ = result_rows(cell)
    solvers = {r["part"]: r["solver"] for r in parts_of(row)}
    assert solvers["head"] == "analytic(ridge=None)" and all(solvers[f"block {t}"].startswith("cma(") for t in (1, 2, 3))
    assert row["status"] == "ok" and parts_of(row)[-1]["stop"] == "done"
    plain = Cell("noprop-dt", "cma", 0, Budget(sample_forwards=40_000), SMALL, {"separable": True, "sigma0": 0.05})
    assert plain.cell_id != cell.cell_id


@pytest.mark.slow
def test_a_closed_form_part_runs_first_and_its_unspent_share_goes_to_the_searched_parts():
    budget = Budget(sample_forwards=200_000)
    cell = Cell("noprop-dt", "snes", 0, budget, SMALL, {"sigma0": 0.05}, {"head": {"name": "analytic", "hyper": {}}})
    row, _ = result_rows(cell, part_jobs=2)
    records = {r["part"]: r for r in parts_of(row)}
    head = records.pop("head")
    assert head["spent_sample_forwards"] < budget.sample_forwards / 4  # the closed form needs less than its share
    left = budget.sample_forwards - head["spent_sample_forwards"]
    assert [r["budget"]["sample_forwards"] for r in records.values()] == [left // 3] * 3
    assert budget.sample_forwards * 0.97 <= row["spent_sample_forwards"] <= budget.sample_forwards * 1.05  # + a last generation
    in_steps = Cell("noprop-dt", "snes", 0, Budget(steps=40), SMALL, {"sigma0": 0.05}, {"head": {"name": "analytic", "hyper": {}}})
    assert {r["budget"]["steps"] for r in parts_of(result_rows(in_steps)[0])} == {10}  # steps: shares stay
    timed = {r["part"]: r["budget"]["seconds"] for r in parts_of(result_rows(cell, 30.0, 4)[0])}
    # with as many part workers as parts each may take the whole time limit; the blocks, less the head's time
    assert timed["head"] == 30.0 and all(0 < timed[f"block {t}"] < 30.0 for t in (1, 2, 3))
    assert Budget(sample_forwards=100, seconds=2.0, peak_memory_bytes=7).less(
        {"sample_forwards": 30, "seconds": 1.5}) == Budget(sample_forwards=70, seconds=0.5, peak_memory_bytes=7)


def test_a_failed_part_fails_the_cell_by_name_and_the_other_parts_rows_are_kept():
    cell = Cell("noprop-dt", "gd", 0, Budget(steps=40), SMALL, {"lr": 0.01}, {"block 2": {"name": "gd", "hyper": {"lr": 1e30}}})
    row, _ = result_rows(cell)
    records = {r["part"]: r for r in parts_of(row)}
    assert row["status"] == "nan" and row["error"].startswith("block 2: ")
    assert records["block 2"]["status"] == "nan" and all(records[p]["status"] == "ok" for p in ("block 1", "block 3", "head"))
    assert "metric_test_accuracy" not in row and row["spent_steps"] > 0


@pytest.mark.parametrize("overrides,message", [
    ({"tail": {"name": "gd", "hyper": {}}}, "has no part 'tail'; parts: block 1, block 2, block 3, head"),
    ({"block 1": {"name": "analytic", "hyper": {}}}, "block 1: optimizer 'analytic' needs a problem with a linear readout"),
])
def test_plan_refuses_unknown_parts_and_solvers_that_cannot_run_them(overrides, message):
    with pytest.raises(UserError, match=message):
        plan(PROBLEMS.create("noprop-dt", **SMALL), "gd", {}, overrides)


def test_matrix_validation_refuses_bad_part_overrides_on_one_line_each(tmp_path, capsys):
    spec = tmp_path / "m.toml"
    spec.write_text(textwrap.dedent("""
        [[problems]]
        name = "noprop-dt"
        settings = { T = 2, hidden = 8 }
        [[problems]]
        name = "noprop-net"
        settings = { T = 2, hidden = 8 }
        [[optimizers]]
        name = "gd"
        parts = { tail = "analytic" }
        [[optimizers]]
        name = "gd"
        parts = { head = "nosuch" }
        [[optimizers]]
        name = "gd"
        parts = { head = "analytic" }
    """))
    assert main(["run", str(spec), "--dry-run", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # names first, as for any entry; the builds after
    assert len(err) == 1 and "optimizers[1].parts.head: unknown optimizer 'nosuch'" in err[0]
    spec.write_text(spec.read_text().replace('"nosuch"', '"gd"'))
    assert main(["run", str(spec), "--dry-run", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("optimizers[0]: problem 'noprop-dt' has no part 'tail'" in line for line in err)
    assert any("need a problem trained part by part; 'noprop-net' is not" in line for line in err)


@pytest.mark.slow
def test_the_cli_takes_part_overrides_and_runs_analytic_on_random_features(tmp_path, capsys):
    out = tmp_path / "store"
    assert main(["run", "-p", "noprop-dt(T=2,block=random-features,hidden=128,ridge=0.001)", "-p", "noprop-dt(T=2,hidden=8)",
                 "-o", "analytic", "-o", "gd(lr=0.01) + head: analytic", "-s", "1", "-b", "steps=30",
                 "--out", str(out), "-q"]) == 2  # analytic cannot run mlp blocks: refused, not run
    capsys.readouterr()
    assert main(["run", "-p", "noprop-dt(T=2,block=random-features,hidden=128,ridge=0.001)", "-o", "analytic",
                 "-o", "gd(lr=0.01) + head: analytic", "-s", "1", "-b", "steps=30", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("noprop-dt(T=2,block=random-features")  # the network's table first
    cells = Store(out).cells().set_index("label")
    assert cells.loc["analytic", "metric_test_accuracy"] > 0.8
    assert cells.loc["gd(lr=0.01) + head: analytic", "status"] == "ok"


@pytest.mark.slow
def test_noprop_command_is_a_one_problem_matrix_with_a_store_that_resumes(tmp_path, capsys):
    out = tmp_path / "store"
    argv = ["noprop", "-o", "gd(lr=0.01)", "--set", "T=2", "--set", "hidden=8", "-b", "steps=30", "-s", "2",
            "--out", str(out), "-q"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.count("test_accuracy") == 3 and "over 2 seed(s)" in first and "wall" in first
    cells = Store(out).cells()
    assert list(cells["problem"]) == ["noprop-dt"] * 2 and all(len(parts_of(r)) == 3 for _, r in cells.iterrows())
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # resumed from the store, not run again
    assert list(Store(out).cells()["run_id"]) == list(cells["run_id"])
    assert main(["noprop", "--set", "block=lstm", "--out", str(tmp_path / "x")]) == 2
    assert "unknown block family 'lstm'" in capsys.readouterr().err


@pytest.mark.slow
def test_parts_in_parallel_give_the_same_network(tmp_path):
    cell = Cell("noprop-dt", "gd", 3, Budget(steps=12), SMALL, {"lr": 0.01})
    serial, parallel = result_rows(cell)[0], result_rows(cell, part_jobs=2)[0]
    assert serial["metric_test_accuracy"] == parallel["metric_test_accuracy"]
    strip = lambda row: [{k: v for k, v in r.items() if k not in VOLATILE} for r in parts_of(row)]
    assert strip(serial) == strip(parallel)


MATRIX = """
name = "nets"
seeds = 4
budgets = { steps = 300 }  # long enough that a 2 s flush cannot store every cell at once
[[problems]]
name = "noprop-dt"
settings = { T = 2, hidden = 8 }
[[optimizers]]
name = "gd"
hyper = { lr = 0.01 }
[[optimizers]]
name = "snes"
hyper = { sigma0 = 0.05 }
"""


def comparable(store):
    cells = Store(store).cells().sort_values("cell_id").reset_index(drop=True)
    parts = [[{k: v for k, v in r.items() if k not in VOLATILE} for r in json.loads(p)] for p in cells["parts"]]
    drop = [c for c in cells if c in ("started", "finished", "run_id", "parts") or c in VOLATILE]
    return cells.drop(columns=drop), parts


@pytest.mark.slow
def test_kill_9_mid_network_matrix_then_resume_equals_the_uninterrupted_run(tmp_path):
    spec = tmp_path / "nets.toml"
    spec.write_text(MATRIX)
    assert main(["run", str(spec), "--out", str(tmp_path / "reference"), "-q"]) == 0
    store = tmp_path / "store"
    runner = subprocess.Popen([sys.executable, "-m", "optsuite.cli", "run", str(spec), "--out", str(store), "-q"],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, stored = time.time() + 120, 0
        while stored == 0 and time.time() < deadline and runner.poll() is None:
            time.sleep(0.05)
            stored = len(Store(store).cells()) if (store / "manifest.json").exists() else 0
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
    assert 0 < stored < 8, f"the kill came too late or too early ({stored} cells stored)"
    assert main(["run", str(spec), "--out", str(store), "-q"]) == 0
    (resumed, resumed_parts), (expected, expected_parts) = comparable(store), comparable(tmp_path / "reference")
    pd.testing.assert_frame_equal(resumed, expected)
    assert resumed_parts == expected_parts


@pytest.mark.slow
def test_report_prints_the_networks_table_first_with_chain_accuracy_and_the_named_baseline(tmp_path, capsys):
    out = tmp_path / "store"
    assert main(["run", "-p", "noprop-dt(T=2,hidden=8)", "-p", "backprop-net(T=2,hidden=8)", "-p", "sphere(dim=3)",
                 "-o", "gd(lr=0.01)", "-o", "snes(sigma0=0.05)", "-s", "5", "-b", "steps=24", "-j", "2", "--out", str(out),
                 "-q"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--baseline", "gd(lr=0.01)", "--out", str(tmp_path / "rep"), "--wide"]) == 0
    text = capsys.readouterr().out
    networks, rest = text.split("\n\n", 1)
    header = networks.splitlines()[0]
    assert "network" in header and "chain accuracy" in header and "vs gd(lr=0.01)" in header
    assert "noprop-dt(T=2,hidden=8)" in networks and "backprop-net(T=2,hidden=8)" in networks
    assert "sphere" not in networks and "sphere(dim=3)" in rest
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.index("## Networks") < md.index("## Summary")
    assert "figures/accuracy-noprop-dt-T-2-hidden-8.png" in md and "figures/accuracy-backprop-net-T-2-hidden-8.png" in md
    table = pd.read_csv(tmp_path / "rep" / "tables" / "networks.csv")
    assert set(table["verdict"]) <= {"-", "better", "worse", "n.s.", "differs"} and (table["pairs"].dropna() == 5).all()


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_noprop_shows_each_part_as_it_finishes_and_prints_train_accuracy_and_wall_seconds(jobs, tmp_path, capsys):
    assert main(["noprop", "--set", "T=2", "--set", "hidden=8", "-b", "steps=30", "-j", jobs, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    news = [line.strip() for line in captured.err.splitlines() if " done (" in line]
    assert sorted(n.split(": ", 1)[1].split(" done")[0] for n in news) == ["block 1", "block 2", "head"]
    assert [n.split(" done (")[1].split(" of")[0] for n in news] == ["1", "2", "3"]
    seed = next(line for line in captured.out.splitlines() if line.startswith("seed 0: ok"))
    assert "train_accuracy " in seed and re.search(r"seconds [\d.]+ \(parts summed\), [\d.]+ wall", seed)
