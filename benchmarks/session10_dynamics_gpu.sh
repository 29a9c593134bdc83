#!/usr/bin/env bash
# Session 10, issue 16 (latent dynamics, seed 002): one H200 alone, the whole script inside WALL seconds (default 720):
#
#   bash benchmarks/session10_dynamics_gpu.sh OUTDIR          (SMOKE=1: tiny sizes on CPU, stages one at a time)
#
# Stages (separate processes, all on the one GPU at once; each ~120k parameters, so each is launch-bound and they
# share the GPU well; each under its own `timeout` cut to what is left; a failing stage does not stop the others):
#   seed_<task>      long_increment (sinusoidal positions: the scored jump needs the absolute position),
#                    hidden_rule_switch, structured_token (RoPE): latent_dynamics at 4,096 tokens, length curriculum
#                    256 512 1024 2048 4096 4096 (a third of the steps at 4,096), evaluated at 1,024 / 4,096 / 8,192.
#                    Compiled recurrence, SDPA attention (the same exact causal attention as `chunked`, fused).
#   <task>_<model>   mqar and selective_copying trained at 256 tokens, evaluated 256..8,192: latent_dynamics vs
#                    transformer, gru_transformer, mingru_transformer, one process per model; the baselines get the
#                    MLP width that matches latent_dynamics' parameter count (computed first, as the harness does);
#                    every model of a task gets the same number of steps.
# Steps are sized from WALL with per-step times measured on an H200 with 8 such jobs sharing it (session 10 probe):
#   latent_dynamics, compiled recurrence, batch 16:  t(L) ~ 0.026 + 1.4e-4 * L s/step  (0.6 s/step at 4,096)
#   latent_dynamics at 256, batch 32: 0.062 s/step; transformer / GRU / minGRU at 256, batch 32: ~0.02 s/step
# times a safety factor (SAFETY, default 1.3). A run cut by its timeout is evaluated from its last checkpoint
# (re-run with --max_steps = that checkpoint's step: the Trainer resumes and stops at once), in a reserve kept for it.
# Weights and checkpoints live in a scratch folder that is deleted at the end; OUTDIR gets logs, JSON, plots and
# summary.md (benchmarks/latent_dynamics_summary.py).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/session10_dynamics_gpu.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
START=$(date +%s)
log() { echo "[$(date -u +%T) +$(( $(date +%s) - START ))s] $*"; }
SCR=$(mktemp -d "${TMPDIR:-/tmp}/session10_dynamics.XXXXXX")  # weights and checkpoints: never under OUTDIR
trap 'rm -rf "$SCR"' EXIT

SAFETY=${SAFETY:-1.3}
if [ "${SMOKE:-0}" = 1 ]; then
  WALL=${WALL:-170}
  MAX_JOBS=${MAX_JOBS:-1}
  FALLBACK_S=20 SUMMARY_S=15
  SEED_STEPS=${SEED_STEPS:-4} TASK_STEPS=${TASK_STEPS:-4}
  SEED_ARGS="--curriculum_lengths 32 64 --train_length 64 --eval_lengths 64 128 --per_device_train_batch_size 2"
  SEED_ARGS="$SEED_ARGS --per_device_eval_batch_size 4 --num_eval_examples 4 --max_period 8 --save_steps 2"
  TASK_ARGS="--train_length 64 --eval_lengths 64 128 --per_device_train_batch_size 2 --per_device_eval_batch_size 4"
  TASK_ARGS="$TASK_ARGS --num_eval_examples 4 --num_kv_pairs 4 --num_tokens_to_copy 4 --save_steps 2"
  COMMON="--use_cpu true --chunk_size 16 --logging_steps 1"
  LD_IMPL="--recurrence_impl hoisted"  # compiling on a 1-thread CPU would take minutes
