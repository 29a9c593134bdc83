#!/usr/bin/env bash
# The latent-thought family's GPU work, for one (shared) H200, in at most 12 minutes of wall time:
#
#   bash benchmarks/latent_thought_gpu.sh OUTDIR            # GPU
#   SMOKE=1 bash benchmarks/latent_thought_gpu.sh OUTDIR    # CPU check of the same path with a tiny backbone
#
# 1. trains the four GSM8K recipes (no_cot, cot, coconut, latent_mixing) concurrently on SmolLM2-135M-Instruct and
#    evaluates each on all 500 rows of ../shared/data/gsm8k/validation.jsonl (run_reasoning.py, do_eval), under one
#    time limit each (TRAIN_S); the recipes stay sized for a 12 GB card, the budget here comes from CLI overrides;
# 2. a run that ran out of time is evaluated from its last checkpoint (EVAL_S), so every recipe gets a number;
# 3. the scale row, concurrently with 1: a random 1B Llama-shaped decoder with LoRA at fp16, the coconut and cot
#    recipes' batch 8 x 4 accumulation, 3 optimizer steps, peak GPU memory;
# 4. the summary table (benchmarks/latent_thought_summary.py) last.
# Results (JSON, predictions, logs; no weights) go under OUTDIR; models and checkpoints under $RUNS (default /tmp).
# GPU memory: ~3-4 GB for each 135M run at batch 16, ~6-8 GB for the scale row: ~20 GB in all.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/latent_thought_gpu.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
RUNS=${RUNS:-/tmp/latent_thought_runs}
SMOKE=${SMOKE:-0}
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

EPOCHS=${EPOCHS:-4}                    # no_cot, cot, latent_mixing
COCONUT_EPOCHS=${COCONUT_EPOCHS:-4}    # stages 0, 1, 2, 3 and the last one, COCONUT_STAGE_EPOCHS each
COCONUT_STAGE_EPOCHS=${COCONUT_STAGE_EPOCHS:-0.8}
TRAIN_S=${TRAIN_S:-540}
EVAL_S=${EVAL_S:-90}
SCALE_S=${SCALE_S:-300}
COMMON=(--per_device_train_batch_size 16 --gradient_accumulation_steps 2 --per_device_eval_batch_size 100
        --train_sampling_strategy group_by_length --save_strategy epoch --save_total_limit 1 --logging_steps 20
        --overwrite_output_dir true --disable_tqdm true --dataloader_num_workers 0)
SCALE_EXTRA=(--folder "$RUNS/latent_thought_llama1b")
if [ "$SMOKE" = 1 ]; then
  TINY=$RUNS/tiny_backbone
  [ -f "$TINY/config.json" ] || $PY tests/tiny_reasoning_backbone.py "$TINY" >/dev/null
  EPOCHS=2 COCONUT_EPOCHS=2 COCONUT_STAGE_EPOCHS=0.5 TRAIN_S=${SMOKE_TRAIN_S:-400} EVAL_S=120 SCALE_S=300
  COMMON=(--decoder_name_or_path "$TINY" --max_length 512 --fp16 false --use_cpu true --max_train_samples 32
          --max_eval_samples 8 --max_new_tokens 8 --max_reasoning_steps 8 --per_device_train_batch_size 8
          --gradient_accumulation_steps 1 --per_device_eval_batch_size 8 --save_strategy epoch --save_total_limit 1
          --logging_steps 2 --overwrite_output_dir true --disable_tqdm true --dataloader_num_workers 0)
  SCALE_EXTRA=(--tiny --folder "$RUNS/tiny_scale" --max_steps 2 --fp16 false --use_cpu true --max_train_samples 16)
fi
mkdir -p "$RUNS"
log "latent-thought GPU script: OUT=$OUT RUNS=$RUNS SMOKE=$SMOKE epochs=$EPOCHS coconut=$COCONUT_EPOCHS x$COCONUT_STAGE_EPOCHS"
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>/dev/null || echo "no GPU"
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"
  git log -1 --format='commit %H %s' 2>/dev/null || true
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

