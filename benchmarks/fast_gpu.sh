#!/usr/bin/env bash
# Issue 17's GPU measurements in one call (at most 8 minutes wall), results under OUTDIR:
#
#   bash benchmarks/fast_gpu.sh OUTDIR            # on the GPU machine, from the repository root
#   SMOKE=1 bash benchmarks/fast_gpu.sh /tmp/x    # the same stages on CPU with tiny models (a few minutes)
#
#   train_eager     real SAMSum+DialogSum lengths: frozen recipe as it was (pad to 8, random order), with buckets and
#                   length grouping, and BART-base as a run_summarization-style fine-tune (benchmarks/train_cost_real.py)
#   train_compiled  the frozen recipe with --torch_compile (dynamic shapes, then one graph per bucket), buckets + grouping
#   bart_compiled   BART-base compiled (dynamic shapes, buckets + grouping by dialogue length): its best setting
#   generation      summaries/s at batch 32 and 256, latent prefix vs the decoder prompted with the raw dialogue,
#                   default KV cache vs static cache (generate compiles the decoding step) (generation_speed.py)
#
# Each stage runs under its own `timeout` (their sum stays under 8 minutes); a failing stage does not stop the others.
# Shared GPU: one process at a time, about 10 GB of GPU memory at most, 4 CPU threads, no data-loader workers.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/fast_gpu.sh OUTDIR}
mkdir -p "$OUT"
export OMP_NUM_THREADS=4 MKL_NUM_THREADS=4 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && [ "${SMOKE:-0}" = 1 ] && PY=.venv/bin/python

if [ "${SMOKE:-0}" = 1 ]; then
  # Tiny models of the same families, a few rows, dynamo's eager backend (inductor's CPU code generation is slow).
  TRAIN="--tiny --cpu --max_rows 32 --epochs 2 --batch_size 8 --compile_backend eager"
  GEN="--tiny --devices cpu --cpu_warmup 1 --cpu_repeats 1 --batch_sizes 4,8 --new_tokens 8 --source_length 64"
  T_EAGER=150 T_COMPILED=150 T_BART=100 T_GEN=100
else
  TRAIN="--epochs 3 --batch_size 32"
  GEN="--devices cuda --warmup 2 --repeats 5 --batch_sizes 32,256"
  T_EAGER=95 T_COMPILED=165 T_BART=75 T_GEN=105  # 440 s, + up to 4 x 5 s kill grace: under 8 minutes
fi

log() { echo "[$(date -u +%H:%M:%S)] $*"; }
stage() {  # stage NAME SECONDS COMMAND...: runs under its own time limit, logs to OUTDIR/NAME.log, never stops the rest
  local name=$1 seconds=$2
  shift 2
  log "stage $name (limit ${seconds}s)"
  timeout --kill-after=5 "$seconds" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  log "stage $name finished: exit $rc$([ $rc = 124 ] && echo ' (timed out)')"
  tail -n 12 "$OUT/$name.log"
  echo "$name $rc" >>"$OUT/stages.txt"
}

: >"$OUT/stages.txt"
{
  date -u +%FT%TZ
  git log -1 --format='commit %H %s' 2>/dev/null || true
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

stage train_eager "$T_EAGER" $PY benchmarks/train_cost_real.py $TRAIN --timeout $((T_EAGER - 5)) \
  --configs frozen-eager-pad8,frozen-eager-buckets,bart-eager-pad8 --output "$OUT/train_eager.json"
stage train_compiled "$T_COMPILED" $PY benchmarks/train_cost_real.py $TRAIN --timeout $((T_COMPILED / 2 - 5)) \
  --configs frozen-compile-dynamic,frozen-compile-static --output "$OUT/train_compiled.json"
stage bart_compiled "$T_BART" $PY benchmarks/train_cost_real.py $TRAIN --timeout $((T_BART - 5)) \
  --configs bart-compile-dynamic --output "$OUT/bart_compiled.json"
stage generation "$T_GEN" $PY benchmarks/generation_speed.py $GEN --cache_implementations dynamic,static \
  --output "$OUT/generation.json"

log "summary"
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print(f"{'training configuration':28} {'steady/s':>9} {'w/ compile/s':>13} {'graphs':>7} {'peak GiB':>9}")
for name in ("train_eager", "train_compiled", "bart_compiled"):
    path = out / f"{name}.json"
    for r in json.loads(path.read_text())["results"] if path.is_file() else []:
        if "error" in r:
            print(f"{r['config']:28} ERROR {r['error'][:80]}")
        else:
            print(f"{r['config']:28} {r['samples_per_s_steady']:9.1f} {r['samples_per_s_with_compile']:13.1f} "
                  f"{r['compiled_graphs']:7d} {r.get('peak_mem_gib', float('nan')):9.2f}")
path = out / "generation.json"
if path.is_file():
    print(f"\n{'batch':>5} {'cache':8} {'generation path':26} {'summaries/s':>12} {'peak GiB':>9}")
    for r in json.loads(path.read_text())["results"]:
        print(f"{r['batch_size']:5d} {r['cache_implementation']:8} {r['path']:26} {r['summaries_per_s']:12.1f} "
              f"{r.get('peak_mem_gib', float('nan')):9.2f}")
EOF
cat "$OUT/stages.txt"
