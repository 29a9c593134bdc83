# Shared by the per-session GPU window scripts (benchmarks/session*_gpu.sh); source it after `cd` to the repository
# root. The caller sets OUT, RUNS, FAST, BASELINE and WINDOW_S before using the helpers below.

# run_from_snapshot SCRIPT ARGS...: the device tool copies the working tree again at every call while a window's jobs
# run, so a job re-executes itself from a private copy of the code, which a later copy (an edit in progress) cannot
# break. Returns only inside the copy (WINDOW_SNAPSHOT=1); the first call writes OUT/code.txt and never returns.
run_from_snapshot() {
  local script=$1 snap
  shift
  [ -n "${WINDOW_SNAPSHOT:-}" ] && return 0
  snap=${SNAPSHOT_DIR:-/tmp/$(basename "$script" .sh)_code_${2:-job}}/main
  rm -rf "$snap" && mkdir -p "$snap" || exit 1
  cp -r benchmarks data data_collators inference metrics modeling recipes scripts tests training ./*.py "$snap"/ || exit 1
  for link in backbones .venv; do [ -e "$link" ] && ln -s "$PWD/$link" "$snap/$link"; done
  ln -sfn "$(cd .. && pwd)/shared" "$snap/../shared"
  git log -1 --format='code: commit %H (working tree copied at start)' >"$OUT/code.txt" 2>/dev/null
  git status --short >>"$OUT/code.txt" 2>/dev/null
  WINDOW_SNAPSHOT=1 exec bash "$snap/benchmarks/$(basename "$script")" "$@"
}

START=$(date +%s)
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
log() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - START))s] $*" | tee -a "$OUT/progress.log"; }
left() { echo $((WINDOW_S - ($(date +%s) - START))); }

latent_thought() {  # latent_thought SPEC ENV...: one run of benchmarks/latent_thought_gpu.sh into OUT/latent_thought
  local spec=$1
  shift
  env RECIPES="$spec" EXTRA_ARGS="$FAST" "$@" bash benchmarks/latent_thought_gpu.sh "$OUT/latent_thought"
}

summary() {  # the latent-thought table of the window so far, OUT/summary.txt
  $PY benchmarks/latent_thought_summary.py "$OUT/latent_thought" --baseline "$BASELINE" >"$OUT/summary.txt" 2>&1
}