recipe_args() {
  case $1 in
    coconut) echo "--num_train_epochs $COCONUT_EPOCHS --epochs_per_stage $COCONUT_STAGE_EPOCHS" ;;
    *) echo "--num_train_epochs $EPOCHS" ;;
  esac
}

collect() {  # small results of a run (never weights) into OUT/<recipe>/
  local recipe=$1 src=$2
  mkdir -p "$OUT/$recipe"
  for f in eval_results.json predictions.jsonl README.md train_results.json trainer_state.json; do
    [ -f "$src/$f" ] && cp "$src/$f" "$OUT/$recipe/"
  done
}

# -- 1 + 3: the four recipes and the scale row, concurrently -----------------------------------------------------------
declare -A PIDS
for recipe in no_cot cot coconut latent_mixing; do
  # shellcheck disable=SC2046
  ( log "train+eval $recipe start"
    timeout "$TRAIN_S" $PY run_reasoning.py "recipes/gsm8k/$recipe.yaml" "${COMMON[@]}" $(recipe_args "$recipe") \
      --output_dir "$RUNS/$recipe" > "$OUT/$recipe.log" 2>&1
    log "train+eval $recipe exit $?" ) &
  PIDS[$recipe]=$!
done
( log "scale row start"
  for recipe in coconut cot; do
    timeout "$SCALE_S" $PY benchmarks/latent_thought_scale.py --recipe "recipes/gsm8k/$recipe.yaml" \
      --output "$OUT/scale_$recipe.json" "${SCALE_EXTRA[@]}" > "$OUT/scale_$recipe.log" 2>&1
    log "scale row $recipe exit $?"
  done
  rm -rf "${RUNS:?}/latent_thought_llama1b-run" ) &
SCALE_PID=$!
for recipe in "${!PIDS[@]}"; do wait "${PIDS[$recipe]}"; done
log "training runs done"
for recipe in no_cot cot coconut latent_mixing; do
  collect "$recipe" "$RUNS/$recipe"
  [ -f "$OUT/$recipe/eval_results.json" ] && echo "full run (train + eval in one process)" > "$OUT/$recipe/source.txt"
done

# -- 2: a run cut off by its time limit is evaluated from its last checkpoint -----------------------------------------
declare -A EVAL_PIDS
for recipe in no_cot cot coconut latent_mixing; do
  if [ -f "$OUT/$recipe/eval_results.json" ] && [ "${CHECK_FALLBACK:-$SMOKE}" != 1 -o "$recipe" != coconut ]; then
    continue
  fi
  checkpoint=$(ls -d "$RUNS/$recipe"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1)
  if [ -z "$checkpoint" ]; then log "$recipe: no eval results and no checkpoint"; continue; fi
  target=$recipe
  [ -f "$OUT/$recipe/eval_results.json" ] && target=${recipe}_fallback_check  # SMOKE: exercise this path too
  ( log "eval $recipe from $checkpoint"
    timeout "$EVAL_S" $PY run_reasoning.py "recipes/gsm8k/$recipe.yaml" "${COMMON[@]}" --model_name_or_path "$checkpoint" \
      --do_train false --output_dir "$RUNS/$target-eval" > "$OUT/$target-eval.log" 2>&1
    log "eval $recipe exit $?"
    collect "$target" "$RUNS/$target-eval"
    echo "last checkpoint $(basename "$checkpoint") (training cut at ${TRAIN_S}s)" > "$OUT/$target/source.txt" ) &
  EVAL_PIDS[$recipe]=$!
done
for recipe in "${!EVAL_PIDS[@]}"; do wait "${EVAL_PIDS[$recipe]}"; done
wait "$SCALE_PID"
log "scale row done"

# -- 4: the table ------------------------------------------------------------------------------------------------------
for recipe in no_cot cot coconut latent_mixing; do
  grep -E "^\{'loss'" "$OUT/$recipe.log" | tail -3 | sed "s/^/$recipe: /"
done
$PY benchmarks/latent_thought_summary.py "$OUT" 2>&1 | tee "$OUT/summary.log"
du -sh "$OUT"
log "done"
