#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, as run on a lent machine with JAX and no TensorFlow.
#   bash bench/gpu_session.sh benches   # optimizer step time (1 GPU) + weak scaling on 1 and 2 GPUs
#   bash bench/gpu_session.sh study     # the default study with strategy: auto on the GPUs
# Expects the Keras/KerasTuner wheels in .whl/ (../shared/gpu/wheels.sh) and writes into $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/tfbsz_gpu}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
{ nvidia-smi -L; python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices()); print('keras', keras.__version__)"; nproc; } > "$OUT/machine.txt" 2>&1
case "${1:-benches}" in
  benches)
    CUDA_VISIBLE_DEVICES=0 python3 bench/optimizers.py --mode gpu --steps 50 --repeats 7 --json "$OUT/optimizers_gpu.json" > "$OUT/optimizers_gpu.log" 2>&1
    CUDA_VISIBLE_DEVICES=0 python3 bench/optimizers.py --mode gpu --measure train_step --steps 20 --repeats 5 --json "$OUT/train_step_gpu.json" > "$OUT/train_step_gpu.log" 2>&1
    python3 bench/scaling.py --devices 1,2 --json "$OUT/scaling.json" > "$OUT/scaling.log" 2>&1
    tail -n 12 "$OUT"/*.log
    ;;
  study)
    python3 -m tfbsz.run --config configs/transformer.yaml --output /tmp/gpu_study --progress plain > "$OUT/study_gpu.log" 2>&1
    cp /tmp/gpu_study/summary.json "$OUT/study_gpu_summary.json" 2>/dev/null
    tail -n 25 "$OUT/study_gpu.log"
    ;;
esac
