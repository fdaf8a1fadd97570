#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The workers under the faults a fault-injection study found them weak in: a Postgres restart
# between claiming runs and starting them, FLUSHALL while runs execute (their credit
# reservations), a run whose command kills its worker (a poison run), and a worker killed
# with -9 outside systemd (its command must die with it). After each: the invariant that a
# user's credits_reserved is what that user's unfinished runs reserve.
# Usage: test_worker_faults.sh BUILD_DIR
build=${1:?usage: test_worker_faults.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
worker=$build/agentworker/agentcron-worker
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export LOG_LEVEL=info SHUTDOWN_GRACE_S=5 HTTP_LISTEN=off STATUS_INTERVAL_S=1
marker="agentcron-faults-marker-$$"
trap 'stop_all; pkill -f "$marker"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
cat >"$tmp/agents.json" <<EOF
{"agents": {
  "slowpay": {"kind": "exec", "command": ["/bin/sleep", "3"], "base_credits": 1, "estimate_credits": 2},
  "poison": {"kind": "exec", "command": ["/bin/sh", "-c", "kill -9 \$PPID; sleep 5"]},
  "long": {"kind": "exec", "command": ["/usr/bin/python3", "-c", "import time; time.sleep(60)", "$marker"]}
}}
EOF
export AGENTS_FILE=$tmp/agents.json
redis_db=6
setup() { # setup NAME: a fresh database and Redis db, migrated, with user 1
  export DATABASE_URL; DATABASE_URL=$(fresh_db "$1")
  redis_db=$((redis_db + 1)); export REDIS_URL="$AGENTCRON_TEST_REDIS/$redis_db"
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  "$cli" migrate >/dev/null || { bad "$1: migrate failed"; return 1; }
  sql "insert into users (email, monthly_credits) values ('t@example.com', 100000)"
}
task() { # task AGENT [MAX_ATTEMPTS]: a task of user 1, not scheduled; prints its id
  sql "insert into tasks (user_id, title, goal, agent_type, schedule, max_attempts)
       values (1, 'task $1', 'goal', '$1', '* * * * *', ${2:-3}) returning id"
}
runs() { # runs TASK N: N queued runs of past slots
  "$cli" tasks backfill "$1" --from 2026-01-01T00:00:00Z \
    --to "$(date -u -d "2026-01-01 + $(($2 - 1)) min" +%Y-%m-%dT%H:%M:%SZ)" >/dev/null || bad "backfill of task $1 failed"
}
# The credit invariant: every user's credits_reserved is the sum over their unfinished runs.
reservations_add_up() {
  [ "$(sql "select count(*) from users u where credits_reserved <> (select coalesce(sum(credits_reserved), 0)
            from task_runs r where r.user_id = u.id and r.status in ('queued', 'running', 'retrying'))")" = 0 ]
}
reservations() { sql "select credits_reserved || ' reserved, ' || credits_used || ' used' from users where id = 1"; }

# --- a Postgres restart just before runs are claimed: they start within 2 s of its return, not
# after a lease. The worker is idle long enough that its first intake asks Postgres first.
setup pgrestart
t=$(task noop)
"$worker" --instance pgrestart --concurrency 8 >"$tmp/pgrestart.log" 2>&1 & pids+=($!)
sleep 6
"$root/scripts/services.sh" restart-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
back=$(date +%s%N)
runs "$t" 32
wait_sql "32 runs after the restart" 40 "select count(*) from task_runs where status = 'succeeded'" = 32
took=$((($(date +%s%N) - back) / 1000000))
latest=$(sql "select (extract(epoch from max(started_at)) * 1000)::bigint - $((back / 1000000)) from task_runs")
echo "measured: after a Postgres restart, the last of 32 runs started ${latest} ms after Postgres returned, all done in ${took} ms"
check "Postgres restart: every run started within 2 s of Postgres returning: last ${latest} ms, all done ${took} ms" \
  '[ "$latest" -le 2000 ]'
got=$(sql "select count(*) || ' runs, ' || sum(attempt) || ' attempts' from task_runs where task_id = $t")
check "Postgres restart: no run lost or doubled: $got" '[ "$got" = "32 runs, 32 attempts" ]'

# --- a 10 s Postgres outage with runs waiting: the worker keeps trying (at least every second,
# handing back what it claimed each time), and they start within 2 s of Postgres returning
kill -STOP "${pids[0]}"
runs "$t" 64 # the first 64 slots: 32 new runs after the 32 done
"$root/scripts/services.sh" stop-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
kill -CONT "${pids[0]}"
sleep 10
"$root/scripts/services.sh" start-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
back=$(date +%s%N)
wait_sql "64 more runs after the outage" 40 "select count(*) from task_runs where status = 'succeeded'" = 64
latest=$(sql "select (extract(epoch from max(started_at)) * 1000)::bigint - $((back / 1000000)) from task_runs")
echo "measured: after a 10 s Postgres outage, the last of 32 waiting runs started ${latest} ms after Postgres returned"
check "Postgres outage: every waiting run started within 2 s of its return: last ${latest} ms" '[ "$latest" -le 2000 ]'
got=$(sql "select count(*) || ' runs, ' || sum(attempt) || ' attempts' from task_runs where task_id = $t")
check "Postgres outage: no run lost or doubled: $got" '[ "$got" = "64 runs, 64 attempts" ]'
stop_all

# --- FLUSHALL while runs execute: they are re-queued by reconciliation, run and are charged
# once each, and nothing stays reserved
setup flush
t=$(task slowpay)
# and a month that rolls over as they start: credits_used starts again, reservations carry on
sql "update users set period_start = now() - interval '40 days', credits_used = 50 where id = 1"
"$worker" --instance flush --concurrency 16 >"$tmp/flush.log" 2>&1 & pids+=($!)
runs "$t" 10
wait_sql "10 running" 10 "select count(*) from task_runs where status = 'running'" = 10
redis-cli -u "$REDIS_URL" flushall >/dev/null
"$orch" --instance flush-orch >"$tmp/flush-orch.log" 2>&1 & pids+=($!) # reconciles at start
wait_sql "all 10 succeeded" 30 "select count(*) from task_runs where status = 'succeeded'" = 10
check "the month rolled over once: $(sql "select count(*) from credit_ledger where reason = 'period_reset'")" \
  '[ "$(sql "select count(*) from credit_ledger where reason = '"'period_reset'"'")" = 1 ]'
check "FLUSHALL mid-run: charged once each ($(reservations))" '[ "$(sql "select credits_used from users where id = 1")" = 10 ]'
check "FLUSHALL mid-run: nothing stays reserved ($(reservations))" \
  '[ "$(sql "select credits_reserved from users where id = 1")" = 0 ] && reservations_add_up'
stop_all

# --- a run whose command kills its worker: restarted at once as systemd would, the run ends
# failed within its attempts, says why, and goes to the dead set
setup poison
t=$(task poison 2)
runs "$t" 1
run_id=$(sql "select id from task_runs where task_id = $t")
export WORKER_LEASE_S=2
deaths=0 start=$SECONDS
while [ $((SECONDS - start)) -lt 40 ] && [ "$(sql "select status from task_runs where id = $run_id")" != failed ]; do
  "$worker" --instance poison >>"$tmp/poison.log" 2>&1 & p=$!
  for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; [ "$(sql "select status from task_runs where id = $run_id")" = failed ] && break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p"; else wait "$p" 2>/dev/null; deaths=$((deaths + 1)); fi
done
unset WORKER_LEASE_S
got=$(sql "select status || ' ' || attempt || ' ' || coalesce(error, '') from task_runs where id = $run_id")
echo "measured: a poison run with max_attempts 2 ended after $deaths worker deaths in $((SECONDS - start)) s: $got"
check "a poison run ends failed within its 2 attempts ($deaths worker deaths): $got" \
  '[[ "$got" == "failed 2 "*"worker"* ]] && [ "$deaths" -le 3 ]'
"$cli" runs show "$run_id" --json >"$tmp/poison.json"
check "its attempts show the worker lost each time: $(jq -c "[.attempts[] | [.attempt, .outcome]]" "$tmp/poison.json")" \
  '[ "$(jq -c "[.attempts[] | select(.outcome == \"lease_lost\") | .attempt]" "$tmp/poison.json")" = "[1,2]" ]'
check "a poison run goes to the dead set" \
  '[ "$(redis-cli -u "$REDIS_URL" zscore "agentcron:{default}:dead" "$run_id")" != "" ]'
check "reservations add up after the poison run" 'reservations_add_up'

# --- kill -9 of a worker outside systemd: the command it started dies with it
setup orphans
t=$(task long)
runs "$t" 1
"$worker" --instance orphans >"$tmp/orphans.log" 2>&1 & victim=$!
wait_sql "the long run running" 10 "select status from task_runs where task_id = $t" = running
for _ in $(seq 30); do pgrep -f "$marker" >/dev/null && break; sleep 0.1; done
check "the command started" 'pgrep -f "$marker" >/dev/null'
kill -9 "$victim"; wait "$victim" 2>/dev/null
for _ in $(seq 30); do pgrep -f "$marker" >/dev/null || break; sleep 0.1; done
check "kill -9 of its worker kills the command too: $(pgrep -af "$marker" | head -1)" '! pgrep -f "$marker" >/dev/null'
check "reservations add up after the faults" 'reservations_add_up'
finish
