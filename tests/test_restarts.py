"""IPOP and BIPOP restarts: regime rules, seeds, the shared ledger, best over runs, the registry hook."""
import math

import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.optimizers.restarts import MAX_RESTARTS, Restarts, default_max_generations
from optsuite.problems.synthetic import Sphere
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.targets import StopAtTarget
from optsuite.testing import same, snapshot

RESTARTABLE = ["cma", "torch-cma", "snes", "pgpe", "openes", "lm-ma-es"]


class Flat(Sphere):
    """A constant loss: every ES stops after one generation (the spread of its losses is 0).

    ``sizes`` records the population of every evaluate call, so one entry per run.
    """

    def __init__(self, dim):
        super().__init__(dim)
        self.sizes = []

    def f(self, x):
        self.sizes.append(x.shape[0])
        return torch.ones(x.shape[0], dtype=x.dtype)


def runs_of(opt, problem, seed=0, steps=10_000):
    """Step ``opt`` until done: one (regime, sigma0, population) row per run (each run is one generation)."""
    opt.init(problem, seed)
    rows = []
    for step in range(steps):
        regime, sigma0 = opt.regime, opt.inner.hyper["sigma0"]
        info = opt.step(problem, problem.draw(step, seed))
        rows.append((regime, sigma0, problem.sizes[-1]))
        if info.done:
            return rows
    raise AssertionError("restarts never ended")


def test_ipop_doubles_the_population_for_nine_restarts_then_stops():
    rows = runs_of(OPTIMIZERS.create("torch-cma", restarts="ipop"), Flat(3))
    base = 4 + 3 * math.log(3)  # pycma doubles the unrounded default; run 0 is torch-cma's own default
    assert [r[2] for r in rows] == [int(base * 2**k) for k in range(MAX_RESTARTS + 1)]
    assert all(r[1] == 0.5 for r in rows)


def test_bipop_alternates_regimes_by_the_budget_each_has_spent():
    rows = runs_of(OPTIMIZERS.create("torch-cma", restarts="bipop", sigma0=1.0), Flat(3))
    base = 4 + 3 * math.log(3)
    spent = {"small": rows[0][2], "large": 0}  # the first run counts as small
    large_runs = 0
    for regime, sigma0, population in rows[1:]:
        if regime == "large":
            assert spent["small"] >= max(1, spent["large"])
            large_runs += 1
            assert (population, sigma0) == (int(base * 2**large_runs), 1.0)
        else:
            assert spent["small"] < spent["large"]
            assert int(base) <= population <= base * 2**large_runs and 0.01 <= sigma0 <= 1.0
        spent[regime] += population
    assert rows[0][0] == "small" and large_runs == MAX_RESTARTS
    small = [r for r in rows[1:] if r[0] == "small"]
    assert len(small) > 2 and len({r[1] for r in small}) == len(small) and len({r[2] for r in small}) > 2


def test_a_small_run_is_cut_at_half_the_large_budget_over_its_population():
    opt = OPTIMIZERS.create("torch-cma", restarts="bipop")
    opt.init(PROBLEMS.create("sphere", dim=4), seed=0)
    assert opt.population0 == 4 + 3 * math.log(4)
    opt.population0, opt.spent = 8.5, {"small": 100, "large": 400}
    population, sigma0, limit = opt.sizing("small")
    assert limit == min(default_max_generations(4, 8.5), 0.5 * 400 / population)
    assert opt.sizing("large") == (8, 0.5, default_max_generations(4, 8.5))
    assert default_max_generations(5, 4 + 3 * math.log(5)) == 3330  # pycma's maxiter in 5-d


def test_the_first_run_is_the_plain_optimizer_until_it_stops():
    problem = PROBLEMS.create("bbob", function=15, dim=3, instance=1)
    plain = run(problem, OPTIMIZERS.create("torch-cma", sigma0=2.0), Budget(evaluations=20_000), seed=7)
    wrapped = run(problem, OPTIMIZERS.create("torch-cma", sigma0=2.0, restarts="bipop"), Budget(evaluations=20_000),
                  seed=7)
    assert plain.stop == "done" and wrapped.stop == "evaluations"
    first = [r["loss"] for r in plain.trace]
    assert [r["loss"] for r in wrapped.trace[: len(first)]] == first
    assert wrapped.spent["evaluations"] >= 20_000 > 3 * plain.spent["evaluations"]


