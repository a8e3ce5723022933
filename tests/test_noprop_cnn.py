"""The cnn block: grouped-convolution population evaluation against a per-candidate reference, its counts,
and the NoProp pipeline on MNIST- and CIFAR-shaped images from the dataset readers."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from optsuite.budget import Budget
from optsuite.errors import UserError
from optsuite.engine.conv import by_candidate, population_conv2d
from optsuite.problems.noprop_cnn import CNNBlock
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.runners.cell import Cell, result_rows
from tiny_datasets import write_cifar, write_mnist

SMALL = {"T": 3, "hidden": 8, "channels": 2, "block": "cnn"}


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def reference(block, params, x, z, embed):
    """One candidate through the block, layer by layer with ordinary (ungrouped) operations: ``params [dim]`` -> ``[B, d]``."""
    parts = [p.reshape(s) for p, s in zip(torch.split(params, [math.prod(s) for s in block.shapes]), block.shapes)]
    h = x.reshape(x.shape[0], *block.image)
    for i in range(3):
        h = F.silu(F.conv2d(h, parts[2 * i], parts[2 * i + 1], padding=1))
        h = F.max_pool2d(h, 2) if i != 1 else h
    wx, bx, wz, bz, wf, bf, wo, bo = parts[6:]
    hx, hz = F.silu(h.flatten(1) @ wx + bx), F.silu(z @ wz + bz)
    logits = F.silu(torch.cat([hx, hz], 1) @ wf + bf) @ wo + bo
    return torch.softmax(logits, -1) @ embed


@pytest.mark.parametrize("shared", [True, False])
def test_population_conv2d_equals_each_candidates_convolution(shared):
    P, B, C, out = 3, 2, 4, 5
    w, b = randn(P, out, C, 3, 3, seed=1), randn(P, out, seed=2)
    x = randn(B, C if shared else P * C, 6, 7, seed=3)
    got = population_conv2d(x, w, b)
    assert got.shape == (B, P * out, 6, 7)
    for p in range(P):
        own = x if shared else x[:, p * C : (p + 1) * C]
        assert torch.allclose(got[:, p * out : (p + 1) * out], F.conv2d(own, w[p], b[p], padding=1), atol=1e-5)
    features = by_candidate(got, P)
    assert features.shape == (P, B, out * 6 * 7)
    assert torch.equal(features[1, 0], got[0, out : 2 * out].reshape(-1))
    with pytest.raises(ValueError, match="neither shared"):
        population_conv2d(randn(B, 2 * C, 6, 7), w, b)


@pytest.mark.parametrize("image", [(1, 8, 8), (3, 9, 6)])
@pytest.mark.parametrize("per_candidate", [False, True])
def test_cnn_block_population_equals_a_per_candidate_loop(image, per_candidate):
    """z shared ``[B, d]`` with a fixed embedding, or per candidate ``[P, B, d]`` with each candidate's own embedding."""
    P, B, d, K = 4, 5, 6, 3
    block = CNNBlock(image, d, K, hidden=7, channels=3)
    params = block.initial(0) + 0.1 * randn(P, block.dim, seed=1)
    x = randn(B, math.prod(image), seed=2)
    z = randn(P, B, d, seed=3) if per_candidate else randn(B, d, seed=3)
    embed = randn(P, K, d, seed=4) if per_candidate else randn(K, d, seed=4)
    got = block.forward(params, x, z, embed)
    assert got.shape == (P, B, d)
    for p in range(P):
        own = (lambda v: v[p]) if per_candidate else (lambda v: v)
        assert torch.allclose(got[p], reference(block, params[p], x, own(z), own(embed)), atol=1e-5)


def test_cnn_block_counts_its_parameters_and_flops():
    image, d, K, hidden, c = (3, 32, 32), 10, 10, 16, 4
    block = CNNBlock(image, d, K, hidden, c)
    modules = [torch.nn.Conv2d(3, c, 3), torch.nn.Conv2d(c, 2 * c, 3), torch.nn.Conv2d(2 * c, 4 * c, 3),
               torch.nn.Linear(4 * c * 8 * 8, hidden), torch.nn.Linear(d, hidden), torch.nn.Linear(2 * hidden, hidden),
               torch.nn.Linear(hidden, K)]
    assert block.dim == sum(p.numel() for m in modules for p in m.parameters())
    B = 3
    # parameters that need a gradient keep every product on torch's own kernels, which the counter sees
    params, x, z = block.initial(0)[None].requires_grad_(True), randn(B, 3 * 32 * 32), randn(B, d)
    with FlopCounterMode(display=False) as counter:
        block.forward(params, x, z, randn(K, d))
    assert block.flops_per_sample * B == pytest.approx(counter.get_total_flops(), rel=1e-6)


