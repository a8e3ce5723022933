import importlib.util
import sys

import pytest
import torch

from optsuite import engine
from optsuite.engine import (batched_linear, chunked, memory_cap, mlp_dim, population_mlp, precision, shared_linear,
                             unpack)
from optsuite.errors import UserError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
BLOCK_32 = (74, 32, 10)  # DESIGN section 7: [x(64); z(10)] -> H -> 10


def test_population_layers_equal_a_loop():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(7, 5, generator=g), torch.randn(4, 5, 3, generator=g), torch.randn(4, 3, generator=g)
    looped = torch.stack([x @ w[p] + b[p] for p in range(4)])
    assert torch.allclose(shared_linear(x, w, b), looped, atol=1e-5)
    h = torch.randn(4, 7, 5, generator=g)
    assert torch.allclose(batched_linear(h, w, b), torch.stack([h[p] @ w[p] + b[p] for p in range(4)]), atol=1e-5)
    wide = torch.randn(4, 5, 6, generator=g)  # a widening layer takes the untransposed path
    assert torch.allclose(batched_linear(h, wide), torch.stack([h[p] @ wide[p] for p in range(4)]), atol=1e-5)


@pytest.mark.parametrize("activation", ["identity", "relu", "tanh", "sigmoid", "silu"])
def test_shared_linear_on_onednn_equals_the_batched_product_and_keeps_gradients(activation):
    g = torch.Generator().manual_seed(2)
    x, w, b = torch.randn(9, 6, generator=g), torch.randn(4, 6, 5, generator=g), torch.randn(4, 5, generator=g)
    act = engine.ACTIVATIONS[activation]
    looped = torch.stack([act(x @ w[p] + b[p]) for p in range(4)])
    assert engine.uses_onednn(x, w) == (engine.ONEDNN_LINEAR is not None)
    assert torch.allclose(shared_linear(x, w, b, activation), looped, atol=1e-5)
    w.requires_grad_(True)
    assert not engine.uses_onednn(x, w)  # autograd takes the batched product
    shared_linear(x, w, b, activation).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    with precision("bf16"):
        assert not engine.uses_onednn(x, w.detach())
    assert not engine.uses_onednn(x.double(), w.detach().double())


def test_unpack_and_chunked():
    params = torch.arange(2 * 10, dtype=torch.float32).reshape(2, 10)
    a, c = unpack(params, [(2, 3), (4,)])
    assert a.shape == (2, 2, 3) and c.shape == (2, 4) and torch.equal(c[1], params[1, 6:])
    calls = []
    fn = lambda p: (calls.append(len(p)), p.sum(1))[1]
    out = chunked(fn, params.repeat(5, 1), bytes_per_candidate=100, max_bytes=300)
    assert torch.equal(out, params.repeat(5, 1).sum(1)) and calls == [3, 3, 3, 1]


def block_inputs(sizes, population, batch, device, dtype=torch.float64):
    g = torch.Generator(device=device).manual_seed(1)
    params = 0.1 * torch.randn(population, mlp_dim(sizes), generator=g, device=device, dtype=dtype)
    return params, torch.randn(batch, sizes[0], generator=g, device=device, dtype=dtype)


def reference_mlp(params, x, sizes):
    """The MLP candidate by candidate, weights sliced by hand: ``[P, B, out]``."""
    outs = []
    for p in params:
        h, offset = x, 0
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            w = p[offset : offset + n_in * n_out].reshape(n_in, n_out)
            b = p[offset + n_in * n_out : offset + n_in * n_out + n_out]
            offset += n_in * n_out + n_out
            h = (torch.relu(h) if i else h) @ w + b
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sizes", [BLOCK_32, (74, 256, 10), (5, 7, 3, 2)])
def test_float32_engine_within_1e5_of_float64(device, sizes):
    params, x = block_inputs(sizes, population=4, batch=1024, device=device)
    reference = reference_mlp(params, x, sizes)
    with precision("float32", device):
        out = population_mlp(params.float(), x.float(), sizes)
    assert out.dtype == torch.float32 and out.shape == (4, 1024, sizes[-1])
    assert float((out.double() - reference).norm() / reference.norm()) <= 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_chunked_evaluation_equals_unchunked(device):
    params, x = block_inputs(BLOCK_32, population=9, batch=64, device=device, dtype=torch.float32)
    whole = population_mlp(params, x, BLOCK_32, max_bytes=1 << 40)
    per_candidate = engine.mlp_activation_bytes(BLOCK_32, 64, torch.float32)
    pieces = population_mlp(params, x, BLOCK_32, max_bytes=2 * per_candidate)  # chunks of 2, 2, 2, 2, 1
    assert torch.allclose(pieces, whole, rtol=1e-6, atol=1e-6)


