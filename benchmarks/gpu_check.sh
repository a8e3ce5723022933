#!/usr/bin/env bash
# Every GPU check of the population evaluation engine in one run on a CUDA machine, within
# GPU_CHECK_SECONDS (570 by default: one call of 10 minutes, with room to start). In order of
# priority; each step has its own time cap and none starts past the deadline:
#   - the fused kernels' and the engine's tests on CUDA (float32 mode within 1e-5 of float64): the
#     two-layer MLP kernel and the NoProp mlp-block kernel (optsuite/engine/fused_block.py);
#   - the full-size benchmark (H = 32, 256; P = 256, 4096; batch 1024) in float32 with the
#     optimizer step times: sample-evals/s, TFLOP/s, ratios to the bmm path, the
#     per-candidate loop, vmap and JAX (jit + vmap on the GPU, when jax with a CUDA backend
#     is installed), relative errors against float64, and the GPU targets (>= 7,800 M/s at
#     H = 32, >= 1,300 M/s at H = 256, torch-cma full <= 5 ms with either factor, eigen or
#     cholesky, separable <= 1 ms); if the fused kernel's tests failed, the benchmark runs on
#     the bmm path instead;
#   - the NoProp problems' own evaluation (python -m optsuite.benchmarks.noprop_eval): the mlp block and
#     noprop-net at the digits and MNIST-1D shapes of the default and gpu matrices through the
#     fused mlp-block kernel beside the batched-product path (goal: >= 3x), and the cnn block's
#     grouped convolutions at MNIST and CIFAR-10 shapes; each beside a per-candidate loop, with
#     the difference between the two and the float32 error against float64;
#   - whole ES generations against inference (python -m optsuite.benchmarks.es_generation --device cuda):
#     dense openes and eggroll (low-rank populations, rank 1 and 4) as a fraction of inference's
#     per-sample throughput (EGGROLL's own figure on an H100: 0.91);
#   - runs batched together: cells per hour of a small matrix with --batch-runs 8 against
#     without (python -m optsuite.benchmarks.batched_runs --device cuda), its numbers checked equal;
#   - the benchmark in tf32 and bf16; one eigendecomposition and one Cholesky factorisation
#     at n = 2,730 (what a full CMA-ES generation waits for, with either factor); the JAX
#     anchor of DESIGN section 7 (when jax has a GPU backend); the fused kernel's tile
#     configurations and its fraction of the ceilings;
#   - a small matrix on CUDA (two problems x four optimizers x two seeds, two cells sharing the GPU).
# Needs torch and pytest; Triton for the fused kernel; pycma, mnist1d and jax are optional
# (their rows print as skipped). Runs from a checkout: optsuite is installed with
# `pip install --no-deps -e .` first (the benchmarks are modules of the installed package).
# Output: $OUT/gpu_check.txt when OUT is set, else ./gpu_check.txt.
#
#     bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
log="${OUT:-.}/gpu_check.txt"
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-570}))
mkdir -p "$(dirname "$log")"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee "$log") 2>&1
status=0
# check CAP COMMAND...: run COMMAND for at most CAP seconds, and never past the deadline
check() {
    local cap=$1 left=$((deadline - SECONDS)) start=$SECONDS
    shift
    echo "\$ $*"
    if [ "$left" -lt 15 ]; then
        echo "skipped: the time budget is spent"; echo; status=1; return
    fi
    timeout "$((cap < left ? cap : left))" "$@" || { echo "(exit status $?)"; status=1; }
    echo "[$((SECONDS - start)) s]"
    echo
}

check 20 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
check 60 "$python" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name())"
"$python" -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 \
    || echo "note: optsuite could not be installed here; the benchmarks will fail to import"
kernel=auto
block_kernel=auto
echo "\$ $python -m pytest -q tests/test_fused.py tests/test_engine.py"
timeout 120 "$python" -m pytest -q -p no:cacheprovider tests/test_fused.py tests/test_engine.py -k "not bench_command" \
    || { status=1; kernel=bmm; echo "fused kernel tests failed: benchmarking the bmm path"; }
echo "\$ $python -m pytest -q tests/test_fused_block.py"
timeout 150 "$python" -m pytest -q -p no:cacheprovider tests/test_fused_block.py \
    || { status=1; block_kernel=bmm; echo "fused mlp-block tests failed: the NoProp rows take the bmm path"; }
echo
check 150 "$python" -m optsuite.benchmarks.population_eval --device cuda --kernel $kernel
check 180 "$python" -m optsuite.benchmarks.noprop_eval --device cuda --kernel $block_kernel
check 150 "$python" -m optsuite.benchmarks.es_generation --device cuda --threads 1 --repeats 5
check 150 "$python" -m optsuite.benchmarks.batched_runs --device cuda --rounds 1 --evaluations 20000
check 60 "$python" -m optsuite.benchmarks.population_eval --device cuda --kernel $kernel --precision tf32 --no-steps
check 60 "$python" -m optsuite.benchmarks.population_eval --device cuda --kernel $kernel --precision bf16 --no-steps
check 30 "$python" -c "
import time, torch
c = torch.randn(2730, 2730, device='cuda'); c = c @ c.T / 2730 + torch.eye(2730, device='cuda')
for f in (torch.linalg.eigh, torch.linalg.cholesky_ex):
    f(c); torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(5): f(c)
    torch.cuda.synchronize(); print(f'torch.{f.__name__}, n=2730, float32: {(time.perf_counter() - t) / 5 * 1e3:.1f} ms')"
if "$python" -c "import jax; jax.devices('gpu')" >/dev/null 2>&1; then check 60 "$python" -m optsuite.benchmarks.jax_anchor; fi
check 90 "$python" -m optsuite.benchmarks.fused_kernel
smoke=$(mktemp -d)
check 90 "$python" -c "import sys; from optsuite.cli import main; sys.exit(main(sys.argv[1:]))" run \
    -p "noprop-block(block=learned-features,hidden=64,T=3,t=2,device=cuda)" \
    -p "backprop-net(T=3,hidden=16,depth=1,device=cuda)" -o gd -o "torch-cma(separable=true,sigma0=0.05)" \
    -o "snes(sigma0=0.05)" -o "montecarlo(radius=0.05)" -s 2 -b sample_forwards=1000000 -j 2 --gpu-slots 2 \
    -q --out "$smoke/store"
shown=$([ -n "${OUT:-}" ] && echo '$OUT' || echo .)/gpu_check.txt  # the log's place, naming no folder of this machine
echo "gpu_check: $([ $status = 0 ] && echo all steps ran || echo SOME STEPS FAILED) in ${SECONDS} s (log: $shown)"
exit $status