else
  WALL=${WALL:-720}
  MAX_JOBS=${MAX_JOBS:-11}
  FALLBACK_S=${FALLBACK_S:-75} SUMMARY_S=${SUMMARY_S:-35}
  FIXED_S=$(( 20 + 45 + 60 ))  # start-up and imports, torch.compile (train + eval graphs), evaluation
  TRAIN_S=$(( WALL - SUMMARY_S - FALLBACK_S - FIXED_S ))
  # seed tasks: mean step over the curriculum 256 512 1024 2048 4096 4096 = 0.026 + 1.4e-4 * 2005 = 0.307 s
  SEED_STEPS=${SEED_STEPS:-$(awk -v t="$TRAIN_S" -v f="$SAFETY" 'BEGIN { n = int(t / (0.307 * f) / 6) * 6; print (n < 60 ? 60 : n) }')}
  # mqar / selective copying at 256: latent_dynamics (the slowest model) 0.062 s/step
  TASK_STEPS=${TASK_STEPS:-$(awk -v t="$TRAIN_S" -v f="$SAFETY" 'BEGIN { n = int(t / (0.062 * f) / 100) * 100; print (n < 200 ? 200 : n) }')}
  SEED_ARGS="--curriculum_lengths 256 512 1024 2048 4096 4096 --train_length 4096 --per_device_train_batch_size 16"
  SEED_ARGS="$SEED_ARGS --per_device_eval_batch_size 16 --warmup_steps 50 --save_steps 100 --logging_steps 50"
  TASK_ARGS="--train_length 256 --per_device_train_batch_size 32 --per_device_eval_batch_size 32"
  TASK_ARGS="$TASK_ARGS --num_train_examples 400000 --save_steps 500 --logging_steps 250"
  COMMON=""
  LD_IMPL="--recurrence_impl compiled"
fi
END=$(( START + WALL - SUMMARY_S ))  # every stage is over by then
COMMON="$COMMON --overwrite_output_dir true --save_total_limit 1 --report_to none --dataloader_num_workers 0"

{
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
  git log -1 --format='commit %H %s' 2>/dev/null
  echo "WALL=$WALL SAFETY=$SAFETY SEED_STEPS=$SEED_STEPS TASK_STEPS=$TASK_STEPS MAX_JOBS=$MAX_JOBS SMOKE=${SMOKE:-0}"
} 2>&1 | tee "$OUT/env.txt"

# Baselines' MLP widths for latent_dynamics' parameter count (what run_sequence_tasks does inside one process).
WIDTHS=$($PY - <<'EOF' 2>"$OUT/widths.err"
from run_sequence_tasks import SequenceModelArguments, count_parameters, model_configs

models = ["latent_dynamics", "transformer", "gru_transformer", "mingru_transformer"]
for task, vocab in (("mqar", 128), ("selective_copying", 32)):
    for name, config in model_configs(SequenceModelArguments(models=models), vocab).items():
        print(f"{task}:{name}:{config.intermediate_size}:{count_parameters(config)}")
EOF
)
echo "$WIDTHS" | tee "$OUT/widths.txt"
width() { echo "$WIDTHS" | awk -F: -v t="$1" -v m="$2" '$1 == t && $2 == m { print $3 }'; }
log "setup done"

# name|command (started in this order: the seed tasks first)
JOBS=(
  "seed_long_increment|recipes/synthetic/long_increment.yaml $SEED_ARGS --max_steps $SEED_STEPS $LD_IMPL --attention sdpa --position_encoding sinusoidal"
  "seed_hidden_rule_switch|recipes/synthetic/hidden_rule_switch.yaml $SEED_ARGS --max_steps $SEED_STEPS $LD_IMPL --attention sdpa"
  "seed_structured_token|recipes/synthetic/structured_token.yaml $SEED_ARGS --max_steps $SEED_STEPS $LD_IMPL --attention sdpa"
)
for task in mqar selective_copying; do
  for model in latent_dynamics transformer gru_transformer mingru_transformer; do
    w=$(width "$task" "$model")
    [ -n "$w" ] || { log "no width for $task/$model (see widths.err); using the recipe's"; w=256; }
    extra="--models $model --intermediate_size $w --match_parameters false --max_steps $TASK_STEPS $TASK_ARGS"
    [ "$model" = latent_dynamics ] && extra="$extra $LD_IMPL"
    JOBS+=("${task}_$model|recipes/synthetic/$task.yaml $extra")
  done
done

source benchmarks/dynamics_lib.sh  # last_checkpoint_step, collect, run_job

run_jobs
log "stages done"
timeout $(( SUMMARY_S - 5 )) $PY benchmarks/latent_dynamics_summary.py "$OUT" >"$OUT/summary.log" 2>&1 || log "summary failed (see summary.log)"
cat "$OUT/summary.md" 2>/dev/null | head -n 40
find "$OUT" \( -name 'checkpoint-*' -o -name '*.safetensors' -o -name '*.bin' -o -name '*.pt' \) -prune -exec rm -rf {} + 2>/dev/null
log "done in $(( $(date +%s) - START ))s"