def test_auto_memory_cap_splits_a_population_over_the_cap(monkeypatch):
    class Memory:
        available = 4000  # bytes of free RAM as psutil reports them

    monkeypatch.setattr("psutil.virtual_memory", lambda: Memory)
    monkeypatch.setattr(engine.memory, "free_ram", lambda: 3000)  # never more than the available
    assert memory_cap("cpu") == int(4000 * engine.CPU_MEMORY_FRACTION)  # 1000 bytes
    calls = []
    fn = lambda p: (calls.append(len(p)), p.sum(1))[1]
    params = torch.ones(10, 3)
    assert torch.equal(chunked(fn, params, bytes_per_candidate=300), params.sum(1))
    assert calls == [3, 3, 3, 1]


def test_memory_cap_reads_free_cuda_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 << 30, 80 << 30))
    assert memory_cap(torch.device("cuda")) == int((8 << 30) * engine.CUDA_MEMORY_FRACTION)


def test_cpu_chunks_stay_cache_sized():
    assert engine.chunk_budget("cpu") <= engine.CPU_CHUNK_BYTES
    assert 0 < engine.free_ram()  # this machine's OS says


def test_bf16_changes_the_products_and_tf32_is_a_cpu_noop():
    params, x = block_inputs(BLOCK_32, population=4, batch=256, device="cpu")
    reference = reference_mlp(params, x, BLOCK_32)
    params, x = params.float(), x.float()
    exact = population_mlp(params, x, BLOCK_32)
    with precision("tf32", "cpu"):
        assert torch.equal(population_mlp(params, x, BLOCK_32), exact)
    with precision("bf16", "cpu"):
        low = population_mlp(params, x, BLOCK_32)
    error = float((low.double() - reference).norm() / reference.norm())
    assert low.dtype == torch.bfloat16 and 1e-4 < error < 2e-2
    assert torch.get_float32_matmul_precision() == "highest"  # the context restored the setting


def test_population_mlp_is_differentiable():
    params, x = block_inputs(BLOCK_32, population=3, batch=16, device="cpu")
    ours = params.clone().requires_grad_(True)
    population_mlp(ours, x, BLOCK_32).square().sum().backward()
    theirs = params.clone().requires_grad_(True)
    reference_mlp(theirs, x, BLOCK_32).square().sum().backward()
    assert torch.allclose(ours.grad, theirs.grad, atol=1e-10)


@pytest.mark.parametrize("call", [
    lambda: precision("fp8").__enter__(),
    lambda: population_mlp(torch.zeros(1, mlp_dim(BLOCK_32)), torch.zeros(2, 74), BLOCK_32, activation="swish"),
    lambda: mlp_dim((74,)),
])
def test_bad_engine_settings_raise_user_errors(call):
    with pytest.raises(UserError):
        call()


