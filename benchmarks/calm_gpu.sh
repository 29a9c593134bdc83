#!/usr/bin/env bash
# All GPU work of the CALM family in at most ~12 minutes on one (shared) GPU, from the repository root:
#
#   bash benchmarks/calm_gpu.sh OUTDIR            # GPU run
#   SMOKE=1 bash benchmarks/calm_gpu.sh OUTDIR    # tiny sizes on CPU, a few minutes: checks the script end to end
#
# Stages, each under its own `timeout` (a failing stage does not stop the rest; later stages that need its output
# are skipped with a note): offline corpus -> autoencoder K=4 (fixed minutes) -> student distilled from SmolLM2
# (fixed minutes) -> calm_generation.py at batch 1 and 32 -> if time is left: autoencoder K=8, autoencoder K=4
# without token/latent dropout (the ablation), peak memory of the Llama-3.2-1B-shaped recipes. Results (JSON, logs,
# summary.md) go to OUTDIR (well under 10 MB); models and the corpus go to $CALM_WORK (default /tmp/calm_gpu_work).
# CALM_STAGES picks stages (default all): a list of corpus ae_k4 student generation ae_k4_nodropout ae_k8
# ae_k8_nodropout memory, e.g. CALM_STAGES="corpus ae_k8" K8_MIN=4 for the K=8 autoencoder alone (K8_MIN
# minutes, default OPT_MIN).
set -u
OUT=${1:?usage: bash benchmarks/calm_gpu.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=${CALM_WORK:-/tmp/calm_gpu_work}
mkdir -p "$WORK"
export OMP_NUM_THREADS=4 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
DATA=${DATA_DIR:-../shared/data}
TEACHER=backbones/SmolLM2-135M-Instruct
START=$(date +%s)
BUDGET=${BUDGET_S:-680}  # the whole script; optional stages run only if their limit fits in what is left

log() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - START))s] $*" | tee -a "$OUT/progress.log"; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
stage() {  # stage NAME LIMIT_S command...
  local name=$1 limit=$2
  shift 2
  log "start $name (limit ${limit}s)"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  log "end $name rc=$rc"
  echo "$name $rc" >>"$OUT/stages.txt"
  return $rc
}
optional() {  # optional NAME LIMIT_S command...: only when the limit fits in the time left
  if [ "$(left)" -lt "$2" ]; then
    log "skip $1: ${2}s needed, $(left)s left"
    echo "$1 skipped" >>"$OUT/stages.txt"
    return 1
  fi
  stage "$@"
}
: >"$OUT/stages.txt"
STAGES=${CALM_STAGES:-all}
want() { [ "$STAGES" = all ] || [[ " $STAGES " == *" $1 "* ]]; }

if [ "${SMOKE:-0}" = 1 ]; then
  CORPUS_ARGS=(--max_chitchat 300)
  COMMON=(--bf16 false --dataloader_num_workers 0 --block_size 32 --max_train_texts 400 --max_eval_blocks 8
    --per_device_train_batch_size 4 --per_device_eval_batch_size 4 --logging_steps 2 --warmup_steps 1)
  AE_ARGS=(--hidden_size 64 --intermediate_size 128 --latent_size 32 --max_steps 6 --max_train_minutes 1)
  ST_ARGS=(--hidden_size 64 --intermediate_size 128 --num_hidden_layers 2 --num_attention_heads 4 --max_steps 3
    --teacher_dtype float32 --max_train_minutes 1 --max_eval_blocks 2)
  BENCH_ARGS=(--batch_sizes 1 2 --max_new_tokens 8 --context_tokens 8 --repeats 1 --brier_contexts 4
    --quality_contexts 2 --num_samples 1 --device cpu)
  AE_MIN=1 ST_MIN=1 T_CORPUS=120 T_AE=300 T_ST=400 T_BENCH=500 T_OPT=300 K8_MIN=${K8_MIN:-1} T_K8=300
