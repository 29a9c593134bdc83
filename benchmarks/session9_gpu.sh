#!/usr/bin/env bash
# Session 9's GPU window (issues 14 and 15): one job per GPU, each done within WINDOW_S seconds of its start.
#
#   bash benchmarks/gpu_window.sh start session9:0:0:coconut session9:1:0:calm_mixing
#   bash benchmarks/session9_gpu.sh OUTDIR coconut|calm_mixing
#   SMOKE=1 WINDOW_S=900 bash benchmarks/session9_gpu.sh OUTDIR coconut   # CPU, tiny backbone: the mechanics only
#
# coconut: recipes/gsm8k/coconut.yaml alone on its GPU, all five stages (CoT, 1, 2, 3 steps replaced by 2 thoughts
#   each, then all), then all 500 validation rows, through benchmarks/latent_thought_gpu.sh (a run cut by its limit
#   is evaluated from its last epoch checkpoint). The stage length comes from a probe: PROBE_STEPS optimizer steps
#   that pass through every stage to the last one (the one with the most decoder passes), timed; the stages then get
#   what fits in the window, at most the recipe's 3 epochs each. If the whole run would fit again in what is left,
#   the thoughts_per_step=1 ablation follows at the same stage length.
# calm_mixing: the K=8 autoencoder (recipes/calm/autoencoder.yaml --patch_size 8 --latent_size 1024) for K8_MIN
#   minutes through benchmarks/calm_gpu.sh, then latent_mixing.yaml and two ablations one after another (latent norm
#   matching off; cross-entropy alone, without the latent MSE and cosine losses), all at the one epoch count that a
#   probe says lets the three fit in what is left (at most 4, the earlier window's).
# Every run: batch 32 without accumulation (the recipes' effective batch), bf16. Results under OUTDIR (no weights);
# checkpoints under $RUNS. OUTDIR/summary.txt is the latent-thought table, CoT and no-CoT from the session-7 window.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/session9_gpu.sh OUTDIR coconut|calm_mixing}
PART=${2:?usage: bash benchmarks/session9_gpu.sh OUTDIR coconut|calm_mixing}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source benchmarks/window_lib.sh
run_from_snapshot "$0" "$OUT" "$PART"
SMOKE=${SMOKE:-0}
WINDOW_S=${WINDOW_S:-1140}
PROBE_STEPS=${PROBE_STEPS:-50}
K8_MIN=${K8_MIN:-4}
MAX_STAGE_EPOCHS=${MAX_STAGE_EPOCHS:-3}  # coconut.yaml's
MAX_EPOCHS=${MAX_EPOCHS:-4}              # latent_mixing: the session-7 window's
if [ "$SMOKE" = 1 ]; then PROBE_STEPS=4 K8_MIN=1 MAX_STAGE_EPOCHS=0.4 MAX_EPOCHS=1; fi
SAVE_S=5                                 # per epoch checkpoint (135M weights + optimizer), a guess
FAST="--per_device_train_batch_size 32 --gradient_accumulation_steps 1 --fp16 false --bf16 true"
BASELINE=benchmarks/results/session7_gpu/latent_thought/summary.json
export RUNS=${RUNS:-/tmp/session9_runs/$PART} SCALE=0 SMOKE
mkdir -p "$RUNS"
calc() { $PY -c "import math; print($1)"; }

probe() {  # probe NAME SPEC: prints "seconds_per_step steps_per_epoch startup_seconds" from a short timed run
  local name=$1 spec=$2 t0
  t0=$(date +%s)
  RECIPES=$spec EXTRA_ARGS="$FAST --max_steps $PROBE_STEPS --do_eval false --save_strategy no" TRAIN_S=400 \
    bash benchmarks/latent_thought_gpu.sh "$OUT/probe" >>"$OUT/probe.log" 2>&1
  $PY - "$OUT/probe/$name/train_results.json" $(($(date +%s) - t0)) "$PROBE_STEPS" <<'PYEOF' || echo "0.5 218 60"
import json, sys
r = json.load(open(sys.argv[1]))
wall, steps = float(sys.argv[2]), int(sys.argv[3])
print(f"{r['train_runtime'] / steps:.4f} {steps / r['epoch']:.1f} {max(wall - r['train_runtime'], 0):.0f}")
PYEOF
}

