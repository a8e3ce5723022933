"""NoProp-CT and NoProp-FM: schedules, the FM path, batched evaluation, inference convergence, settings, a matrix."""
import math
import textwrap

import pytest
import torch

from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.problems.noprop_ct_schedule import CosineSchedule, LearnedSchedule
from optsuite.problems.noprop_fm import path
from optsuite.problems.noprop_schedule import NoiseSchedule
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.store import Store

SMALL = {"hidden": 16, "inference_steps": 5}


def random_schedules(n, scale=2.0, seed=0):
    """``[n, dim]`` learned-schedule parameters: the initial ones plus large random moves."""
    schedule = LearnedSchedule()
    g = torch.Generator().manual_seed(seed)
    return schedule, schedule.initial(seed) + scale * torch.randn(n, schedule.dim, generator=g)


def snr(schedule, params, t):
    ab = schedule.alpha_bar(params, t)
    return ab / (1 - ab)


def test_a_learned_schedule_rises_from_noise_to_label_for_random_parameters():
    schedule, params = random_schedules(64)
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    ab = schedule.alpha_bar(params, t)
    assert ab.shape == (64, 1001) and torch.all(ab[:, 1:] > ab[:, :-1])
    assert torch.all(schedule.snr_prime(params, t) > 0)
    gamma, _ = schedule.gamma(params, torch.tensor([0.0, 1.0], dtype=torch.float64))
    _, _, _, _, g0, span = schedule.parts(params)
    assert torch.allclose(gamma[:, 1:], g0) and torch.allclose(gamma[:, :1], g0 + span)


def test_the_initial_learned_schedule_spans_the_stated_range():
    schedule = LearnedSchedule()
    ab = schedule.alpha_bar(schedule.initial(0)[None], torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))[0]
    assert float(ab[0]) == pytest.approx(1 / (1 + math.exp(7)), rel=1e-6)
    assert float(ab[2]) == pytest.approx(1 / (1 + math.exp(-7)), rel=1e-6)
    assert 0.2 < float(ab[1]) < 0.8  # gamma_bar starts close to t


@pytest.mark.parametrize("kind", ["learned", "cosine"])
def test_snr_prime_is_the_derivative_of_the_schedules_snr(kind):
    schedule, params = random_schedules(5) if kind == "learned" else (CosineSchedule(), torch.zeros(1, 0))
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)  # the cosine clamp holds only within 0.007 of the ends
    h = 1e-6
    numeric = (snr(schedule, params, t + h) - snr(schedule, params, t - h)) / (2 * h)
    assert torch.allclose(schedule.snr_prime(params, t), numeric, rtol=1e-6)


def test_the_cosine_schedule_at_t_equal_k_over_T_is_the_dt_schedule():
    T = 10
    ct = CosineSchedule().alpha_bar(torch.zeros(1, 0), torch.arange(T + 1, dtype=torch.float64) / T)
    assert torch.allclose(ct, NoiseSchedule.cosine(T).alpha_bar, rtol=1e-12)
    assert float(CosineSchedule().snr_prime(None, torch.tensor([1.0], dtype=torch.float64))) == 0  # clamped


def test_the_fm_target_is_the_velocity_of_the_path():
    g = torch.Generator().manual_seed(0)
    u, z_0, t = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g), torch.rand(7, generator=g)
    _, velocity = path(u, z_0, t)
    _, derivative = torch.autograd.functional.jvp(lambda s: path(u, z_0, s)[0], t, torch.ones(7))
    assert torch.allclose(derivative, velocity, atol=1e-6)
    z_end, _ = path(u, z_0, torch.ones(7))
    assert torch.allclose(z_end, u) and torch.allclose(path(u, z_0, torch.zeros(7))[0], z_0)


def test_fm_euler_steps_on_the_conditional_velocity_land_on_the_label():
    """With v(z, t) = (u_y - z) / (1 - t), the velocity of the straight path through z, Euler lands on u_y exactly."""
    problem = PROBLEMS.create("noprop-fm", **SMALL)
    x, y = problem.rows(problem.data.x_test[:9], problem.data.y_test[:9])
    u = problem.embed[y]
    problem.net.forward = lambda params, hx, z, t: (u - z) / (1 - t.to(z.dtype))[:, None]
    z_1 = problem.chain(problem.initial(0)[None], x, steps=7).reshape(u.shape)
    assert torch.allclose(z_1, u, atol=1e-5)


@pytest.mark.parametrize("name,settings", [
    ("noprop-ct", {"embedding": "learned"}),
    ("noprop-ct", {"embedding": "prototype", "schedule": "cosine"}),
    ("noprop-ct", {"schedule": "cosine"}),
    ("noprop-fm", {"embedding": "learned"}),
    ("noprop-fm", {"embedding": "prototype"}),
])
def test_batched_evaluation_equals_a_loop(name, settings):
    problem = PROBLEMS.create(name, **{**SMALL, **settings})
    g = torch.Generator().manual_seed(1)
    pop = problem.initial(2) + 0.3 * torch.randn(5, problem.dim, generator=g)
    draw = problem.draw(4, 3)
    batched = problem.evaluate(pop, draw)
    looped = torch.cat([problem.evaluate(pop[i : i + 1], draw) for i in range(5)])
    assert torch.allclose(batched, looped, rtol=1e-5, atol=1e-6)
    z = problem.chain(pop, problem.data.x_test[:6])
    z_loop = torch.cat([problem.chain(pop[i : i + 1], problem.data.x_test[:6]) for i in range(5)])
    assert torch.allclose(z, z_loop, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,settings", [("noprop-ct", {"embedding": "learned"}),
                                           ("noprop-fm", {"embedding": "prototype"})])
