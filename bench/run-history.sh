#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The run history at scale. Makes (with SQL) a history of about 10 million runs over 60 days for
# 10,000 tasks (6,000 hourly, 4,000 every 4 hours; 10 agents) and 100 users, with their attempts,
# usage summaries and slot-ledger rows; then
#   1. times each query of the history (bench/history_bench.c: every `runs list` filter, a deep
#      page, `runs show`, a user's month of usage, `tasks slots` for a day): p50 and p99;
#   2. prints the size of the history tables per million runs;
#   3. lets the orchestrator apply retention to the oldest day (about 170,000 runs) while it
#      fires 1,000 per-second tasks (a worker runs them), and prints the lateness of those runs
#      before and while retention works.
# Private Postgres and Redis under .dev/bench. HISTORY_KEEP=1 keeps the generated database
# (bench_history) for another run, which then skips the generation.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
scripts/services.sh start bench 25440 26390
trap 'scripts/services.sh stop bench' EXIT
base=postgresql://agentcron@127.0.0.1:25440 redis=redis://127.0.0.1:26390/6
export DATABASE_URL=$base/bench_history REDIS_URL=$redis LOG_LEVEL=info HTTP_LISTEN=off
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }

echo "history benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if [ "$(psql -qtAX "$base/postgres" -c "SELECT count(*) FROM pg_database WHERE datname = 'bench_history'")" = 1 ] &&
   [ "${HISTORY_KEEP:-0}" = 1 ]; then
  echo "(reusing the history in bench_history)"
else
  psql -q "$base/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_history WITH (FORCE)" \
    -c "CREATE DATABASE bench_history"
  build-release/cli/agentcron migrate >/dev/null
  t0=$(date +%s)
  psql -qtAX "$DATABASE_URL" >/dev/null <<'SQL'
SET synchronous_commit = off;
INSERT INTO users (email, monthly_credits) SELECT 'user' || i || '@example.com', 1000000 FROM generate_series(1, 100) i;
INSERT INTO tasks (user_id, title, agent_type, schedule, timezone)
SELECT 1 + i % 100, 'task ' || i, 'agent' || (i % 10), CASE WHEN i <= 6000 THEN '0 * * * *' ELSE '0 */4 * * *' END, 'UTC'
FROM generate_series(1, 10000) i;
-- every slot of the last 60 days with a die roll: 0.5 % got no run (the ledger says why)
CREATE UNLOGGED TABLE slots AS
SELECT t.id AS task, t.user_id, t.agent_type, s AS slot, random() AS roll
FROM tasks t, generate_series(date_trunc('hour', now()) - interval '60 days', date_trunc('hour', now()) - interval '1 hour',
                              interval '1 hour') s
WHERE t.id <= 6000 OR extract(hour FROM s)::int % 4 = 0;
SQL
  for d in $(seq 0 59); do # a day at a time, oldest first: ids follow the time as they would
    psql -qtAX "$DATABASE_URL" >/dev/null <<SQL
SET synchronous_commit = off;
INSERT INTO task_runs (task_id, user_id, scheduled_for, trigger, priority, attempt, status, worker_id, enqueued_at,
                       started_at, finished_at, prompt_tokens, completion_tokens, credits_charged, error, output, agent)
SELECT task, user_id, slot, CASE WHEN roll < 0.002 THEN 'manual' ELSE 'schedule' END, 3,
       CASE WHEN roll BETWEEN 0.970 AND 0.990 THEN 3 ELSE 1 END,
       CASE WHEN roll < 0.970 THEN 'succeeded' WHEN roll < 0.990 THEN 'failed' WHEN roll < 0.993 THEN 'timed_out'
            ELSE 'cancelled' END, 'bench-worker/1', slot + interval '20 milliseconds', slot + interval '50 milliseconds',
       slot + interval '50 milliseconds' + (roll * 3000) * interval '1 millisecond', 120, 30, 2,
       CASE WHEN roll >= 0.970 THEN 'HTTP 500: upstream failed' END, 'ok', agent_type
FROM slots WHERE roll < 0.995
  AND slot >= date_trunc('hour', now()) - interval '60 days' + $d * interval '1 day'
  AND slot < date_trunc('hour', now()) - interval '60 days' + ($d + 1) * interval '1 day'
ORDER BY slot, task;
SQL
  done
  psql -qtAX "$DATABASE_URL" >/dev/null <<'SQL'
SET synchronous_commit = off;
INSERT INTO run_attempts (run_id, attempt, worker_id, started_at, finished_at, outcome, error, http_status, duration_ms,
                          retry_reason, retry_at)
SELECT r.id, a, r.worker_id, r.started_at - (r.attempt - a) * interval '10 seconds',
       r.finished_at - (r.attempt - a) * interval '10 seconds',
       CASE WHEN a < r.attempt THEN 'retrying' ELSE r.status END, r.error,
       CASE WHEN r.status = 'succeeded' AND a = r.attempt THEN 200 ELSE 500 END,
       (extract(epoch FROM r.finished_at - r.started_at) * 1000)::bigint,
       CASE WHEN a < r.attempt THEN 'backoff' END, CASE WHEN a < r.attempt THEN r.started_at END
FROM task_runs r, generate_series(1, r.attempt) a;
INSERT INTO slot_gaps (task_id, first_slot, last_slot, slots, reason, decided_at)
SELECT task, slot, slot, 1, CASE WHEN roll < 0.998 THEN 'overlap_skip' ELSE 'coalesced' END, slot FROM slots WHERE roll >= 0.995;
INSERT INTO usage_daily (day, task_id, agent, user_id, succeeded, failed, timed_out, cancelled, attempts, prompt_tokens,
                         completion_tokens, credits, duration_ms, duration_hist)
