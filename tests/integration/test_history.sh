#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run history against real Postgres, Redis, daemons and an HTTP peer (tests/tools/peer.py): an
# attempt row for success, retry, 429, timeout, cancel, lease loss and drain; `runs show`,
# `runs logs` (--follow too) and the API's attempts; the slot ledger and `tasks slots`;
# filters with keyset paging and their bad inputs; usage summaries; retention by the CLI and by
# the orchestrator, racing the scheduler; a migration of a database that has runs.
# Usage: test_history.sh BUILD_DIR
build=${1:?usage: test_history.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
worker=$build/agentworker/agentcron-worker
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info SHUTDOWN_GRACE_S=5 HTTP_LISTEN=off
peer_pid=
trap 'stop_all; [ -n "$peer_pid" ] && kill "$peer_pid"; pkill -f "agentcron-history-marker-$$"; cleanup' EXIT

python3 "$root/tests/tools/peer.py" --port 0 --log "$tmp/peer.jsonl" >"$tmp/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/peer.out" && break; sleep 0.1; done
read -r _ port _ <"$tmp/peer.out"
[ -n "$port" ] || { echo "the peer did not start: $(cat "$tmp/peer.out")"; exit 1; }
marker="agentcron-history-marker-$$"
cat >"$tmp/agents.json" <<EOF
{"agents": {
  "web": {"kind": "http", "url": "http://127.0.0.1:$port/ok", "overridable": ["path"]},
  "talker": {"kind": "exec", "command": ["/bin/sh", "-c",
             "for i in 1 2 3 4 5 6; do echo line \$i; echo warn \$i >&2; sleep 0.4; done"]},
  "fails": {"kind": "exec", "command": ["/bin/sh", "-c", "echo partial; echo broken >&2; exit 3"]},
  "sleeper": {"kind": "exec", "command": ["/bin/sh", "-c", "echo started; sleep 300 & wait", "$marker"],
              "kill_grace_ms": 300},
  "one": {"kind": "noop", "base_credits": 1, "estimate_credits": 1}
}}
EOF
export AGENTS_FILE=$tmp/agents.json

redis_db=8
setup() { # setup NAME: fresh database, migrated, one user with credits; a clean Redis database
  export DATABASE_URL; DATABASE_URL=$(fresh_db "$1")
  redis_db=$((redis_db + 1)); export REDIS_URL="$AGENTCRON_TEST_REDIS/$redis_db"
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  "$cli" migrate >/dev/null || { bad "$1: migrate failed"; return 1; }
  sql "insert into users (email, monthly_credits) values ('t@example.com', 100000)"
}
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
# task AGENT [COLUMNS VALUES]: an unscheduled every-minute task of user 1; prints its id
task() {
  sql "insert into tasks (user_id, title, goal, agent_type, schedule ${2:-}) values (1, 'task $1', 'g', '$1', '* * * * *' ${3:-}) returning id"
}
# trigger TASK: a manual run now; prints its id
trigger() { "$cli" tasks trigger "$1" --json | jq -r .run; }
start_worker() { local name=$1; shift; env "$@" "$worker" --instance "$name" >"$tmp/$name.log" 2>&1 & pids+=($!); }
wait_status() { wait_sql "run $1 $2" "$3" "select status from task_runs where id = $1" = "$2"; }
attempts() { sql "select string_agg(attempt || ':' || outcome || ':' || coalesce(retry_reason, '-') || ':' || coalesce(http_status::text, coalesce('x' || exit_code, coalesce('s' || exit_signal, '-'))), ' ' order by id) from run_attempts where run_id = $1"; }

# --- a migration of a database that has runs (0006 -> 0007): nothing lost, every attempt a row
export DATABASE_URL; DATABASE_URL=$(fresh_db migrate)
mkdir -p "$tmp/old" && cp "$root"/migrations/000[1-6]_*.sql "$tmp/old/"
AGENTCRON_MIGRATIONS_DIR=$tmp/old "$cli" migrate >/dev/null || bad "migrating to 0006 failed"
sql "insert into users (email, monthly_credits) values ('m@example.com', 1000)"
sql "insert into tasks (user_id, title, agent_type) values (1, 'old', 'one')" >/dev/null
sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status, attempt, started_at, finished_at, prompt_tokens, credits_charged)
     select 1, 1, timestamptz '2026-11-01' + i * interval '1 minute', 3, 'succeeded', 1,
            timestamptz '2026-11-01' + i * interval '1 minute', timestamptz '2026-11-01' + i * interval '1 minute' + interval '2 seconds', 10, 1
     from generate_series(1, 50) i"
sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status, attempt, started_at, finished_at, error)
     values (1, 1, '2026-11-02', 3, 'failed', 2, '2026-11-02 00:00:05', '2026-11-02 00:00:06', 'boom'),
            (1, 1, '2026-11-03', 3, 'queued', 1, null, null, null)"
sql "insert into run_attempts (run_id, attempt, outcome, error, finished_at) select id, 1, 'retrying', 'first', '2026-11-02 00:00:01' from task_runs where status = 'failed'"
"$cli" migrate >/dev/null || bad "migrating 0006 -> 0007 failed"
got=$(sql "select count(*) || ',' || count(*) filter (where agent = 'one') from task_runs")
check "no run lost, each knows its agent: $got" '[ "$got" = "52,52" ]'
got=$(sql "select count(*) || ',' || count(distinct run_id) from run_attempts")
check "every finished run has its attempts as rows (50 + 2 for the failed one): $got" '[ "$got" = "52,51" ]'
got=$(sql "select succeeded || ',' || failed || ',' || attempts || ',' || prompt_tokens || ',' || credits || ',' || duration_ms from usage_daily where day = '2026-11-01'")
check "usage summaries cover the history kept: $got" '[ "$got" = "50,0,50,500,50,100000" ]'

# --- an attempt row for each way an attempt ends
setup attempts
t_ok=$(task web); t_flaky=$(task web ", agent_config, max_attempts" ", '{\"path\": \"/flaky/f1?fail=2&code=500\"}', 3")
t_429=$(task web ", agent_config" ", '{\"path\": \"/flaky/f2?fail=1&code=429&retry_after=1\"}'")
t_fail=$(task fails ", max_attempts" ", 1"); t_slow=$(task sleeper ", timeout_ms, max_attempts" ", 1500, 1")
t_cancel=$(task sleeper)
r_ok=$(trigger "$t_ok"); r_flaky=$(trigger "$t_flaky"); r_429=$(trigger "$t_429"); r_fail=$(trigger "$t_fail")
r_slow=$(trigger "$t_slow"); r_cancel=$(trigger "$t_cancel")
start_worker w1 WORKER_LEASE_S=2
for r in $r_ok $r_flaky $r_429; do wait_status "$r" succeeded 30; done
wait_status "$r_fail" failed 10; wait_status "$r_slow" timed_out 10
wait_status "$r_cancel" running 10
"$cli" runs cancel "$r_cancel" >/dev/null
wait_status "$r_cancel" cancelled 10
check "success: one row, HTTP 200: $(attempts "$r_ok")" '[ "$(attempts "$r_ok")" = "1:succeeded:-:200" ]'
check "retries: a row per attempt with the backoff: $(attempts "$r_flaky")" \
  '[ "$(attempts "$r_flaky")" = "1:retrying:backoff:500 2:retrying:backoff:500 3:succeeded:-:200" ]'
check "429: the same attempt again after Retry-After: $(attempts "$r_429")" \
  '[ "$(attempts "$r_429")" = "1:queued:retry_after:429 1:succeeded:-:200" ]'
check "exit status recorded: $(attempts "$r_fail")" '[ "$(attempts "$r_fail")" = "1:failed:-:x3" ]'
check "timeout: killed by a signal: $(attempts "$r_slow")" '[ "$(attempts "$r_slow")" = "1:timed_out:-:s15" ]'
check "cancel: $(attempts "$r_cancel")" '[ "$(attempts "$r_cancel" | cut -d: -f1-3)" = "1:cancelled:-" ]'
got=$(sql "select retry_at is not null and duration_ms >= 0 and started_at is not null and worker_id = 'w1' from run_attempts where run_id = $r_flaky order by id limit 1")
check "a retried attempt has its worker, start, duration and retry time" '[ "$got" = t ]'
got=$(sql "select count(*) from run_attempts where retry_reason = 'retry_after' and retry_at >= finished_at + interval '900 milliseconds'")
check "the 429's retry time follows Retry-After" '[ "$got" = 1 ]'
"$cli" runs show "$r_flaky" --json >"$tmp/show.json"
check "runs show --json lists every attempt: $(jq -c '[.attempts[] | [.attempt, .outcome, .httpStatus, .retryReason]]' "$tmp/show.json")" \
  '[ "$(jq -c "[.attempts[] | [.attempt, .outcome, .httpStatus, .retryReason]]" "$tmp/show.json")" = "[[1,\"retrying\",500,\"backoff\"],[2,\"retrying\",500,\"backoff\"],[3,\"succeeded\",200,null]]" ]'
