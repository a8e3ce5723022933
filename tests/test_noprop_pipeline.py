"""The NoProp pipeline: parts trained independently, assembled, accuracy and summed cost; the CLI command."""
import math

import pytest

from optsuite.cli import main
from optsuite.budget import Budget
from optsuite.errors import UserError
from optsuite.runners.noprop_pipeline import train_noprop

SMALL = {"T": 3, "hidden": 8}


def test_gradient_descent_on_a_tiny_budget_returns_accuracy_and_total_cost():
    result = train_noprop(SMALL, "gd", {"lr": 1e-2}, Budget(steps=5))
    assert result.status == "ok" and 0 <= result.test_accuracy <= 1
    assert [p["part"] for p in result.parts] == ["block 1", "block 2", "block 3", "head"]
    assert all(p["spent_steps"] == 5 for p in result.parts)
    assert result.spent["steps"] == 20
    assert result.spent["sample_forwards"] == sum(p["spent_sample_forwards"] for p in result.parts) == 20 * 128 * 3


def test_random_features_with_closed_form_parts_classify_digits_without_a_gradient():
    settings = {"T": 3, "block": "random-features", "hidden": 256, "ridge": 1e-3}
    result = train_noprop(settings, "analytic", budget=Budget(steps=1))
    assert result.status == "ok" and result.test_accuracy > 0.9
    assert all(p["stop"] == "done" for p in result.parts)  # one closed-form solve each, the head too


def test_parallel_parts_give_the_same_network():
    serial = train_noprop(SMALL, "gd", {"lr": 1e-2}, Budget(steps=3), seed=1)
    parallel = train_noprop(SMALL, "gd", {"lr": 1e-2}, Budget(steps=3), seed=1, jobs=2)
    assert parallel.metrics == serial.metrics


def test_a_failed_part_is_recorded_not_lost():
    result = train_noprop(SMALL, "gd", {"lr": 1e30}, Budget(steps=20))
    assert result.status != "ok" and math.isnan(result.test_accuracy)
    assert any(p["status"] != "ok" and p["error"] for p in result.parts)


@pytest.mark.parametrize("args,message", [
    (("gd-typo", {}), "unknown optimizer 'gd-typo'"),
    (("analytic", {}), "block 1: optimizer 'analytic' needs a problem with a linear readout"),
    (("gd", {"lr": -1}), "lr=-1"),
])
def test_bad_input_is_refused_before_anything_runs(args, message):
    with pytest.raises(UserError, match=message):
        train_noprop(SMALL, *args)
    with pytest.raises(UserError, match="jobs=0"):
        train_noprop(SMALL, "gd", jobs=0)
    with pytest.raises(UserError, match="T=0 must be a positive integer"):
        train_noprop({**SMALL, "T": 0}, "gd")


def test_cli_noprop_command(capsys):
    code = main(["noprop", "-o", "gd(lr=0.01)", "--set", "T=2", "--set", "hidden=8", "-b", "steps=3", "-s", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("test_accuracy") == 3 and "over 2 seed(s)" in out
    assert main(["noprop", "--set", "block=lstm"]) == 2
    assert "unknown block family 'lstm'" in capsys.readouterr().err
