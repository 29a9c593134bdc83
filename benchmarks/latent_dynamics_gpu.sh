#!/usr/bin/env bash
# All GPU work of issue 16 (latent dynamics, seed 002), at most 12 minutes wall on one shared H200:
#
#   bash benchmarks/latent_dynamics_gpu.sh OUTDIR          (SMOKE=1: tiny sizes on CPU, a few minutes)
#
# Stages run as separate processes, at most MAX_JOBS at a time (each drives its GPU kernels from one CPU thread),
# each under its own `timeout` cut to what is left of the WALL budget; a failing stage does not stop the others:
#   speed       recurrence impls at 8K (loop / hoisted / compiled) + chunked vs full vs SDPA attention, 256..8192
#   seed tasks  long_increment, hidden_rule_switch, structured_token at 4,096 tokens, latent-dynamics model
#   mqar, selective_copying   the latent-dynamics model vs Transformer, GRU+Transformer, minGRU+Transformer
#   ablations   no leak / no gate / no chunking / no positions on selective copying
#   length_sweep  MQAR with a 256->2048 curriculum, evaluated 256..8192 (last: starts only if time is left)
# Results (JSON, logs, plots, summary.md) go under OUTDIR; the summary table is printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/latent_dynamics_gpu.sh OUTDIR}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
PY=${PYTHON:-python3}
WALL=${WALL:-690}          # seconds for the whole script, summary included
MAX_JOBS=${MAX_JOBS:-4}
START=$(date +%s)
log() { echo "[$(date -u +%T)] $*"; }

if [ "${SMOKE:-0}" = 1 ]; then
  WALL=${SMOKE_WALL:-900}
  SPEED_ARGS="--device cpu --recurrence_length 128 --recurrence_batch 2 --impls loop,hoisted --lengths 64,128 --repeats 1"
  TINY="--max_steps 3 --train_length 64 --eval_lengths 64 128 --num_eval_examples 4 --per_device_train_batch_size 2"
  TINY="$TINY --per_device_eval_batch_size 4 --num_kv_pairs 4 --num_tokens_to_copy 4 --chunk_size 16 --use_cpu true"
  TINY="$TINY --logging_steps 1 --save_steps 2"
  SWEEP_EXTRA="--curriculum_lengths 32 64"
  LATENTS="--save_latents 2"  # the .npy hook, exercised in the smoke run only (8K-token trajectories are MBs each)
else
  SPEED_ARGS="--device cuda"
  TINY=""
  SWEEP_EXTRA=""
  LATENTS=""
fi
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" 2>&1 | tee "$OUT/env.txt"
git log -1 --format='commit %H %s' 2>/dev/null | tee -a "$OUT/env.txt"

# name|limit_s|command  (started in this order)
JOBS=(
  "speed|300|$PY benchmarks/latent_dynamics_speed.py $SPEED_ARGS --output $OUT/speed.json"
  "long_increment|420|$PY run_sequence_tasks.py recipes/synthetic/long_increment.yaml --output_dir $OUT/long_increment $TINY"
  "hidden_rule_switch|420|$PY run_sequence_tasks.py recipes/synthetic/hidden_rule_switch.yaml --output_dir $OUT/hidden_rule_switch $TINY"
  "structured_token|420|$PY run_sequence_tasks.py recipes/synthetic/structured_token.yaml --output_dir $OUT/structured_token $TINY"
  "mqar|420|$PY run_sequence_tasks.py recipes/synthetic/mqar.yaml --output_dir $OUT/mqar $TINY"
  "selective_copying|420|$PY run_sequence_tasks.py recipes/synthetic/selective_copying.yaml --output_dir $OUT/selective_copying $TINY"
  "ablations|400|$PY run_sequence_tasks.py recipes/synthetic/ablations.yaml --output_dir $OUT/ablations $TINY $LATENTS"
  "length_sweep|300|$PY run_sequence_tasks.py recipes/synthetic/length_sweep.yaml --output_dir $OUT/length_sweep $TINY $SWEEP_EXTRA"
)

run_job() {  # name limit command...
  local name=$1 limit=$2; shift 2
  mkdir -p "$OUT/$name"
  log "start $name (timeout ${limit}s)"
  timeout --kill-after=10 "$limit" bash -c "$*" >"$OUT/$name/train.log" 2>&1
  local rc=$?
  log "end $name rc=$rc$([ $rc = 124 ] && echo ' (timed out)')"
  tail -n 12 "$OUT/$name/train.log" | grep -E '^\||accuracy|Error|error' | head -n 12
}

for job in "${JOBS[@]}"; do
  IFS='|' read -r name limit command <<<"$job"
  while [ "$(jobs -rp | wc -l)" -ge "$MAX_JOBS" ]; do sleep 2; done
  left=$(( START + WALL - 20 - $(date +%s) ))
  if [ "$left" -lt 90 ]; then log "skip $name: only ${left}s left"; continue; fi
  [ "$limit" -gt "$left" ] && limit=$left
  run_job "$name" "$limit" "$command" &
done
wait
find "$OUT" \( -name 'checkpoint-*' -o -name '*.safetensors' \) -prune -exec rm -rf {} + 2>/dev/null  # keep OUTDIR small
log "done in $(( $(date +%s) - START ))s"
$PY benchmarks/latent_dynamics_summary.py "$OUT"
