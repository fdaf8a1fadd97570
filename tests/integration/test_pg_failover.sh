#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Postgres failover: a primary and a streaming replica made here, an orchestrator and a worker
# on a multi-host DATABASE_URL with target_session_attrs=read-write, a task firing every
# second. The primary stops and the replica is promoted: the daemons reconnect to it, firing
# resumes within 5 s, every slot has its run or a slot-ledger row saying why not (nothing lost),
# no slot has two runs and no run two charges (nothing doubled), and every run ends.
# Usage: test_pg_failover.sh BUILD_DIR
build=${1:?usage: test_pg_failover.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
worker=$build/agentworker/agentcron-worker
cli=$build/cli/agentcron
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info HTTP_LISTEN=off SHUTDOWN_GRACE_S=5
pgbin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_clusters() {
  for c in primary replica; do
    [ -f "$tmp/pg/$c/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" -D "$tmp/pg/$c" -m immediate stop >/dev/null 2>&1
  done
}
trap 'stop_all; stop_clusters; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
free_port() { # below 32768 (see scripts/services.sh), not in use
  local p
  while :; do
    p=$((27000 + RANDOM % 5000))
    python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $p))" 2>/dev/null && { echo "$p"; return; }
  done
}

# --- a primary and its streaming replica
chmod 755 "$tmp"
mkdir -p "$tmp/pg/primary"
[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$tmp/pg"
p1=$(free_port) p2=$(free_port)
as_pg "$pgbin/initdb" -D "$tmp/pg/primary" -U agentcron --auth=trust -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 \
  || { echo "initdb failed: $(tail -3 "$tmp/initdb.log")"; exit 1; }
printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nlog_min_messages = warning\n" |
  as_pg tee -a "$tmp/pg/primary/postgresql.conf" >/dev/null
as_pg "$pgbin/pg_ctl" -D "$tmp/pg/primary" -o "-p $p1" -l "$tmp/pg/primary.log" -w start >/dev/null
"$pgbin/createdb" -h 127.0.0.1 -p "$p1" -U agentcron agentcron
as_pg "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$p1" -U agentcron -D "$tmp/pg/replica" -R -X stream -c fast >/dev/null 2>&1 \
  || { echo "pg_basebackup failed"; exit 1; }
as_pg "$pgbin/pg_ctl" -D "$tmp/pg/replica" -o "-p $p2" -l "$tmp/pg/replica.log" -w start >/dev/null
psql -qtAX "postgresql://agentcron@127.0.0.1:$p2/agentcron" -c "select pg_is_in_recovery()" | grep -q t \
  || { echo "the replica is not in recovery"; exit 1; }

export DATABASE_URL="postgresql://agentcron@127.0.0.1:$p1,127.0.0.1:$p2/agentcron?target_session_attrs=read-write"
export REDIS_URL="$AGENTCRON_TEST_REDIS/11"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
"$cli" migrate >/dev/null || { bad "migrate through the multi-host URL"; finish; exit 1; }
"$cli" users add t@example.com --credits 1000000 >/dev/null
cat >"$tmp/agents.json" <<'EOF'
{"agents": {"paid": {"kind": "noop", "base_credits": 1, "estimate_credits": 1}}}
EOF
export AGENTS_FILE=$tmp/agents.json
t=$("$cli" tasks add --user t@example.com --title "every second" --agent paid --cron "* * * * * *" --json | jq -r .id)
"$orch" --instance fo-o >"$tmp/o.log" 2>&1 & pids+=($!)
"$worker" --instance fo-w >"$tmp/w.log" 2>&1 & pids+=($!)
wait_sql "the task fires on the primary" 10 "select count(*) >= 4 from task_runs where task_id = $t and status = 'succeeded'" = t

# --- the switchover: the primary stops (its last WAL reaches the replica), the replica is promoted
as_pg "$pgbin/pg_ctl" -D "$tmp/pg/primary" -m fast -w stop >/dev/null
as_pg "$pgbin/pg_ctl" -D "$tmp/pg/replica" -w promote >/dev/null
promoted=$(date +%s.%N)
check "the replica is the primary now" '[ "$(psql -qtAX "postgresql://agentcron@127.0.0.1:$p2/agentcron" -c "select pg_is_in_recovery()")" = f ]'
# runs are readied up to SCHEDULE_LOOKAHEAD_MS ahead: firing has resumed when runs written on the
# new primary succeed, and the first run started there started within 5 s of the promotion
wait_sql "firing resumes on the new primary" 15 \
  "select count(*) >= 3 from task_runs where task_id = $t and status = 'succeeded' and created_at > to_timestamp($promoted)" = t
first=$(sql "select round(extract(epoch from min(started_at) - to_timestamp($promoted)) * 1000) from task_runs
             where task_id = $t and started_at > to_timestamp($promoted)")
check "the first run after the promotion started within 5 s: $first ms" '[ -n "$first" ] && [ "$first" -lt 5000 ]'
sleep 2
sql "update tasks set schedule_enabled = false where id = $t" >/dev/null
wait_sql "every run ends" 20 "select count(*) from task_runs where task_id = $t and status not in ('succeeded')" = 0

got=$(sql "select (extract(epoch from max(scheduled_for) - min(scheduled_for)))::bigint + 1 || ' ' || count(*) from task_runs where task_id = $t")
read -r slots runs <<<"$got"
gaps=$(sql "select coalesce(sum(slots), 0) from slot_gaps where task_id = $t and first_slot >= (select min(scheduled_for) from task_runs where task_id = $t)")
check "nothing lost: $slots slots = $runs runs + $gaps in the slot ledger" '[ "$slots" -eq $((runs + gaps)) ]'
check "nothing doubled: one run per slot, one charge per run" \
  '[ "$(sql "select count(*) from (select scheduled_for from task_runs where task_id = $t group by 1 having count(*) > 1) x")" = 0 ] &&
   [ "$(sql "select count(*) - count(distinct run_id) from credit_ledger where reason = '"'"'charge'"'"'")" = 0 ]'
check "credits add up: credits_used is the ledger's sum" \
  '[ "$(sql "select (select credits_used from users) = (select sum(delta) from credit_ledger where reason = '"'"'charge'"'"')")" = t ]'
check "the orchestrator said it lost its LISTEN connection, and went on" 'grep -q "event=postgres.listen_lost" "$tmp/o.log"'
finish
