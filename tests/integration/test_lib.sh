#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The integration tests' own harness (lib.sh) catches what it claims to: a daemon that exits
# non-zero on SIGTERM, one that dies of a signal, and a sanitizer report in any output under
# $tmp each fail the test; daemons that stop cleanly and clean output do not.
. "$(dirname "$0")/lib.sh"

# harness_verdict SETUP: runs SETUP and then finish in a fresh copy of the harness; prints
# "<status> <failures>"
harness_verdict() {
  (
    passed=0 failed=0 pids=()
    eval "$1"
    finish >"$tmp/verdict.out" 2>&1; s=$?
    echo "$s $failed"
  )
}
check_verdict() { # DESCRIPTION EXPECTED SETUP
  local got; got=$(harness_verdict "$3")
  if [ "$got" = "$2" ]; then ok; else bad "$1: expected \"$2\", got \"$got\" ($(cat "$tmp/verdict.out"))"; fi
  rm -f "$tmp"/daemon*.log
}

# a stand-in daemon: waits for SIGTERM, then exits with the given status
daemon() { bash -c "trap 'exit $1' TERM; while :; do sleep 0.05; done" & pids+=($!); }

check_verdict "two daemons stopping cleanly" "0 0" 'daemon 0; daemon 0; sleep 0.2'
check_verdict "a daemon exiting 1 on SIGTERM" "1 1" 'daemon 0; daemon 1; sleep 0.2'
check_verdict "a leak report's exit status (23)" "1 1" 'daemon 23; sleep 0.2'
check_verdict "a daemon killed by a signal" "1 1" 'daemon 0; sleep 0.2; kill -9 ${pids[0]}'
check_verdict "an AddressSanitizer report in a daemon's log" "1 1" \
  'echo "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1" >"$tmp/daemon.log"'
check_verdict "an UndefinedBehaviorSanitizer report" "1 1" \
  'echo "worker.c:12:5: runtime error: signed integer overflow" >"$tmp/daemon-w.log"'
check_verdict "clean logs" "0 0" 'echo "level=info event=orchestrator.started" >"$tmp/daemon.log"'
finish
