#!/usr/bin/env bash
# Session 11's GPU window (issues 14, 15 and 17): one part per job, each done within WINDOW_S seconds of its start.
#
#   bash benchmarks/gpu_window.sh start session11:0:0:cot_coconut session11:0:0:ce_only \
#       session11:1:0:calm_k8 session11:1:620:speed
#   SMOKE=1 WINDOW_S=600 bash benchmarks/session11_gpu.sh OUTDIR ce_only   # CPU, tiny backbone: mechanics only
#
# cot_coconut: session 10's part, FROM_COT_STAGE_EPOCHS (default 0.4) per stage, and beside it the thoughts-per-step
#   ablation from the same CoT model (FROM_COT_VARIANTS, default c1: one thought per step instead of two).
# calm_k8: session 10's part (the K=8 autoencoder without dropout) for K8_MIN minutes (default 8).
# ce_only: recipes/gsm8k/latent_mixing.yaml with cross-entropy alone (no latent MSE / cosine) at session 9's
#   2.75 epochs: the latent-loss ablation issue 14 asks for.
# speed: issue 17's generation targets (benchmarks/generation_speed.py, transformers' static cache against the
#   compiled decoding loop, at batch 32 and 256, seed and offline shapes), then BART-base eager at batch 128 (its
#   best setting was measured only up to 64).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/session11_gpu.sh OUTDIR PART}
PART=${2:?usage: bash benchmarks/session11_gpu.sh OUTDIR cot_coconut|calm_k8|ce_only|speed}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source benchmarks/window_lib.sh
run_from_snapshot "$0" "$OUT" "$PART"
SMOKE=${SMOKE:-0}
export WINDOW_S=${WINDOW_S:-1260}
export FROM_COT_STAGE_EPOCHS=${FROM_COT_STAGE_EPOCHS:-0.4} K8_MIN=${K8_MIN:-8}
export FROM_COT_VARIANTS=${FROM_COT_VARIANTS-c1:--thoughts_per_step,1}
MIXING_EPOCHS=${MIXING_EPOCHS:-2.75}
[ "$SMOKE" = 1 ] && MIXING_EPOCHS=0.5
FAST="--per_device_train_batch_size 32 --gradient_accumulation_steps 1 --fp16 false --bf16 true"
[ "$SMOKE" = 1 ] && FAST=""
BASELINE=benchmarks/results/session7_gpu/latent_thought/summary.json
export RUNS=${RUNS:-/tmp/session11_runs/$PART} SCALE=0 SMOKE
mkdir -p "$RUNS"

log "session 11 GPU job $PART: OUT=$OUT RUNS=$RUNS window ${WINDOW_S}s SMOKE=$SMOKE"
case $PART in
  cot_coconut | calm_k8)  # session 10's parts, run from this job's snapshot with this window's settings
    bash benchmarks/session10_gpu.sh "$OUT" "$PART"
    ;;
  ce_only)
    latent_thought "lm_ce_only=latent_mixing:--mse_loss_weight,0,--cosine_loss_weight,0" EPOCHS="$MIXING_EPOCHS" \
      TRAIN_S=$(($(left) - 90)) EVAL_S=60
    summary
    ;;
  speed)
    if [ "$SMOKE" = 1 ]; then
      gen=(--tiny --devices cpu --repeats 1 --warmup 1)
      tiny=(--tiny --cpu --max_rows 32 --epochs 2 --compile_backend eager)
    else
      gen=(--devices cuda --warmup 2 --repeats 5)
      tiny=()
    fi
    # the seed shapes at both batch sizes (issue 17's baseline), the offline recipe's at 256 (the 2x target)
    for spec in seed:32,256:200 offline:256:120; do
      IFS=: read -r shapes batches limit <<<"$spec"
      [ "$SMOKE" = 1 ] && batches=2,4
      log "generation_speed $shapes shapes, batch $batches"
      timeout "$limit" $PY benchmarks/generation_speed.py "${gen[@]}" --shapes "$shapes" --batch_sizes "$batches" \
        --decodings static,compiled --output "$OUT/generation_$shapes.json" >"$OUT/generation_$shapes.log" 2>&1
      log "exit $?"
    done
    log "train_cost_real bart-eager-pad8 batch 128"
    timeout 120 $PY benchmarks/train_cost_real.py --configs bart-eager-pad8 --batch_size 128 --epochs 3 \
      --target_buckets 32,64,128 --timeout 110 "${tiny[@]}" --output "$OUT/bart-eager-pad8_b128.json" \
      >"$OUT/bart-eager-pad8_b128.log" 2>&1
    log "exit $?"
    ;;
  *)
    echo "unknown part $PART (cot_coconut | calm_k8 | ce_only | speed)" >&2
    exit 2
    ;;
esac
log "done ($(left)s of the window left)"
