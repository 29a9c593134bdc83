#!/usr/bin/env bash
# Session 12's GPU window (issues 13 and 17): one part per job.
#
#   bash benchmarks/gpu_window.sh start session12:0:0:demo_sweep session12:0:DELAY:speed
#   SMOKE=1 bash benchmarks/session12_gpu.sh OUTDIR demo_sweep   # CPU, a few steps per stage: mechanics only
#
# demo_sweep: `make demo`'s four recipes (words -> pretrain -> warm-up -> summaries) and variants of them, several seeds
#   each, on the GPU instead of the 2 CPU cores (bf16 either way), each scored with run_eval.py on all 100 validation
#   rows and benchmarks/demo_names.py. Variants (VARIANTS, default all), seeds (SEEDS, default 1 2):
#     default     make demo as it is
#     steps400    400 steps of summaries instead of 450 (the CPU's 15-minute budget)
#     grouped     the summary stage's batches grouped by summary length (less padding, same steps)
#   The first round of session 12 (the warm-up's variants, BENCHMARKS "The CPU demo", session 12) ran this part as it
#   was at commit 757e211, on the recipes of that commit.
# speed: issue 17, the latent prefix against the raw-dialogue prompt at batch 256 (compiled decoding, offline shapes)
#   with dialogues of 256 and of 512 tokens (MiniLM reads 512 at most): how the ratio grows with the prompt the latent
#   path replaces.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/session12_gpu.sh OUTDIR demo_sweep|speed}
PART=${2:?usage: bash benchmarks/session12_gpu.sh OUTDIR demo_sweep|speed}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source benchmarks/window_lib.sh
run_from_snapshot "$0" "$OUT" "$PART"
SMOKE=${SMOKE:-0}
export WINDOW_S=${WINDOW_S:-1200}
RUNS=${RUNS:-/tmp/session12_runs/$PART}
mkdir -p "$RUNS"
log "session 12 GPU job $PART: OUT=$OUT RUNS=$RUNS window ${WINDOW_S}s SMOKE=$SMOKE"

minilm_weights() {  # the window carries MiniLM as fp16 (size); the recipes read fp32 backbones/all-MiniLM-L6-v2
  [ -f backbones/all-MiniLM-L6-v2/model.safetensors ] && return 0
  [ -d /root/stash/minilm16 ] || { log "no MiniLM weights: carry .carry/minilm16 in a stash call"; return 1; }
  $PY -c "
import torch
from transformers import AutoModel
AutoModel.from_pretrained('/root/stash/minilm16', dtype=torch.float32).save_pretrained('backbones/all-MiniLM-L6-v2')
"
}

stage() {  # stage DIR NAME RECIPE ARGS...: one run_summarization.py stage of a pipeline, logged in DIR/NAME.log
  local dir=$1 name=$2 recipe=$3
  shift 3
  $PY run_summarization.py "$recipe" --output_dir "$dir/$name" "${DEVICE_ARGS[@]}" "$@" >"$dir/$name.log" 2>&1
}

pipeline() {  # pipeline VARIANT SEED: make demo's four stages, run_eval on the 100 validation rows, the names' scores
  local variant=$1 seed=$2 dir="$RUNS/$1-s$2" t0 rc=0 demo=()
  t0=$(date +%s)
  mkdir -p "$dir"
  case $variant in
    steps400) demo=(--max_steps 400) ;;
    grouped) demo=(--train_sampling_strategy group_by_length) ;;
  esac
  stage "$dir" words recipes/demo/words.yaml --seed "$seed" || rc=1
  [ $rc = 0 ] && stage "$dir" pretrain recipes/demo/pretrain.yaml --seed "$seed" --model_name_or_path "$dir/words" || rc=1
  [ $rc = 0 ] && stage "$dir" bow recipes/demo/warmup.yaml --seed "$seed" --model_name_or_path "$dir/pretrain" || rc=1
  [ $rc = 0 ] && stage "$dir" demo recipes/demo/demo.yaml --seed "$seed" --model_name_or_path "$dir/bow" \
    ${demo[@]+"${demo[@]}"} || rc=1
  if [ $rc = 0 ]; then
    $PY run_eval.py --model_name_or_path "$dir/demo" --validation_file data/demo/validation.jsonl \
      --output_dir "$dir/eval" "${EVAL_ARGS[@]}" >"$dir/eval.log" 2>&1 || rc=1
  fi
  mkdir -p "$OUT/$variant-s$seed"
  for f in "$dir"/*.log "$dir"/eval/*.json*; do [ -f "$f" ] && cp "$f" "$OUT/$variant-s$seed/"; done
  for name in words pretrain bow demo; do
    [ -f "$dir/$name/trainer_state.json" ] && cp "$dir/$name/trainer_state.json" "$OUT/$variant-s$seed/$name-state.json"
  done
  if [ $rc = 0 ]; then
    route=$($PY benchmarks/demo_names.py --route "$dir/bow" 2>/dev/null | tail -n 1)
    echo "$variant | $seed | $(grep -o '"rougeL": [0-9.]*' "$dir/eval/eval_results.json" | cut -d' ' -f2) | \
$($PY benchmarks/demo_names.py "$dir/eval/predictions.jsonl" | tail -n 1 | cut -d'|' -f3-) | ${route##*|} | \
$(($(date +%s) - t0)) s" >>"$OUT/summary.txt"
  fi
  log "end $variant seed $seed rc=$rc after $(($(date +%s) - t0))s"
}

case $PART in
  demo_sweep)
    if [ "$SMOKE" = 1 ]; then
      DEVICE_ARGS=(--max_steps 2 --max_eval_samples 4 --max_train_samples 16)
      EVAL_ARGS=(--max_samples 4)
    else
      DEVICE_ARGS=(--use_cpu false --bf16 true)
      EVAL_ARGS=()
      minilm_weights || exit 1
    fi
    export OMP_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false
    echo "variant | seed | R-L | first name = speaker | all the right people | at least one right person | route names on top | wall" >"$OUT/summary.txt"
    MAX_JOBS=${MAX_JOBS:-6}
    for seed in ${SEEDS:-1 2}; do
      for variant in ${VARIANTS:-default steps400 grouped}; do
        while [ "$(jobs -rp | wc -l)" -ge "$MAX_JOBS" ]; do sleep 2; done
        [ "$(left)" -lt 200 ] && { log "skip $variant seed $seed: $(left)s left"; continue; }
        pipeline "$variant" "$seed" &
        sleep 2
      done
    done
    wait
    cat "$OUT/summary.txt"
    ;;
  speed)
    # alone on the GPU: wait for the sweep's processes (their command lines name it) to end first
    while pgrep -f "session12_runs/demo_sweep|session12_gpu.sh .*demo_sweep" >/dev/null; do sleep 5; done
    log "the GPU is free"
    if [ "$SMOKE" = 1 ]; then
      gen=(--tiny --devices cpu --repeats 1 --warmup 1 --batch_sizes 4)
    else
      gen=(--devices cuda --warmup 2 --repeats 5 --batch_sizes 256)
    fi
    for source in 256 512; do
      log "generation_speed offline shapes, compiled, source $source"
      timeout 240 $PY benchmarks/generation_speed.py "${gen[@]}" --shapes offline --decodings compiled \
        --paths "latent prefix,token space" --source_length "$source" --output "$OUT/generation_src$source.json" \
        >"$OUT/generation_src$source.log" 2>&1
      log "exit $?"
    done
    ;;
  *)
    echo "unknown part $PART (demo_sweep | speed)" >&2
    exit 2
    ;;
esac
log "done ($(left)s of the window left)"
