#!/usr/bin/env bash
# Issue 13, second GPU window: one idea space trained alone on its GPU for as long as the window allows, instead of
# four at once under short boxes (benchmarks/quality_gpu.sh, session 7: every run was cut with its loss still falling).
#   1. the chat corpus (scripts/prepare_chat_corpus.py; once per machine, under a lock) and the teacher's labels
#      (benchmarks/token_space_baseline.py --label_file, made in session 7; $TEACHER_LABELS, else made here)
#   2. pre-training (recipes/offline/pretrain.yaml), batches grouped by length, a cosine schedule sized to the box
#   3. fine-tuning on real + teacher rows (recipes/offline/summarize.yaml) for the time that is left,
#      with the idea-capacity benchmark of the pre-trained checkpoint beside it
#   4. run_eval.py on SAMSum validation, greedy and 4 beams; the fine-tuned model's trained parameters exported
#
#   bash benchmarks/quality_long_gpu.sh OUTDIR [VARIANT]   # VARIANT: seg32 (the recipe's own) or seg64
#   SMOKE=1 bash benchmarks/quality_long_gpu.sh OUTDIR     # tiny budgets on CPU: checks the plumbing
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:?usage: quality_long_gpu.sh OUTDIR [VARIANT]}
VARIANT=${2:-seg32}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=2
PY=${PY:-python3}
SHARED=../shared/data
TEACH=data/chitchat/teacher_summaries.jsonl
START=$SECONDS
log() { echo "[$(date -u +%T) +$((SECONDS - START))s] $*" | tee -a "$OUTDIR/pipeline.log"; }
minutes_left() { awk -v t="$TOTAL_MIN" -v e=$((SECONDS - START)) -v r="$RESERVE_MIN" 'BEGIN { printf "%.1f", t - e / 60 - r }'; }

case $VARIANT in
  seg32) ARCH=() ;;
  seg64) ARCH=(--num_idea_vectors 64 --prefix_len 64) ;;
  *) echo "unknown variant $VARIANT (seg32 | seg64)" >&2; exit 2 ;;
esac

if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL_MIN=${TOTAL_MIN:-3}; PRETRAIN_MIN=${PRETRAIN_MIN:-0.3}; RESERVE_MIN=${RESERVE_MIN:-1}
  COMMON=(--use_cpu true --fp16 false --max_train_samples 8 --max_eval_samples 4 --per_device_train_batch_size 4
          --per_device_eval_batch_size 4 --max_source_length 32 --max_steps 2 --max_new_tokens 8)
  PT=(--max_target_length 32) FT=(--max_target_length 16)
  EVAL=(--max_samples 4 --batch_size 4 --max_new_tokens 8)
  CAPACITY=(--max_samples 4 --lengths 16 32)
else
  # batch 64 (one job per GPU leaves the H200 room), learning rates scaled by about sqrt(2) from batch 32's
  TOTAL_MIN=${TOTAL_MIN:-20}; PRETRAIN_MIN=${PRETRAIN_MIN:-9.5}; RESERVE_MIN=${RESERVE_MIN:-2.5}
  COMMON=(--bf16 true --fp16 false --per_device_train_batch_size 64 --per_device_eval_batch_size 100
          --dataloader_num_workers 4)
  PT=(--num_train_epochs "${PRETRAIN_EPOCHS:-5}" --learning_rate 7e-4)
  FT=(--num_train_epochs "${FINETUNE_EPOCHS:-3}" --learning_rate 4e-4)
  EVAL=(--batch_size 100 --max_new_tokens 60)
  CAPACITY=(--max_samples 200)
fi
COMMON+=(--gradient_accumulation_steps 1 --train_sampling_strategy group_by_length --save_strategy no
         --logging_steps 25 --overwrite_output_dir true)