else
  CORPUS_ARGS=()
  COMMON=(--dataloader_num_workers 2)
  # time-boxed runs: a high step cap (the cosine schedule then stays near its peak), a faster AE learning rate,
  # and student batch 8 to stay well under 25 GB beside other jobs (full-vocabulary teacher and student logits)
  AE_ARGS=(--max_steps 100000 --learning_rate 1e-3)
  ST_ARGS=(--max_steps 100000 --per_device_train_batch_size 8)
  BENCH_ARGS=(--batch_sizes 1 32 --max_new_tokens 128 --context_tokens 64 --repeats 5 --brier_contexts 256)
  # minutes per run; a window with the GPU to itself can give more (AE_MIN=4 ST_MIN=8 OPT_MIN=2.5 BUDGET_S=1150)
  AE_MIN=${AE_MIN:-2.0} ST_MIN=${ST_MIN:-2.6} OPT_MIN=${OPT_MIN:-1.0}
  T_CORPUS=60 T_BENCH=150
  T_AE=$(awk -v m="$AE_MIN" 'BEGIN { print int(m * 60) + 90 }')
  T_ST=$(awk -v m="$ST_MIN" 'BEGIN { print int(m * 60) + 100 }')
  T_OPT=$(awk -v m="$OPT_MIN" 'BEGIN { print int(m * 60) + 30 }')
  K8_MIN=${K8_MIN:-$OPT_MIN}
  T_K8=$(awk -v m="$K8_MIN" 'BEGIN { print int(m * 60) + 90 }')
fi
log "CALM GPU script: OUT=$OUT WORK=$WORK SMOKE=${SMOKE:-0} python=$PY"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/progress.log"
[ "${SMOKE:-0}" = 1 ] || nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee -a "$OUT/progress.log"

# 1. corpus (chitchat-dataset + shared train files; held-out text apart)
if $PY -c "import chitchat_dataset" 2>/dev/null; then CHAT=(); else
  log "chitchat_dataset is not importable: corpus without it"
  CHAT=(--no_chitchat)
fi
want corpus && stage corpus "$T_CORPUS" $PY scripts/build_calm_corpus.py --output_dir "$WORK/corpus" \
  --data_dir "$DATA" "${CHAT[@]}" "${CORPUS_ARGS[@]}" && cp "$WORK/corpus/corpus_info.json" "$OUT/"
TRAIN=$WORK/corpus/train.jsonl
VALID=$WORK/corpus/validation.jsonl

ae() {  # ae NAME LIMIT MINUTES extra-args...: one autoencoder run, metrics copied to OUT
  local name=$1 limit=$2 minutes=$3
  shift 3
  stage "$name" "$limit" $PY run_calm.py recipes/calm/autoencoder.yaml --train_file "$TRAIN" \
    --validation_file "$VALID" --output_dir "$WORK/$name" --overwrite_output_dir true --save_strategy no \
    --max_train_minutes "$minutes" "${COMMON[@]}" "${AE_ARGS[@]}" "$@" &&
    cp "$WORK/$name/all_results_calm.json" "$OUT/$name.json"
}

# 2. autoencoder K=4 (recipes/calm/autoencoder.yaml)
want ae_k4 && ae ae_k4 "$T_AE" "$AE_MIN"

# 3. student distilled from SmolLM2-135M-Instruct, on the K=4 autoencoder
if ! want student; then :
elif [ -f "$WORK/ae_k4/model.safetensors" ]; then
  stage student "$T_ST" $PY run_calm.py recipes/calm/student.yaml --autoencoder_name_or_path "$WORK/ae_k4" \
    --train_file "$TRAIN" --validation_file "$VALID" --output_dir "$WORK/student" --overwrite_output_dir true \
    --save_strategy no --max_train_minutes "$ST_MIN" "${COMMON[@]}" "${ST_ARGS[@]}" &&
    cp "$WORK/student/all_results_calm.json" "$OUT/student.json"
  tail -n 6 "$OUT/student.log" >"$OUT/student_sample.txt" 2>/dev/null
else
  log "skip student: no K=4 autoencoder"
fi

