#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# agentcron-orchestrator against real Postgres and Redis: firing on time, next_run_at by the
# cron contract, pause and resume, misfire and overlap policies, jitter, several orchestrators
# racing, kill -9, FLUSHALL, a Postgres restart, and refusing a stale schema.
# Usage: test_orchestrator.sh BUILD_DIR
build=${1:?usage: test_orchestrator.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export STATUS_INTERVAL_S=1 POLL_INTERVAL_MS=2000 LOG_LEVEL=info HTTP_LISTEN=off
trap 'stop_all; cleanup' EXIT

# Each scenario: its own database and Redis db number (1-15, over again when the scenarios outnumber them).
redis_db=4
setup() { # setup NAME: fresh database, migrated, with one user; a clean Redis database
  export DATABASE_URL; DATABASE_URL=$(fresh_db "$1")
  redis_db=$((redis_db % 15 + 1)); export REDIS_URL="$AGENTCRON_TEST_REDIS/$redis_db"
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  "$cli" migrate >/dev/null || { bad "$1: migrate failed"; return 1; }
  sql "insert into users (email, monthly_credits) values ('t@example.com', 1000)"
}
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
# A daily schedule whose slot is this minute: due now, and not again for a day (in UTC).
daily_now="extract(minute from now())::int || ' ' || extract(hour from now() at time zone 'UTC')::int || ' * * *'"
# Scenarios that count per-minute slots must not straddle a minute boundary.
away_from_minute_end() { while [ "$(date +%S)" -ge 48 ]; do sleep 0.5; done; }
start() { # start NAME: an orchestrator in the background, logging to $tmp/NAME.log
  "$orch" --instance "$1" >"$tmp/$1.log" 2>&1 & pids+=($!)
}
waiting() { redis-cli -u "$REDIS_URL" zcard 'agentcron:{default}:waiting'; }
# ready_ms RUN: when its queue entry became claimable (ready_at if it waited in the delayed set)
ready_ms() { redis-cli -u "$REDIS_URL" hmget "agentcron:{default}:job:$1" ready_at enqueued_at | grep -m1 .; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
# wait_log FILE SECONDS PATTERN: until the log has a line matching the pattern
wait_log() {
  for _ in $(seq 1 $(($2 * 10))); do grep -q "$3" "$1" && return 0; sleep 0.1; done; return 1
}
# wait_queue DESCRIPTION SECONDS N: until the waiting set holds N entries
wait_queue() {
  for _ in $(seq 1 $(($2 * 10))); do [ "$(waiting)" = "$3" ] && return 0; sleep 0.1; done
  bad "timed out after ${2}s waiting for: $1 (last: $(waiting))"; return 1
}

# --- refuses a database with pending migrations
export DATABASE_URL; DATABASE_URL=$(fresh_db stale); export REDIS_URL="$AGENTCRON_TEST_REDIS/4"
run "$orch" --instance stale
if [ "$status" -eq 1 ] && grep -q 'the database schema is behind: [0-9]* migrations\{0,1\} pending; run `agentcron migrate`' "$tmp/err"; then ok
else bad "stale schema: $status $(cat "$tmp/err")"; fi
run env -u REDIS_URL "$orch" --env-file /dev/null
if [ "$status" -eq 2 ] && grep -q "REDIS_URL is not set" "$tmp/err"; then ok; else bad "missing REDIS_URL: $status $(cat "$tmp/err")"; fi
run env REDIS_URL=tcp://default:pw@127.0.0.1:6380/0 "$orch" --instance bad-redis
if [ "$status" -eq 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "must start with redis://, rediss:// (TLS) or unix://" "$tmp/err"; then ok
else bad "a REDIS_URL of no known scheme refused at start with one line and exit 2: $status $(cat "$tmp/err")"; fi

# --- fires on time: a run per second, each ready in the queue within 100 ms of its slot (readied
# ahead, SCHEDULE_LOOKAHEAD_MS: written and queued before the slot, promoted at it)
setup ontime
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     values (1, 'each second', 'noop', '* * * * * *', true, date_trunc('second', now()) + interval '2 seconds')"
start ontime
wait_sql "3 runs whose slots have passed" 10 "select count(*) from task_runs where scheduled_for < now() - interval '200 ms'" -ge 3
late=$(for id in $(sql "select id from task_runs order by id limit 3"); do
  slot=$(sql "select (extract(epoch from scheduled_for) * 1000)::bigint from task_runs where id = $id")
  echo $(( $(ready_ms "$id") - slot )); done | sort -n)
if [ "$(wc -l <<<"$late")" = 3 ] && [ "$(head -1 <<<"$late")" -ge 0 ] && [ "$(tail -1 <<<"$late")" -le 100 ]; then ok
else bad "each run ready within 0-100 ms of its slot: $(echo $late)"; fi
early=$(for id in $(sql "select id from task_runs order by id limit 3"); do
  enq=$(redis-cli -u "$REDIS_URL" hget "agentcron:{default}:job:$id" enqueued_at)
  slot=$(sql "select (extract(epoch from scheduled_for) * 1000)::bigint from task_runs where id = $id")
  echo $((slot - enq)); done | sort -n | tail -1)
if [ "$early" -gt 0 ]; then ok; else bad "a run was queued ahead of its slot: by $early ms at most"; fi
# pause: no more runs; resume: runs again (NOTIFY wakes the orchestrator)
sql "update tasks set schedule_enabled = false"
sleep 0.3; paused=$(sql "select count(*) from task_runs"); sleep 1.5
if [ "$(sql "select count(*) from task_runs")" = "$paused" ]; then ok; else bad "runs continued while paused"; fi
sql "update tasks set schedule_enabled = true, next_run_at = date_trunc('second', now()) + interval '1 second'"
wait_sql "runs after resume" 5 "select count(*) from task_runs" -gt "$paused"
stop_all
if grep -q 'event=orchestrator.stopped instance=ontime loop_closed=1' "$tmp/ontime.log"; then ok; else bad "clean stop: $(tail -3 "$tmp/ontime.log")"; fi
# no slot twice, none skipped while it ran
if [ "$(sql "select count(*) - count(distinct scheduled_for) from task_runs")" = 0 ]; then ok; else bad "duplicate slots"; fi

# --- next_run_at follows the cron contract in the task's zone (a DST gap day)
setup zone
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, timezone)
     values (1, 'ny', 'noop', '30 2 * * *', true, now() - interval '1 minute', 'America/New_York')"
start zone
wait_sql "next_run_at advanced" 10 "select next_run_at > now() from tasks" = t
want=$("$cli" next --json -n 1 --tz America/New_York '30 2 * * *' | jq -r '.next[0]')
got=$(sql "select to_char(next_run_at at time zone 'America/New_York', 'YYYY-MM-DD\"T\"HH24:MI:SS') from tasks")
if [ "${want:0:19}" = "$got" ]; then ok; else bad "next_run_at $got, agentcron next says $want"; fi
stop_all

# --- misfire policies after an outage: eleven due slots (ten missed minutes and this one)
setup misfire
away_from_minute_end
for policy in coalesce skip catch_up; do
  sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, misfire_policy, catch_up_window_ms)
       values (1, '$policy', 'noop', '* * * * *', true, date_trunc('minute', now()) - interval '10 minutes', '$policy', 270000)"
done
start misfire
wait_sql "all three planned" 10 "select count(*) from tasks where next_run_at > now()" = 3
stop_all
counts=$(sql "select string_agg(t.title || ':' || (select count(*) from task_runs r where r.task_id = t.id) || ':' || t.missed_slots, ' ' order by t.id) from tasks t")
case "$counts" in
  "coalesce:1:10 skip:1:10 catch_up:5:6"|"coalesce:1:10 skip:1:10 catch_up:4:7") ok ;;
  *) bad "misfire runs:missed per policy: $counts" ;;