run "$cli" runs show "$r_flaky"
check "runs show prints the attempts table" 'grep -q "HTTP 500" "$tmp/out" && grep -q "\[backoff, again at" "$tmp/out"'
run "$cli" runs logs "$r_fail"
check "runs logs: the last attempt's output and stderr: $(cat "$tmp/out") / $(cat "$tmp/err")" \
  '[ "$status" = 0 ] && [ "$(cat "$tmp/out")" = partial ] && [ "$(cat "$tmp/err")" = broken ]'
run "$cli" runs logs "$r_fail" --attempt 2
check "runs logs of an attempt that never was: exit 1 naming it: $(cat "$tmp/err")" \
  '[ "$status" = 1 ] && grep -q "has no attempt 2 (it has made 1)" "$tmp/err"'
run "$cli" runs logs "$r_fail" --attempt x
check "runs logs --attempt x: usage" '[ "$status" = 2 ]'
# lease loss: kill -9 the worker in the middle of a run; a new worker takes it over
t_lost=$(task sleeper ", max_attempts, timeout_ms" ", 2, 3000"); r_lost=$(trigger "$t_lost")
wait_status "$r_lost" running 10
kill -9 "${pids[0]}"; wait "${pids[0]}" 2>/dev/null; pids=()
pkill -f "$marker"
start_worker w2 WORKER_LEASE_S=2
wait_sql "run $r_lost taken over and ended" 30 "select status from task_runs where id = $r_lost" = timed_out
check "lease loss: a row for the lost attempt, then the next: $(attempts "$r_lost")" \
  '[ "$(attempts "$r_lost" | cut -d" " -f1 | cut -d: -f1-3)" = "1:lease_lost:lease_lost" ] && [ "$(attempts "$r_lost" | cut -d" " -f2 | cut -d: -f1-2)" = "2:timed_out" ]'
# drain: SIGTERM with a short grace returns a running run to the queue without spending an attempt
t_drain=$(task sleeper); r_drain=$(trigger "$t_drain")
wait_sql "run $r_drain running on w2" 10 "select worker_id from task_runs where id = $r_drain and status = 'running'" = w2
stop_all
check "drain: the attempt is recorded, back in the queue: $(attempts "$r_drain")" \
  '[ "$(attempts "$r_drain" | cut -d: -f1-3)" = "1:queued:drained" ] && [ "$(sql "select status from task_runs where id = $r_drain")" = queued ]'
"$cli" runs cancel "$r_drain" >/dev/null

# --- runs logs --follow streams a running exec run, then stops when it ends
t_talk=$(task talker); r_talk=$(trigger "$t_talk")
start_worker w3
wait_status "$r_talk" running 10
timeout 20 "$cli" runs logs "$r_talk" --follow >"$tmp/follow.out" 2>"$tmp/follow.err" &
follow_pid=$!
sleep 1.2
streamed_early=$(grep -c '^line' "$tmp/follow.out")
wait "$follow_pid"; follow_status=$?
check "--follow shows output while the run goes on (after 1.2 s: $streamed_early lines)" '[ "$streamed_early" -ge 1 ] && [ "$streamed_early" -lt 6 ]'
check "--follow ends with the run, every line in order: $(tr '\n' ' ' <"$tmp/follow.out")" \
  '[ "$follow_status" = 0 ] && [ "$(tr "\n" " " <"$tmp/follow.out")" = "line 1 line 2 line 3 line 4 line 5 line 6 " ] && [ "$(grep -c "^warn" "$tmp/follow.err")" = 6 ]'
run "$cli" runs logs "$r_fail" --follow
check "--follow of a finished run prints what was stored" '[ "$status" = 0 ] && [ "$(cat "$tmp/out")" = partial ]'
stop_all

