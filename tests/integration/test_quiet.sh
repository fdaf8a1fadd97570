#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An idle orchestrator is quiet: with 1,000 tasks none of them due for 300 days, it makes fewer
# than one Postgres transaction a second (counted by pg_stat_database over 30 s, the alert
# evaluation and the status report included). Four parallel claim transactions on every poll
# made 94 a minute.
# Usage: test_quiet.sh BUILD_DIR
build=${1:?usage: test_quiet.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
cli=$build/cli/agentcron
orch=$build/orchestrator/agentcron-orchestrator
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR POLL_INTERVAL_MS STATUS_INTERVAL_S ALERT_INTERVAL_S
export HTTP_LISTEN=off LOG_LEVEL=warn
trap 'stop_all; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
export DATABASE_URL; DATABASE_URL=$(fresh_db quiet)
export REDIS_URL="$AGENTCRON_TEST_REDIS/12"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
db=${DATABASE_URL##*/}
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
"$cli" migrate >/dev/null
sql "insert into users (email) values ('t@example.com');
     insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     select 1, 'task ' || g, 'noop', '0 0 1 1 *', true, now() + interval '300 days' from generate_series(1, 1000) g" >/dev/null
"$orch" --instance quiet >"$tmp/orch.log" 2>&1 & pids+=($!)
sleep 12 # start-up: the first passes, reconciliation, status
xacts() { psql -qtAX "$AGENTCRON_TEST_PG/postgres" -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$db'"; }
x0=$(xacts)
sleep 30
x1=$(xacts)
n=$((x1 - x0))
check "idle: $n Postgres transactions in 30 s (fewer than 30)" '[ "$n" -lt 30 ]'
echo "idle: $n Postgres transactions in 30 s"
check "and it is still scheduling: its status report is fresh" \
  '[ "$(redis-cli -u "$REDIS_URL" exists agentcron:{default}:status:orchestrator:quiet)" = 1 ]'
finish
