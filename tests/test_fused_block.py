"""The fused NoProp mlp-block kernel against float64, on CUDA, or on the CPU in Triton's interpreter.

Without Triton or a GPU the kernel's tests skip. On a CPU with Triton installed:

    TRITON_INTERPRET=1 python -m pytest tests/test_fused_block.py
"""
import pytest
import torch

from optsuite.engine import fused, fused_block
from optsuite.engine import kernels, precision
from optsuite.errors import UserError
from optsuite.problems.noprop_blocks import MLPBlock
from optsuite.registry import PROBLEMS

from kernel_device import DEVICE, needs_kernel, untuned  # noqa: F401 - untuned: an autouse fixture

BOUNDS = {"float32": 1e-5, "tf32": 5e-3, "bf16": 3e-2}  # relative error against float64 per precision mode
# (n_in, d, H, K), batch, population: the default matrix's digits block, the gpu matrix's MNIST-1D block, odd sizes
SHAPES = [((64, 10, 16, 10), 128, 8), ((40, 10, 128, 10), 128, 4), ((5, 3, 20, 7), 37, 5)]


def inputs(sizes, population, batch, shared=True, device="cpu"):
    """float64 ``params [P, dim]``, x, z and the embedding, shared by all candidates or one per candidate."""
    n_in, d, _, k = sizes
    g = torch.Generator().manual_seed(3)
    lead = () if shared else (population,)
    block = MLPBlock(n_in, d, k, sizes[2])
    params = block.initial(0)[None] + 0.3 * torch.randn(population, block.dim, generator=g)
    tensors = [params, torch.randn(*lead, batch, n_in, generator=g), torch.randn(*lead, batch, d, generator=g),
               torch.randn(*lead, k, d, generator=g)]
    return block, [t.double().to(device) for t in tensors]


def relative_error(out, reference):
    return float((out.double() - reference).norm() / reference.norm())


@needs_kernel
@pytest.mark.parametrize("sizes, batch, population", SHAPES)
@pytest.mark.parametrize("shared", [True, False])
def test_fused_block_matches_float64_in_every_precision(sizes, batch, population, shared):
    block, tensors = inputs(sizes, population, batch, shared, DEVICE)
    with torch.no_grad(), kernels("bmm"):
        reference = block.forward(*tensors)
    for mode, bound in BOUNDS.items():
        with torch.no_grad(), precision(mode, DEVICE):
            out = fused_block.population_block(*(t.float() for t in tensors), sizes, mode)
        assert out.shape == reference.shape == (population, batch, sizes[1]) and out.dtype == torch.float32
        error = relative_error(out, reference)
        assert 0 < error < bound, (mode, error)  # > 0: it ran in float32, not float64


@needs_kernel
def test_fused_block_reads_strided_inputs_where_they_lie():
    """A block's slice of a wider parameter tensor, a column slice of x, z broadcast over candidates (stride 0)
    and a transposed embedding: the same numbers as contiguous copies."""
    sizes, population, batch = (5, 3, 20, 7), 4, 19
    block, (params, x, z, embed) = inputs(sizes, population, batch, device=DEVICE)
    wide = torch.cat([torch.randn(population, 3, dtype=params.dtype, device=DEVICE), params, params], 1)
    sliced = wide[:, 3 : 3 + params.shape[1]]
    x_cols = torch.cat([x, x], 1)[:, : sizes[0]]
    z_broadcast = z.expand(population, *z.shape)
    embed_t = embed.T.contiguous().T
    assert sliced.stride(0) != sliced.shape[1] and not x_cols.is_contiguous() and z_broadcast.stride(0) == 0
    with torch.no_grad():
        contiguous = fused_block.population_block(*(t.float() for t in (params, x, z, embed)), sizes)
        strided = fused_block.population_block(*(t.float() for t in (sliced, x_cols, z_broadcast, embed_t)), sizes)
    assert torch.equal(contiguous, strided)