def test_restarts_start_elsewhere_and_reach_the_bbob_target_a_single_run_misses():
    problem = PROBLEMS.create("bbob", function=15, dim=3, instance=2)
    target = Budget(evaluations=30_000)
    plain = run(problem, OPTIMIZERS.create("torch-cma", sigma0=2.0), target, seed=2)
    opt = OPTIMIZERS.create("torch-cma", sigma0=2.0, restarts="bipop")
    wrapped = run(problem, opt, target, seed=2)
    assert min(r["best_loss"] for r in wrapped.trace) < min(r["best_loss"] for r in plain.trace)
    assert opt.runs > 1


def test_best_is_the_run_with_the_lowest_latest_loss():
    problem = PROBLEMS.create("sphere", dim=3)
    opt = OPTIMIZERS.create("torch-cma", restarts="ipop")
    first = run(problem, OPTIMIZERS.create("torch-cma"), seed=0)  # converges and stops
    result = run(problem, opt, Budget(steps=len(first.trace) + 3), seed=0)
    assert opt.runs == 1 and result.metrics["train_loss"] < 1e-10
    assert torch.equal(result.best, first.best)
    assert problem.metrics(opt.inner.best())["train_loss"] > 1e-6  # the fresh run is far from converged


def test_every_evaluation_is_charged_to_the_one_ledger():
    problem = Flat(4)
    result = run(problem, OPTIMIZERS.create("snes", restarts="ipop"), Budget(evaluations=10**6), seed=0)
    assert result.stop == "done"
    assert result.spent["evaluations"] == sum(int((4 + 3 * math.log(4)) * 2**k) for k in range(MAX_RESTARTS + 1))
    assert result.spent["evaluations"] == sum(problem.sizes[:-1])  # the last is metrics(), uncharged


@pytest.mark.parametrize("name", RESTARTABLE)
def test_any_population_optimizer_takes_bipop_and_is_deterministic(name):
    problem = PROBLEMS.create("rastrigin", dim=4)
    a = run(problem, OPTIMIZERS.create(name, restarts="bipop"), Budget(evaluations=3000), seed=1)
    b = run(problem, OPTIMIZERS.create(name, restarts="bipop"), Budget(evaluations=3000), seed=1)
    assert a.status == "ok" and a.stop in ("evaluations", "done")
    assert [r["loss"] for r in a.trace] == [r["loss"] for r in b.trace] and torch.equal(a.best, b.best)
    flat = run(Flat(4), OPTIMIZERS.create(name, restarts="bipop"), Budget(evaluations=10**6), seed=1)
    assert flat.stop == "done" and flat.status == "ok"


def test_the_wrapper_reports_its_inner_optimizer():
    opt = OPTIMIZERS.create("pgpe", restarts="ipop", sigma0=0.2)
    assert isinstance(opt, Restarts) and opt.name == "pgpe"
    assert opt.hyper["restarts"] == "ipop" and opt.hyper["sigma0"] == 0.2
    assert opt.default_budget == OPTIMIZERS.get("pgpe").default_budget


@pytest.mark.parametrize("name, hyper", [("gd", {"restarts": "bipop"}), ("torch-cma", {"restarts": "lpop"}),
                                         ("torch-cma", {"restarts": "ipop", "sigma0": -1.0}),
                                         ("torch-cma", {"restarts": "ipop", "popsize": 4})])
def test_refusals_are_one_line_user_errors(name, hyper):
    with pytest.raises(UserError) as err:
        OPTIMIZERS.create(name, **hyper)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("unit, limit", [("steps", 40), ("evaluations", 700), ("sample_forwards", 700), ("flops", 5000.0)])
def test_respects_a_budget_across_restarts(unit, limit):
    problem = PROBLEMS.create("sphere", dim=3)
    result = run(problem, OPTIMIZERS.create("torch-cma", restarts="bipop"), Budget(**{unit: limit}), seed=0)
    assert result.stop == unit and all(row[unit] < limit for row in result.trace[:-1])
    assert result.trace[-1][unit] >= limit


