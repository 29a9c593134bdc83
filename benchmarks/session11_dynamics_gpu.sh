#!/usr/bin/env bash
# Session 11, issue 16 (latent dynamics, seed 002): one shared H200, the whole script inside WALL seconds (default 600):
#
#   bash benchmarks/session11_dynamics_gpu.sh OUTDIR               (or: gpu_window.sh start session11_dynamics:0)
#   SMOKE=1 bash benchmarks/session11_dynamics_gpu.sh OUTDIR       (CPU, tiny sizes, two stages at a time, ~3 min)
#
# Five stages, each one run_sequence_tasks.py process (all on the GPU at once, MAX_JOBS=5), latent_dynamics model,
# compiled recurrence, SDPA attention, batch BATCH (32), evaluated at 1,024 / 4,096 / 8,192:
#   long_increment      curriculum 256 512 1024 2048 4096 4096 with the fix measured on CPU
#                       (benchmarks/results/session11_long_increment_cpu.md), LI_FIX: RoPE, the scored jump and the
#                       16 positions before it weighted to half of each sequence's loss. Also evaluated on every
#                       predictable position (--eval_all_positions): predicting the jump everywhere scores 100 % on
#                       the one scored token and is caught there. Only 4,096 (the training length) can be right: the
#                       jump marks the end, which nothing but the length tells.
#   structured_token    curriculum 256 256 512 1024 2048 4096 (a third of the steps at 256, where steps are cheap),
#                       sized with ST_SAFETY (1.6) so it finishes its curriculum and its cosine schedule.
#   rule_latent_dynamics, rule_no_leak, rule_no_gate
#                       the leak / gate ablations (and the full model as control) on hidden_rule_switch, which the
#                       full model solved at 4,096 in session 10: curriculum 256 512 1024 2048 4096.
# Steps are sized from WALL with a per-step time model t(L) = STEP_A + STEP_B * L seconds (0.03 + 3e-4 L: 1.26 s at
# 4,096; session 10 saw ~1.35 s/step at 4,096 with 11 processes and a Coconut run on the GPU, ~0.06 s at 256) averaged
# over each curriculum, times SAFETY (1.25). A stage cut by its timeout is evaluated from its last checkpoint
# (benchmarks/dynamics_lib.sh). OUTDIR gets logs, JSON, plots, plan.txt (steps planned per stage) and summary.md
# (accuracy by length; steps done; cuts); weights and checkpoints stay in a scratch folder deleted at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/session11_dynamics_gpu.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WALL=${WALL:-600}
WINDOW_S=$WALL
source benchmarks/window_lib.sh  # run_from_snapshot, START, PY, log
run_from_snapshot "$0" "$OUT"
source benchmarks/dynamics_lib.sh  # run_job (timeout, fallback evaluation from the last checkpoint), collect
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
SCR=$(mktemp -d "${TMPDIR:-/tmp}/session11_dynamics.XXXXXX")  # weights and checkpoints: never under OUTDIR
trap 'rm -rf "$SCR"' EXIT

LI_FIX=${LI_FIX:---scored_loss_share 0.5 --scored_loss_window 16}  # RoPE (the recipe's); see the CPU results
SEED_EVAL="--eval_lengths 1024 4096 8192"
LI_CURRICULUM="256 512 1024 2048 4096 4096"
ST_CURRICULUM="256 256 512 1024 2048 4096"
RULE_CURRICULUM="256 512 1024 2048 4096"
SAFETY=${SAFETY:-1.25} ST_SAFETY=${ST_SAFETY:-1.6}
STEP_A=${STEP_A:-0.03} STEP_B=${STEP_B:-0.0003}
if [ "${SMOKE:-0}" = 1 ]; then
  WALL=${SMOKE_WALL:-180}
  MAX_JOBS=2 FALLBACK_S=45 SUMMARY_S=15 FIXED_S=0  # long_increment (cut by its timeout) beside the others in turn
  LI_CURRICULUM="32 64" ST_CURRICULUM="32 32 64" RULE_CURRICULUM="32 64"
  SEED_EVAL="--eval_lengths 64 128"
  SIZES="--per_device_train_batch_size 2 --per_device_eval_batch_size 4 --num_eval_examples 4 --max_period 8"
  SIZES="$SIZES --save_steps 10 --logging_steps 5 --use_cpu true --chunk_size 16"
  LD_IMPL="--recurrence_impl hoisted"  # compiling on a 1-thread CPU would take minutes
