# SPDX-License-Identifier: MIT
# Shared by the integration tests (bash): counters, a run helper, and a fresh database per
# test on the Postgres that tests/run.sh starts (AGENTCRON_TEST_PG, a URL without a database).
set -u
: "${AGENTCRON_TEST_PG:?the integration tests need the Postgres and Redis that tests/run.sh starts: run tests/run.sh}"
: "${AGENTCRON_TEST_REDIS:?the integration tests need the Postgres and Redis that tests/run.sh starts: run tests/run.sh}"
command -v psql >/dev/null || { echo "psql is needed: sudo apt-get install postgresql-client-15"; exit 1; }
tmp=$(mktemp -d)
# What the programs under test leave in TMPDIR goes with the test's own directory: a worker
# killed with -9 cannot remove the steps file of the command it ran.
keep_root=${TMPDIR:-/tmp}
export TMPDIR=$tmp
created_dbs=()
cleanup() {
  if [ "${failed:-0}" -gt 0 ] && ls "$tmp"/*.log >/dev/null 2>&1; then # keep the daemons' logs for a look
    local keep="$keep_root/agentcron-failed-$(basename "$0" .sh)-$$"
    mkdir -p "$keep" && cp "$tmp"/*.log "$tmp"/*.jsonl "$keep"/ 2>/dev/null; echo "logs kept in $keep"
  fi
  for db in "${created_dbs[@]}"; do psql -q "$AGENTCRON_TEST_PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
ok()  { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
run() { "$@" >"$tmp/out" 2>"$tmp/err"; status=$?; }

# Daemons a test starts in the background go in pids, their output in a file under $tmp.
# stop_all stops them with SIGTERM and fails the test for each that does not exit 0: a crash, a
# sanitizer's abort or leak report (exit 23), a shutdown that went wrong all show here.
pids=()
stop_all() {
  local p s
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    wait "$p"; s=$?
    [ "$s" -eq 0 ] || bad "a daemon (pid $p) exited with status $s on SIGTERM, not 0 (its output is under $tmp)"
  done
  pids=()
}

# sanitizer_reports: fails the test for every file under $tmp (the daemons' logs, the CLI's
# output) that holds an AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer report.
sanitizer_reports() {
  local f
  while IFS= read -r f; do
    [ -n "$f" ] && bad "a sanitizer report in $(basename "$f"): $(grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f")"
  done < <(grep -rlE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$tmp" 2>/dev/null)
}

# wait_sql DESCRIPTION SECONDS QUERY OP VALUE: until the query's answer (through the test's own
# sql function) compares true with test's OP, else a failure naming what it waited for
wait_sql() {
  local what=$1 limit=$2 query=$3 op=$4 want=$5 got
  for _ in $(seq 1 $((limit * 10))); do
    got=$(sql "$query" 2>/dev/null); [ -n "$got" ] && [ "$got" "$op" "$want" ] && return 0; sleep 0.1
  done
  bad "timed out after ${limit}s waiting for: $what (last: $got)"; return 1
}

# finish: stops the daemons (checking how they exit), looks for sanitizer reports, and prints
# the count; its status is the test's.
finish() { stop_all; sanitizer_reports; echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# fresh_db NAME: creates an empty database for this test and prints its URL
fresh_db() {
  local db="t_${1}_$$_${RANDOM}"
  psql -q "$AGENTCRON_TEST_PG/postgres" -c "CREATE DATABASE $db" >/dev/null || { echo "cannot create database $db" >&2; exit 1; }
  created_dbs+=("$db")
  echo "$AGENTCRON_TEST_PG/$db"
}

# test_ca: a certificate authority for this test, $tmp/ca.crt and $tmp/ca.key
test_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -days 2 \
    -subj "/CN=agentcron test CA" 2>/dev/null || { echo "openssl cannot make a CA" >&2; exit 1; }
}

# test_cert NAME DAYS [CN]: $tmp/NAME.crt and $tmp/NAME.key for localhost, 127.0.0.1 and ::1,
# signed by the test CA, valid for DAYS days
test_cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$tmp/$1.key" -out "$tmp/$1.csr" -subj "/CN=${3:-localhost}" 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n" >"$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial -out "$tmp/$1.crt" \
    -days "$2" -extfile "$tmp/$1.ext" 2>/dev/null || { echo "openssl cannot sign $1" >&2; exit 1; }
}
