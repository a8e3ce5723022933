#!/usr/bin/env bash
# Every GPU check of the population evaluation engine in one run, on a CUDA machine:
#   - the full-size benchmark (H = 32, 256; P = 256, 4096; batch 1024) in float32 with the
#     optimizer step times, then in tf32 and bf16: sample-evals/s, TFLOP/s, ratios to the
#     per-candidate loop and vmap, relative errors against float64, and the GPU targets
#     (>= 7,800 M/s at H=32, >= 1,300 M/s at H=256, CMA-ES <= 5 ms, separable <= 1 ms);
#   - the engine tests, which also run on CUDA when it is there.
# Needs torch (and pytest for the tests); pycma and nevergrad are optional: without
# them the pycma rows print as skipped. Runs from a checkout without installing.
# Output: $OUT/gpu_check.txt when OUT is set, else ./gpu_check.txt.
#
#     bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
log="${OUT:-.}/gpu_check.txt"
mkdir -p "$(dirname "$log")"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee "$log") 2>&1
status=0
check() {
    echo "\$ $*"
    "$@" || status=1
    echo
}

check nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
check "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
check "$python" benchmarks/population_eval.py --device cuda
check "$python" benchmarks/population_eval.py --device cuda --precision tf32 --no-steps
check "$python" benchmarks/population_eval.py --device cuda --precision bf16 --no-steps
# the tests import optsuite.benchmarks, which only an install provides; install without dependencies
"$python" -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 \
    || echo "note: optsuite could not be installed here; the benchmark tests will fail to import"
check "$python" -m pytest -q -p no:cacheprovider tests/test_engine.py -k "not bench_command"
echo "gpu_check: $([ $status = 0 ] && echo all steps ran || echo SOME STEPS FAILED) (log: $log)"
exit $status
