"""NoProp-DT problems: settings, batched evaluation, shared noise, the objective's parts, readouts, embeddings."""
import pytest
import torch

from optsuite.engine import population_linear, unpack
from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

SMALL = {"T": 3, "hidden": 8}


def population(problem, n, scale=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return problem.initial(seed) + scale * torch.randn(n, problem.dim, generator=g)


@pytest.mark.parametrize("name,settings", [
    ("noprop-block", {"t": 3, "block": "random-features", "hidden": 32}),
    ("noprop-block", {"t": 2, "embedding": "learned"}),
    ("noprop-head", {"loss": "squared", "embedding": "prototype"}),
    ("noprop-net", {"embedding": "learned"}),
    ("noprop-net", {"embedding": "prototype", "block": "random-features"}),
    ("noprop-net", {"embedding": "learned", "block": "learned-features"}),
    ("backprop-net", {"depth": 2}),
])
def test_batched_evaluation_equals_a_loop_and_is_deterministic(name, settings):
    problem = PROBLEMS.create(name, **{**SMALL, **settings})
    pop, draw = population(problem, 4), problem.draw(3, 7)
    batched = problem.evaluate(pop, draw)
    looped = torch.cat([problem.evaluate(pop[i : i + 1], draw) for i in range(4)])
    assert torch.allclose(batched, looped, rtol=1e-5, atol=1e-6)
    assert torch.equal(batched, problem.evaluate(pop, draw))


def test_the_draws_noise_changes_the_block_loss():
    problem = PROBLEMS.create("noprop-block", t=2, **SMALL)
    x = problem.initial(0)[None]
    a, b = problem.draw(0, 0), problem.draw(0, 0)
    other_noise = type(a)(a.step, a.seed, a.indices, a.noise_seed + 1)
    assert torch.equal(problem.evaluate(x, a), problem.evaluate(x, b))
    assert not torch.equal(problem.evaluate(x, a), problem.evaluate(x, other_noise))


@pytest.mark.parametrize("block", ["mlp", "random-features"])
def test_network_objective_is_the_sum_of_block_head_and_kl_terms(block):
    """The net on a draw equals its T block problems plus the head problem on the same draw, plus the KL term."""
    settings = {**SMALL, "block": block}
    net = PROBLEMS.create("noprop-net", **settings)
    blocks = [PROBLEMS.create("noprop-block", t=t, **settings) for t in range(1, 4)]
    head = PROBLEMS.create("noprop-head", **settings)
    parts = [population(p, 1, seed=t)[0] for t, p in enumerate([*blocks, head])]
    draw = net.draw(2, 5)
    local = sum(float(p.evaluate(w[None], draw)[0]) for p, w in zip([*blocks, head], parts))
    kl = float(net.schedule.kl_to_standard_normal(torch.eye(10, dtype=torch.float64)[0]))  # one-hot: the same for every y
    total = float(net.evaluate(net.join(parts[:-1], parts[-1])[None], draw)[0])
    assert total == pytest.approx(local + kl, rel=1e-6)


@pytest.mark.parametrize("init", ["per-input", "fan-in"])
def test_learned_feature_block_starts_as_the_random_feature_block(init):
    settings = {**SMALL, "hidden": 16, "feature_init": init}
    learned = PROBLEMS.create("noprop-block", block="learned-features", t=2, **settings)
    fixed = PROBLEMS.create("noprop-block", block="random-features", t=2, **settings)
    draw = learned.draw(0, 0)
    a = learned.evaluate(learned.initial(1)[None], draw)
    assert torch.allclose(a, fixed.evaluate(fixed.initial(1)[None], draw), rtol=1e-5)
    assert learned.linear_readout() is None and learned.feature_layer() is not None
    assert fixed.feature_layer() is None


def test_feature_inits_scale_x_and_z_rows_as_documented():
    """per-input: x rows N(0, 1/n_in), z rows N(0, 1/d), c ~ N(0, 1); fan-in: N(0, 1/(n_in + d)) and U(-1, 1)."""
    from optsuite.problems.noprop_blocks import random_projection

    n_in, d, n = 64, 10, 4096
    draw = lambda init: random_projection(n_in, d, n, init, torch.Generator().manual_seed(0))
    r_x, r_z, c = draw("per-input")
    assert r_x.std() * n_in**0.5 == pytest.approx(1, abs=0.02) and r_z.std() * d**0.5 == pytest.approx(1, abs=0.02)
    assert c.std() == pytest.approx(1, abs=0.05) and c.abs().max() > 2
    r_x, r_z, c = draw("fan-in")
    assert torch.cat([r_x, r_z]).std() * (n_in + d) ** 0.5 == pytest.approx(1, abs=0.02)
    assert r_z.std() / r_x.std() == pytest.approx(1, abs=0.05)
    assert c.abs().max() <= 1 and c.min() < -0.99 and c.max() > 0.99
    assert not torch.equal(draw("per-input")[1], draw("fan-in")[1])


def test_learned_feature_block_with_a_shared_z_is_the_engines_mlp():
    from optsuite.problems.noprop_blocks import LearnedFeatureBlock

    block = LearnedFeatureBlock(12, 5, 5, 16, seed=0, t=1, device=torch.device("cpu"), dtype=torch.float32)
    g = torch.Generator().manual_seed(3)
    params = block.initial(0) + 0.1 * torch.randn(4, block.dim, generator=g)
    x, z = torch.randn(9, 12, generator=g), torch.randn(9, 5, generator=g)
    shared = block.forward(params, x, z, embed=None)  # through engine.population_mlp
    per_candidate = block.forward(params, x, z.expand(4, 9, 5), embed=None)  # the block's own layers
    assert shared.shape == (4, 9, 5) and torch.allclose(shared, per_candidate, atol=1e-5)


def test_net_starts_where_its_parts_start():
    net = PROBLEMS.create("noprop-net", **SMALL)
    blocks = [PROBLEMS.create("noprop-block", t=t, **SMALL).initial(4) for t in range(1, 4)]
    head = PROBLEMS.create("noprop-head", **SMALL).initial(4)
    assert torch.equal(net.initial(4), net.join(blocks, head))


@pytest.mark.parametrize("t", [1, 3])
def test_gradient_descent_lowers_a_block_loss(t):
    problem = PROBLEMS.create("noprop-block", t=t, **SMALL)
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, OPTIMIZERS.create("gd", lr=1e-2), Budget(steps=60))
    assert result.status == "ok" and result.metrics["train_loss"] < 0.5 * start


