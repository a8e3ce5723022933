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
