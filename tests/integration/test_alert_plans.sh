#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Evaluating an alert rule runs every ALERT_INTERVAL_S: none of its statements may read the
# whole run history. With 200,000 runs (2% of them failed) no plan scans task_runs or
# run_attempts from end to end: failures are found through run_attempts_ended_badly, a task's
# runs through its slot index, the queue through live_runs. (task_runs has no index on when a
# run ended, so that the worker's writes stay HOT updates; the first version of run_failed read
# every run.)
# Usage: test_alert_plans.sh BUILD_DIR
build=${1:?usage: test_alert_plans.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
cli=$build/cli/agentcron
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
check() { if eval "$2"; then ok; else bad "$1"; fi; }
export DATABASE_URL; DATABASE_URL=$(fresh_db alert_plans)
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
"$cli" migrate >/dev/null
sql "insert into users (email, monthly_credits) select 'u' || g || '@example.com', 1000 from generate_series(1, 50) g"
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     select 1 + g % 50, 'task ' || g, 'noop', '* * * * *', true, now() + interval '1 minute' from generate_series(1, 1000) g;
     update tasks set created_at = now() - interval '1 day'"
# 200 slots of each task, an hour apart, ended a few seconds after their slot; every 50th failed
sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status, started_at, finished_at, error)
     select t.id, t.user_id, now() - s * interval '1 hour', 3, case when (t.id + s) % 50 = 0 then 'failed' else 'succeeded' end,
            now() - s * interval '1 hour', now() - s * interval '1 hour' + interval '3 seconds',
            case when (t.id + s) % 50 = 0 then 'boom' end
     from tasks t, generate_series(1, 200) s" >/dev/null
sql "insert into run_attempts (run_id, attempt, started_at, finished_at, outcome, error)
     select id, 1, started_at, finished_at, status, error from task_runs; analyze" >/dev/null
sql "insert into alert_rules (name, scope, condition, threshold, duration_s, channel, target)
     values ('r', 'all', 'run_failed', null, null, 'webhook', 'http://127.0.0.1/x')" >/dev/null
for cond in run_failed failures_in_row slot_missed no_success credits_used queue_wait; do
  stmt=$("$build/tests/print_sql" "alert:$cond")
  plan=$(psql -qtAX "$DATABASE_URL" -c "prepare q(bigint, bigint, bigint, text, bigint, bigint, bigint, timestamptz, timestamptz) as $stmt" \
    -c "explain (analyze, format json) execute q(1, 0, 0, '', 0, 3, 3600, now() - interval '15 seconds', now() - interval '2 seconds')" |
    grep -v -e '^$' -e '^PREPARE')
  scans=$(jq -r '[.. | objects | select(.["Node Type"] == "Seq Scan" and (.["Relation Name"] == "task_runs" or .["Relation Name"] == "run_attempts")) | .["Relation Name"]] | join(",")' <<<"$plan")
  ms=$(jq '.[0]["Execution Time"]' <<<"$plan")
  [ -n "${VERBOSE:-}" ] && echo "$cond $ms ms"
  check "$cond reads no run history end to end (${ms} ms; full scans of: ${scans:-none})" '[ -z "$scans" ] && [ -n "$ms" ]'
done
[ -n "${VERBOSE:-}" ] && echo done
finish
