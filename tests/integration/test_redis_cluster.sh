#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The queue on a real Redis Cluster (tests/tools/redis_cluster.sh: 3 masters with a replica each,
# an ACL user): REDIS_URL names a master that does not serve the queue's slot, so the daemons
# find the one that does; an orchestrator and two workers run tasks firing every second while
# the cluster is changed under them three ways: a failover (CLUSTER FAILOVER on the replica:
# MOVED), the queue's slot migrated live to another master (ASK and TRYAGAIN, then MOVED), and
# the master serving it killed with -9 (its replica promoted; what it had not replicated is
# lost, and Postgres puts it back); between the first two, the daemons move to three queue shards,
# which land on the three masters, and at the end they go down to two (what waited in a removed
# shard runs all the same). Each time firing resumes within 5 s; at the end every slot
# has its run or a slot-ledger row saying why not, no slot has two runs, no run two charges.
# Usage: test_redis_cluster.sh BUILD_DIR
build=${1:?usage: test_redis_cluster.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
worker=$build/agentworker/agentcron-worker
cli=$build/cli/agentcron
cluster=$(dirname "$0")/../tools/redis_cluster.sh
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info HTTP_LISTEN=off SHUTDOWN_GRACE_S=5
trap 'stop_all; bash "$cluster" stop "$tmp/cluster"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
rc() { redis-cli --user agentcron --pass s3cret --no-auth-warning -p "$@"; }

first=$(bash "$cluster" free)
bash "$cluster" start "$tmp/cluster" "$first" || { bad "the cluster did not form"; finish; exit 1; }
ports=$(seq "$first" $((first + 5)))
slot=$(rc "$first" cluster keyslot 'agentcron:{default}:home')
# owner: the port of the master serving the queue's slot, as the first node that answers sees it
owner() {
  local p
  for p in $ports; do
    rc "$p" ping >/dev/null 2>&1 || continue
    rc "$p" cluster nodes | awk -v s="$slot" '$3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        if ($i ~ /^\[/) continue
        n = split($i, r, "-")
        if ((n == 1 && r[1] + 0 == s) || (n == 2 && s >= r[1] + 0 && s <= r[2] + 0)) { split($2, a, "[:@]"); print a[2]; exit }
      } }'
    return
  done
}
# owner_is PORT: whether the cluster says PORT serves the slot, within 5 s (gossip takes a moment)
owner_is() { for _ in $(seq 50); do [ "$(owner)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
home=$(owner)
other=$(for p in $ports; do [ "$p" != "$home" ] && rc "$p" role | head -1 | grep -q master && echo "$p" && break; done)
[ -n "$home" ] && [ -n "$other" ] || { bad "cannot tell which master serves slot $slot"; finish; exit 1; }

export DATABASE_URL; DATABASE_URL=$(fresh_db redis_cluster)
"$cli" migrate >/dev/null
"$cli" users add t@example.com --credits 1000000 >/dev/null
cat >"$tmp/agents.json" <<'EOF'
{"agents": {"paid": {"kind": "noop", "base_credits": 1, "estimate_credits": 1}}}
EOF
export AGENTS_FILE=$tmp/agents.json
# the first host is a master that does not serve the queue's slot
export REDIS_URL="redis://agentcron:s3cret@127.0.0.1:$other,127.0.0.1:$home"

# --- what fails says why
run env REDIS_URL="$REDIS_URL/3" "$cli" status --json
check "a database number in a cluster's URL: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "Redis Cluster has only database 0: drop \"/3\""'
run env REDIS_URL="redis://agentcron:wrong@127.0.0.1:$other" "$cli" status --json
check "a wrong password: $(jq -r '.problems[0]' "$tmp/out")" 'jq -r ".problems[0]" "$tmp/out" | grep -q WRONGPASS'
run env REDIS_URL="redis://agentcron:s3cret@127.0.0.1:1,127.0.0.1:$other" "$cli" status --json
check "a seed that is down is passed over: $(jq -c '.problems' "$tmp/out")" '! jq -r ".problems[]" "$tmp/out" | grep -qi redis'

tasks=()
for i in 1 2 3 4 5; do
  tasks+=("$("$cli" tasks add --user t@example.com --title "every second $i" --agent paid --cron "* * * * * *" --json | jq -r .id)")
done
"$orch" --instance cl-o >"$tmp/o.log" 2>&1 & pids+=($!)
"$worker" --instance cl-w1 >"$tmp/w1.log" 2>&1 & pids+=($!)
"$worker" --instance cl-w2 >"$tmp/w2.log" 2>&1 & pids+=($!)
wait_sql "runs succeed through the cluster" 15 "select count(*) >= 20 from task_runs where status = 'succeeded'" = t
check "the queue lives on the master that serves its slot ($home)" \
  '[ "$(rc "$home" exists "agentcron:{default}:counters" "agentcron:{default}:status:worker:cl-w1")" = 2 ]'
run "$cli" status --json
check "status through the cluster sees the three daemons: $(jq -c '[.instances[].instance]' "$tmp/out")" \
  '[ "$(jq -c "[.instances[].instance] | sort" "$tmp/out")" = "[\"cl-o\",\"cl-w1\",\"cl-w2\"]" ]'

# resumed WHAT: firing goes on after the change made at $changed: runs written after it succeed
# (runs are readied up to SCHEDULE_LOOKAHEAD_MS ahead: those written before it may be in the
# queue already), and the first run started after it started within 5 s
resumed() {
  wait_sql "firing resumes after $1" 25 \
    "select count(*) >= 10 from task_runs where status = 'succeeded' and created_at > to_timestamp($changed)" = t
  local first
  first=$(sql "select round(extract(epoch from min(started_at) - to_timestamp($changed)) * 1000) from task_runs
               where started_at > to_timestamp($changed)")
  check "after $1 the first run started within 5 s: $first ms" '[ -n "$first" ] && [ "$first" -lt 5000 ]'
  echo "after $1: the first run started $first ms after the change"
}

# --- a failover: the replica of the queue's master takes over (the old master answers MOVED)
replica=$(rc "$home" info replication | sed -n 's/^slave0:ip=[^,]*,port=\([0-9]*\),.*/\1/p')
changed=$(date +%s.%N)
rc "$replica" cluster failover >/dev/null
for _ in $(seq 50); do rc "$replica" role | head -1 | grep -q master && break; sleep 0.1; done
check "the replica ($replica) is the queue's master now" 'owner_is "$replica"'
resumed "the failover"
check "a daemon said the cluster moved the slot" 'grep -h "Redis Cluster: MOVED" "$tmp"/*.log | grep -q .'

# --- three queue shards, one on each master: the daemons restart with QUEUE_SHARDS=3 (no drain
# first: what waits in shard 0 is still claimed there), and the failover kept the masters' ranges
stop_all
export QUEUE_SHARDS=3
changed=$(date +%s.%N)
"$orch" --instance cl-o >"$tmp/o3.log" 2>&1 & pids+=($!)
"$worker" --instance cl-w1 >"$tmp/w13.log" 2>&1 & pids+=($!)
"$worker" --instance cl-w2 >"$tmp/w23.log" 2>&1 & pids+=($!)
resumed "the switch to three shards"
masters=$(for p in $ports; do rc "$p" role | head -1 | grep -q master && echo "$p"; done)
holders=$(for p in $masters; do rc "$p" --scan --pattern 'agentcron:{default*}:counters' | wc -l; done | xargs)
check "each of the 3 masters holds one shard: $holders" '[ "$holders" = "1 1 1" ]'
completed=$(for p in $masters; do k=$(rc "$p" --scan --pattern 'agentcron:{default*}:counters'); rc "$p" hget "$k" completed; done | xargs)
check "runs completed in every shard: $completed" '[ "$(wc -w <<<"$completed")" = 3 ] && ! grep -qw 0 <<<"$completed"'
run "$cli" status --json
check "status counts the queue over the three shards ($completed, read just before): $(jq -c .queue "$tmp/out")" \
  '[ "$(jq ".queue.completed" "$tmp/out")" -ge "$(( $(tr " " + <<<"$completed") ))" ] && [ "$(jq .queue.shards "$tmp/out")" = 3 ] &&
   [ "$(jq -r ".queue.tags[0]" "$tmp/out")" = default ] && [ "$(jq ".queue.tags | length" "$tmp/out")" = 3 ]'

# --- the queue's slot migrated live to another master (ASK / TRYAGAIN while it moves, then MOVED)
from=$replica to=$other
from_id=$(rc "$from" cluster myid) to_id=$(rc "$to" cluster myid)
changed=$(date +%s.%N)
rc "$to" cluster setslot "$slot" importing "$from_id" >/dev/null
rc "$from" cluster setslot "$slot" migrating "$to_id" >/dev/null
sleep 1.2 # the daemons meet the slot half moved: the orchestrator enqueues at every second
moved=0
while keys=$(rc "$from" cluster getkeysinslot "$slot" 20) && [ -n "$keys" ]; do
  # shellcheck disable=SC2086 # one key a word
  rc "$from" migrate 127.0.0.1 "$to" "" 0 5000 AUTH2 agentcron s3cret KEYS $keys >/dev/null
  moved=$((moved + $(wc -l <<<"$keys")))
done
for p in $ports; do rc "$p" cluster setslot "$slot" node "$to_id" >/dev/null 2>&1; done
check "the slot moved to $to with its $moved keys" 'owner_is "$to" && [ "$moved" -gt 3 ]'
resumed "the migration"
check "a daemon met the slot while it moved (ASK or TRYAGAIN)" 'grep -hE "Redis Cluster: (ASK|TRYAGAIN)" "$tmp"/*.log | grep -q .'

# --- the queue's master killed: its replica is promoted by the cluster
replica=$(rc "$to" info replication | sed -n 's/^slave0:ip=[^,]*,port=\([0-9]*\),.*/\1/p')
changed=$(date +%s.%N)
kill -9 "$(cat "$tmp/cluster/$to/redis.pid")"
for _ in $(seq 100); do rc "$replica" role 2>/dev/null | head -1 | grep -q master && break; sleep 0.1; done
check "the cluster promoted $replica" 'rc "$replica" role | head -1 | grep -q master'
resumed "the master was killed"

# --- fewer shards: with QUEUE_SHARDS=2 shard 1 has another tag, so the runs queued in shards 1
# and 2 of three are left behind; the orchestrator's reconciliation queues them again where they
# now belong. The workers stop first, so runs wait there when the orchestrator stops.
orch_pid=${pids[0]}
pids=("${pids[@]:1}")
stop_all
sleep 1.5
kill -TERM "$orch_pid"
wait "$orch_pid" || bad "the orchestrator did not stop cleanly"
left=$(sql "select string_agg(id::text, ',') from task_runs where status = 'queued' and id % 3 <> 0")
check "runs wait in the shards about to go: $left" '[ -n "$left" ]'
export QUEUE_SHARDS=2
"$orch" --instance cl-o >"$tmp/o2.log" 2>&1 & pids+=($!)
"$worker" --instance cl-w1 >"$tmp/w12.log" 2>&1 & pids+=($!)
wait_sql "the runs left in the removed shards run" 20 \
  "select count(*) from task_runs where id in (${left:-0}) and status <> 'succeeded'" = 0

# --- and at the end nothing lost, nothing doubled
sleep 2
sql "update tasks set schedule_enabled = false" >/dev/null
wait_sql "every run ends" 60 "select count(*) from task_runs where status not in ('succeeded')" = 0
for t in "${tasks[@]}"; do
  read -r slots runs <<<"$(sql "select (extract(epoch from max(scheduled_for) - min(scheduled_for)))::bigint + 1 || ' ' || count(*) from task_runs where task_id = $t")"
  gaps=$(sql "select coalesce(sum(slots), 0) from slot_gaps where task_id = $t and first_slot >= (select min(scheduled_for) from task_runs where task_id = $t)")
  check "task $t: nothing lost: $slots slots = $runs runs + $gaps in the slot ledger" '[ "$slots" -eq $((runs + gaps)) ]'
done
check "nothing doubled: one run per slot, one charge per run" \
  '[ "$(sql "select count(*) from (select task_id, scheduled_for from task_runs group by 1, 2 having count(*) > 1) x")" = 0 ] &&
   [ "$(sql "select count(*) - count(distinct run_id) from credit_ledger where reason = '"'"'charge'"'"'")" = 0 ]'
check "credits add up: credits_used is the ledger's sum, nothing left reserved" \
  '[ "$(sql "select (select credits_used from users) = (select sum(delta) from credit_ledger where reason = '"'"'charge'"'"') and (select credits_reserved from users) = 0")" = t ]'
finish
