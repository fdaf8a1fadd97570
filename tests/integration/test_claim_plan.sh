#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The claim query must bound its scan of the tasks_due index by the time: with 100,000
# enabled tasks of which none is due, it reads nothing it then throws away. (A volatile bound,
# clock_timestamp() itself, made every pass filter every enabled task: 2.6 s a call at a
# million tasks, and most of a core burnt with nothing due.)
# Usage: test_claim_plan.sh BUILD_DIR
build=${1:?usage: test_claim_plan.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
cli=$build/cli/agentcron
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
check() { if eval "$2"; then ok; else bad "$1"; fi; }
export DATABASE_URL; DATABASE_URL=$(fresh_db plan)
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
"$cli" migrate >/dev/null
sql "insert into users (email, monthly_credits) values ('t@example.com', 100)"
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     select 1, 'task ' || g, 'noop', '0 9 * * *', true, now() + interval '1 year' + g * interval '1 second'
     from generate_series(1, 100000) g; analyze tasks" >/dev/null
claim=$("$build/tests/print_sql" claim_due)
plan=$(psql -qtAX "$DATABASE_URL" -c "begin" -c "prepare claim(int, bigint) as $claim" \
  -c "explain (analyze, format json) execute claim(1000, 2000)" -c "rollback" | grep -v '^$' | grep -v -e '^BEGIN' -e '^PREPARE' -e '^ROLLBACK')
removed=$(jq '[.. | objects | .["Rows Removed by Filter"]? // empty] | add // 0' <<<"$plan")
bound=$(jq -r '[.. | objects | select(.["Node Type"] == "Index Scan") | .["Index Cond"] // ""] | join(" ")' <<<"$plan")
check "the claim scans only what is due: $removed rows removed by filter, index condition \"$bound\"" \
  '[ "$removed" = 0 ] && [[ "$bound" == *next_run_at* ]]'
due=$(jq '.[0].Plan["Actual Rows"]' <<<"$plan")
check "and claims nothing when nothing is due: $due rows" '[ "$due" = 0 ]'
finish