def test_gradient_matches_finite_differences_with_a_learned_embedding(name, settings):
    problem = PROBLEMS.create(name, dtype="float64", **{**SMALL, **settings})
    x, draw = problem.initial(0), problem.draw(1, 2)
    loss, grad = problem.loss_and_grad(x, draw)
    direction = torch.randn(problem.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    direction /= direction.norm()
    f = lambda v: float(problem.evaluate(v[None], draw)[0])
    numeric = (f(x + 1e-5 * direction) - f(x - 1e-5 * direction)) / 2e-5
    assert numeric == pytest.approx(float(grad @ direction), rel=1e-4)
    assert float(grad[-problem.embed.numel():].norm()) > 0  # W_embed trains with the network


@pytest.mark.parametrize("name", ["noprop-ct", "noprop-fm"])
def test_the_draw_sets_the_times_and_the_noise(name):
    problem = PROBLEMS.create(name, **SMALL)
    x, draw = problem.initial(0)[None], problem.draw(2, 0)
    other = type(draw)(draw.step, draw.seed, draw.indices, draw.noise_seed + 1)
    assert torch.equal(problem.evaluate(x, draw), problem.evaluate(x, problem.draw(2, 0)))
    assert not torch.equal(problem.evaluate(x, draw), problem.evaluate(x, other))
    t = problem.times(1000, draw.noise_seed)
    assert torch.equal(t, problem.times(1000, draw.noise_seed)) and 0 <= float(t.min()) and float(t.max()) < 1


@pytest.mark.parametrize("name", ["noprop-ct", "noprop-fm"])
def test_inference_converges_as_the_steps_double_on_a_trained_network(name):
    problem = PROBLEMS.create(name, hidden=32)
    result = run(problem, OPTIMIZERS.create("gd", lr=3e-3), Budget(steps=300), 0)
    assert result.status == "ok" and result.metrics["test_chain_accuracy"] > 0.5  # it learned something
    x = problem.rows(problem.data.x_test, problem.data.y_test)[0]
    with torch.no_grad():
        z = {n: problem.chain(result.best[None], x, n)[0] for n in (8, 16, 128, 256)}
    change = lambda n: float((z[n] - z[2 * n]).norm() / z[2 * n].norm())
    assert change(128) < 0.02 and change(128) < 0.2 * change(8)


@pytest.mark.parametrize("name", ["noprop-ct", "noprop-fm"])
def test_metrics_report_both_accuracies_and_the_settings(name):
    problem = PROBLEMS.create(name, **SMALL)
    metrics = problem.metrics(problem.initial(0))
    assert set(metrics) == {"train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_chain_accuracy",
                            "test_chain_accuracy"}
    assert all(0 <= metrics[k] <= 1 for k in metrics if k.endswith("accuracy"))
    assert "T" not in problem.settings and problem.settings["inference_steps"] == 5


def test_the_parameter_vector_holds_network_head_schedule_and_embedding():
    fixed = PROBLEMS.create("noprop-ct", schedule="cosine", **SMALL)
    learned = PROBLEMS.create("noprop-ct", embedding="learned", **SMALL)
    assert learned.dim - fixed.dim == LearnedSchedule().dim + 10 * 20 + (20 - 10) * (16 + 10)  # z path and head widen
    fm = PROBLEMS.create("noprop-fm", **SMALL)
    assert fm.dim == fixed.dim  # one-hot: the velocity has d = K outputs, the CT logits K


@pytest.mark.parametrize("name,settings,message", [
    ("noprop-ct", {"T": 10}, "has no setting 'T'"),
    ("noprop-fm", {"block": "mlp"}, "has no setting 'block'"),
    ("noprop-ct", {"schedule": "linear"}, "schedule 'linear' unknown; known: learned, cosine"),
    ("noprop-fm", {"inference_steps": 0}, "inference_steps=0 must be a positive integer"),
    ("noprop-ct", {"time_features": 5}, "time_features=5 must be even"),
    ("noprop-fm", {"schedule": "cosine"}, "has no setting 'schedule'"),
    ("noprop-ct", {"colour": 1}, "has no setting 'colour'"),
])
def test_bad_settings_are_user_errors(name, settings, message):
    with pytest.raises(UserError, match=message):
        PROBLEMS.create(name, **settings)


def test_a_matrix_runs_both_problems_and_reports_test_accuracy(tmp_path, capsys):
    spec = tmp_path / "matrix.toml"
    spec.write_text(textwrap.dedent("""
        seeds = 1
        budgets = { steps = 3 }

        [[problems]]
        name = "noprop-ct"
        settings = { hidden = 8, inference_steps = 3 }

        [[problems]]
        name = "noprop-fm"
        settings = { hidden = 8, inference_steps = 3 }

        [[optimizers]]
        name = "gd"
    """))
    assert main(["run", str(spec), "-q", "--out", str(tmp_path / "store")]) == 0
    cells = Store(tmp_path / "store").cells().set_index("problem")
    assert set(cells.index) == {"noprop-ct", "noprop-fm"} and set(cells["status"]) == {"ok"}
    for column in ("metric_test_accuracy", "metric_test_chain_accuracy"):
        assert cells[column].between(0, 1).all()
    assert "test accuracy" in capsys.readouterr().out
