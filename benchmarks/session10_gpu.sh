#!/usr/bin/env bash
# Session 10's GPU window (issues 14, 15 and 17): one job per GPU, each done within WINDOW_S seconds of its start.
#
#   bash benchmarks/gpu_window.sh start session10:0:0:cot_coconut session10:1:0:coconut_fix \
#       session10:2:0:calm_k8 session10:3:0:speed
#   SMOKE=1 WINDOW_S=600 bash benchmarks/session10_gpu.sh OUTDIR cot_coconut   # CPU, tiny backbone: mechanics only
#
# cot_coconut: recipes/gsm8k/cot.yaml for COT_EPOCHS, then recipes/gsm8k/coconut.yaml started from that CoT model
#   (as Coconut starts from a CoT checkpoint) with FROM_COT_STAGE_EPOCHS per stage, each evaluated on all 500 rows;
#   FROM_COT_VARIANTS="NAME:--flag,value ..." trains more Coconut runs from the same CoT model at the same time.
# coconut_fix: benchmarks/padding_nan_check.py (do leading-padding rows give NaN gradients in bf16, per SDPA
#   backend?), then coconut.yaml in bf16 at session 9's 0.4 epoch per stage, which gave NaN gradients from steps
#   121-140 on before Coconut's alignment stopped padding in front of the question; then latent_mixing.yaml with
#   cross-entropy alone (no latent MSE / cosine) at session 9's 2.75 epochs.
# calm_k8: the K=8 autoencoder without token / latent dropout for K8_MIN minutes (benchmarks/calm_gpu.sh).
# speed: issue 17's frozen recipe compiled with static shapes at batch 64 and 128, BART-base eager at 64
#   (benchmarks/train_cost_real.py; session 8 measured batch 32).
# Every reasoning run: batch 32 without accumulation (the recipes' effective batch), bf16. Results under OUTDIR (no
# weights); checkpoints under $RUNS.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/session10_gpu.sh OUTDIR PART}
PART=${2:?usage: bash benchmarks/session10_gpu.sh OUTDIR cot_coconut|coconut_fix|calm_k8|speed}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source benchmarks/window_lib.sh
run_from_snapshot "$0" "$OUT" "$PART"
SMOKE=${SMOKE:-0}
WINDOW_S=${WINDOW_S:-900}
COT_EPOCHS=${COT_EPOCHS:-3}
FROM_COT_STAGE_EPOCHS=${FROM_COT_STAGE_EPOCHS:-0.3}
COCONUT_STAGE_EPOCHS=${COCONUT_STAGE_EPOCHS:-0.4}
MIXING_EPOCHS=${MIXING_EPOCHS:-2.75}
K8_MIN=${K8_MIN:-5}
if [ "$SMOKE" = 1 ]; then COT_EPOCHS=1 FROM_COT_STAGE_EPOCHS=0.2 COCONUT_STAGE_EPOCHS=0.2 MIXING_EPOCHS=0.5 K8_MIN=1; fi
FAST="--per_device_train_batch_size 32 --gradient_accumulation_steps 1 --fp16 false --bf16 true"
[ "$SMOKE" = 1 ] && FAST=""
BASELINE=benchmarks/results/session7_gpu/latent_thought/summary.json
export RUNS=${RUNS:-/tmp/session10_runs/$PART} SCALE=0 SMOKE
mkdir -p "$RUNS"

coconut_epochs() { $PY -c "print(round(5 * ${1:-$COCONUT_STAGE_EPOCHS}, 2))"; }

log "session 10 GPU job $PART: OUT=$OUT RUNS=$RUNS window ${WINDOW_S}s SMOKE=$SMOKE"
case $PART in
  cot_coconut)
    latent_thought cot EPOCHS="$COT_EPOCHS" TRAIN_S=$(($(left) / 2)) EVAL_S=120
    summary
    if [ -f "$RUNS/cot/model.safetensors" ]; then
      log "coconut from the CoT model, $FROM_COT_STAGE_EPOCHS epochs per stage (variants: ${FROM_COT_VARIANTS:-none})"
      from=--model_name_or_path,$RUNS/cot
      specs="coconut_from_cot=coconut:$from"
      for variant in ${FROM_COT_VARIANTS:-}; do specs+=" coconut_from_cot_${variant%%:*}=coconut:$from,${variant#*:}"; done
      latent_thought "$specs" \
        COCONUT_STAGE_EPOCHS="$FROM_COT_STAGE_EPOCHS" COCONUT_EPOCHS="$(coconut_epochs "$FROM_COT_STAGE_EPOCHS")" \
        TRAIN_S=$(($(left) - 30)) \
        EVAL_S=60
      summary
    else
      log "no CoT model in $RUNS/cot: Coconut from CoT skipped"
    fi
    ;;
  coconut_fix)
    if [ "$SMOKE" = 1 ]; then check=(--decoder "$RUNS/tiny_backbone" --long 32 --shorts 8); else check=(); fi
    [ "$SMOKE" = 1 ] && $PY tests/tiny_reasoning_backbone.py "$RUNS/tiny_backbone" >/dev/null
    timeout 120 $PY benchmarks/padding_nan_check.py "${check[@]}" --output "$OUT/padding_nan_check.json" \
      >"$OUT/padding_nan_check.log" 2>&1
    log "padding check exit $?"
    latent_thought coconut COCONUT_STAGE_EPOCHS="$COCONUT_STAGE_EPOCHS" COCONUT_EPOCHS="$(coconut_epochs)" \
      TRAIN_S=$(($(left) - 60)) EVAL_S=60
    summary
    if [ "$(left)" -ge 180 ]; then  # session 10's window had none left (a negative limit made `timeout` fail)
      latent_thought "lm_ce_only=latent_mixing:--mse_loss_weight,0,--cosine_loss_weight,0" EPOCHS="$MIXING_EPOCHS" \
        TRAIN_S=$(($(left) - 60)) EVAL_S=50
      summary
    else
      log "skip lm_ce_only: $(left)s left"
    fi
    ;;
  calm_k8)
    log "CALM K=8 autoencoder without dropout, $K8_MIN minutes"
    CALM_STAGES="corpus ae_k8_nodropout" K8_MIN=$K8_MIN CALM_WORK="$RUNS/calm" bash benchmarks/calm_gpu.sh "$OUT/calm"
    ;;
  speed)
    if [ "$SMOKE" = 1 ]; then tiny=(--tiny --cpu --max_rows 32 --epochs 2 --compile_backend eager); else tiny=(); fi
    for spec in frozen-compile-static:64 frozen-compile-static:128 bart-eager-pad8:64; do
      IFS=: read -r config batch <<<"$spec"
      log "train_cost_real $config batch $batch"
      timeout 280 $PY benchmarks/train_cost_real.py --configs "$config" --batch_size "$batch" --epochs 3 \
        --target_buckets 32,64,128 --timeout 260 "${tiny[@]}" --output "$OUT/${config}_b$batch.json" \
        >"$OUT/${config}_b$batch.log" 2>&1
      log "exit $?"
    done
    ;;
  *)
    echo "unknown part $PART (cot_coconut | coconut_fix | calm_k8 | speed)" >&2
    exit 2
    ;;
esac
log "done ($(left)s of the window left)"