esac
if grep -q 'event=task.slots_missed task=1 count=10 reason=coalesced' "$tmp/misfire.log" \
   && grep -q 'reason=outside_catch_up_window' "$tmp/misfire.log"; then ok; else bad "missed slots not logged: $(grep missed "$tmp/misfire.log")"; fi
stop_all

# --- overlap policies, with a run of each task still queued or running
setup overlap
for policy in allow skip queue_one cancel_previous; do
  sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, overlap_policy)
       values (1, '$policy', 'noop', '* * * * * *', false, null, '$policy')"
done
sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status)
     select id, 1, now() - interval '1 hour', 3, case when title = 'queue_one' then 'running' else 'queued' end from tasks"
sql "update tasks set schedule_enabled = true, next_run_at = date_trunc('second', now()) + interval '1 second'"
start overlap
wait_sql "queue_one skipping once its one run waits" 10 "select skipped_slots from tasks where title = 'queue_one'" -ge 1
wait_sql "cancel_previous cancelling" 10 "select count(*) from task_runs r join tasks t on t.id = r.task_id where t.title = 'cancel_previous' and r.status = 'cancelled'" -ge 1
stop_all
summary=$(sql "select string_agg(t.title || ':' || (select count(*) from task_runs r where r.task_id = t.id and r.scheduled_for > now() - interval '1 minute') || ':' || (t.skipped_slots > 0), ' ' order by t.id) from tasks t")
cancelled=$(sql "select count(*) from task_runs r join tasks t on t.id = r.task_id where t.title = 'cancel_previous' and r.status = 'cancelled'")
# allow: a run a second; skip: none (one is queued); queue_one: one waits behind the running one,
# later slots are skipped; cancel_previous: runs, each cancelling the one before
case "$summary" in
  allow:[1-9]*:false\ skip:0:true\ queue_one:1:true\ cancel_previous:[1-9]*:false) ok ;;
  *) bad "overlap new-runs:skipped per policy: $summary" ;;