SELECT (finished_at AT TIME ZONE 'UTC')::date, task_id, agent, user_id, count(*) FILTER (WHERE status = 'succeeded'),
       count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'timed_out'),
       count(*) FILTER (WHERE status = 'cancelled'), sum(attempt), sum(prompt_tokens), sum(completion_tokens),
       sum(credits_charged), sum(agentcron_run_ms(started_at, finished_at)),
       (SELECT array_agg((SELECT count(*) FROM unnest(array_agg(width_bucket(agentcron_run_ms(started_at, finished_at),
               agentcron_duration_buckets()))) b WHERE b = i)::int ORDER BY i) FROM generate_series(1, 20) i)
FROM task_runs GROUP BY 1, 2, 3, 4;
DROP TABLE slots;
VACUUM ANALYZE;
SQL
  echo "generated in $(( $(date +%s) - t0 )) s"
fi
echo "$(sql "SELECT count(*) FROM task_runs") runs, $(sql "SELECT count(*) FROM run_attempts") attempts," \
     "$(sql "SELECT count(*) FROM usage_daily") usage rows, $(sql "SELECT count(*) FROM slot_gaps") slot-ledger rows," \
     "$(sql "SELECT count(*) FROM tasks") tasks, $(sql "SELECT count(*) FROM users") users"
echo
echo "size per million runs (table + its indexes):"
sql "SELECT rpad(relname, 14) || lpad(pg_size_pretty(pg_total_relation_size(oid) * 1000000 / (SELECT count(*) FROM task_runs)), 10)
            || '   (indexes ' || pg_size_pretty(pg_indexes_size(oid) * 1000000 / (SELECT count(*) FROM task_runs)) || ')'
     FROM pg_class WHERE relname IN ('task_runs', 'run_attempts', 'usage_daily', 'slot_gaps') ORDER BY relname" | sed 's/^/  /'
echo
echo "queries (ms, ${HISTORY_ITERATIONS:-200} each with random arguments):"
build-release/bench/history_bench "$DATABASE_URL" "${HISTORY_ITERATIONS:-200}" |
  jq -r '"  \(.query | .[0:44] | . + (" " * (44 - length)))  p50 \(.p50_ms)  p99 \(.p99_ms)"'

echo
echo "retention of the oldest day while 1,000 per-second tasks fire:"
keep=$(( $(sql "SELECT floor(extract(epoch FROM now() - min(scheduled_for)) / 86400)::int FROM task_runs") - 1 ))
oldest=$(sql "SELECT count(*) FROM task_runs WHERE scheduled_for < now() - $keep * interval '1 day'")
sql "INSERT INTO tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     SELECT 1, 'tick ' || i, 'noop', '* * * * * *', true, date_trunc('second', now()) + interval '3 seconds'
     FROM generate_series(1, 1000) i"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
log=.dev/bench/history.log
: >"$log"
start=$(date +%s.%N)
RUN_RETENTION_DAYS=$keep build-release/orchestrator/agentcron-orchestrator --instance bench-history >>"$log" 2>&1 &
orch=$!
build-release/agentworker/agentcron-worker --instance bench-history --concurrency 64 >>"$log" 2>&1 &
worker=$!
for _ in $(seq 1 600); do grep -q 'event=retention.pass' "$log" && break; sleep 0.5; done
sleep 5
kill -TERM "$orch" "$worker"; wait "$orch" "$worker" || true
line=$(grep 'event=retention.pass' "$log" | head -1)
[ -n "$line" ] || { echo "no retention pass: $(tail -5 "$log")"; exit 1; }
pass_ms=$(sed 's/.* ms=\([0-9]*\).*/\1/' <<<"$line")
echo "  $oldest runs to remove; $line"
lateness() { # lateness FROM_SQL TO_SQL LABEL
  sql "SELECT '  $3: ' || count(*) || ' runs; to the queue p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM enqueued_at - scheduled_for) * 1000)::numeric, 1)
       || ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM enqueued_at - scheduled_for) * 1000)::numeric, 1)
       || ' ms; to running p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - scheduled_for) * 1000)::numeric, 1) || ' ms'
       FROM task_runs r JOIN tasks t ON t.id = r.task_id WHERE t.title LIKE 'tick %' AND r.scheduled_for >= $1 AND r.scheduled_for < $2"
}
# the pass began 10 s after the orchestrator started (7 s after the first slot) and took ms=
first_slot=$(sql "SELECT min(scheduled_for) FROM task_runs r JOIN tasks t ON t.id = r.task_id WHERE t.title LIKE 'tick %'")
lateness "'$first_slot'::timestamptz" "'$first_slot'::timestamptz + interval '7 seconds'" "before retention (7 s)"
lateness "'$first_slot'::timestamptz + interval '7 seconds'" \
  "'$first_slot'::timestamptz + interval '7 seconds' + $pass_ms * interval '1 millisecond' + interval '1 second'" \
  "while retention ran (${pass_ms} ms)"
left=$(sql "SELECT count(*) FROM task_runs WHERE finished_at < now() - $keep * interval '1 day' - interval '1 minute'")
echo "  runs past retention left: $left"
sql "DELETE FROM tasks WHERE title LIKE 'tick %'" >/dev/null