log "1. corpus and teacher labels ($VARIANT)"
mkdir -p data outputs
(
  flock 9
  [ -s data/chitchat/train.jsonl ] || $PY scripts/prepare_chat_corpus.py >"$OUTDIR/corpus.log" 2>&1
  if [ ! -s $TEACH ] && [ -s "${TEACHER_LABELS:-/root/stash/teacher_summaries.jsonl.gz}" ]; then
    gunzip -c "${TEACHER_LABELS:-/root/stash/teacher_summaries.jsonl.gz}" >$TEACH.tmp && mv $TEACH.tmp $TEACH
  fi
  if [ ! -s $TEACH ]; then  # no labels carried: train the teacher and label the chats (about 8 minutes on a H200)
    $PY benchmarks/token_space_baseline.py --decoder backbones/SmolLM2-135M-Instruct \
      --train_file $SHARED/samsum/train.jsonl $SHARED/dialogsum/train.jsonl \
      --validation_file $SHARED/samsum/validation.jsonl --epochs 2 --output_dir outputs/teacher \
      --output "$OUTDIR/teacher.json" --label_file data/chitchat/train.jsonl --label_output $TEACH \
      --label_batch_size 256 >"$OUTDIR/teacher.log" 2>&1
  fi
) 9>outputs/.prepare.lock
[ -s data/chitchat/train.jsonl ] || { log "no corpus"; exit 1; }
log "teacher labels: $(wc -l <$TEACH 2>/dev/null || echo none)"

log "2. pre-training for up to $PRETRAIN_MIN minutes"
timeout $(( ${PRETRAIN_MIN%.*} * 60 + 600 )) $PY run_summarization.py recipes/offline/pretrain.yaml \
  --train_file data/chitchat/train.jsonl $SHARED/samsum/train.jsonl $SHARED/dialogsum/train.jsonl \
  --output_dir "outputs/pt-$VARIANT" --max_train_minutes "$PRETRAIN_MIN" "${COMMON[@]}" "${PT[@]}" "${ARCH[@]}" \
  >"$OUTDIR/pt-$VARIANT.log" 2>&1
log "pretrain done (rc $?)"
[ -f "outputs/pt-$VARIANT/config.json" ] || { log "no pre-trained checkpoint"; exit 1; }

FINETUNE_MIN=$(minutes_left)
awk -v m="$FINETUNE_MIN" 'BEGIN { exit !(m < 1) }' && FINETUNE_MIN=1  # the box is never empty
log "3. fine-tuning for up to $FINETUNE_MIN minutes, idea capacity beside it"
timeout 900 $PY benchmarks/idea_capacity.py "outputs/pt-$VARIANT" --file data/chitchat/heldout.jsonl \
  --output "$OUTDIR/idea_capacity-$VARIANT.json" "${CAPACITY[@]}" >"$OUTDIR/idea_capacity-$VARIANT.log" 2>&1 &
timeout $(( ${FINETUNE_MIN%.*} * 60 + 600 )) $PY run_summarization.py recipes/offline/summarize.yaml \
  --model_name_or_path "outputs/pt-$VARIANT" --output_dir "outputs/ft-$VARIANT" --max_train_minutes "$FINETUNE_MIN" \
  --max_eval_samples 200 "${COMMON[@]}" "${FT[@]}" >"$OUTDIR/ft-$VARIANT.log" 2>&1
log "finetune done (rc $?)"

log "4. evaluation"
for beams in 1 4; do
  timeout 600 $PY run_eval.py --model_name_or_path "outputs/ft-$VARIANT" --validation_file $SHARED/samsum/validation.jsonl \
    --no_repeat_ngram_size 3 --num_beams $beams --output_dir "$OUTDIR/eval-$VARIANT-beam$beams" "${EVAL[@]}" \
    >"$OUTDIR/eval-$VARIANT-beam$beams.log" 2>&1
  log "eval beams $beams done (rc $?)"
done
wait
for d in "outputs/pt-$VARIANT" "outputs/ft-$VARIANT"; do
  for f in trainer_state.json all_results.json; do [ -f "$d/$f" ] && cp "$d/$f" "$OUTDIR/$(basename "$d")-$f"; done
done
$PY benchmarks/trained_parameters.py export "outputs/ft-$VARIANT" "$OUTDIR/lean-ft-$VARIANT" >>"$OUTDIR/pipeline.log" 2>&1
$PY benchmarks/quality_summary.py "$OUTDIR" | tee "$OUTDIR/summary.txt"
log "done"
