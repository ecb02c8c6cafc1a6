#!/usr/bin/env bash
# A newcomer's first hour, timed (issue 12): clone this repository into a fresh temp
# folder (no sibling folders), `make run` in the background until the server answers,
# the README's walkthroughs (the doc test, test/readme), then `make test`. Prints the
# wall time of each step; stops and removes everything it started, even on failure.
#
#   scripts/first-hour.sh                       # the whole hour
#   FIRST_HOUR_SKIP_TEST=1 scripts/first-hour.sh  # everything but `make test`
#   FIRST_HOUR_KEEP=1 scripts/first-hour.sh       # keep the clone (its path is printed)
#
# The clone is of the committed state (HEAD) of the repository the script sits in.
# `make run` listens on 127.0.0.1:7373 as the README says, so that port must be free.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/keygate-first-hour.XXXXXX")
clone="$work/keygate"
run_pid=""

cleanup() {
  local status=$?
  if [ -n "$current" ]; then
    timings+=("$(printf '%-50s %7s s  FAILED (exit %s)' "$current" "$(since "$t0")" "$status")")
  fi
  if [ -n "$run_pid" ]; then
    kill -TERM -- "-$run_pid" 2>/dev/null || true   # make, its shell and the server: one process group
    wait "$run_pid" 2>/dev/null || true
  fi
  summary
  if [ -n "${FIRST_HOUR_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timings=()
started=$EPOCHREALTIME
current=""
t0=$started
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
step() {   # step NAME COMMAND…: runs it under set -e, records its wall time (cleanup records a failure)
  current=$1 t0=$EPOCHREALTIME
  shift
  echo "== $current"
  "$@"
  timings+=("$(printf '%-50s %7s s' "$current" "$(since "$t0")")")
  current=""
}
summary() {
  [ ${#timings[@]} -gt 0 ] || return 0
  echo
  echo "first hour on $(nproc) CPUs, $(uname -m), node $(node --version), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'):"
  printf '  %s\n' "${timings[@]}"
  printf '  %-50s %7s s\n' "total" "$(since "$started")"
}

if (exec 3<>/dev/tcp/127.0.0.1/7373) 2>/dev/null; then
  echo "first-hour: 127.0.0.1:7373 is taken (another make run?); make run needs it" >&2
  exit 1
fi

clone_repo() { git clone --quiet "$repo" "$clone"; }

# `make run` in its own process group (setsid), so cleanup stops all of it; ready
# when /version answers over TLS with the CA it made. Fails if make run exits first.
make_run_until_it_answers() {
  (cd "$clone" && exec setsid make run >"$work/make-run.log" 2>&1) &
  run_pid=$!
  until curl -sf --cacert "$clone/certs/ca.crt" https://localhost:7373/version >/dev/null 2>&1; do
    if ! kill -0 "$run_pid" 2>/dev/null; then
      echo "make run exited before answering:" >&2
      tail -20 "$work/make-run.log" >&2
      return 1
    fi
    sleep 0.5
  done
  curl -sS --cacert "$clone/certs/ca.crt" --cert "$clone/certs/admin.crt" --key "$clone/certs/admin.key" \
    -X PUT https://localhost:7373/v1/key/create/my-key || return 1
  echo "make run answers on https://localhost:7373"
}

stop_make_run() {
  kill -TERM -- "-$run_pid"
  wait "$run_pid" || true
  run_pid=""
}

walkthroughs() { (cd "$clone" && node_modules/.bin/vitest run test/readme/); }
make_test() { (cd "$clone" && make test); }

step "git clone" clone_repo
step "make run (npm ci, build, start) until it answers" make_run_until_it_answers
step "stop make run" stop_make_run
step "walkthroughs (vitest run test/readme/)" walkthroughs
if [ -z "${FIRST_HOUR_SKIP_TEST:-}" ]; then
  step "make test" make_test
else
  echo "== make test: skipped (FIRST_HOUR_SKIP_TEST)"
fi