# 4. generation speed and quality against the teacher
if ! want generation; then :
elif [ -f "$WORK/student/model.safetensors" ]; then
  stage generation "$T_BENCH" $PY benchmarks/calm_generation.py --model "$WORK/student" --teacher "$TEACHER" \
    --validation_file "$VALID" --output "$OUT/generation.json" "${BENCH_ARGS[@]}"
else
  log "skip generation: no student"
fi

# 5. if time is left: K=8 (the seed's K and D), the dropout ablation, and the 12 GB memory statement
if [ "${SMOKE:-0}" = 1 ]; then
  K8_ARGS=(--patch_size 8 --latent_size 64)
  OPT_MIN=1
else
  K8_ARGS=(--patch_size 8 --latent_size 1024)
fi
if ! want ae_k4_nodropout; then :
elif [ "$(left)" -ge "$T_OPT" ]; then ae ae_k4_nodropout "$T_OPT" "$OPT_MIN" --token_dropout 0 --latent_dropout 0
else log "skip ae_k4_nodropout: $(left)s left"; fi
if ! want ae_k8; then :
elif [ "$(left)" -ge "$T_K8" ]; then ae ae_k8 "$T_K8" "$K8_MIN" "${K8_ARGS[@]}"
else log "skip ae_k8: $(left)s left"; fi
if ! want ae_k8_nodropout; then :
elif [ "$(left)" -ge "$T_K8" ]; then
  ae ae_k8_nodropout "$T_K8" "$K8_MIN" "${K8_ARGS[@]}" --token_dropout 0 --latent_dropout 0
else log "skip ae_k8_nodropout: $(left)s left"; fi
if [ "${SMOKE:-0}" != 1 ] && want memory; then
  for recipe in student_llama1b autoencoder_llama1b; do
    optional "memory_$recipe" 60 $PY benchmarks/calm_memory.py "recipes/calm/$recipe.yaml" --steps 3 \
      --output "$OUT/memory_$recipe.json"
  done
fi

# 6. one summary table
log "summary"
$PY - "$OUT" <<'PYEOF' | tee "$OUT/summary.md"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    p = out / name
    return json.loads(p.read_text()) if p.is_file() else None
print("## CALM GPU run\n")
print("| autoencoder | train steps | token acc | chunk exact | acc σ=0.1 | acc σ=0.3 | latent std |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in ("ae_k4", "ae_k8", "ae_k4_nodropout", "ae_k8_nodropout"):
    m = load(f"{name}.json")
    if m is None:
        print(f"| {name} | not run / failed | | | | | |"); continue
    g = lambda k: f"{100 * m[k]:.2f} %" if k in m else "-"
    print(f"| {name} | {m.get('train_steps', '-')} ({m.get('train_runtime', 0):.0f} s) | {g('eval_token_accuracy')} | {g('eval_chunk_exact')} | "
          f"{g('eval_token_accuracy_noise0.1')} | {g('eval_token_accuracy_noise0.3')} | "
          f"{m.get('eval_latent_posterior_std', float('nan')):.3f} |")
s = load("student.json")
if s:
    print("\n| student (held-out) | loss | MSE | CE | KD | next-chunk token acc |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| K=4 | {s.get('eval_loss', float('nan')):.3f} | {s.get('eval_mse_loss', float('nan')):.4f} | "
          f"{s.get('eval_ce_loss', float('nan')):.3f} | {s.get('eval_kd_loss', float('nan')):.3f} | "
          f"{100 * s.get('eval_next_chunk_token_accuracy', 0):.2f} % |")
g = load("generation.json")
if g:
    print("\n" + g["table"])
for name in ("memory_student_llama1b", "memory_autoencoder_llama1b"):
    m = load(f"{name}.json")
    if m:
        print(f"\n{name}: peak {m['peak_gib']:.2f} GiB (batch {m['batch_size']} x {m['block_size']} tokens, bf16={m['bf16']})")
print("\nstages: " + ", ".join((out / "stages.txt").read_text().split("\n")))
PYEOF
log "done in $(($(date +%s) - START))s"
