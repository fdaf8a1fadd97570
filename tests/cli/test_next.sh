#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `agentcron next` end to end: output shapes, exit codes, and that errors leave stdout empty
# with exactly one line on stderr. Usage: test_next.sh PATH/TO/agentcron
set -u
bin=${1:?usage: test_next.sh PATH/TO/agentcron}
command -v jq >/dev/null || { echo "jq is needed: sudo apt-get install jq"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

ok()   { passed=$((passed + 1)); }
bad()  { failed=$((failed + 1)); echo "FAIL: $*"; }

# run ARGS...: runs the binary, capturing status, stdout and stderr
run() { "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; status=$?; }

expect_json() { # expect_json JQ_FILTER EXPECTED ARGS...
  local filter=$1 expected=$2; shift 2
  run "$@"
  local got; got=$(jq -c "$filter" <"$tmp/out" 2>&1)
  if [ "$status" -eq 0 ] && [ "$got" = "$expected" ]; then ok
  else bad "next $* | $filter: got [$got] status $status, expected [$expected]"; fi
}

expect_usage_error() { # expect_usage_error STDERR_SUBSTRING ARGS...
  local want=$1; shift
  run "$@"
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$status" -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$lines" -eq 1 ] && grep -qF -- "$want" "$tmp/err"; then ok
  else bad "next $*: status $status, stdout $(wc -c <"$tmp/out") bytes, stderr [$(cat "$tmp/err")], expected exit 2 and [$want]"; fi
}

# The exact JSON shape scripts rely on.
expect_json 'keys_unsorted' '["expression","timezone","description","next"]' \
  next --json --tz America/New_York --from 2026-03-07T00:00:00Z -n 3 '30 2 * * *'
expect_json '.' '{"expression":"30 2 * * *","timezone":"America/New_York","description":"At 02:30","next":["2026-03-07T02:30:00-05:00","2026-03-08T03:00:00-04:00","2026-03-09T02:30:00-04:00"]}' \
  next --json --tz America/New_York --from 2026-03-07T00:00:00Z -n 3 '30 2 * * *'
# Fall back: the interval schedule fires at both 01:00s and both 01:30s.
expect_json '.next' '["2026-11-01T01:00:00-04:00","2026-11-01T01:30:00-04:00","2026-11-01T01:00:00-05:00","2026-11-01T01:30:00-05:00","2026-11-01T02:00:00-05:00"]' \
  next --json --tz America/New_York --from 2026-11-01T04:59:00Z '*/30 * * * *'
# --prev: earlier times, newest first; --from with an offset.
expect_json '.next' '["2026-03-08T03:00:00-04:00","2026-03-07T02:30:00-05:00"]' \
  next --json --prev --tz America/New_York --from 2026-03-08T22:00:00-05:00 -n 2 '30 2 * * *'
# UTC by default, written with Z; fields may come as separate arguments; options after them.
expect_json '.' '{"expression":"0 9 * * 1-5","timezone":"UTC","description":"At 09:00, Monday through Friday","next":["2026-01-01T09:00:00Z","2026-01-02T09:00:00Z"]}' \
  next --from 2026-01-01T00:00:00Z 0 9 '*' '*' 1-5 -n 2 --json
# TZ= prefix, links canonicalised, H with a key.
# Links and any case resolve to the current IANA name.
expect_json '[.timezone, .next[0]]' '["Asia/Kolkata","2026-01-01T09:00:00+05:30"]' \
  next --json --from 2026-01-01T00:00:00Z -n 1 'TZ=Asia/Calcutta 0 9 * * *'
expect_json '.timezone' '"Europe/Kyiv"' next --json -n 1 --tz europe/kiev @daily
expect_json '.timezone' '"America/New_York"' next --json --tz US/Eastern -n 1 '@daily'
expect_json '.next' '["2026-01-01T09:36:00Z"]' next --json --hash-key task-1 --from 2026-01-01T00:00:00Z -n 1 'H 9 * * *'
# The end of the range: fewer times than asked, and a note on stderr.
run next --json --from 2199-12-30T00:00:00Z -n 5 '0 0 * * *'
if [ "$status" -eq 0 ] && [ "$(jq -c .next <"$tmp/out")" = '["2199-12-31T00:00:00Z"]' ] && grep -q "no further fire time" "$tmp/err"; then ok
else bad "end of range: status $status [$(cat "$tmp/out")] [$(cat "$tmp/err")]"; fi

# Human output: the description, the zone, and DST marks.
run next --tz America/New_York --from 2026-03-07T00:00:00Z -n 2 '30 2 * * *'
if [ "$status" -eq 0 ] && head -1 "$tmp/out" | grep -qx 'At 02:30 (America/New_York)' \
   && grep -q '2026-03-08 03:00:00-04:00  2026-03-08T07:00:00Z  (02:30:00 does not exist that day: DST gap' "$tmp/out"; then ok
else bad "human output: $(cat "$tmp/out")"; fi
run next --tz America/New_York --from 2026-11-01T05:59:00Z -n 1 '30 * * * *'
if grep -q 'the second 01:30:00, after the clocks went back' "$tmp/out"; then ok; else bad "overlap mark: $(cat "$tmp/out")"; fi

# Help documents every option.
run next --help
for opt in --tz --from --count --prev --hash-key --json --help; do
  if [ "$status" -eq 0 ] && grep -q -- "$opt" "$tmp/out"; then ok; else bad "--help does not mention $opt"; fi
done
run --help
if [ "$status" -eq 0 ] && grep -q next "$tmp/out"; then ok; else bad "agentcron --help"; fi

# Bad input: exit 2, nothing on stdout, one line on stderr naming field, text and column.
expect_usage_error 'hour: "24" out of range 0-23 (column 3)' next '0 24 * * *'
expect_usage_error 'expected 5 or 6 fields, got 3' next '0 0 *'
expect_usage_error 'can never fire' next '0 0 30 2 *'
expect_usage_error '"H" needs a hash key' next 'H * * * *'
expect_usage_error '"Mars/Olympus" is not an IANA timezone' next --tz Mars/Olympus '@daily'
expect_usage_error '"Nowhere/Land" is not an IANA timezone' next 'TZ=Nowhere/Land @daily'
expect_usage_error 'disagrees' next --tz Europe/Paris 'TZ=America/New_York @daily'
expect_usage_error 'not an RFC 3339 time' next --from yesterday '@daily'
expect_usage_error 'not an RFC 3339 time' next --from 2026-02-30T00:00:00Z '@daily'
expect_usage_error '-n/--count takes a number from 1 to 1000' next -n 0 '@daily'
expect_usage_error '-n/--count takes a number from 1 to 1000' next -n 5x '@daily'
expect_usage_error '-n/--count takes a number from 1 to 1000' next -n 1001 '@daily'
expect_usage_error 'no cron expression given' next --json
expect_usage_error 'unknown or incomplete option' next --bogus '@daily'
expect_usage_error 'unknown or incomplete option' next '@daily' --tz
expect_usage_error '"@reboot" is not supported' next '@reboot'
expect_usage_error 'longer than 1024 bytes' next "$(printf '0 %.0s' $(seq 1 600))"
expect_usage_error 'unknown command "nope"' nope
# The same equal-zones prefix and --tz are fine.
expect_json '.timezone' '"America/New_York"' next --json -n 1 --tz US/Eastern 'TZ=America/New_York @daily'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
