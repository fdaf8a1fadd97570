#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The queue on a Redis Cluster that speaks only TLS (tests/tools/redis_cluster.sh with a test CA:
# clients, replication and the cluster bus), as managed Redis services run it. The cluster names
# its nodes by IP address, so every redirect is a TLS connection to an address, checked against
# the certificate's IP entries. REDIS_URL names one master by address; an orchestrator and a
# worker spread their runs over three queue shards (one on each master), then the master of
# shard 0 hands over to its replica (CLUSTER FAILOVER): firing resumes within 5 s, on a node the
# daemons had not met.
# Usage: test_redis_cluster_tls.sh BUILD_DIR
build=${1:?usage: test_redis_cluster_tls.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
worker=$build/agentworker/agentcron-worker
cli=$build/cli/agentcron
cluster=$(dirname "$0")/../tools/redis_cluster.sh
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR REDIS_TLS_CERT_FILE REDIS_TLS_KEY_FILE
export STATUS_INTERVAL_S=1 LOG_LEVEL=info HTTP_LISTEN=off SHUTDOWN_GRACE_S=5 QUEUE_SHARDS=3
trap 'stop_all; bash "$cluster" stop "$tmp/cluster"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
rc() { redis-cli --tls --cacert "$tmp/ca.crt" --user agentcron --pass s3cret --no-auth-warning -p "$@"; }

test_ca
test_cert srv 1
first=$(bash "$cluster" free)
bash "$cluster" start "$tmp/cluster" "$first" "$tmp" || { bad "the TLS cluster did not form"; finish; exit 1; }
ports=$(seq "$first" $((first + 5)))
check "the nodes refuse plain connections" \
  '! redis-cli --user agentcron --pass s3cret --no-auth-warning -p "$first" ping 2>/dev/null | grep -q PONG'

export DATABASE_URL; DATABASE_URL=$(fresh_db redis_cluster_tls)
"$cli" migrate >/dev/null
"$cli" users add t@example.com --credits 1000 >/dev/null
export REDIS_URL="rediss://agentcron:s3cret@127.0.0.1:$first" REDIS_TLS_CA_FILE=$tmp/ca.crt
for i in 1 2 3; do
  "$cli" tasks add --user t@example.com --title "every second $i" --agent noop --cron "* * * * * *" --json >/dev/null
done
"$orch" --instance tc-o >"$tmp/o.log" 2>&1 & pids+=($!)
"$worker" --instance tc-w >"$tmp/w.log" 2>&1 & pids+=($!)
wait_sql "runs succeed through the TLS cluster" 20 "select count(*) >= 15 from task_runs where status = 'succeeded'" = t
masters=$(for p in $ports; do rc "$p" role | head -1 | grep -q master && echo "$p"; done)
completed=$(for p in $masters; do k=$(rc "$p" --scan --pattern 'agentcron:{default*}:counters'); [ -n "$k" ] && rc "$p" hget "$k" completed; done | xargs)
check "runs completed in a shard on each of the 3 masters: $completed" \
  '[ "$(wc -w <<<"$completed")" = 3 ] && ! grep -qw 0 <<<"$completed"'
run "$cli" status --json
check "status reads the three shards over TLS: $(jq -c .queue.shards "$tmp/out") $(jq -c .problems "$tmp/out")" \
  '[ "$(jq .queue.shards "$tmp/out")" = 3 ] && ! jq -r ".problems[]" "$tmp/out" | grep -qi redis'

# --- shard 0's master hands over to its replica: the daemons follow MOVED to an address they
# have not connected to before, over TLS
home=$(for p in $masters; do [ "$(rc "$p" exists 'agentcron:{default}:counters')" = 1 ] && echo "$p"; done)
replica=$(rc "$home" info replication | sed -n 's/^slave0:ip=[^,]*,port=\([0-9]*\),.*/\1/p')
[ -n "$home" ] && [ -n "$replica" ] || { bad "cannot tell shard 0's master ($home) and its replica ($replica)"; finish; exit 1; }
changed=$(date +%s.%N)
rc "$replica" cluster failover >/dev/null
for _ in $(seq 50); do rc "$replica" role | head -1 | grep -q master && break; sleep 0.1; done
check "the replica ($replica) took over shard 0" '[ "$(rc "$replica" exists "agentcron:{default}:counters")" = 1 ]'
wait_sql "firing resumes after the failover" 25 \
  "select count(*) >= 6 from task_runs where status = 'succeeded' and created_at > to_timestamp($changed)" = t
first_start=$(sql "select round(extract(epoch from min(started_at) - to_timestamp($changed)) * 1000) from task_runs
                   where started_at > to_timestamp($changed)")
check "after the failover the first run started within 5 s: $first_start ms" \
  '[ -n "$first_start" ] && [ "$first_start" -lt 5000 ]'
echo "after the failover: the first run started $first_start ms after the change"
check "a daemon was sent to the new master" 'grep -h "Redis Cluster: MOVED" "$tmp"/*.log | grep -q .'
check "no certificate was refused" '! grep -hi "certificate" "$tmp"/*.log | grep -q .'
finish