esac
if [ "$cancelled" -ge 1 ]; then ok; else bad "cancel_previous cancelled nothing"; fi

# --- jitter: the run waits in the delayed set until slot + jitter, then becomes ready
setup jitter
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, jitter_ms)
     values (1, 'jittered', 'noop', $daily_now, true, date_trunc('minute', now()), 1500)"
start jitter
wait_sql "a run" 10 "select count(*) from task_runs" = 1
nb=$(sql "select coalesce(extract(epoch from not_before - scheduled_for) * 1000, 0)::int from task_runs")
if [ "$nb" -ge 0 ] && [ "$nb" -le 1500 ]; then ok; else bad "not_before offset $nb ms"; fi
stop_all

# --- readied ahead (SCHEDULE_LOOKAHEAD_MS=4000): four tasks due at one instant T, 6 s away. The
# `allow` ones get their runs up to 4 s before T, held in the delayed set; the `skip` one only at
# T. One is paused before T (its readied run is taken back; resumed, it is readied again), one's
# schedule is edited to another time (taken back, due at the new time). At T each task that
# fires has exactly one run, ready within 100 ms of T.
setup ahead
at=$(sql "select (extract(epoch from date_trunc('second', now()) + interval '6 seconds') * 1000)::bigint")
cron_at="to_char(to_timestamp($at / 1000.0) at time zone 'UTC', 'FMSS FMMI FMHH24') || ' * * *'"
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, overlap_policy)
     select 1, t, 'noop', $cron_at, true, to_timestamp($at / 1000.0), o
     from (values ('kept', 'allow'), ('paused', 'allow'), ('edited', 'allow'), ('skip', 'skip')) v(t, o)"