def test_random_feature_readout_packs_into_the_blocks_parameters():
    problem = PROBLEMS.create("noprop-block", t=2, block="random-features", hidden=16, T=3)
    readout = problem.linear_readout()
    phi, u = next(readout.batches())
    assert phi.shape == (1024, 17) and u.shape == (1024, 10) and torch.all(phi[:, -1] == 1)
    w = torch.randn(17, 10, generator=torch.Generator().manual_seed(0))
    packed = readout.pack(w)
    assert packed.shape == (problem.dim,)
    via_block = population_linear(phi[:, :-1], *unpack(packed[None], problem.part.shapes))[0]
    assert torch.allclose(via_block, phi @ w, atol=1e-5)
    rows = sum(p.shape[0] for p, _ in readout.batches())
    assert rows == problem.readout_draws * problem.n_train
    assert PROBLEMS.create("noprop-block", **SMALL).linear_readout() is None


def test_analytic_solve_of_a_random_feature_block_beats_gradient_descent():
    settings = {"t": 3, "T": 3, "block": "random-features", "hidden": 64, "ridge": 1e-3}
    problem = PROBLEMS.create("noprop-block", **settings)
    exact = run(problem, OPTIMIZERS.create("analytic"), Budget(steps=1))
    gd = run(problem, OPTIMIZERS.create("gd", lr=1e-2), Budget(steps=50))
    start = problem.metrics(problem.initial(0))["train_loss"]
    assert exact.metrics["train_loss"] < gd.metrics["train_loss"] < start


