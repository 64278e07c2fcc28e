#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, as run on a lent machine with JAX and no TensorFlow.
#   bash bench/gpu_session.sh benches   # optimizer step time (1 GPU) + weak scaling on 1 and 2 GPUs
#   bash bench/gpu_session.sh optimizers  # optimizer step time only (1 GPU)
#   bash bench/gpu_session.sh study     # the default study with strategy: auto on the GPUs
#   bash bench/gpu_session.sh cohorts_transformer   # bench/cohorts.py throughput (BATCHES=32,64,...)
#   bash bench/gpu_session.sh cohorts_mnist_cnn     # the same for the MNIST-5k CNN
#   bash bench/gpu_session.sh cohorts_study         # the default study, parallel_trials 1 vs auto
# Expects the Keras/KerasTuner wheels in .whl/ (../shared/gpu/wheels.sh) and writes into $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/tfbsz_gpu}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
{ nvidia-smi -L; python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices()); print('keras', keras.__version__)"; nproc; } > "$OUT/machine.txt" 2>&1
# Keras's optimizers, tfbsz's, and tfbsz's updating variable by variable (norms separate).
SET=${SET:-keras_momentum,keras_adam,keras_lamb,tfbsz_lars,tfbsz_lamb,tfbsz_lars_separate,tfbsz_lamb_separate}
optimizers() {
  CUDA_VISIBLE_DEVICES=0 python3 bench/optimizers.py --mode gpu --only "$SET" --steps 50 --repeats 7 --json "$OUT/optimizers_gpu.json" > "$OUT/optimizers_gpu.log" 2>&1
  for run in $(seq 1 "${RUNS:-2}"); do  # repeated: the whole-step ratios are a few percent
    CUDA_VISIBLE_DEVICES=0 python3 bench/optimizers.py --mode gpu --only "$SET" --measure train_step --steps 50 --repeats 9 --json "$OUT/train_step_gpu_$run.json" > "$OUT/train_step_gpu_$run.log" 2>&1
  done
}
case "${1:-benches}" in
  cohorts_transformer|cohorts_mnist_cnn)
    W="${1#cohorts_}"
    TAG="${W}_${BATCHES:-all}"; TAG="${TAG//,/_}"
    CUDA_VISIBLE_DEVICES=0 python3 bench/cohorts.py --mode gpu --part throughput --workload "$W" \
      --batch-sizes "${BATCHES:-32,64,128,256,512,1024}" --json "$OUT/cohorts_$TAG.json" > "$OUT/cohorts_$TAG.log" 2>&1
    tail -n 20 "$OUT/cohorts_$TAG.log"
    ;;
  cohorts_study)
    CUDA_VISIBLE_DEVICES=0 python3 bench/cohorts.py --mode gpu --part study --study-runs "${RUNS_STUDY:-16:auto,4:1,4:auto}" \
      --json "$OUT/cohorts_study.json" > "$OUT/cohorts_study.log" 2>&1
    tail -n 20 "$OUT/cohorts_study.log"
    ;;
  benches)
    optimizers
    python3 bench/scaling.py --devices 1,2 --json "$OUT/scaling.json" > "$OUT/scaling.log" 2>&1
    tail -n 12 "$OUT"/*.log
    ;;
  optimizers)
    optimizers
    tail -n 14 "$OUT"/*.log
    ;;
  study)
    python3 -m tfbsz.run --config configs/transformer.yaml --output /tmp/gpu_study --progress plain > "$OUT/study_gpu.log" 2>&1
    cp /tmp/gpu_study/summary.json "$OUT/study_gpu_summary.json" 2>/dev/null
    tail -n 25 "$OUT/study_gpu.log"
    ;;
esac