def test_bench_small_prints_rates_ratios_and_steps(capsys):
    from optsuite.benchmarks import population_eval

    assert population_eval.main(["--small", "--repeats", "1", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if "ours/loop" in line)
    assert lines[0].startswith("device: CPU") and "ours/vmap" in lines[header] and "TFLOP/s" in lines[header]
    rows = [line.split() for line in lines[header + 1 : header + 5]]
    assert [(r[0], r[1]) for r in rows] == [("32", "32"), ("32", "128"), ("256", "32"), ("256", "128")]
    has_jax = importlib.util.find_spec("jax") is not None
    assert next(line for line in lines if line.startswith("jax: ")).startswith("jax: no JAX column" if not has_jax
                                                                              else "jax: jax ")
    for r in rows:  # ours/bmm, ours/loop, ours/vmap and ours/jax are the rates' ratios
        ours, bmm, loop, vmap = float(r[3]), float(r[5]), float(r[6]), float(r[7])
        assert float(r[8]) == pytest.approx(ours / bmm, rel=0.05, abs=0.01)
        assert float(r[9]) == pytest.approx(ours / loop, rel=0.05, abs=0.01)
        assert float(r[10]) == pytest.approx(ours / vmap, rel=0.05, abs=0.01)
        if has_jax:
            assert float(r[12]) == pytest.approx(ours / float(r[11]), rel=0.05, abs=0.01)
        else:
            assert r[11:13] == ["-", "-"]
    errors = [line for line in lines if line.strip().startswith("H=")]
    assert len(errors) == 2 and all("float32" in e and "bf16" in e for e in errors)
    methods = [m.label for m in population_eval.STEP_METHODS]
    for method in methods:  # timed or skipped with a reason, at both block sizes
        assert sum(line.startswith(method + " ") for line in lines) == 2
    assert any(line.startswith("check: batched >= loop in every row:") for line in lines)
    assert any(line.startswith("check: ours >= jax in every row:") for line in lines) == has_jax


def test_bench_steps_only_times_the_steps_and_no_evaluation(capsys):
    from optsuite.benchmarks import population_eval

    assert population_eval.main(["--small", "--repeats", "1", "--device", "cpu", "--steps-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any("ours/loop" in line or line.startswith(("jax:", "check:", "  H=")) for line in lines)
    cholesky = [line for line in lines if line.startswith("torch-cma full, cholesky ")]
    assert len(cholesky) == 2 and "skipped" not in cholesky[0] and "skipped" in cholesky[1]  # n = 2,730 and 21,770
    assert cholesky[0].split()[-1] == "(GPU)"  # its target is read on the mean, on a GPU


def test_bench_without_jax_leaves_its_column_empty(monkeypatch):
    from optsuite.benchmarks import population_eval

    monkeypatch.setitem(sys.modules, "jax", None)  # import jax raises ImportError
    assert population_eval.jax_device(torch.device("cpu")) == "jax is not installed"
    row = {"H": 32, "P": 8, "dim": 2730, "ours_rate": 2.0, "ours_tflops": 0.01, "bmm_rate": 2.0, "loop_rate": 1.0,
           "vmap_rate": 1.0, "jax_rate": None, "kernel": "bmm", "seconds": {"ours": 1e-3}}
    assert list(population_eval.evaluation_lines([row], torch.device("cpu")))[-1].split()[11:13] == ["-", "-"]
    assert not any("jax" in line for line in population_eval.check_lines([row], []))


def test_bench_skips_pycma_when_it_is_missing(monkeypatch):
    from optsuite.benchmarks import population_eval

    monkeypatch.setitem(sys.modules, "cma", None)  # import cma raises ImportError
    row = population_eval.step_row(population_eval.STEP_METHODS[1], 50, 8, 1, torch.device("cpu"))
    assert row["skipped"].startswith("not available")


@pytest.mark.parametrize("failure", [ImportError("No module named 'cma'"), UserError("unknown optimizer")])
def test_bench_finds_an_optimizer_when_a_sibling_module_fails_to_import(monkeypatch, failure):
    from optsuite.benchmarks import population_eval
    from optsuite.registry import OPTIMIZERS

    expected = OPTIMIZERS.get("torch-cma")

    def broken(name):
        raise failure

    monkeypatch.setattr(OPTIMIZERS, "get", broken)
    assert population_eval.registered("torch-cma") is expected


BAD_BENCH_ARGS = [["--precision", "fp8"], ["--device", "tpu9"], ["--repeats", "0"], ["--threads", "-1"]]


@pytest.mark.parametrize("args", BAD_BENCH_ARGS)
def test_bench_command_rejects_bad_input_with_exit_code_2(args, capsys):
    from optsuite.cli import main

    assert main(["bench", "--small", *args]) == 2
    assert capsys.readouterr().err.startswith("error: ")
