# Shared by the latent-dynamics GPU scripts (benchmarks/session1*_dynamics_gpu.sh): one run_sequence_tasks.py process
# per stage under its own timeout, evaluated from its last checkpoint when the timeout cuts it. Source it after `cd` to
# the repository root; the caller sets PY, OUT (results: logs, JSON, plots), SCR (scratch: weights, checkpoints),
# COMMON (arguments of every stage), END (epoch second by which every stage is over), FALLBACK_S (seconds kept for
# the evaluation of a cut run) and a `log` function.

last_checkpoint_step() {  # highest checkpoint-N under a scratch run folder, or nothing
  find "$1" -maxdepth 2 -type d -name 'checkpoint-*' 2>/dev/null | sed 's/.*checkpoint-//' | sort -n | tail -n 1
}

collect() {  # results, states and plots from scratch into OUTDIR (no weights, no checkpoints)
  local name=$1
  (cd "$SCR/$name" 2>/dev/null && find . -path '*checkpoint-*' -prune -o -type f \( -name '*.json' -o -name '*.png' \) \
    ! -name 'config.json' ! -name 'generation_config.json' -print | while read -r f; do
      mkdir -p "$OUT/$name/$(dirname "$f")" && cp "$f" "$OUT/$name/$f"; done)
}

run_job() {  # run_job NAME ARGS: trains and evaluates into $SCR/NAME (timeout: what is left before END - FALLBACK_S)
  local name=$1 args=$2 t0 rc left step
  t0=$(date +%s)
  mkdir -p "$OUT/$name"
  left=$(( END - FALLBACK_S - t0 ))
  log "start $name (timeout ${left}s)"
  # shellcheck disable=SC2086
  timeout --kill-after=10 "$left" $PY run_sequence_tasks.py $args --output_dir "$SCR/$name" $COMMON >"$OUT/$name/train.log" 2>&1
  rc=$?
  log "end $name rc=$rc$([ $rc = 124 ] && echo ' (timed out)') after $(( $(date +%s) - t0 ))s"
  if [ $rc != 0 ] && [ ! -f "$SCR/$name/results.json" ]; then
    step=$(last_checkpoint_step "$SCR/$name")
    left=$(( END - $(date +%s) ))
    if [ -n "$step" ] && [ "$left" -gt 15 ]; then
      log "evaluate $name from checkpoint-$step (timeout ${left}s)"
      # shellcheck disable=SC2086
      timeout --kill-after=5 "$left" $PY run_sequence_tasks.py $args --output_dir "$SCR/$name" $COMMON \
        --overwrite_output_dir false --max_steps "$step" >"$OUT/$name/eval_from_checkpoint.log" 2>&1
      log "end $name evaluation from checkpoint-$step rc=$? (total $(( $(date +%s) - t0 ))s)"
      echo "evaluated from checkpoint-$step after a timeout (rc=$rc)" >"$OUT/$name/cut_at_checkpoint.txt"
    else
      log "$name: no checkpoint to evaluate"
    fi
  fi
  collect "$name"
  grep -hE '^\| |accuracy [0-9]' "$OUT/$name/train.log" "$OUT/$name/eval_from_checkpoint.log" 2>/dev/null | tail -n 8
}

# run_jobs: the JOBS ("name|args") in order, at most MAX_JOBS at once, each skipped when under 30 s of the window
# (END - FALLBACK_S) would be left for it; returns when all have ended.
run_jobs() {
  local job name args left
  for job in "${JOBS[@]}"; do
    IFS='|' read -r name args <<<"$job"
    while [ "$(jobs -rp | wc -l)" -ge "$MAX_JOBS" ]; do sleep 1; done
    left=$(( END - FALLBACK_S - $(date +%s) ))
    if [ "$left" -lt 30 ]; then log "skip $name: only ${left}s left"; continue; fi
    run_job "$name" "$args" &
    sleep 1  # stagger the imports
  done
  wait
}