def test_squared_head_has_a_closed_form_and_cross_entropy_head_has_none():
    assert PROBLEMS.create("noprop-head", loss="cross-entropy", **SMALL).linear_readout() is None
    head = PROBLEMS.create("noprop-head", loss="squared", **SMALL)
    result = run(head, OPTIMIZERS.create("analytic"), Budget(steps=1))
    # z_T is the one-hot label plus noise of std 0.01: the closed form is nearly exact
    assert result.metrics["test_loss"] < 0.01


@pytest.mark.parametrize("loss", ["cross-entropy", "squared"])
def test_head_ridge_adds_its_penalty_to_either_loss(loss):
    plain = PROBLEMS.create("noprop-head", loss=loss, **SMALL)
    ridged = PROBLEMS.create("noprop-head", loss=loss, ridge=0.5, **SMALL)
    params, draw = population(plain, 3), plain.draw(2, 5)
    expected = plain.evaluate(params, draw) + 0.5 * params.double().pow(2).sum(-1)
    assert torch.allclose(ridged.evaluate(params, draw), expected)


def test_embeddings():
    one_hot = PROBLEMS.create("noprop-block", **SMALL)
    assert torch.equal(one_hot.embed, torch.eye(10))
    learned = PROBLEMS.create("noprop-block", embedding="learned", **SMALL)
    assert learned.embed.shape == (10, 20) and learned.d == 20
    assert torch.equal(learned.embed, PROBLEMS.create("noprop-block", embedding="learned", **SMALL).embed)
    proto = PROBLEMS.create("noprop-block", embedding="prototype", **SMALL)
    data = proto.data
    assert proto.embed.shape == (10, 64)
    assert torch.allclose(proto.embed[3], data.x_train[data.y_train == 3].mean(0), atol=1e-5)
    net = PROBLEMS.create("noprop-net", embedding="learned", **SMALL)
    assert net.dim == sum(PROBLEMS.create("noprop-block", t=t, embedding="learned", **SMALL).dim for t in (1, 2, 3)) \
        + 20 * 10 + 10 + 200  # head [20, 10] + bias, and the learned W_embed


def test_backprop_net_matches_the_noprop_network_in_size():
    for settings in (SMALL, {"T": 2, "hidden": 32, "embedding": "learned"}):
        net, bp = PROBLEMS.create("noprop-net", **settings), PROBLEMS.create("backprop-net", **settings)
        smaller = PROBLEMS.create("backprop-net", width=bp.settings["width"] - 1, **settings)
        assert smaller.dim < net.dim <= bp.dim


def test_network_metrics_report_train_and_test_accuracy_and_noprop_the_chains_own():
    base = {"train_loss", "test_loss", "train_accuracy", "test_accuracy"}
    backprop = PROBLEMS.create("backprop-net", **SMALL)
    assert set(backprop.metrics(backprop.initial(0))) == base
    net = PROBLEMS.create("noprop-net", **SMALL)
    metrics = net.metrics(net.initial(0))
    assert set(metrics) == base | {"train_chain_accuracy", "test_chain_accuracy"}
    assert all(0 <= metrics[k] <= 1 for k in metrics if k.endswith("accuracy"))


def test_chain_accuracy_is_the_nearest_one_hot_embedding_so_a_permuted_head_shows_as_a_gap():
    net = PROBLEMS.create("noprop-net", **SMALL)
    blocks, _, _ = net.split(net.initial(2)[None])
    K = net.n_classes
    identity = torch.cat([torch.eye(K).reshape(-1), torch.zeros(K)])  # logits = z_T: argmax z = nearest e_k
    shifted = torch.cat([torch.eye(K).roll(1, 1).reshape(-1), torch.zeros(K)])  # class k read as k + 1
    same = net.metrics(net.join([b[0] for b in blocks], identity))
    assert same["test_accuracy"] == same["test_chain_accuracy"]
    relabelled = net.metrics(net.join([b[0] for b in blocks], shifted))
    assert relabelled["test_chain_accuracy"] == same["test_chain_accuracy"]
    assert relabelled["test_accuracy"] != relabelled["test_chain_accuracy"]