else
  MAX_JOBS=${MAX_JOBS:-5} FALLBACK_S=${FALLBACK_S:-70} SUMMARY_S=${SUMMARY_S:-25}
  FIXED_S=${FIXED_S:-125}  # start-up and imports, torch.compile (train + eval graphs), evaluation at three lengths
  BATCH=${BATCH:-32}
  SIZES="--per_device_train_batch_size $BATCH --per_device_eval_batch_size 32 --warmup_steps 50 --save_steps 50"
  SIZES="$SIZES --logging_steps 25"
  LD_IMPL="--recurrence_impl compiled"
fi
TRAIN_S=$(( WALL - SUMMARY_S - FALLBACK_S - FIXED_S ))
END=$(( START + WALL - SUMMARY_S ))  # every stage is over by then
COMMON="$SIZES $LD_IMPL --attention sdpa --overwrite_output_dir true --save_total_limit 1 --report_to none"
COMMON="$COMMON --dataloader_num_workers 0 --disable_tqdm true"

steps_for() {  # steps_for "CURRICULUM" SAFETY: steps that fit TRAIN_S under the time model (a multiple of the stages)
  awk -v t="$TRAIN_S" -v f="$2" -v a="$STEP_A" -v b="$STEP_B" -v c="$1" 'BEGIN {
    n = split(c, lengths, " "); mean = 0
    for (i = 1; i <= n; i++) mean += (a + b * lengths[i]) / n
    steps = int(t / (mean * f) / n) * n; print (steps < 10 * n ? 10 * n : steps) }'
}
stage() {  # stage NAME RECIPE CURRICULUM SAFETY ARGS...: the JOBS entry of one run_sequence_tasks.py process
  local name=$1 recipe=$2 curriculum=$3 safety=$4 steps
  shift 4
  steps=$(steps_for "$curriculum" "$safety")
  if [ "${SMOKE:-0}" = 1 ]; then  # smoke: long_increment always cut (and evaluated from a checkpoint), the rest short
    steps=${SMOKE_STEPS:-8}
    [ "$name" = long_increment ] && steps=100000
  fi
  echo "$name: $steps steps, curriculum $curriculum, $*" >>"$OUT/plan.txt"
  JOBS+=("$name|recipes/synthetic/$recipe.yaml --curriculum_lengths $curriculum --train_length ${curriculum##* } \
--max_steps $steps $SEED_EVAL $*")
}

{
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
  git log -1 --format='commit %H %s' 2>/dev/null
  echo "WALL=$WALL TRAIN_S=$TRAIN_S SAFETY=$SAFETY ST_SAFETY=$ST_SAFETY STEP_A=$STEP_A STEP_B=$STEP_B MAX_JOBS=$MAX_JOBS SMOKE=${SMOKE:-0}"
} 2>&1 | tee "$OUT/env.txt"

JOBS=()
: >"$OUT/plan.txt"
# shellcheck disable=SC2086
stage long_increment long_increment "$LI_CURRICULUM" "$SAFETY" $LI_FIX --eval_all_positions true
stage structured_token structured_token "$ST_CURRICULUM" "$ST_SAFETY"
for model in latent_dynamics no_leak no_gate; do
  stage "rule_$model" hidden_rule_switch "$RULE_CURRICULUM" "$SAFETY" --models "$model"
done
cat "$OUT/plan.txt"
log "setup done"

run_jobs
log "stages done"
timeout $(( SUMMARY_S - 5 )) $PY benchmarks/latent_dynamics_summary.py "$OUT" --no_speed >"$OUT/summary.log" 2>&1 ||
  log "summary failed (see summary.log)"
{
  printf '\n## Stages\n\n| stage | steps planned | steps done | result from |\n| --- | ---: | ---: | --- |\n'
  while IFS=: read -r name plan; do
    done_steps=$(grep -ho '"global_step": [0-9]*' "$OUT/$name"/*/trainer_state.json 2>/dev/null | grep -o '[0-9]*$')
    from="full run"
    [ -f "$OUT/$name/cut_at_checkpoint.txt" ] && from=$(cat "$OUT/$name/cut_at_checkpoint.txt")
    [ -f "$OUT/$name/results.json" ] || from="no result (see $name/train.log)"
    echo "| $name | ${plan%% steps*} | ${done_steps:--} | $from |"
  done <"$OUT/plan.txt"
  printf '\nPlan (stage: steps, curriculum, arguments):\n\n'
  sed 's/^/    /' "$OUT/plan.txt"
} >>"$OUT/summary.md"
cat "$OUT/summary.md"
find "$OUT" \( -name 'checkpoint-*' -o -name '*.safetensors' -o -name '*.bin' -o -name '*.pt' \) -prune -exec rm -rf {} + 2>/dev/null
log "done in $(( $(date +%s) - START ))s"