# --- the API: attempts, filters, paging, logs, usage; bad inputs answered 400 naming the field
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hport=$(free_port)
HTTP_LISTEN=127.0.0.1:$hport "$orch" --instance api >"$tmp/api.log" 2>&1 & pids+=($!)
base=http://127.0.0.1:$hport
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
key=$("$cli" keys create t@example.com --json | jq -r .key)
"$cli" users add other@example.com --credits 10 >/dev/null
okey=$("$cli" keys create other@example.com --json | jq -r .key)
api() { code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer ${2:-$key}" "$base$1"); }
api "/api/runs/$r_flaky"
check "GET /api/runs/{id} has the attempts: $code" \
  '[ "$code" = 200 ] && [ "$(jq -c "[.attempts[].outcome]" "$tmp/body")" = "[\"retrying\",\"retrying\",\"succeeded\"]" ]'
api "/api/runs/$r_flaky" "$okey"
check "another user's run: 404" '[ "$code" = 404 ]'
api "/api/runs/$r_fail/logs"
check "GET /api/runs/{id}/logs: $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .output "$tmp/body")" = partial ]'
api "/api/runs?status=failed"
check "GET /api/runs?status=failed: $(jq -c "[.runs[].id]" "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -c "[.runs[].id]" "$tmp/body")" = "[$r_fail]" ]'
api "/api/runs?status=bogus"
check "a bad status: 400 naming the field: $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = status ]'
api "/api/runs?cursor=garbage"
check "a bad cursor: 400: $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = cursor ]'
api "/api/runs?since=yesterday"
check "a bad time: 400" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = since ]'
api "/api/runs?limit=2"
seen=$(jq -r '.runs[].id' "$tmp/body"); next=$(jq -r .next "$tmp/body"); pages=1
while [ "$next" != null ] && [ "$pages" -lt 50 ]; do
  api "/api/runs?limit=2&cursor=$next"; seen="$seen $(jq -r '.runs[].id' "$tmp/body")"; next=$(jq -r .next "$tmp/body"); pages=$((pages + 1))
done
all=$(sql "select string_agg(id::text, ' ' order by scheduled_for desc, id desc) from task_runs where user_id = 1")
check "keyset pages of 2 cover every run once, newest first ($pages pages)" '[ "$(echo $seen)" = "$all" ]'
api "/api/tasks/$t_flaky/runs?agent=web&trigger=manual"
check "a task's runs filtered by agent and trigger" '[ "$code" = 200 ] && [ "$(jq -c "[.runs[].id]" "$tmp/body")" = "[$r_flaky]" ]'
api "/api/usage"
total=$(sql "select count(*) from task_runs where user_id = 1 and finished_at is not null")
check "GET /api/usage: this month's runs from the summaries ($(jq -c .total "$tmp/body"))" \
  '[ "$code" = 200 ] && [ "$(jq .total.runs "$tmp/body")" = "$total" ] && [ "$(jq .total.failed "$tmp/body")" = 1 ] && [ "$(jq .total.p95DurationMs "$tmp/body")" != null ]'
# The summaries' duration histograms, kept batch by batch, against the runs' durations bucketed anew
hist_diff=$(sql "select count(*) from
  (select b, sum(n) as n from usage_daily, unnest(duration_hist) with ordinality as h(n, b) group by b) u
  full join (select width_bucket(agentcron_run_ms(started_at, finished_at), agentcron_duration_buckets()) as b, count(*) as n
             from task_runs where finished_at is not null and started_at is not null group by 1) r using (b)
  where coalesce(u.n, 0) <> coalesce(r.n, 0)")
check "the summaries' duration histograms count each ended run in its bucket ($hist_diff buckets differ)" '[ "$hist_diff" = 0 ]'
api "/api/usage?from=2026-13-01"
check "GET /api/usage with a bad day: 400" '[ "$code" = 400 ]'
api "/api/usage?from=2026-02-01&to=2026-02-31"
check "GET /api/usage with a day that does not exist: 400 naming it, not 503: $code $(cat "$tmp/body")" \
  '[ "$code" = 400 ] && grep -q "2026-02-31" "$tmp/body"'
api "/api/tasks/$t_ok/slots?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"
check "slots over a range that ends before it begins: 400" '[ "$code" = 400 ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
  -d '{"goal": "kept a year", "agentType": "one", "retentionDays": 365, "schedule": {"cron": "0 9 * * *"}}' "$base/api/agent/execute")
check "execute with retentionDays: $code $(cat "$tmp/body")" \
  '[ "$code" = 201 ] && [ "$(sql "select retention_days from tasks where id = $(jq .task "$tmp/body")")" = 365 ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PATCH -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
  -d '{"retentionDays": 0}' "$base/api/tasks/$t_ok")
