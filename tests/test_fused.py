"""The fused Triton kernel against float64, on CUDA, or on the CPU in Triton's interpreter.

Without Triton or a GPU these tests skip. On a CPU with Triton installed:

    TRITON_INTERPRET=1 python -m pytest tests/test_fused.py
"""
import pytest
import torch

from optsuite import engine
from optsuite.engine import fused
from optsuite.engine import mlp_dim, population_mlp, precision
from optsuite.errors import UserError

from kernel_device import DEVICE, needs_kernel, untuned  # noqa: F401 - untuned: an autouse fixture


# relative error bounds against float64 for each precision mode
BOUNDS = {"float32": 1e-5, "tf32": 5e-3, "bf16": 3e-2}
SHAPES = [(74, 32, 10, 1024, 4), (74, 256, 10, 256, 3), (5, 3, 1, 17, 2), (20, 100, 33, 130, 3)]


def inputs(sizes, population, batch, device):
    g = torch.Generator(device=device).manual_seed(2)
    params = 0.1 * torch.randn(population, mlp_dim(sizes), generator=g, device=device, dtype=torch.float64)
    return params, torch.randn(batch, sizes[0], generator=g, device=device, dtype=torch.float64)


@needs_kernel
@pytest.mark.parametrize("shape, activation", [(s, "relu") for s in SHAPES]
                         + [(SHAPES[2], a) for a in ("silu", "tanh", "sigmoid", "identity")])
def test_fused_mlp_matches_float64_in_every_precision(shape, activation):
    *sizes, batch, population = shape
    params, x = inputs(sizes, population, batch, DEVICE)
    reference = population_mlp(params, x, sizes, activation, kernel="bmm")
    for mode, bound in BOUNDS.items():
        with precision(mode, DEVICE):
            out = population_mlp(params.float(), x.float(), sizes, activation, kernel="fused")
        assert out.shape == reference.shape and out.dtype == torch.float32
        error = float((out.double() - reference).norm() / reference.norm())
        assert error < bound, (mode, error)
        if mode == "float32":
            assert error > 0  # it ran in float32, not float64


@needs_kernel
def test_fused_chunks_and_tile_configs_agree():
    sizes = (74, 64, 10)
    params, x = inputs(sizes, 9, 200, DEVICE)
    params, x = params.float(), x.float()
    whole = population_mlp(params, x, sizes, kernel="fused", max_bytes=1 << 40)
    pieces = population_mlp(params, x, sizes, kernel="fused", max_bytes=2 * 200 * 10 * 4)  # 2 candidates a chunk
    assert torch.equal(whole, pieces)
    packed = fused.pack(params, sizes)
    assert [tuple(t.shape[1:]) for t in packed] == [(80, 64), (64,), (64, 16), (16,)]
    assert float(packed[0][:, 74:].abs().sum() + packed[2][:, :, 10:].abs().sum()) == 0  # zero padding
    for config in fused.fitting_configs(sizes)[1:]:
        other = fused.population_mlp2(params, x, sizes, config=config)
        assert torch.allclose(other, whole, rtol=1e-5, atol=1e-6), config


@pytest.mark.skipif(DEVICE != "cuda", reason="tuning times the tiles on CUDA")
def test_tuning_picks_a_fitting_tile_once(monkeypatch):
    monkeypatch.setattr(fused, "TUNE", True)
    monkeypatch.setattr(fused, "_BEST", {})
    sizes = (74, 32, 10)
    params, x = inputs(sizes, 64, 512, DEVICE)
    tuned = population_mlp(params.float(), x.float(), sizes, kernel="fused")
    (key, best), = fused._BEST.items()
    assert best in fused.fitting_configs(sizes) and key[:4] == (512, 80, 32, 16)
    untuned = fused.population_mlp2(params.float(), x.float(), sizes, config=fused.fitting_configs(sizes)[0])
    assert torch.allclose(tuned, untuned, rtol=1e-5, atol=1e-6)
    population_mlp(params.float(), x.float(), sizes, kernel="fused")
    assert len(fused._BEST) == 1  # remembered, not timed again


@needs_kernel
def test_an_empty_population_or_batch_gives_an_empty_output():
    sizes = (6, 8, 2)
    params, x = inputs(sizes, 3, 5, DEVICE)
    assert fused.population_mlp2(params[:0].float(), x.float(), sizes).shape == (0, 5, 2)
    assert fused.population_mlp2(params.float(), x[:0].float(), sizes).shape == (3, 0, 2)


@needs_kernel
def test_auto_keeps_autograd_on_the_differentiable_path():
    sizes = (6, 8, 2)
    params, x = inputs(sizes, 3, 5, DEVICE)
    params = params.float().requires_grad_(True)
    population_mlp(params, x.float(), sizes).square().sum().backward()  # auto: bmm, since autograd is on
    assert params.grad is not None and params.grad.abs().sum() > 0
    assert "autograd" in fused.why_not(params, x.float(), sizes, "relu")


def test_fused_kernel_where_it_cannot_run_is_a_one_line_error():
    sizes = (6, 8, 2)
    params, x = torch.zeros(2, mlp_dim(sizes)), torch.zeros(3, 6)
    with pytest.raises(UserError) as error:
        population_mlp(params, x, (6, 8, 2, 2) if DEVICE else sizes, kernel="fused")
    assert "\n" not in str(error.value) and "fused kernel does not apply" in str(error.value)
    with pytest.raises(UserError):
        population_mlp(params, x, sizes, kernel="triton")


def test_tuning_takes_the_fastest_config_that_compiles():
    import time

    def launch(cfg):
        if cfg["ms"] is None:
            raise RuntimeError("out of resources: shared memory")
        time.sleep(cfg["ms"] / 1e3)

    configs = [{"ms": 3.0}, {"ms": None}, {"ms": 0.5}, {"ms": 2.0}]
    assert fused.fastest(configs, launch, sync=lambda: None, min_ms=2.0) == {"ms": 0.5}
    with pytest.raises(UserError):
        fused.fastest([{"ms": None}], launch, sync=lambda: None)


def test_auto_on_the_cpu_is_the_bmm_path():
    if fused.interpreted():
        pytest.skip("the interpreter makes the CPU a fused device")
    sizes = (6, 8, 2)
    params, x = inputs(sizes, 3, 5, "cpu")
    assert torch.equal(population_mlp(params.float(), x.float(), sizes),
                       population_mlp(params.float(), x.float(), sizes, kernel="bmm"))
    assert engine.current_precision() == "float32"
    with precision("bf16", "cpu"):
        assert engine.current_precision() == "bf16"


@pytest.mark.skipif(DEVICE != "cuda", reason="the engine picks the fused kernel on CUDA")
def test_a_learned_feature_noprop_block_on_cuda_runs_fused_and_equals_the_bmm_path(monkeypatch):
    from optsuite.registry import PROBLEMS

    problem = PROBLEMS.create("noprop-block", block="learned-features", hidden=64, T=3, t=2, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    params = problem.initial(0) + 0.05 * torch.randn(16, problem.dim, generator=g, device="cuda")
    draw = problem.draw(1, 0)
    calls = []
    forward = fused.forward
    monkeypatch.setattr(fused, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    with torch.no_grad():
        fused_losses = problem.evaluate(params, draw)
        assert calls  # the block went through the kernel
        monkeypatch.setattr(engine.dense, "uses_fused", lambda *a, **k: False)
        bmm_losses = problem.evaluate(params, draw)
    assert torch.allclose(fused_losses, bmm_losses, rtol=1e-5)
