#!/usr/bin/env bash
# Peak GPU memory of the two offline recipes at their own settings: recipes/offline/pretrain.yaml, then
# recipes/offline/summarize.yaml on its output (batch 8 x accumulation 8, fp16, group_by_length, source 256 and targets
# 192 / 64 tokens, LoRA r16 on both SmolLM2-135M backbones), MAX_STEPS optimizer steps each on the SAMSum + DialogSum
# train rows of ../shared/data (the recipes' chitchat files are not there), through benchmarks/recipe_gpu_smoke.py:
# torch.cuda.max_memory_allocated / max_memory_reserved over training. The backbones are random weights of the real
# shape with the real tokenizer (same memory as the pretrained ones), one folder in both roles.
#
#   bash benchmarks/offline_memory_gpu.sh REPORT_DIR    # on the lent GPU machine; carry .whl, .carry/smol_tok and
#                                                       # .carry/shared_data (../shared/tools/device-wheels fills .whl)
#   # CPU rehearsal: PYTHON=.venv/bin/python MAX_STEPS=1 EXTRA_ARGS="--use_cpu true --fp16 false ..." bash ... DIR
#
# Writes REPORT_DIR/pretrain.json, summarize.json (recipe_gpu_smoke reports) and env.txt; nothing else is kept.
set -uo pipefail
cd "$(dirname "$0")/.."
reports=${1:?usage: offline_memory_gpu.sh REPORT_DIR}
work=${WORK:-/tmp/offline_memory}
python=${PYTHON:-python3}
steps=${MAX_STEPS:-10}
stage_timeout=${STAGE_TIMEOUT:-150}
read -r -a extra <<<"${EXTRA_ARGS:-}"
mkdir -p "$reports" "$work"

if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then  # datasets, evaluate, rouge_score and their helpers
  $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
    .whl/*.whl || exit 1
  export PYTHONPATH=$work/site
fi
if [ ! -d ../shared/data ]; then mkdir -p ../shared && cp -r .carry/shared_data ../shared/data || exit 1; fi

{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  $python -c "import torch, transformers, peft, accelerate, datasets; print('torch', torch.__version__, \
'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, \
'datasets', datasets.__version__)"
  git log -1 --format='commit %H' 2>/dev/null || true
} >"$reports/env.txt" 2>&1
cat "$reports/env.txt"

backbone=$work/bb/smollm2-135m
$python benchmarks/recipe_gpu_smoke.py prepare --out "$work/bb" --encoder smollm2-135m --decoder smollm2-135m \
  --encoder_tokenizer .carry/smol_tok --decoder_tokenizer .carry/smol_tok || exit 1

common=(
  --encoder_name_or_path "$backbone" --decoder_name_or_path "$backbone"
  --train_file ../shared/data/samsum/train.jsonl ../shared/data/dialogsum/train.jsonl
  --validation_file ../shared/data/samsum/validation.jsonl
  --do_eval false --max_steps "$steps" --save_strategy no --logging_steps 1
)
rm -rf "$work/pretrain" "$work/summarize"
timeout "$stage_timeout" $python benchmarks/recipe_gpu_smoke.py run --report "$reports/pretrain.json" -- \
  recipes/offline/pretrain.yaml "${common[@]}" --output_dir "$work/pretrain" "${extra[@]}" || exit 1
timeout "$stage_timeout" $python benchmarks/recipe_gpu_smoke.py run --report "$reports/summarize.json" -- \
  recipes/offline/summarize.yaml "${common[@]}" --model_name_or_path "$work/pretrain" \
  --output_dir "$work/summarize" "${extra[@]}" || exit 1

$python - "$reports" <<'EOF'
import json, sys
for stage in ("pretrain", "summarize"):
    r = json.load(open(f"{sys.argv[1]}/{stage}.json"))
    print(stage, r["device"], "steps", r["metrics"].get("train_steps", r["losses"][-1]["step"] if r["losses"] else None),
          "peak allocated", r.get("train_peak_allocated_gib"), "GiB, reserved", r.get("train_peak_reserved_gib"),
          "GiB, at train begin", r.get("allocated_at_train_begin_gib"), "GiB, wall", r.get("train_wall_s"), "s")
EOF
