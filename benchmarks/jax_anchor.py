"""The JAX anchor of DESIGN section 7, measured again beside our engine: vmap + jit of one block.

    python -m optsuite.benchmarks.jax_anchor   # needs jax with a GPU (or CPU) backend

The block [x(64); z(10)] -> H -> 10 (ReLU), batch 1024, evaluated for P candidates by
``jax.jit(jax.vmap(block))`` (:func:`vmapped_mlp`, also the JAX column of
``population_eval.py``), at JAX's default float32 matrix precision (TF32 on recent
GPUs) and at ``highest`` (true float32). Prints M sample-evals/s per shape; run it in the
same session as ``population_eval.py`` to compare as ratios.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Callable, Sequence

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave the GPU's memory to others

SHAPES = [(32, 256), (32, 4096), (256, 4096)]  # (H, P)
INPUTS, OUTPUTS, BATCH = 74, 10, 1024


def vmapped_mlp(sizes: Sequence[int]) -> Callable:
    """``jax.jit(jax.vmap(mlp))``: ``params [P, dim]``, ``x [B, sizes[0]]`` -> ``[P, B, sizes[-1]]``.

    The engine's MLP layout (``optsuite.engine.mlp_shapes``: weight ``[in, out]`` then bias per
    layer), ReLU after every layer but the last.
    """
    import jax

    layers = list(zip(sizes, sizes[1:]))

    def mlp(p, x):
        h, offset = x, 0
        for i, (n_in, n_out) in enumerate(layers):
            w = p[offset : offset + n_in * n_out].reshape(n_in, n_out)
            b = p[offset + n_in * n_out : offset + n_in * n_out + n_out]
            offset += n_in * n_out + n_out
            h = (jax.nn.relu(h) if i else h) @ w + b
        return h

    return jax.jit(jax.vmap(mlp, in_axes=(0, None)))


def rate(hidden: int, population: int, matmul_precision: str, repeats: int = 5) -> float:
    """M sample-evals/s of the vmapped block: the median of ``repeats`` samples of at least 50 ms."""
    import jax
    import jax.numpy as jnp

    k1, h, n = INPUTS, hidden, OUTPUTS
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    params = 0.1 * jax.random.normal(key1, (population, k1 * h + h + h * n + n), jnp.float32)
    x = jax.random.normal(key2, (BATCH, k1), jnp.float32)
    with jax.default_matmul_precision(matmul_precision):
        fn = vmapped_mlp((k1, h, n))
        fn(params, x).block_until_ready()
        start = time.perf_counter()
        fn(params, x).block_until_ready()
        count = max(1, int(0.05 / max(time.perf_counter() - start, 1e-9)))
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(count):
                out = fn(params, x)
            out.block_until_ready()
            samples.append((time.perf_counter() - start) / count)
    return population * BATCH / statistics.median(samples) / 1e6


def main() -> int:
    try:
        import jax
    except ImportError:
        print("error: jax is not installed", file=sys.stderr)
        return 2
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; batch {BATCH}")
    print(f"{'H':>4} {'P':>5} {'default M/s':>12} {'highest M/s':>12}")
    for hidden, population in SHAPES:
        default, highest = (rate(hidden, population, p) for p in ("default", "highest"))
        print(f"{hidden:>4} {population:>5} {default:>12.0f} {highest:>12.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