@needs_kernel
@pytest.mark.parametrize("name, settings", [
    ("noprop-block", {"block": "mlp", "T": 3, "t": 2, "hidden": 16}),
    ("noprop-block", {"block": "cnn", "T": 3, "t": 2, "hidden": 16, "channels": 4, "dataset": "digits"}),
    ("noprop-net", {"T": 3, "hidden": 16}),
    ("noprop-net", {"T": 3, "hidden": 16, "embedding": "learned"}),  # z and the embedding per candidate
])
def test_noprop_problems_evaluate_alike_on_the_fused_and_the_bmm_path(monkeypatch, name, settings):
    problem = PROBLEMS.create(name, **settings, device=DEVICE)
    g = torch.Generator().manual_seed(0)
    params = (problem.initial(0).cpu() + 0.05 * torch.randn(6, problem.dim, generator=g)).to(DEVICE)
    draw = problem.draw(1, 0)
    calls = []
    launch = fused_block.population_block
    monkeypatch.setattr(fused_block, "population_block", lambda *a, **k: calls.append(1) or launch(*a, **k))
    with torch.no_grad():
        with kernels("auto" if DEVICE == "cuda" else "fused"):  # auto takes the kernel on CUDA only
            fused_losses = problem.evaluate(params, draw)
        with kernels("bmm"):
            bmm_losses = problem.evaluate(params, draw)
    assert calls  # the blocks went through the kernel
    assert torch.allclose(fused_losses, bmm_losses, rtol=1e-5, atol=1e-7)
    bmm_calls = len(calls)
    with torch.no_grad(), kernels("bmm"):
        problem.evaluate(params, draw)
    assert len(calls) == bmm_calls


def test_the_fused_block_is_refused_where_it_cannot_run(monkeypatch):
    sizes = (5, 3, 20, 7)
    block, tensors = inputs(sizes, 2, 4)
    if DEVICE is not None:
        on_device = [t.to(DEVICE) for t in tensors]
        assert "float32" in fused_block.why_not(*on_device, sizes)  # float64 here
        single = [t.float() for t in on_device]
        assert "at most 256 hidden units" in fused_block.why_not(*single, (5, 3, 300, 7))
        assert "shared memory" in fused_block.why_not(*single, (5, 3, 256, 100))  # CIFAR-100's classes
        assert "autograd" in fused_block.why_not(single[0].requires_grad_(True), *single[1:], sizes)
    with pytest.raises(UserError) as error, kernels("fused"):
        block.forward(*tensors)  # float64: never fused
    assert "\n" not in str(error.value) and "fused kernel does not apply" in str(error.value)
    with pytest.raises(UserError, match="unknown kernel"), kernels("triton"):
        pass
    calls = []
    original = fused_block.population_block
    monkeypatch.setattr(fused_block, "population_block", lambda *a, **k: calls.append(1) or original(*a, **k))
    with torch.no_grad():  # auto on the CPU: batched products, even in the interpreter
        block.forward(*(t.float() for t in tensors))
    assert not calls


@needs_kernel
def test_populations_above_the_grid_limit_go_in_slices(monkeypatch):
    """CUDA grids are at most 65,535 programs high; with the limit at 2, five candidates take three launches."""
    sizes = (5, 3, 20, 7)
    for shared in (True, False):
        block, tensors = inputs(sizes, 5, 9, shared, DEVICE)
        with torch.no_grad(), kernels("bmm"):
            reference = block.forward(*tensors)
        monkeypatch.setattr(fused_block, "MAX_GRID_Y", 2)
        with torch.no_grad():
            out = fused_block.population_block(*(t.float() for t in tensors), sizes)
        monkeypatch.undo()
        assert relative_error(out, reference) < 1e-5


@needs_kernel
def test_every_tile_configuration_gives_the_same_block():
    sizes = (40, 10, 64, 10)
    _, tensors = inputs(sizes, 3, 70, device=DEVICE)
    single = [t.float() for t in tensors]
    with torch.no_grad():
        first = fused_block.population_block(*single, sizes, config=fused_block.CONFIGS[0])
        for config in fused_block.CONFIGS[1:]:
            other = fused_block.population_block(*single, sizes, config=config)
            assert relative_error(other, first.double()) < 1e-5, config  # summation order only


@pytest.mark.skipif(DEVICE != "cuda", reason="tuning times the tiles on CUDA")
def test_the_block_kernel_is_tuned_once_per_shape(monkeypatch):
    monkeypatch.setattr(fused, "TUNE", True)
    monkeypatch.setattr(fused_block, "_BEST", {})
    sizes = (40, 10, 128, 10)
    _, tensors = inputs(sizes, 64, 128, device=DEVICE)
    single = [t.float() for t in tensors]
    with torch.no_grad():
        tuned = fused_block.population_block(*single, sizes)
        (key, best), = fused_block._BEST.items()
        assert best in fused_block.CONFIGS
        untuned = fused_block.population_block(*single, sizes, config=fused_block.CONFIGS[0])
        fused_block.population_block(*single, sizes)
    assert relative_error(tuned, untuned.double()) < 1e-5 and len(fused_block._BEST) == 1
