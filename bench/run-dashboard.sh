#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dashboard over the run-history benchmark's 10 million runs (bench/run-history.sh makes
# them, or reuses them with HISTORY_KEEP=1):
#   1. every API call a page makes, 100 times each (operator and user keys): p50 and p99;
#   2. each page interactive in headless Chromium (bench/dashboard_pages.mjs): p50 and max of 10;
#   3. the fire lateness of 100 per-second tasks for 60 s with no dashboard, then for 60 s with
#      20 dashboards polling as the pages do (10 on the overview and schedules, 10 on runs;
#      bench/dashboard_pollers.mjs, one process with kept-alive connections).
# Private Postgres and Redis under .dev/bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
base=postgresql://agentcron@127.0.0.1:25440
scripts/services.sh start bench 25440 26390 >/dev/null
if [ "$(psql -qtAX "$base/postgres" -c "SELECT count(*) FROM pg_database WHERE datname = 'bench_history'")" != 1 ]; then
  scripts/services.sh stop bench >/dev/null
  HISTORY_KEEP=1 bench/run-history.sh
  scripts/services.sh start bench 25440 26390 >/dev/null
fi
trap 'kill $(jobs -p) 2>/dev/null; scripts/services.sh stop bench >/dev/null' EXIT
[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
export DATABASE_URL=$base/bench_history REDIS_URL=redis://127.0.0.1:26390/7 LOG_LEVEL=warn
export RUN_RETENTION_DAYS=0 # the generated history stays whole
cli=build-release/cli/agentcron
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
$cli migrate >/dev/null
echo "dashboard benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "$(sql "SELECT count(*) FROM task_runs") runs, $(sql "SELECT count(*) FROM tasks") tasks, $(sql "SELECT count(*) FROM users") users"
op_key=$($cli keys create 1 --operator --name bench --json | jq -r .key)
user_key=$($cli keys create 2 --name bench --json | jq -r .key)
task=$(sql "SELECT id FROM tasks WHERE user_id = 2 ORDER BY id LIMIT 1")
run=$(sql "SELECT id FROM task_runs WHERE task_id = $task ORDER BY scheduled_for DESC LIMIT 1")
redis-cli -u "$REDIS_URL" flushdb >/dev/null
sql "INSERT INTO tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     SELECT 1, 'pulse ' || i, 'noop', '* * * * * *', true, date_trunc('second', now()) + interval '3 seconds'
     FROM generate_series(1, 100) i" >/dev/null
port=28950
HTTP_LISTEN=127.0.0.1:$port build-release/orchestrator/agentcron-orchestrator --instance bench-dash >.dev/bench/dash.log 2>&1 &
HTTP_LISTEN=off build-release/agentworker/agentcron-worker --instance bench-dash --concurrency 64 >>.dev/bench/dash.log 2>&1 &
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
sleep 2

echo
echo "API calls the pages make (ms, 100 each):"
time_calls() { # LABEL KEY PATH
  local out; out=$(for _ in $(seq 100); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $2" "http://127.0.0.1:$port$3"; done | sort -n)
  printf '  %-44s p50 %6.1f  p99 %6.1f\n' "$1" "$(sed -n 50p <<<"$out" | awk '{print $1 * 1000}')" \
    "$(sed -n 99p <<<"$out" | awk '{print $1 * 1000}')"
}
for who in operator user; do
  key=$op_key; [ $who = user ] && key=$user_key
  time_calls "$who: GET /api/overview" "$key" /api/overview
  time_calls "$who: GET /api/tasks?limit=200" "$key" "/api/tasks?limit=200"
  time_calls "$who: GET /api/runs?limit=50" "$key" "/api/runs?limit=50"
  time_calls "$who: GET /api/runs?status=failed&limit=50" "$key" "/api/runs?status=failed&limit=50"
  time_calls "$who: GET /api/usage (GET /api/users/{id})" "$key" "/api/users/2"
  time_calls "$who: GET /api/keys" "$key" /api/keys
done
time_calls "user: GET /api/tasks/{id}" "$user_key" "/api/tasks/$task"
time_calls "user: GET /api/tasks/{id}/slots" "$user_key" "/api/tasks/$task/slots"
time_calls "user: GET /api/tasks/{id}/runs?limit=20" "$user_key" "/api/tasks/$task/runs?limit=20"
time_calls "user: GET /api/runs/{id}" "$user_key" "/api/runs/$run"
time_calls "user: GET /api/runs/{id}/logs" "$user_key" "/api/runs/$run/logs"
time_calls "user: GET /api/schedule/preview" "$user_key" "/api/schedule/preview?cron=0+9+*+*+1-5&timezone=Europe/Paris"
time_calls "operator: GET /api/users" "$op_key" /api/users
time_calls "operator: GET /api/queue/dead" "$op_key" /api/queue/dead

echo
echo "pages, interactive in headless Chromium (ms, fresh load, 10 each):"
BASE=http://127.0.0.1:$port KEY=$op_key TASK=$task RUN=$run node bench/dashboard_pages.mjs |
  jq -r '"  \(.page | . + (" " * (14 - length)))  p50 \(.p50_ms)  max \(.max_ms)"'

lateness() { # FROM TO LABEL: the pulse runs' lateness with slots in [FROM, TO)
  sql "SELECT '  $3: ' || count(*) || ' runs; to the queue p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM enqueued_at - scheduled_for) * 1000)::numeric, 1)
       || ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM enqueued_at - scheduled_for) * 1000)::numeric, 1)
       || ' ms; to running p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - scheduled_for) * 1000)::numeric, 1) || ' ms'
       FROM task_runs r JOIN tasks t ON t.id = r.task_id WHERE t.title LIKE 'pulse %' AND r.scheduled_for >= '$1' AND r.scheduled_for < '$2'"
}
echo
echo "fire lateness of 100 per-second tasks:"
for round in 1 2; do # alternating, so the machine's drift falls on both
  t0=$(date -u +%FT%T.%3NZ); sleep 60; t1=$(date -u +%FT%T.%3NZ)
  BASE=http://127.0.0.1:$port KEY=$op_key N=20 SECONDS=60 node bench/dashboard_pollers.mjs >.dev/bench/pollers.json
  t2=$(date -u +%FT%T.%3NZ)
  sleep 3
  lateness "$t0" "$t1" "round $round, no dashboard (60 s)"
  lateness "$t1" "$t2" "round $round, 20 dashboards polling every 2 s ($(jq -r '"\(.answered) answers, \(.failed) failed"' .dev/bench/pollers.json))"
done
sql "DELETE FROM tasks WHERE title LIKE 'pulse %'; DELETE FROM api_keys WHERE name = 'bench'" >/dev/null
