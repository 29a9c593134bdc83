#!/usr/bin/env bash
# Issue 13's measurements in one GPU window (BENCHMARKS.md section 1, "Pre-training the idea space"):
#   1. the chat corpus (scripts/prepare_chat_corpus.py)
#   2. at once: the token-space LoRA teacher (train, evaluate, label the chat windows) and the autoencoding
#      pre-training of several idea spaces (recipes/offline/pretrain.yaml: 32 segments; 32, 8 and 1 memory vectors)
#   3. at once: fine-tuning each (recipes/offline/summarize.yaml; real rows + teacher labels, or real rows only, or no
#      pre-training) and the idea-capacity benchmark of the pre-trained checkpoints
#   4. run_eval.py of every fine-tuned model on SAMSum validation; the best one's trained parameters exported
#
#   bash benchmarks/quality_gpu.sh OUTDIR          # SMOKE=1: tiny budgets, for a CPU check of the plumbing
#
# Every stage has its own time limit; a failed run does not stop the others. Logs and JSON go to OUTDIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:?usage: quality_gpu.sh OUTDIR}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1
PY=${PY:-python3}
SMOKE=${SMOKE:-0}
SHARED=../shared/data
log() { echo "[$(date -u +%T)] $*" | tee -a "$OUTDIR/pipeline.log"; }

if [ "$SMOKE" = 1 ]; then
  PRETRAIN_MIN=${PRETRAIN_MIN:-0.3}; FINETUNE_MIN=${FINETUNE_MIN:-0.3}
  COMMON=(--use_cpu true --fp16 false --max_train_samples 8 --max_eval_samples 4 --per_device_train_batch_size 4
          --gradient_accumulation_steps 1 --per_device_eval_batch_size 4 --save_strategy no --logging_steps 1
          --max_source_length 32 --max_target_length 16 --max_steps 2 --max_new_tokens 8)
  TEACHER=(--epochs 0.01 --max_samples 4 --label_max_rows 8 --label_batch_size 4 --max_new_tokens 8)
  EVAL=(--max_samples 4 --batch_size 4 --max_new_tokens 8)
  CAPACITY=(--max_samples 4 --lengths 16 32)
else
  PRETRAIN_MIN=${PRETRAIN_MIN:-7}; FINETUNE_MIN=${FINETUNE_MIN:-4.5}
  COMMON=(--bf16 true --fp16 false --per_device_train_batch_size 32 --gradient_accumulation_steps 1
          --per_device_eval_batch_size 50 --dataloader_num_workers 2 --save_strategy no --logging_steps 25)
  TEACHER=(--label_batch_size 256)
  EVAL=(--batch_size 100 --max_new_tokens 60)
  CAPACITY=(--max_samples 200)
fi

log "1. chat corpus"
$PY scripts/prepare_chat_corpus.py >"$OUTDIR/corpus.log" 2>&1 || { log "corpus failed"; exit 1; }

log "2. teacher + pre-training"
(
  timeout 1200 $PY benchmarks/token_space_baseline.py --decoder backbones/SmolLM2-135M-Instruct \
    --train_file $SHARED/samsum/train.jsonl $SHARED/dialogsum/train.jsonl --validation_file $SHARED/samsum/validation.jsonl \
    --epochs 2 --output_dir outputs/teacher --output "$OUTDIR/teacher.json" \
    --label_file data/chitchat/train.jsonl --label_output data/chitchat/teacher_summaries.jsonl "${TEACHER[@]}" \
    >"$OUTDIR/teacher.log" 2>&1
  log "teacher done (rc $?)"
) &
pretrain() {  # name, extra arguments
  local name=$1; shift
  timeout $((${PRETRAIN_MIN%.*} * 60 + 900)) $PY run_summarization.py recipes/offline/pretrain.yaml \
    --train_file data/chitchat/train.jsonl $SHARED/samsum/train.jsonl $SHARED/dialogsum/train.jsonl \
    --output_dir "outputs/pt-$name" --overwrite_output_dir true --max_train_minutes "$PRETRAIN_MIN" "${COMMON[@]}" "$@" \
    >"$OUTDIR/pt-$name.log" 2>&1
  log "pretrain $name done (rc $?)"
}
pretrain mem32 --pooling memory &
pretrain seg32 &  # the recipe's own setting
pretrain mem8 --pooling memory --num_idea_vectors 8 --prefix_len 64 &
pretrain mem1 --pooling memory --num_idea_vectors 1 --prefix_len 16 &
wait
log "teacher summaries: $(wc -l <data/chitchat/teacher_summaries.jsonl 2>/dev/null || echo none)"
cp data/chitchat/teacher_summaries.jsonl "$OUTDIR/" 2>/dev/null