id_of() { sql "select id from tasks where title = '$1'"; }
SCHEDULE_LOOKAHEAD_MS=4000 start ahead
wait_sql "the allow tasks' runs readied ahead" 5 "select count(*) from task_runs" = 3
left=$(( at - $(date +%s%3N) ))
states=$(for id in $(sql "select id from task_runs order by id"); do redis-cli -u "$REDIS_URL" hget "agentcron:{default}:job:$id" state; done | sort | uniq -c | xargs)
check "three runs readied ${left} ms before their slot, delayed in the queue: $states" \
  '[ "$left" -gt 500 ] && [ "$states" = "3 delayed" ]'
check "the skip task is not readied ahead: $(sql "select count(*) from task_runs where task_id = $(id_of skip)") runs" \
  '[ "$(sql "select count(*) from task_runs where task_id = $(id_of skip)")" = 0 ]'
"$cli" tasks pause "$(id_of paused)" >/dev/null
got=$(sql "select count(*) || ' ' || (select (extract(epoch from next_run_at) * 1000)::bigint = $at from tasks where title = 'paused') from task_runs where task_id = $(id_of paused)")
check "a pause takes the readied run back, the task due at its slot again: $got" '[ "$got" = "0 true" ]'
"$cli" tasks resume "$(id_of paused)" >/dev/null
"$cli" tasks edit "$(id_of edited)" --cron '0 0 1 1 *' >/dev/null
got=$(sql "select count(*) || ' ' || (select next_run_at > now() + interval '1 day' from tasks where title = 'edited') from task_runs where task_id = $(id_of edited)")
check "an edit of the schedule takes the readied run back, the task due at its new time: $got" '[ "$got" = "0 true" ]'
wait_sql "the runs at T" 10 "select count(*) from task_runs where scheduled_for = to_timestamp($at / 1000.0)" = 3
sleep 0.5
got=$(sql "select string_agg(t.title, ',' order by t.title) from task_runs r join tasks t on t.id = r.task_id")
check "one run each for the kept, resumed and skip tasks: $got" '[ "$got" = "kept,paused,skip" ]'
late=$(for id in $(sql "select id from task_runs"); do echo $(( $(ready_ms "$id") - at )); done | sort -n | xargs)
check "each ready within 0-100 ms of T: $late" '[ "$(wc -w <<<"$late")" = 3 ] && [ "${late%% *}" -ge 0 ] && [ "${late##* }" -le 100 ]'
stop_all

# --- three orchestrators race over 10,000 due tasks: exactly one run and one queue entry each
setup race
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     select 1, 'race ' || g, 'noop', $daily_now, true, date_trunc('minute', now()) from generate_series(1, 10000) g"
start race1; start race2; start race3
wait_sql "10,000 runs" 60 "select count(*) from tasks where next_run_at > now()" = 10000
sleep 0.5
runs=$(sql "select count(*) from task_runs"); distinct=$(sql "select count(distinct task_id) from task_runs"); queued=$(waiting)
if [ "$runs" = 10000 ] && [ "$distinct" = 10000 ] && [ "$queued" = 10000 ]; then ok
else bad "race: $runs runs for $distinct tasks, $queued in the queue (want 10000 each)"; fi
passes=$(cat "$tmp/race1.log" "$tmp/race2.log" "$tmp/race3.log" | grep -c 'event=schedule.pass')
if [ "$(grep -l 'event=schedule.pass tasks=[1-9]' "$tmp"/race[123].log | wc -l)" -ge 2 ]; then ok; else bad "only one orchestrator did any work ($passes passes)"; fi
stop_all

# --- kill -9 in the middle of a pass, then FLUSHALL: a restart repairs everything
setup crash
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     select 1, 'crash ' || g, 'noop', $daily_now, true, date_trunc('minute', now()) from generate_series(1, 30000) g"
"$orch" --instance crash1 >"$tmp/crash1.log" 2>&1 & victim=$!
wait_sql "the first batch" 20 "select count(*) from task_runs" -gt 0
kill -9 $victim; wait $victim 2>/dev/null
partial=$(sql "select count(*) from task_runs")
start crash2
wait_sql "all 30,000 planned" 60 "select count(*) from tasks where next_run_at > now()" = 30000
wait_queue "30,000 in the queue" 30 30000
if [ "$(sql "select count(*) from task_runs")" = 30000 ] && [ "$partial" -lt 30000 ]; then ok
else bad "after kill -9 (at $partial runs): $(sql "select count(*) from task_runs") runs, $(waiting) queued"; fi
stop_all
redis-cli -u "$REDIS_URL" flushall >/dev/null
start crash3 # reconciliation runs at start
wait_queue "the queue rebuilt from Postgres" 30 30000
if wait_log "$tmp/crash3.log" 10 'event=reconcile.repaired queued_checked=30000 reenqueued=30000'; then ok
else bad "repair not logged: $(cat "$tmp/crash3.log")"; fi
stop_all

