#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, as run on a lent machine with JAX and no TensorFlow.
#   bash bench/gpu_session.sh benches   # optimizer step time (1 GPU) + weak scaling on 1 and 2 GPUs
#   bash bench/gpu_session.sh optimizers  # optimizer step time only (1 GPU)
#   bash bench/gpu_session.sh study     # the default study with strategy: auto on the GPUs
#   bash bench/gpu_session.sh cohorts_transformer   # bench/cohorts.py throughput (BATCHES=32,64,...)
#   bash bench/gpu_session.sh cohorts_mnist_cnn     # the same for the MNIST-5k CNN
#   bash bench/gpu_session.sh cohorts_study         # the default study, parallel_trials 1 vs auto
#   bash bench/gpu_session.sh cohorts_sharded       # cohorts on 1 GPU against their trials sharded over 2
#   bash bench/gpu_session.sh reproduce             # issue 12: bench/reproduce.py --scale gpu20, resumable
#   bash bench/gpu_session.sh issue15               # Transformer MFU and LAMB/LARS at scale (1 GPU)
#   bash bench/gpu_session.sh scaling_xla           # weak scaling on 1 and 2 GPUs, XLA all-reduce variants
# Jobs on one GPU each can run side by side on a two-GPU machine:
#   bash bench/gpu_session.sh setup; CUDA_VISIBLE_DEVICES=0 bash bench/gpu_session.sh reproduce &
#   CUDA_VISIBLE_DEVICES=1 bash bench/gpu_session.sh issue15; wait
# Expects the Keras/KerasTuner wheels in .whl/ (../shared/gpu/wheels.sh) and writes into $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/tfbsz_gpu}"
mkdir -p "$OUT"
if [ ! -d /tmp/site/keras ]; then  # once per machine (`setup` first when jobs start side by side)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
[ -s "$OUT/machine.txt" ] || { nvidia-smi -L; python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices()); print('keras', keras.__version__)"; nproc; } > "$OUT/machine.txt" 2>&1
# Keras's optimizers, tfbsz's, and tfbsz's updating variable by variable (norms separate).
SET=${SET:-keras_momentum,keras_adam,keras_lamb,tfbsz_lars,tfbsz_lamb,tfbsz_lars_separate,tfbsz_lamb_separate}
optimizers() {
  CUDA_VISIBLE_DEVICES=0 python3 bench/optimizers.py --mode gpu --only "$SET" --steps 50 --repeats 7 --json "$OUT/optimizers_gpu.json" > "$OUT/optimizers_gpu.log" 2>&1
  for run in $(seq 1 "${RUNS:-2}"); do  # repeated: the whole-step ratios are a few percent
    CUDA_VISIBLE_DEVICES=0 python3 bench/optimizers.py --mode gpu --only "$SET" --measure train_step --steps 50 --repeats 9 --json "$OUT/train_step_gpu_$run.json" > "$OUT/train_step_gpu_$run.log" 2>&1
  done
}
case "${1:-benches}" in
  setup)
    ;;
  reproduce)  # resumes /tmp/reproduction, or the run in $FROM (a .tgz of an earlier one);
    # REDO=edges is safe to repeat (cells already rerun with the current ranges are not picked
    # again); an explicit REDO=part/bN list belongs on the first call only
    # (a cell named again starts over).
    [ -d /tmp/reproduction ] || [ -z "${FROM:-}" ] || tar xzf "$FROM" -C /tmp
    timeout -s INT -k 20 "${LIMIT:-540}" python3 bench/reproduce.py --scale gpu20 --out /tmp/reproduction \
      --workers "${WORKERS:-3}" --deadline-s "${DEADLINE:-445}" ${BATCHES:+--batch-sizes "$BATCHES"} ${REDO:+--redo "$REDO"} \
      > "$OUT/reproduce.log" 2>&1
    tar czf "$OUT/reproduction.tgz" -C /tmp reproduction
    tail -n 30 "$OUT/reproduce.log"
    ;;
  issue15)  # results in $OUT/issue15.tgz (mfu2/, at_scale/: logs, JSON, HLO)
    mkdir -p /tmp/issue15/mfu2 /tmp/issue15/at_scale
    timeout -s INT -k 15 "${MFU_LIMIT:-230}" python3 bench/transformer_mfu.py --out /tmp/issue15/mfu2 \
      --fit-after-s 150 --variants "${MFU_VARIANTS:-tfbsz_auto,keras_mha_flash,tfbsz_auto_broadcast_positions,tfbsz_auto_broadcast_positions_pinned,tfbsz_flash_qkv_separate}" \
      > /tmp/issue15/mfu2/run.log 2>&1
    timeout -s INT -k 15 "${AT_SCALE_LIMIT:-235}" python3 bench/optimizers_at_scale.py --sizes 86m,350m --rounds 8 \
      --dump-hlo --out /tmp/issue15/at_scale > /tmp/issue15/at_scale/optimizers_at_scale.log 2>&1
    tar czf "$OUT/issue15.tgz" -C /tmp issue15
    tail -n 25 /tmp/issue15/mfu2/run.log /tmp/issue15/at_scale/optimizers_at_scale.log
    ;;
  cohorts_sharded)
    timeout -s INT -k 15 "${LIMIT:-300}" python3 bench/cohorts.py --mode gpu --part throughput --workload transformer \
      --batch-sizes "${BATCHES:-32,128}" --cohorts "${COHORTS:-32,128}" --devices 1,2 --no-alone --steps "${STEPS:-100}" \
      --json "$OUT/cohorts_sharded.json" > "$OUT/cohorts_sharded.log" 2>&1
    timeout 120 python3 tests/cohorts/cohort_checks.py sharded > "$OUT/cohorts_sharded_check.json" 2>>"$OUT/cohorts_sharded.log"
    tail -n 12 "$OUT/cohorts_sharded.log"; cut -c1-600 "$OUT/cohorts_sharded_check.json"
    ;;
  scaling_xla)
    timeout -s INT -k 15 "${LIMIT:-300}" python3 bench/scaling.py --devices 1,2 --per-device-batch 32 \
      --xla-variants default,overlap,overlap_8mb,overlap_2mb --profile --json "$OUT/scaling_xla.json" \
      > "$OUT/scaling_xla.log" 2>&1
    tail -n 20 "$OUT/scaling_xla.log"
    ;;
  cohorts_transformer|cohorts_mnist_cnn)
    W="${1#cohorts_}"
    TAG="${W}_${BATCHES:-all}"; TAG="${TAG//,/_}"
    timeout -s INT -k 15 "${LIMIT:-3600}" python3 bench/cohorts.py --mode gpu --part throughput --workload "$W" \
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