def test_float64_problems_see_the_same_noise():
    a, b = PROBLEMS.create("noprop-block", t=3, **SMALL), PROBLEMS.create("noprop-block", t=3, dtype="float64", **SMALL)
    x, draw = a.initial(0), a.draw(0, 0)
    assert float(b.evaluate(x.double()[None], draw)[0]) == pytest.approx(float(a.evaluate(x[None], draw)[0]), rel=1e-5)


@pytest.mark.parametrize("name,settings,message", [
    ("noprop-block", {"t": 0}, "t=0 must be an integer in 1..T=10"),
    ("noprop-block", {"t": 11}, "t=11 must be an integer in 1..T=10"),
    ("noprop-block", {"block": "transformer"}, "unknown block family 'transformer'; known: mlp, random-features, learned-features"),
    ("noprop-net", {"embedding": "fancy"}, "unknown embedding 'fancy'; known: one-hot, learned, prototype"),
    ("noprop-head", {"loss": "hinge"}, "loss 'hinge' unknown"),
    ("noprop-block", {"hidden": 0}, "hidden=0 must be a positive integer"),
    ("noprop-block", {"ridge": -1.0}, "ridge=-1.0 must be non-negative"),
    ("noprop-net", {"eta": 0}, "eta=0 must be positive"),
    ("noprop-net", {"dtype": "float16"}, "dtype 'float16' unknown"),
    ("noprop-dt", {"feature_init": "orthogonal"}, "feature_init 'orthogonal' unknown; known: fan-in, per-input"),
    ("noprop-net", {"colour": 1}, "has no setting 'colour'"),
    ("backprop-net", {"depth": 0}, "depth=0 must be a positive integer"),
    ("backprop-net", {"width": 2.5}, "width=2.5 must be a positive integer"),
    ("noprop-head", {"readout_draws": 0}, "readout_draws=0 must be a positive integer"),
    ("noprop-block", {"device": "gpu0"}, "problem 'noprop-block': unknown device 'gpu0'"),
    ("noprop-net", {"dataset": "mnist"}, "needs data_root"),
])
def test_bad_settings_are_user_errors(name, settings, message):
    with pytest.raises(UserError, match=message):
        PROBLEMS.create(name, **settings)


@pytest.mark.parametrize("name,settings", [
    ("noprop-block", {"T": 3, "t": 2, "hidden": 8}),
    ("noprop-block", {"T": 3, "t": 1, "hidden": 4, "channels": 2, "block": "cnn"}),
    ("noprop-head", {"T": 3}),
    ("noprop-net", {"T": 3, "hidden": 8}),
    ("noprop-ct", {"hidden": 8}),
    ("noprop-fm", {"hidden": 8}),
    ("backprop-net", {"T": 3, "hidden": 8}),
])
def test_metrics_in_chunks_of_rows_equal_the_whole_splits(monkeypatch, name, settings):
    """A split too large for the memory cap is evaluated in chunks of rows that see the whole split's noise."""
    import optsuite.problems.noprop_problem as base

    problem = PROBLEMS.create(name, **settings)
    params = problem.initial(0) + 0.05 * torch.randn(problem.dim, generator=torch.Generator().manual_seed(1))
    whole = problem.metrics(params)
    rows = 2 * problem.floats_per_sample * 4
    monkeypatch.setattr(base, "memory_cap", lambda device: 97 * rows)  # chunks of 97 rows, the last one short
    chunked = problem.metrics(params)
    assert chunked.keys() == whole.keys()
    for key, value in whole.items():
        assert chunked[key] == pytest.approx(value, rel=1e-5, abs=1e-9), key