check "PATCH retentionDays 0: 400 naming it: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = retentionDays ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PATCH -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
  -d '{"retentionDays": 7}' "$base/api/tasks/$t_ok")
check "PATCH retentionDays 7" '[ "$code" = 200 ] && [ "$(jq .retentionDays "$tmp/body")" = 7 ]'
stop_all

# --- CLI filters and bad inputs
run "$cli" runs list --status failed --json
check "runs list --status failed" '[ "$(jq -c "[.runs[].id]" "$tmp/out")" = "[$r_fail]" ]'
run "$cli" runs list --agent sleeper --json
check "runs list --agent sleeper: 4 runs" '[ "$(jq ".runs | length" "$tmp/out")" = 4 ]'
run "$cli" runs list --status bogus
check "runs list --status bogus: usage, naming it: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "\"bogus\" is not a run status" "$tmp/err"'
run "$cli" runs list --cursor 12x
check "runs list --cursor 12x: usage" '[ "$status" = 2 ]'
run "$cli" runs list --user nobody@example.com
check "runs list --user unknown: usage naming it" '[ "$status" = 2 ] && grep -q "no such user" "$tmp/err"'
run "$cli" users show t@example.com --json
check "users show: usage from the summaries: $(jq -c .usage.total "$tmp/out")" \
  '[ "$(jq .usage.total.runs "$tmp/out")" = "$total" ] && [ "$(jq ".usage.byAgent | length" "$tmp/out")" -ge 3 ]'
got=$(sql "select (select sum(succeeded + failed + timed_out + cancelled + insufficient_credits) from usage_daily) = (select count(*) from task_runs where finished_at is not null)")
check "the summaries count every run that ended, whoever ended it" '[ "$got" = t ]'

