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
# Environment: RECIPES picks the runs (default the four recipes, concurrently): each NAME is recipes/gsm8k/NAME.yaml,
# NAME=RECIPE[:ARG,ARG...] a variant of RECIPE with command-line overrides (commas for spaces), e.g.
# `lm_nonorm=latent_mixing:--latent_norm_matching,false`; EXTRA_ARGS are added to every run (e.g. batch, bf16);
# SCALE=0 skips the scale row; EPOCHS, COCONUT_EPOCHS, COCONUT_STAGE_EPOCHS, TRAIN_S, EVAL_S set the budget.
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

RECIPES=${RECIPES:-no_cot cot coconut latent_mixing}
SCALE=${SCALE:-1}
EXTRA_ARGS=${EXTRA_ARGS:-}
if [ "$SMOKE" = 1 ]; then defaults=(2 2 0.5 "${SMOKE_TRAIN_S:-400}" 120 300); else defaults=(4 4 0.8 540 90 300); fi
EPOCHS=${EPOCHS:-${defaults[0]}}                              # no_cot, cot, latent_mixing
COCONUT_EPOCHS=${COCONUT_EPOCHS:-${defaults[1]}}              # stages 0, 1, 2, 3 and the last one,
COCONUT_STAGE_EPOCHS=${COCONUT_STAGE_EPOCHS:-${defaults[2]}}  # COCONUT_STAGE_EPOCHS each
TRAIN_S=${TRAIN_S:-${defaults[3]}}
EVAL_S=${EVAL_S:-${defaults[4]}}
SCALE_S=${SCALE_S:-${defaults[5]}}
COMMON=(--per_device_train_batch_size 16 --gradient_accumulation_steps 2 --per_device_eval_batch_size 100
        --train_sampling_strategy group_by_length --save_strategy epoch --save_total_limit 1 --logging_steps 20
        --overwrite_output_dir true --disable_tqdm true --dataloader_num_workers 0)
SCALE_EXTRA=(--folder "$RUNS/latent_thought_llama1b")
if [ "$SMOKE" = 1 ]; then
  TINY=$RUNS/tiny_backbone
  [ -f "$TINY/config.json" ] || $PY tests/tiny_reasoning_backbone.py "$TINY" >/dev/null
  COMMON=(--decoder_name_or_path "$TINY" --max_length 512 --fp16 false --use_cpu true --max_train_samples 32
          --max_eval_samples 8 --max_new_tokens 8 --max_reasoning_steps 8 --per_device_train_batch_size 8
          --gradient_accumulation_steps 1 --per_device_eval_batch_size 8 --save_strategy epoch --save_total_limit 1
          --logging_steps 2 --overwrite_output_dir true --disable_tqdm true --dataloader_num_workers 0)
  SCALE_EXTRA=(--tiny --folder "$RUNS/tiny_scale" --max_steps 2 --fp16 false --use_cpu true --max_train_samples 16)
fi
mkdir -p "$RUNS"
log "latent-thought GPU script: OUT=$OUT RUNS=$RUNS SMOKE=$SMOKE epochs=$EPOCHS coconut=$COCONUT_EPOCHS x$COCONUT_STAGE_EPOCHS runs=[$RECIPES] extra=[$EXTRA_ARGS] train_s=$TRAIN_S eval_s=$EVAL_S"
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