# --- Postgres restarts under a running orchestrator: it reconnects and keeps scheduling
setup pgrestart
start pgrestart
sleep 0.5
"$root/scripts/services.sh" restart-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     values (1, 'after restart', 'noop', '* * * * * *', true, date_trunc('second', now()) + interval '1 second')"
wait_sql "a run after the Postgres restart" 20 "select count(*) from task_runs" -ge 1
if grep -q 'event=postgres.listening' "$tmp/pgrestart.log"; then ok; else bad "no LISTEN: $(cat "$tmp/pgrestart.log")"; fi
# Postgres away for 3 seconds: the orchestrator retries with backoff, not in a tight loop
"$root/scripts/services.sh" stop-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
sleep 3
"$root/scripts/services.sh" start-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
attempts=$(grep -c 'event=postgres.listen_failed' "$tmp/pgrestart.log")
if [ "$attempts" -ge 1 ] && [ "$attempts" -le 10 ]; then ok; else bad "$attempts LISTEN reconnection attempts in 3 s (want a few, with backoff)"; fi
sql "update tasks set next_run_at = date_trunc('second', now()) + interval '1 second'"
before=$(sql "select count(*) from task_runs")
wait_sql "runs again after the outage" 20 "select count(*) from task_runs" -gt "$before"
stop_all
if grep -q 'level=error event=' "$tmp/pgrestart.log" && grep -q 'event=orchestrator.stopped' "$tmp/pgrestart.log"; then ok
else bad "the outage was not reported, or the orchestrator did not stop cleanly: $(tail -5 "$tmp/pgrestart.log")"; fi

# --- backfill: one run per past slot, never a second run for a slot that has one
setup backfill
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, timezone)
     values (1, 'hourly', 'noop', '0 * * * *', false, 'America/New_York')"
sql "insert into task_runs (task_id, user_id, scheduled_for, priority)
     values (1, 1, '2026-03-08 06:00:00+00', 3), (1, 1, '2026-03-08 09:00:00+00', 3)"
# 00:00-05:00 EST/EDT on the spring-forward day: 02:00 does not exist, so 5 slots (00 01 03 04 05)
run "$cli" tasks backfill 1 --from 2026-03-08T00:00:00-05:00 --to 2026-03-08T05:00:00-04:00 --json
if [ "$status" -eq 0 ] && [ "$(jq -c . "$tmp/out")" = '{"task":1,"slots":5,"created":3,"existing":2,"enqueued":3}' ]; then ok
else bad "backfill: $status $(cat "$tmp/out" "$tmp/err")"; fi
run "$cli" tasks backfill 1 --from 2026-03-08T00:00:00-05:00 --to 2026-03-08T05:00:00-04:00
if [ "$status" -eq 0 ] && grep -q "5 slots from .* 0 new runs queued, 5 already had a run" "$tmp/out" \
   && [ "$(sql "select count(*) from task_runs")" = 5 ] && [ "$(waiting)" = 3 ] \
   && [ "$(sql "select count(*) from task_runs where trigger = 'backfill'")" = 3 ]; then ok
