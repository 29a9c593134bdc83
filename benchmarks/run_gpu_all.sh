#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md, for a lent GPU machine; results and logs go under $OUT.
#
#   bash benchmarks/run_gpu_all.sh PART...
#
#   env      GPU, driver, package versions
#   table2   training cost of the four recipes and BART-base at the seed's shapes (benchmarks/train_cost.py)
#   table3   generation speed, latent prefix vs token space, GPU and this machine's CPU (generation_speed.py)
#   diag     where the time of a training step goes (profiles, Trainer options)
#   opt      the frozen recipe compiled (Trainer torch_compile) and with fp16 frozen backbones, beside BART-base compiled
#   table4   ModernBERT-large + Llama-3.2-1B/3B shapes, int8 and qlora with LoRA, batch 8
#   recipes  run_summarization.py with recipes/samsum/int8.yaml and qlora.yaml for 10 steps (recipe_gpu_smoke.py)
#
# The GPU image has torch, transformers, accelerate and peft. Wheels of bitsandbytes, datasets, evaluate, dill,
# multiprocess, nltk and rouge-score go in .whl/ (git-ignored) and tokenizer folders for the random backbones of the
# `recipes` part in .bench_tok/{encoder,decoder}; carry both. Each part runs under its own time limit (PART_TIMEOUT).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PART_TIMEOUT=${PART_TIMEOUT:-540}

if ls .whl/*.whl >/dev/null 2>&1 && [ ! -d /tmp/site/bitsandbytes ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}

for part in "$@"; do
  echo "=== $part $(date -u +%FT%TZ)"
  case $part in
    env)
      {
        date -u +%FT%TZ
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv
        nproc
        lscpu | grep -E '^Model name' || true
        python3 -c "import torch, transformers, peft, accelerate, bitsandbytes; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, 'bitsandbytes', bitsandbytes.__version__)"
        python3 -c "import datasets, evaluate, rouge_score, pyarrow, fsspec; print('datasets', datasets.__version__, 'evaluate', evaluate.__version__, 'pyarrow', pyarrow.__version__, 'fsspec', fsspec.__version__)"
        git log -1 --format='commit %H %s' 2>/dev/null || true
      } 2>&1 | tee "$OUT/env.txt"
      ;;
    table2)
      timeout "$PART_TIMEOUT" python3 benchmarks/train_cost.py --suite seed --timeout 200 \
        --output "$OUT/train_cost.json" 2>&1 | tee "$OUT/train_cost.log"
      ;;
    table3)
      timeout "$PART_TIMEOUT" python3 benchmarks/generation_speed.py --devices cuda,cpu \
        --output "$OUT/generation_speed.json" 2>&1 | tee "$OUT/generation_speed.log"
      ;;
    diag)  # where a frozen+cache step's time goes: cProfile, GPU busy time, data-loader workers, gradient clipping
      timeout "$PART_TIMEOUT" python3 benchmarks/train_cost.py --suite seed --recipes frozen,bart --cache yes \
        --batch_sizes 32 --variants "${DIAG_VARIANTS:-profile,workers0,no-clip,workers0+no-clip+no-nan-filter}" \
        --output "$OUT/train_diag.json" 2>&1 | tee "$OUT/train_diag.log"
      ;;
    opt)
      timeout "$PART_TIMEOUT" python3 benchmarks/train_cost.py --suite seed --recipes "${OPT_RECIPES:-frozen,bart}" \
        --cache "${OPT_CACHE:-yes,no}" --batch_sizes "${OPT_BATCH:-32,8}" \
        --variants "${OPT_VARIANTS:-compile-all+fp16-backbones,compile-all}" \
        --output "$OUT/train_compile.json" 2>&1 | tee "$OUT/train_compile.log"
      ;;
    table4)
      timeout "$PART_TIMEOUT" python3 benchmarks/train_cost.py --suite scale --variants base,grad-ckpt --timeout 240 \
        --output "$OUT/train_scale.json" 2>&1 | tee "$OUT/train_scale.log"
      ;;
    recipes)
      python3 benchmarks/recipe_gpu_smoke.py prepare --out /tmp/bench-backbones \
        --encoder_tokenizer .bench_tok/encoder --decoder_tokenizer .bench_tok/decoder 2>&1 | tee "$OUT/recipes.log"
      for recipe in int8 qlora; do
        timeout "$PART_TIMEOUT" accelerate launch --config_file recipes/accelerate/single_gpu.yaml \
          benchmarks/recipe_gpu_smoke.py run --report "$OUT/recipe_$recipe.json" -- "recipes/samsum/$recipe.yaml" \
          --encoder_name_or_path /tmp/bench-backbones/modernbert-base --decoder_name_or_path /tmp/bench-backbones/gpt2 \
          --train_file data/demo/train.jsonl --validation_file data/demo/validation.jsonl \
          --max_train_samples 320 --max_eval_samples 32 --max_steps 10 --warmup_steps 1 --logging_steps 1 \
          --output_dir "/tmp/outputs/samsum-$recipe" --overwrite_output_dir true 2>&1 | tee -a "$OUT/recipes.log"
      done
      ;;
    *) echo "unknown part $part" ;;
  esac
done