# a run: NAME or NAME=RECIPE[:ARG,ARG...]
declare -A RECIPE_OF VARIANT_ARGS
NAMES=()
for spec in $RECIPES; do
  head=${spec%%:*}
  name=${head%%=*}
  RECIPE_OF[$name]=${head#*=}
  VARIANT_ARGS[$name]=""
  [[ $spec == *:* ]] && VARIANT_ARGS[$name]=${spec#*:}
  VARIANT_ARGS[$name]=${VARIANT_ARGS[$name]//,/ }
  [ -f "recipes/gsm8k/${RECIPE_OF[$name]}.yaml" ] || { log "no recipe recipes/gsm8k/${RECIPE_OF[$name]}.yaml"; exit 2; }
  NAMES+=("$name")
done

collect() {  # small results of a run (never weights) into OUT/<recipe>/
  local recipe=$1 src=$2
  mkdir -p "$OUT/$recipe"
  for f in eval_results.json predictions.jsonl README.md train_results.json trainer_state.json; do
    [ -f "$src/$f" ] && cp "$src/$f" "$OUT/$recipe/"
  done
}

# -- 1 + 3: the four recipes and the scale row, concurrently -----------------------------------------------------------
declare -A PIDS
for name in "${NAMES[@]}"; do
  recipe=${RECIPE_OF[$name]}
  # shellcheck disable=SC2046,SC2086
  ( log "train+eval $name start ($recipe ${VARIANT_ARGS[$name]})"
    timeout "$TRAIN_S" $PY run_reasoning.py "recipes/gsm8k/$recipe.yaml" "${COMMON[@]}" $(recipe_args "$recipe") \
      $EXTRA_ARGS ${VARIANT_ARGS[$name]} --output_dir "$RUNS/$name" > "$OUT/$name.log" 2>&1
    log "train+eval $name exit $?" ) &
  PIDS[$name]=$!
done
if [ "$SCALE" = 1 ]; then
  ( log "scale row start"
    for recipe in coconut cot; do
      timeout "$SCALE_S" $PY benchmarks/latent_thought_scale.py --recipe "recipes/gsm8k/$recipe.yaml" \
        --output "$OUT/scale_$recipe.json" "${SCALE_EXTRA[@]}" > "$OUT/scale_$recipe.log" 2>&1
      log "scale row $recipe exit $?"
    done
    rm -rf "${RUNS:?}/latent_thought_llama1b-run" ) &
  SCALE_PID=$!
fi
for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}"; done
log "training runs done"
for name in "${NAMES[@]}"; do
  collect "$name" "$RUNS/$name"
  [ -f "$OUT/$name/eval_results.json" ] && echo "full run (train + eval in one process)" > "$OUT/$name/source.txt"
done

# -- 2: a run cut off by its time limit is evaluated from its last checkpoint -----------------------------------------
declare -A EVAL_PIDS
for name in "${NAMES[@]}"; do
  recipe=${RECIPE_OF[$name]}
  if [ -f "$OUT/$name/eval_results.json" ] && [ "${CHECK_FALLBACK:-$SMOKE}" != 1 -o "$recipe" != coconut ]; then
    continue
  fi
  checkpoint=$(ls -d "$RUNS/$name"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1)
  if [ -z "$checkpoint" ]; then log "$name: no eval results and no checkpoint"; continue; fi
  target=$name
  [ -f "$OUT/$name/eval_results.json" ] && target=${name}_fallback_check  # SMOKE: exercise this path too
  # shellcheck disable=SC2086
  ( log "eval $name from $checkpoint"
    timeout "$EVAL_S" $PY run_reasoning.py "recipes/gsm8k/$recipe.yaml" "${COMMON[@]}" $EXTRA_ARGS \
      ${VARIANT_ARGS[$name]} --model_name_or_path "$checkpoint" --do_train false --output_dir "$RUNS/$target-eval" \
      > "$OUT/$target-eval.log" 2>&1
    log "eval $name exit $?"
    collect "$target" "$RUNS/$target-eval"
    echo "last checkpoint $(basename "$checkpoint") (training cut at ${TRAIN_S}s)" > "$OUT/$target/source.txt" ) &
  EVAL_PIDS[$name]=$!
done
for name in "${!EVAL_PIDS[@]}"; do wait "${EVAL_PIDS[$name]}"; done
if [ "$SCALE" = 1 ]; then wait "$SCALE_PID"; log "scale row done"; fi

# -- 4: the table ------------------------------------------------------------------------------------------------------
for name in "${NAMES[@]}"; do
  grep -E "^\{'loss'" "$OUT/$name.log" | tail -3 | sed "s/^/$name: /"
done
$PY benchmarks/latent_thought_summary.py "$OUT" 2>&1 | tee "$OUT/summary.log"
du -sh "$OUT"
log "done"