else bad "backfill again: $(cat "$tmp/out" "$tmp/err"), $(sql "select count(*) from task_runs") runs"; fi
run "$cli" tasks backfill 99 --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z
if [ "$status" -eq 1 ] && grep -q "task 99 does not exist" "$tmp/err"; then ok; else bad "unknown task: $status $(cat "$tmp/err")"; fi
run "$cli" tasks backfill 1 --from 2026-01-01T00:00:00Z --to 2027-06-01T00:00:00Z
if [ "$status" -eq 1 ] && grep -q "more than 10000 slots" "$tmp/err"; then ok; else bad "too many slots: $(cat "$tmp/err")"; fi
run "$cli" tasks backfill 1 --from 2026-01-02T00:00:00Z --to 2026-01-01T00:00:00Z
if [ "$status" -eq 2 ] && grep -q "before --from" "$tmp/err"; then ok; else bad "reversed range: $status"; fi
run "$cli" tasks backfill x --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z
if [ "$status" -eq 2 ]; then ok; else bad "bad id: $status"; fi

# --- the whole path: orchestrator -> queue -> a consumer -> Postgres, and the status report
setup pipeline
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     values (1, 'each second', 'noop', '* * * * * *', true, date_trunc('second', now()) + interval '1 second')"
start pipeline
run "$build/tests/test_consumer" 3 20
if [ "$status" -eq 0 ] && grep -q "^3 completed, 0 dropped" "$tmp/out"; then ok; else bad "consumer: $(cat "$tmp/out" "$tmp/err")"; fi
wait_sql "the status report counting them" 5 "select 1" = 1
report=$(redis-cli -u "$REDIS_URL" get agentcron:{default}:status:orchestrator:pipeline)
for _ in $(seq 1 30); do
  [ "$(echo "$report" | jq -r '.completedToday >= 3 and .queue.completed >= 3')" = true ] && break
  sleep 0.2; report=$(redis-cli -u "$REDIS_URL" get agentcron:{default}:status:orchestrator:pipeline)
done
if [ "$(echo "$report" | jq -r '.completedToday >= 3 and .queue.completed >= 3 and .tzdata != ""')" = true ]; then ok
else bad "status report: $report"; fi
if [ "$(redis-cli -u "$REDIS_URL" ttl agentcron:{default}:status:orchestrator:pipeline)" -gt 0 ]; then ok; else bad "status record has no TTL"; fi
stop_all

# --- Redis restarts under a running orchestrator: it reconnects, and no run is missing
setup redisrestart
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     values (1, 'each second', 'noop', '* * * * * *', true, date_trunc('second', now()) + interval '1 second')"
start redisrestart
wait_sql "runs before the restart" 10 "select count(*) from task_runs" -ge 2
"$root/scripts/services.sh" restart-redis "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
before=$(sql "select count(*) from task_runs")
wait_sql "runs after the Redis restart" 10 "select count(*) from task_runs" -ge $((before + 3))
stop_all
# the running orchestrator reconnected by itself: at most the run in flight during the restart
# is missing from the queue (its enqueue failed and was logged for reconciliation)
queued() { echo $(( $(redis-cli -u "$REDIS_URL" zcard 'agentcron:{default}:waiting') + $(redis-cli -u "$REDIS_URL" zcard 'agentcron:{default}:delayed') )); }
missing=$(( $(sql "select count(*) from task_runs") - $(queued) ))
if [ "$missing" -ge 0 ] && [ "$missing" -le 1 ]; then ok; else bad "$missing runs missing from the queue after the Redis restart"; fi
start redisrestart-check # its reconciliation at start enqueues anything missing
wait_log "$tmp/redisrestart-check.log" 10 'event=orchestrator.started' || true
sleep 1; stop_all
runs=$(sql "select count(*) from task_runs"); entries=$(queued)
if [ "$runs" -ge $((before + 3)) ] && [ "$entries" = "$runs" ]; then ok
else bad "after a Redis restart: $runs runs, $entries in the queue"; fi

# Under ASan/UBSan, any report in a daemon's output fails the test.
if grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$tmp"/*.log 2>/dev/null; then bad "sanitizer reports in the logs above"
else ok; fi

finish