def test_cnn_initialisation_is_pytorchs_default_conv_init():
    block = CNNBlock((1, 8, 8), 10, 10, hidden=8, channels=16)
    first = block.initial(0)[: 16 * 9].reshape(16, 1, 3, 3)  # fan-in 9: U(-1/3, 1/3)
    assert first.abs().max() <= 1 / 3 and first.abs().max() > 0.3 and torch.equal(block.initial(0), block.initial(0))


@pytest.mark.parametrize("name,settings", [
    ("noprop-block", {"t": 2}),
    ("noprop-net", {"embedding": "learned"}),
])
def test_cnn_problems_evaluate_a_population_as_a_loop_over_candidates(name, settings):
    problem = PROBLEMS.create(name, **{**SMALL, **settings})  # digits: 1x8x8 images
    pop = problem.initial(0) + 0.1 * randn(5, problem.dim, seed=1)
    draw = problem.draw(3, 7)
    batched = problem.evaluate(pop, draw)
    looped = torch.cat([problem.evaluate(pop[i : i + 1], draw) for i in range(5)])
    assert torch.allclose(batched, looped, rtol=1e-5, atol=1e-6)
    assert len(set(batched.tolist())) == 5  # every candidate its own loss


def test_gradient_descent_lowers_a_cnn_block_loss():
    problem = PROBLEMS.create("noprop-block", t=3, **SMALL)
    start = problem.metrics(problem.initial(0))["train_loss"]
    result = run(problem, OPTIMIZERS.create("gd", lr=1e-2), Budget(steps=40))
    assert result.status == "ok" and result.metrics["train_loss"] < 0.7 * start


@pytest.mark.parametrize("dataset,write,image", [
    ("mnist", lambda root: write_mnist(root / "MNIST" / "raw", n_train=40, size=28), (1, 28, 28)),
    ("cifar10", lambda root: write_cifar(root / "cifar-10-batches-py", per_batch=8), (3, 32, 32)),
])
def test_a_cnn_network_trains_end_to_end_on_images_from_the_readers(tmp_path, dataset, write, image):
    write(tmp_path)
    settings = {**SMALL, "T": 2, "dataset": dataset, "data_root": str(tmp_path), "batch_size": 8}
    net = PROBLEMS.create("noprop-net", **settings)
    assert net.blocks[0].image == image and net.data.n_features == math.prod(image)
    row, _ = result_rows(Cell("noprop-dt", "gd", 0, Budget(steps=12), settings, {"lr": 1e-2}))
    assert row["status"] == "ok" and 0 <= row["metric_test_accuracy"] <= 1
    assert [p["part"] for p in json.loads(row["parts"])] == ["block 1", "block 2", "head"]
    assert row["spent_sample_forwards"] == 3 * 4 * 8 * 3  # 3 parts x 4 steps x batch 8, forward + backward
    block = PROBLEMS.create("noprop-block", t=1, **settings)
    assert row["spent_flops"] > 2 * 4 * 8 * 3 * block.flops_per_sample  # both blocks' convolutions counted


@pytest.mark.parametrize("settings,message", [
    ({"dataset": "mnist1d"}, "block 'cnn' needs images; dataset 'mnist1d' has no image shape"),
    ({"channels": 0}, "channels=0 must be a positive integer"),
])
def test_cnn_refusals_are_user_errors(settings, message):
    with pytest.raises(UserError, match=message):
        PROBLEMS.create("noprop-net", **{**SMALL, **settings})


def test_images_too_small_for_two_poolings_are_refused(tmp_path):
    write_mnist(tmp_path, size=3)
    with pytest.raises(UserError, match="at least 4x4 pixels"):
        PROBLEMS.create("noprop-block", dataset="mnist", data_root=str(tmp_path), **SMALL)
