"""Evaluations to targets and COCO's expected running time."""
import math

import pytest

from optsuite.report.ert import expected_running_time
from optsuite.targets import StopAtTarget, evaluations_to_targets, run_to_targets
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run


def test_evaluations_to_targets_reads_the_first_row_at_or_below_each_target():
    trace = [{"evaluations": 10, "best_loss": 5.0}, {"evaluations": 20, "best_loss": 0.5},
             {"evaluations": 30, "best_loss": 0.01}]
    assert evaluations_to_targets(trace, [1.0, 0.5, 0.01, 1e-3]) == [20, 20, 30, math.inf]
    assert evaluations_to_targets([], [1.0]) == [math.inf]


def test_expected_running_time_charges_misses_their_whole_budget():
    assert expected_running_time([100, math.inf, 300], [150, 1000, 400]) == pytest.approx((100 + 1000 + 300) / 2)
    assert expected_running_time([math.inf, math.inf], [10, 10]) == math.inf


def test_a_run_stops_at_its_final_target():
    problem = PROBLEMS.create("sphere", dim=5)
    outcome = run_to_targets(problem, OPTIMIZERS.create("torch-cma"), 0, [1e-1, 1e-3], 50_000)
    assert outcome.status == "ok" and math.isfinite(outcome.hits[1])
    assert outcome.spent == outcome.hits[1]  # not one generation more
    longer = run(problem, OPTIMIZERS.create("torch-cma"), Budget(evaluations=50_000), seed=0)
    assert longer.spent["evaluations"] > outcome.spent


def test_stop_at_target_keeps_the_wrapped_optimizer_s_requirements():
    wrapped = StopAtTarget(OPTIMIZERS.create("analytic"), 1e-3)
    assert wrapped.supports(PROBLEMS.create("sphere", dim=3)) is not None
    assert wrapped.name == "analytic"


def test_bbob_ert_shows_failed_runs_as_failures_not_misses():
    from optsuite.benchmarks.bbob_ert import format_ert

    hit = {"hits": [100.0], "spent": 100.0, "status": "ok"}
    miss = {"hits": [float("inf")], "spent": 500.0, "status": "ok"}
    failed = {"hits": [float("inf")], "spent": 3.0, "status": "failed"}
    assert format_ert([miss, miss], 0) == "-"
    assert format_ert([failed, failed], 0) == "failed"
    assert format_ert([hit, failed], 0) == "100 [1 failed]"
    assert format_ert([hit, miss, failed], 0) == "600 (1/2) [1 failed]"
