#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The claim query must bound its scan of the tasks_due index by the time: with 100,000
# enabled tasks of which none is due, it reads nothing it then throws away. (A volatile bound,
# clock_timestamp() itself, made every pass filter every enabled task: 2.6 s a call at a
# million tasks, and most of a core burnt with nothing due.) And a batch of a pass resumes
# after the last task the batch before it claimed, its scan starting there.
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
# run_claim EXECUTE-PREFIX ARGS: the claim prepared and executed (or explained) in a transaction
run_claim() {
  psql -qtAX "$DATABASE_URL" -c "begin" -c "prepare claim(int, bigint, bigint, bigint) as $claim" \
    -c "$1 execute claim($2)" -c "rollback" | grep -v '^$' | grep -v -e '^BEGIN' -e '^PREPARE' -e '^ROLLBACK'
}
# index_cond PLAN: the index conditions of the plan's index scans
index_cond() { jq -r '[.. | objects | select(.["Node Type"] == "Index Scan") | .["Index Cond"] // ""] | join(" ")' <<<"$1"; }
plan=$(run_claim "explain (analyze, format json)" "1000, 2000, NULL, NULL")
removed=$(jq '[.. | objects | .["Rows Removed by Filter"]? // empty] | add // 0' <<<"$plan")
bound=$(index_cond "$plan")
check "the claim scans only what is due: $removed rows removed by filter, index condition \"$bound\"" \
  '[ "$removed" = 0 ] && [[ "$bound" == *next_run_at* ]]'
due=$(jq '.[0].Plan["Actual Rows"]' <<<"$plan")
check "and claims nothing when nothing is due: $due rows" '[ "$due" = 0 ]'

# A burst: 5,000 tasks due at one instant. A batch resumes after the last task the one before
# it claimed, and its index scan starts there (not at the entries of the tasks already taken).
sql "update tasks set next_run_at = date_trunc('second', now()) - interval '1 minute' where id <= 5000; analyze tasks" >/dev/null
at=$(sql "select (extract(epoch from next_run_at) * 1000000)::bigint from tasks where id = 2000")
plan=$(run_claim "explain (analyze, format json)" "100, 0, $at, 2000")
bound=$(index_cond "$plan")
check "a resumed claim's index scan starts at its cursor: \"$bound\"" '[[ "$bound" == *"ROW(next_run_at, id) >"* ]] && [[ "$bound" == *next_run_at\ \<=* ]]'
got=$(run_claim "" "3, 0, $at, 2000" | cut -d'|' -f1 | paste -sd, -)
check "it claims the next tasks in (next_run_at, id) order: $got" '[ "$got" = 2001,2002,2003 ]'
got=$(run_claim "" "3, 0, NULL, NULL" | cut -d'|' -f1 | paste -sd, -)
check "from the start without a cursor: $got" '[ "$got" = 1,2,3 ]'
got=$(run_claim "" "10, 0, $at, 4998" | cut -d'|' -f1 | paste -sd, -)
check "and stops at the last one due: $got" '[ "$got" = 4999,5000 ]'
finish