def test_a_spent_memory_budget_stops_before_any_step_and_the_problem_is_untouched():
    problem = PROBLEMS.create("rastrigin", dim=3)
    before = snapshot(problem)
    result = run(problem, OPTIMIZERS.create("lm-ma-es", restarts="bipop"), Budget(peak_memory_bytes=1), seed=0)
    assert result.spent["steps"] == 0 and result.best is not None
    run(problem, OPTIMIZERS.create("lm-ma-es", restarts="bipop"), Budget(evaluations=2000), seed=0)
    assert same(before, snapshot(problem))


def test_restarts_is_a_setting_of_a_matrix_entry_and_of_the_command_line(tmp_path, capsys):
    from optsuite.cli import main
    from optsuite.store import Store

    out = tmp_path / "store"
    assert main(["run", "-p", "rastrigin(dim=3)", "-o", "torch-cma(restarts=bipop,sigma0=2.0)", "-s", "1",
                 "-b", "evaluations=3000", "--out", str(out), "-q"]) == 0
    cells = Store(out).cells()
    assert list(cells["label"]) == ["torch-cma(restarts=bipop,sigma0=2.0)"] and cells["spent_evaluations"][0] >= 3000
    assert main(["run", "-p", "sphere(dim=3)", "-o", "gd(restarts=ipop)", "--dry-run", "--out", str(out)]) == 2
    assert "has no hyperparameter 'restarts'" in capsys.readouterr().err


def test_population_is_what_every_run_evaluates_across_restarts():
    """What a memory check guards is what is evaluated: the current run's population, also after restarts."""
    from optsuite.testing import population_mismatch

    problem = Flat(3)
    opt = OPTIMIZERS.create("torch-cma", restarts="ipop")
    assert population_mismatch(problem, opt, Budget(steps=8)) is None
    steps = problem.sizes[:8]  # then the final metrics' one row
    assert len(set(steps)) == 8  # every step a new run, each of another population
    assert steps == sorted(steps) and opt.population(3) > steps[-1]  # the ninth run's, started after the 8th step


@pytest.mark.parametrize("make,rows", [
    (lambda: OPTIMIZERS.create("snes", population=5, mirrored=True), 6),
    (lambda: OPTIMIZERS.create("snes", population=5, mirrored=True, restarts="bipop"), 6),
    (lambda: StopAtTarget(OPTIMIZERS.create("openes", population=7), 1e-3), 8),
])
def test_wrapped_and_mirrored_optimizers_report_the_rows_they_evaluate(make, rows):
    from optsuite.testing import population_mismatch

    opt = make()
    assert opt.population(10) == rows  # mirrored pairs: an odd population is rounded up
    assert population_mismatch(PROBLEMS.create("sphere", dim=10), opt, Budget(steps=5)) is None


def test_a_restart_that_would_not_fit_in_memory_ends_the_run(monkeypatch):
    from optsuite.optimizer import Optimizer

    monkeypatch.setattr(Optimizer, "memory_mistake", lambda self, problem: "too large" if self.hyper["population"] > 20 else None)
    problem = Flat(3)
    rows = runs_of(OPTIMIZERS.create("torch-cma", restarts="ipop"), problem)
    assert [r[2] for r in rows] == [7, 14]  # the next, 28, would not fit: done instead


def test_wrapper_settings_compose_and_a_registry_forgets_what_it_unregisters():
    from optsuite.optimizers.restarts import restartable, with_restarts
    from optsuite.optimizers.snes import SNES
    from optsuite.registry import Registry

    registry = Registry("optimizer", "optsuite.optimizers")
    registry.register("snes")(SNES)
    registry.register_wrapper("restarts", restartable, with_restarts)
    registry.register_wrapper("stop_below", lambda cls: True,
                              lambda factory, target: lambda **hyper: StopAtTarget(factory(**hyper), target))
    opt = registry.create("snes", restarts="ipop", stop_below=0.5, population=6)
    assert isinstance(opt, StopAtTarget) and isinstance(opt.inner, Restarts)  # both wrappers, composed
    assert opt.name == "snes" and opt.hyper["restarts"] == "ipop" and opt.population(4) == 6
    result = run(PROBLEMS.create("sphere", dim=4), opt, Budget(steps=2000), seed=0)
    assert result.stop == "done" and result.trace[-1]["loss"] <= 0.5
    registry.unregister("snes")
    assert not registry.knows("snes")
    with pytest.raises(UserError, match="nothing to unregister"):
        registry.unregister("snes")
