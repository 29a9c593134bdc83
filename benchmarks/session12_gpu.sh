#!/usr/bin/env bash
# Session 12's GPU window (issues 13 and 17): one part per job.
#
#   bash benchmarks/gpu_window.sh start session12:0:0:demo_sweep session12:0:DELAY:speed
#   SMOKE=1 bash benchmarks/session12_gpu.sh OUTDIR demo_sweep   # CPU, a few steps per stage: mechanics only
#
# demo_sweep: `make demo`'s three recipes (pretrain -> bag-of-words warm-up -> summaries) and variants of them, several
#   seeds each, on the GPU instead of the 2 CPU cores (bf16 either way), each scored with run_eval.py on all 100
#   validation rows and benchmarks/demo_names.py: which change moves the demo's names beyond the seed spread, before
#   one of them is timed on the CPU. Variants (VARIANTS, default all), seeds (SEEDS, default 1 2 3):
#     nowarm      pretrain.yaml -> demo.yaml (the demo before session 11's warm-up)
#     warm        pretrain.yaml -> warmup.yaml -> demo.yaml (make demo)
#     prewarm     a bag-of-words stage on new heads first, then as warm
#     bow10       warm, with bag_of_words_loss_weight 10 in the summary stage
#     linear      warm with linear heads (no compression hidden layer, identity middle model)
#     warm60      warm, with 60 warm-up epochs instead of 20
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

pipeline() {  # pipeline VARIANT SEED: the three stages, run_eval on the 100 validation rows, the names' scores
  local variant=$1 seed=$2 dir="$RUNS/$1-s$2" t0 pretrain=recipes/demo/pretrain.yaml from rc=0
  local warm=(--num_train_epochs 20) demo=()
  t0=$(date +%s)
  mkdir -p "$dir"
  case $variant in
    prewarm)  # new heads, bag-of-words loss alone at the warm-up's settings, then pre-training continues them
      stage "$dir" bow0 recipes/demo/pretrain.yaml --seed "$seed" --decoder_loss_weight 0 --summary_column summary \
        --max_target_length 40 --per_device_train_batch_size 64 --num_train_epochs 20 --warmup_steps 0 \
        --lr_scheduler_type constant --weight_decay 0.01 --max_grad_norm 0 || rc=1
      from=(--model_name_or_path "$dir/bow0" --decoder_loss_weight 1) ;;
    linear)
      pretrain=$dir/pretrain_linear.yaml
      sed -e 's/^compression_hidden_dims: .*/compression_hidden_dims: []/' -e 's/^middle_model: .*/middle_model: identity/' \
        recipes/demo/pretrain.yaml >"$pretrain"
      grep -q 'compression_hidden_dims: \[\]' "$pretrain" || { log "linear: sed found no compression line"; return 1; } ;;
    warm60) warm=(--num_train_epochs 60) ;;
    bow10) demo=(--bag_of_words_loss_weight 10) ;;
  esac
  [ $rc = 0 ] && stage "$dir" pretrain "$pretrain" --seed "$seed" ${from[@]+"${from[@]}"} || rc=1
  if [ "$variant" = nowarm ]; then
    [ $rc = 0 ] && stage "$dir" demo recipes/demo/demo.yaml --seed "$seed" --model_name_or_path "$dir/pretrain" || rc=1
  else
    [ $rc = 0 ] && stage "$dir" bow recipes/demo/warmup.yaml --seed "$seed" --model_name_or_path "$dir/pretrain" \
      "${warm[@]}" || rc=1
    [ $rc = 0 ] && stage "$dir" demo recipes/demo/demo.yaml --seed "$seed" --model_name_or_path "$dir/bow" \
      ${demo[@]+"${demo[@]}"} || rc=1
  fi
  if [ $rc = 0 ]; then
    $PY run_eval.py --model_name_or_path "$dir/demo" --validation_file data/demo/validation.jsonl \
      --output_dir "$dir/eval" "${EVAL_ARGS[@]}" >"$dir/eval.log" 2>&1 || rc=1
  fi
  mkdir -p "$OUT/$variant-s$seed"
  for f in "$dir"/*.log "$dir"/eval/*.json*; do [ -f "$f" ] && cp "$f" "$OUT/$variant-s$seed/"; done
  for name in bow0 pretrain bow demo; do
    [ -f "$dir/$name/trainer_state.json" ] && cp "$dir/$name/trainer_state.json" "$OUT/$variant-s$seed/$name-state.json"
  done
  if [ $rc = 0 ]; then
    route=$($PY benchmarks/demo_names.py --route "$dir/bow" 2>/dev/null | tail -n 1)
    [ "$variant" = nowarm ] && route="-"
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
    for seed in ${SEEDS:-1 2 3}; do
      for variant in ${VARIANTS:-warm nowarm prewarm bow10 linear warm60}; do
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
