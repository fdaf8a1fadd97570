# SPDX-License-Identifier: MIT
# Shared by the integration tests (bash): counters, a run helper, and a fresh database per
# test on the Postgres that tests/run.sh starts (AGENTCRON_TEST_PG, a URL without a database).
set -u
: "${AGENTCRON_TEST_PG:?the integration tests need the Postgres and Redis that tests/run.sh starts: run tests/run.sh}"
: "${AGENTCRON_TEST_REDIS:?the integration tests need the Postgres and Redis that tests/run.sh starts: run tests/run.sh}"
command -v psql >/dev/null || { echo "psql is needed: sudo apt-get install postgresql-client-15"; exit 1; }
tmp=$(mktemp -d)
created_dbs=()
cleanup() {
  if [ "${failed:-0}" -gt 0 ] && ls "$tmp"/*.log >/dev/null 2>&1; then # keep the daemons' logs for a look
    local keep="${TMPDIR:-/tmp}/agentcron-failed-$(basename "$0" .sh)-$$"
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
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# fresh_db NAME: creates an empty database for this test and prints its URL
fresh_db() {
  local db="t_${1}_$$_${RANDOM}"
  psql -q "$AGENTCRON_TEST_PG/postgres" -c "CREATE DATABASE $db" >/dev/null || { echo "cannot create database $db" >&2; exit 1; }
  created_dbs+=("$db")
  echo "$AGENTCRON_TEST_PG/$db"
}