log "3. fine-tuning + idea capacity"
finetune() {  # name, start (a pre-trained folder or 'none'), train files..., -- extra arguments
  local name=$1 start=$2; shift 2
  local files=() extra=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do files+=("$1"); shift; done
  [ $# -gt 0 ] && shift && extra=("$@")
  local from=(recipes/offline/summarize.yaml --model_name_or_path "$start")
  if [ "$start" = none ]; then
    # no pre-training: new heads of the pre-training recipe's architecture, trained on summaries only
    from=(recipes/offline/pretrain.yaml --pooling memory --summary_column summary --max_target_length 64 --max_new_tokens 60
          --no_repeat_ngram_size 3 --validation_file $SHARED/samsum/validation.jsonl --max_eval_samples 200
          --predict_with_generate true)
  elif [ ! -d "$start" ]; then
    log "finetune $name skipped: $start missing"; return
  fi
  timeout $((${FINETUNE_MIN%.*} * 60 + 900)) $PY run_summarization.py "${from[@]}" --train_file "${files[@]}" \
    --output_dir "outputs/ft-$name" --overwrite_output_dir true --max_train_minutes "$FINETUNE_MIN" \
    "${COMMON[@]}" "${extra[@]}" >"$OUTDIR/ft-$name.log" 2>&1
  log "finetune $name done (rc $?)"
  timeout 600 $PY run_eval.py --model_name_or_path "outputs/ft-$name" --validation_file $SHARED/samsum/validation.jsonl \
    --no_repeat_ngram_size 3 --output_dir "$OUTDIR/eval-$name" "${EVAL[@]}" \
    >"$OUTDIR/eval-$name.log" 2>&1
  log "eval $name done (rc $?)"
}
REAL=($SHARED/samsum/train.jsonl $SHARED/dialogsum/train.jsonl)
TEACH=data/chitchat/teacher_summaries.jsonl
finetune mem32-distill outputs/pt-mem32 "${REAL[@]}" $TEACH &
finetune mem32-real outputs/pt-mem32 "${REAL[@]}" &
finetune seg32-distill outputs/pt-seg32 "${REAL[@]}" $TEACH &
finetune mem8-distill outputs/pt-mem8 "${REAL[@]}" $TEACH &
finetune mem1-distill outputs/pt-mem1 "${REAL[@]}" $TEACH &
finetune nopt-distill none "${REAL[@]}" $TEACH &
(
  timeout 900 $PY benchmarks/idea_capacity.py outputs/pt-mem1 outputs/pt-mem8 outputs/pt-mem32 outputs/pt-seg32 \
    --file data/chitchat/heldout.jsonl --output "$OUTDIR/idea_capacity.json" "${CAPACITY[@]}" >"$OUTDIR/idea_capacity.log" 2>&1
  log "idea capacity done (rc $?)"
) &
wait

log "4. summary"
for d in outputs/pt-* outputs/ft-*; do
  [ -f "$d/trainer_state.json" ] && cp "$d/trainer_state.json" "$OUTDIR/$(basename "$d")-trainer_state.json"
  [ -f "$d/all_results.json" ] && cp "$d/all_results.json" "$OUTDIR/$(basename "$d")-all_results.json"
done
$PY benchmarks/quality_summary.py "$OUTDIR" --best | tee "$OUTDIR/summary.txt"
if [ -f "$OUTDIR/best.txt" ]; then
  best=$(cat "$OUTDIR/best.txt")
  $PY benchmarks/trained_parameters.py export "outputs/ft-$best" "$OUTDIR/lean-$best" >>"$OUTDIR/pipeline.log" 2>&1
  cp "$OUTDIR/eval-$best/eval_results.json" "$OUTDIR/lean-$best/" 2>/dev/null
fi
log "done"
