#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs agentcron's tests: installs what they need, builds, and runs CTest.
#   tests/run.sh                 all tests (warnings are errors)
#   tests/run.sh --sanitize      the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   tests/run.sh --fuzz SECONDS  the libFuzzer targets (clang, ASan/UBSan) for SECONDS each
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

mode=tests fuzz_seconds=60
case "${1:-}" in
  "") ;;
  --sanitize) mode=sanitize ;;
  --fuzz) mode=fuzz; fuzz_seconds=${2:?--fuzz needs a number of seconds} ;;
  -h|--help) sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "tests/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac

scripts/install-deps.sh

# run_ctest BUILD_DIR PG_PORT REDIS_PORT: the private servers for this run, then CTest.
run_ctest() {
  local dir=$1 instance="test-$1"
  scripts/services.sh start "$instance" "$2" "$3"
  trap 'scripts/services.sh stop "'"$instance"'"' EXIT
  export AGENTCRON_TEST_PG="postgresql://agentcron@127.0.0.1:$2"
  export AGENTCRON_TEST_REDIS="redis://127.0.0.1:$3"
  export AGENTCRON_SERVICES_INSTANCE=$instance # for tests that restart the servers
  (cd "$dir" && ctest --output-on-failure -j "$(nproc)")
}

case $mode in
  tests)
    scripts/build.sh build -DAGENTCRON_WERROR=ON
    run_ctest build 25433 26380
    ;;
  sanitize)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    scripts/build.sh build-sanitize -DAGENTCRON_WERROR=ON -DAGENTCRON_SANITIZE=address,undefined \
      -DCMAKE_BUILD_TYPE=Debug
    run_ctest build-sanitize 25434 26381
    ;;
  fuzz)
    scripts/build.sh build-fuzz -DCMAKE_C_COMPILER=clang -DAGENTCRON_FUZZ=ON -DAGENTCRON_TESTS=OFF \
      -DAGENTCRON_SANITIZE=address,undefined
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    mkdir -p tests/fuzz/artifacts
    # Seeds: checked in under tests/fuzz/corpus/NAME, or (tzif) the system's own zone files.
    mkdir -p "$work/seeds-tzif"
    for z in America/New_York Europe/London Australia/Lord_Howe Pacific/Chatham Africa/Casablanca \
             Asia/Jerusalem America/Nuuk Europe/Dublin Pacific/Apia Asia/Kolkata UTC; do
      cp "/usr/share/zoneinfo/$z" "$work/seeds-tzif/${z//\//_}"
    done
    for target in build-fuzz/tests/fuzz/fuzz_*; do
      name=${target##*/fuzz_}
      seeds=tests/fuzz/corpus/$name; [ -d "$seeds" ] || seeds=$work/seeds-$name
      echo "fuzz_$name: ${fuzz_seconds}s from $(ls "$seeds" | wc -l) seeds"
      mkdir -p "$work/$name"
      # New inputs go to a scratch folder; the checked-in seeds stay as they are.
      "$target" "$work/$name" "$seeds" -max_total_time="$fuzz_seconds" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="tests/fuzz/artifacts/$name-" 2>&1 | tail -n 6
      [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz_$name found a failure: see tests/fuzz/artifacts/" >&2; exit 1; }
    done
    ;;
esac