# --- the slot ledger: coalesced, overlap skip, paused; `tasks slots`
setup slots
[ "$(date -u +%S)" -lt 50 ] || sleep 12 # the minute must not turn between here and the first pass
now=$(date -u +%s)
t_co=$(task one ", schedule_enabled, next_run_at" ", true, date_trunc('minute', now()) - interval '5 minutes'")
t_ov=$(task sleeper ", schedule_enabled, next_run_at, overlap_policy" ", true, now(), 'skip'")
sql "update tasks set schedule = '* * * * * *' where id = $t_ov"
t_pz=$(task one ", schedule_enabled, next_run_at" ", true, now() + interval '1 hour'")
"$cli" tasks pause "$t_pz" >/dev/null
sql "update tasks set next_run_at = now() - interval '3 minutes' where id = $t_pz"
"$orch" --instance slots >"$tmp/slots.log" 2>&1 & pids+=($!)
start_worker ws
wait_sql "coalesced slots recorded" 10 "select count(*) from slot_gaps where task_id = $t_co and reason = 'coalesced'" -ge 1
wait_sql "overlap skips recorded" 10 "select coalesce(sum(slots), 0) from slot_gaps where task_id = $t_ov and reason = 'overlap_skip'" -ge 2
"$cli" tasks resume "$t_pz" >/dev/null
got=$(sql "select slots || ',' || (last_slot - first_slot) || ',' || (first_slot = date_trunc('minute', first_slot)) from slot_gaps where task_id = $t_co and reason = 'coalesced'")
check "coalesced: the slots before the one that ran, as one row: $got" '[ "$got" = "5,00:04:00,true" ]'
got=$(sql "select count(*) from slot_gaps where task_id = $t_pz and reason = 'paused'")
check "resuming records the slots slept through" '[ "$got" = 1 ]'
"$cli" tasks slots "$t_co" --from "$(date -u -d @$((now / 60 * 60 - 300)) +%Y-%m-%dT%H:%M:%SZ)" --to "$(date -u -d @$((now + 90)) +%Y-%m-%dT%H:%M:%SZ)" --json >"$tmp/slots.json"
check "tasks slots: each slot with its run or why none: $(jq -c "[.slots[] | (.status // .reason)]" "$tmp/slots.json")" \
  '[ "$(jq -c "[.slots[] | (.status // .reason)] | map(select(. == \"coalesced\")) | length" "$tmp/slots.json")" = 5 ] && [ "$(jq -c "[.slots[] | select(.run)] | length" "$tmp/slots.json")" -ge 1 ] && [ "$(jq -r ".slots[-1].reason" "$tmp/slots.json")" = upcoming ]'
run "$cli" tasks slots "$t_pz" --from "$(date -u -d @$((now - 170)) +%Y-%m-%dT%H:%M:%SZ)" --to "$(date -u -d @$((now - 10)) +%Y-%m-%dT%H:%M:%SZ)"
check "tasks slots of a paused stretch: $(cat "$tmp/out")" '[ "$(grep -c "no run: paused" "$tmp/out")" -ge 2 ]'
run "$cli" tasks slots "$t_ov" --from 2026-01-01T00:00:00Z --to 2026-02-01T00:00:00Z
check "tasks slots over too many slots: usage, saying why: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "narrower" "$tmp/err"'
stop_all
pkill -f "$marker"

# --- retention: by the CLI (dry run, per-task override, ledger and summaries kept)
setup retention
t_a=$(task one); t_b=$(task one ", retention_days" ", 2")
sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status, started_at, finished_at, credits_charged, agent)
     select t, 1, now() - i * interval '1 hour', 3, 'succeeded', now() - i * interval '1 hour', now() - i * interval '1 hour' + interval '1 second', 1, 'one'
     from generate_series(1, 24 * 40) i, (values ($t_a), ($t_b)) v(t)"
sql "insert into usage_daily (day, task_id, agent, user_id, succeeded, duration_hist)
     select (finished_at at time zone 'UTC')::date, task_id, 'one', 1, count(*), '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}' from task_runs group by 1, 2"
sql "insert into run_attempts (run_id, attempt, outcome, finished_at) select id, 1, 'succeeded', finished_at from task_runs"
sql "insert into credit_ledger (user_id, run_id, delta, reason) select 1, id, 1, 'charge' from task_runs"
sql "update users set credits_used = (select sum(delta) from credit_ledger)"
sql "insert into slot_gaps (task_id, first_slot, last_slot, slots, reason, decided_at) values ($t_a, now() - interval '45 days', now() - interval '45 days', 1, 'coalesced', now() - interval '45 days'), ($t_a, now(), now(), 1, 'coalesced', now())"
usage_before=$(sql "select sum(succeeded) from usage_daily")
run "$cli" runs prune --dry-run --json
check "prune --dry-run counts (30 days; task $t_b keeps 2): $(cat "$tmp/out")" \
  '[ "$(jq -c "[.runs, .attempts, .slotRows]" "$tmp/out")" = "[$((24 * 10 + 24 * 38)),$((24 * 10 + 24 * 38)),1]" ] && [ "$(sql "select count(*) from task_runs")" = 1920 ]'
run "$cli" runs prune --json
check "prune removes them: $(cat "$tmp/out")" '[ "$(jq .runs "$tmp/out")" = $((24 * 48)) ] && [ "$(sql "select count(*) from task_runs")" = $((1920 - 24 * 48)) ]'
got=$(sql "select count(*) || ',' || count(*) filter (where run_id is null) || ',' || (select credits_used from users) || ',' || sum(delta) from credit_ledger")
check "the credit ledger is kept whole, its links to removed runs cleared: $got" '[ "$got" = "1920,1152,1920,1920" ]'
check "usage summaries are kept: $usage_before" '[ "$usage_before" = 1920 ] && [ "$(sql "select sum(succeeded) from usage_daily")" = 1920 ]'
got=$(sql "select min(finished_at) > now() - interval '30 days 1 minute' from task_runs where task_id = $t_a")
check "task $t_a keeps 30 days, task $t_b 2 days" '[ "$got" = t ] && [ "$(sql "select count(*) from task_runs where task_id = $t_b")" -le 48 ]'
check "old slot-ledger rows go too" '[ "$(sql "select count(*) from slot_gaps")" = 1 ]'
"$cli" tasks edit "$t_b" --retention-days 0 >/dev/null
check "--retention-days 0: back to RUN_RETENTION_DAYS" '[ "$(sql "select retention_days is null from tasks where id = $t_b")" = t ]'
run "$cli" tasks edit "$t_b" --retention-days 5000
check "--retention-days 5000: refused: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "must be from 1 to 3650" "$tmp/err"'
# What hangs off a run goes with it (a trigger, not foreign keys: migrations/0011): its
# attempts and live entry, by retention and by its task's deletion; its charges stay, unlinked.
orphans="select (select count(*) from run_attempts a where not exists (select 1 from task_runs r where r.id = a.run_id)) || ','
  || (select count(*) from live_runs l where not exists (select 1 from task_runs r where r.id = l.run_id)) || ','
  || (select count(*) from credit_ledger c where run_id is not null and not exists (select 1 from task_runs r where r.id = c.run_id))"
got=$(sql "select count(*) from run_attempts")
check "pruned runs took their attempts: $got left, $(sql "$orphans") orphaned" '[ "$got" = $((1920 - 24 * 48)) ] && [ "$(sql "$orphans")" = 0,0,0 ]'
live=$(sql "insert into task_runs (task_id, user_id, scheduled_for, priority) values ($t_b, 1, now() + interval '1 day', 3) returning id")
linked=$(sql "select count(*) from credit_ledger c join task_runs r on r.id = c.run_id where r.task_id = $t_b")
check "a new run is live: $live, task $t_b has $linked charges" '[ "$(sql "select count(*) from live_runs where run_id = $live")" = 1 ] && [ "$linked" -gt 0 ]'
sql "delete from tasks where id = $t_b"
check "a deleted task's runs took their attempts and live entries, left their charges unlinked: $(sql "$orphans")" \
  '[ "$(sql "$orphans")" = 0,0,0 ] && [ "$(sql "select count(*) from credit_ledger")" = 1920 ] && [ "$(sql "select count(*) from live_runs")" = 0 ]'

# --- retention by the orchestrators (one at a time), racing per-second tasks
setup race
sql "insert into tasks (user_id, title, agent_type, schedule) select 1, 'tick ' || i, 'one', '* * * * * *' from generate_series(1, 20) i"
sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status, started_at, finished_at, agent)
     select 1 + i % 20, 1, now() - interval '40 days' - i * interval '1 second', 3, 'succeeded', now() - interval '40 days', now() - interval '40 days', 'one'
     from generate_series(1, 100000) i"