log "session 9 GPU job $PART: OUT=$OUT RUNS=$RUNS window ${WINDOW_S}s SMOKE=$SMOKE"
case $PART in
  coconut)
    eval_s=120
    read -r sps spe startup < <(probe coconut_probe "coconut_probe=coconut:--epochs_per_stage,0.004")
    log "coconut probe: ${sps}s per step (last stage), $spe steps per epoch, ${startup}s start-up"
    train_s=$(($(left) - eval_s - 30))
    # 5 stages; 60 s for the in-process evaluation; 15 % margin since the probe's speed includes its first steps
    stage_epochs=$(calc "max(0.2, min($MAX_STAGE_EPOCHS, math.floor(20 * 0.85 * ($train_s - $startup - 60) / (5 * ($spe * $sps + $SAVE_S))) / 20))")
    epochs=$(calc "round(5 * $stage_epochs, 2)")
    log "coconut: $stage_epochs epochs per stage ($epochs in all), train+eval limit ${train_s}s"
    t0=$(date +%s)
    latent_thought coconut COCONUT_STAGE_EPOCHS="$stage_epochs" COCONUT_EPOCHS="$epochs" TRAIN_S="$train_s" \
      EVAL_S="$eval_s"
    took=$(($(date +%s) - t0))
    log "coconut done in ${took}s"
    summary
    if [ "$(left)" -ge $((took + 20)) ]; then
      log "coconut_c1 (thoughts_per_step 1) at the same stage length"
      latent_thought "coconut_c1=coconut:--thoughts_per_step,1" COCONUT_STAGE_EPOCHS="$stage_epochs" \
        COCONUT_EPOCHS="$epochs" TRAIN_S=$(($(left) - eval_s - 30)) EVAL_S="$eval_s"
      summary
    else
      log "skip coconut_c1: $(left)s left, the run took ${took}s"
    fi
    ;;
  calm_mixing)
    log "CALM K=8 autoencoder, $K8_MIN minutes"
    CALM_STAGES="corpus ae_k8" K8_MIN=$K8_MIN CALM_WORK="$RUNS/calm" bash benchmarks/calm_gpu.sh "$OUT/calm"
    eval_s=60
    read -r sps spe startup < <(probe lm_probe "lm_probe=latent_mixing")
    log "latent_mixing probe: ${sps}s per step, $spe steps per epoch, ${startup}s start-up"
    variants=(latent_mixing "lm_nonorm=latent_mixing:--latent_norm_matching,false"
      "lm_ce_only=latent_mixing:--mse_loss_weight,0,--cosine_loss_weight,0")
    for n in 3 2 1; do  # as many runs as fit with at least 1.5 epochs each (1 run: whatever fits)
      per_run=$(($(left) / n - eval_s - 15))
      epochs=$(calc "min($MAX_EPOCHS, math.floor(4 * 0.85 * ($per_run - $startup - 40) / ($spe * $sps + $SAVE_S)) / 4)")
      [ "$(calc "int($epochs >= min(1.5, $MAX_EPOCHS))")" = 1 ] && break
    done
    if [ "$(calc "int($epochs >= 0.25)")" != 1 ]; then
      log "no latent_mixing run fits: $(left)s left"
      n=0
    fi
    log "latent_mixing: $n run(s) of $epochs epochs"
    for spec in "${variants[@]:0:$n}"; do
      remaining=$((n - ${done_runs:-0}))
      latent_thought "$spec" EPOCHS="$epochs" TRAIN_S=$(($(left) / remaining - eval_s - 15)) EVAL_S="$eval_s"
      done_runs=$((${done_runs:-0} + 1))
      summary
    done
    ;;
  *)
    echo "unknown part $PART (coconut | calm_mixing)" >&2
    exit 2
    ;;
esac
log "done ($(left)s of the window left)"
