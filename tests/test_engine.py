import torch

from optsuite.engine import batched_linear, chunked, shared_linear, unpack


def test_population_layers_equal_a_loop():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(7, 5, generator=g), torch.randn(4, 5, 3, generator=g), torch.randn(4, 3, generator=g)
    looped = torch.stack([x @ w[p] + b[p] for p in range(4)])
    assert torch.allclose(shared_linear(x, w, b), looped, atol=1e-5)
    h = torch.randn(4, 7, 5, generator=g)
    assert torch.allclose(batched_linear(h, w, b), torch.stack([h[p] @ w[p] + b[p] for p in range(4)]), atol=1e-5)


def test_unpack_and_chunked():
    params = torch.arange(2 * 10, dtype=torch.float32).reshape(2, 10)
    a, c = unpack(params, [(2, 3), (4,)])
    assert a.shape == (2, 2, 3) and c.shape == (2, 4) and torch.equal(c[1], params[1, 6:])
    calls = []
    fn = lambda p: (calls.append(len(p)), p.sum(1))[1]
    out = chunked(fn, params.repeat(5, 1), bytes_per_candidate=100, max_bytes=300)
    assert torch.equal(out, params.repeat(5, 1).sum(1)) and calls == [3, 3, 3, 1]