sql "insert into run_attempts (run_id, attempt, outcome) select id, 1, 'succeeded' from task_runs"
sql "update tasks set schedule_enabled = true, next_run_at = date_trunc('second', now()) + interval '2 seconds'"
export RETENTION_INTERVAL_S=1
"$orch" --instance r1 >"$tmp/r1.log" 2>&1 & pids+=($!)
"$orch" --instance r2 >"$tmp/r2.log" 2>&1 & pids+=($!)
start_worker wr
wait_sql "old runs removed by the orchestrators" 120 "select count(*) from task_runs where finished_at < now() - interval '30 days'" = 0
sleep 5
unset RETENTION_INTERVAL_S
stop_all
got=$(sql "select count(*) from run_attempts a left join task_runs r on r.id = a.run_id where r.id is null")
check "no attempt outlives its run" '[ "$got" = 0 ]'
got=$(sql "select count(*) from (select task_id, scheduled_for from task_runs where scheduled_for > now() - interval '1 day' group by 1, 2 having count(*) > 1) d")
check "every slot once while retention ran" '[ "$got" = 0 ]'
got=$(sql "select coalesce(sum(slots), 0) from slot_gaps")
runs_made=$(sql "select count(*) from task_runs where scheduled_for > now() - interval '1 day'")
check "per-second tasks kept firing while retention ran: $runs_made runs, $got slots coalesced" '[ "$runs_made" -ge 100 ] && [ "$got" -le $((runs_made / 50)) ]'
got=$(sql "select percentile_cont(0.99) within group (order by extract(epoch from enqueued_at - scheduled_for)) < 0.5 from task_runs where scheduled_for > now() - interval '1 day'")
check "p99 enqueue lateness under 500 ms while retention ran" '[ "$got" = t ]'
got=$(sql "select count(*) from task_runs where scheduled_for > now() - interval '1 day' and status <> 'succeeded' and finished_at is not null")
check "the per-second runs all succeeded" '[ "$got" = 0 ]'
removed=$(cat "$tmp/r1.log" "$tmp/r2.log" | grep 'event=retention.pass' | grep -o ' runs=[0-9]*' | cut -d= -f2 | awk '{ n += $1 } END { print n + 0 }')
check "the orchestrators removed 100000 runs between them, once: $removed" '[ "$removed" = 100000 ]'
check "no retention error" '! grep -q retention.failed "$tmp/r1.log" "$tmp/r2.log"'

finish
