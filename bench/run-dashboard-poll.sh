#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What open dashboards cost the server: 20 of them polling every 2 s for 60 s, 10 on Schedules
# (GET /api/tasks?limit=200: 200 tasks with their next fire times and last 20 outcomes) and 10
# on Runs (GET /api/runs?limit=50), over 20,000 runs. Prints the orchestrator's and Postgres's
# CPU and the answers' p50/p99. Needs the test servers: AGENTCRON_TEST_PG (port 25533 is what
# the Postgres processes are found by) and AGENTCRON_TEST_REDIS, e.g. after
# `scripts/services.sh start mine 25533 26480`. Usage: bench/run-dashboard-poll.sh [BUILD_DIR]
set -u
b=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}; cli=$b/cli/agentcron
: "${AGENTCRON_TEST_PG:?set AGENTCRON_TEST_PG and AGENTCRON_TEST_REDIS (scripts/services.sh start)}"
work=$(mktemp -d); cd "$work" || exit 1
export DATABASE_URL=$AGENTCRON_TEST_PG/pollbench REDIS_URL=$AGENTCRON_TEST_REDIS/5 AGENTS_FILE=$work/agents.json LOG_LEVEL=warn
echo '{"agents": {"one": {"kind": "noop"}}}' > agents.json
psql -q "$AGENTCRON_TEST_PG/postgres" -c "DROP DATABASE IF EXISTS pollbench WITH (FORCE)" -c "CREATE DATABASE pollbench" >/dev/null
redis-cli -u "$REDIS_URL" flushdb >/dev/null
$cli migrate >/dev/null
$cli users add u@example.com --credits 1000000 >/dev/null
KEY=$($cli keys create u@example.com --json | jq -r .key)
psql -qtAX "$DATABASE_URL" -c "insert into tasks (user_id, title, goal, agent_type, schedule, timezone, schedule_enabled, next_run_at) select 1, 'task ' || g, 'g', 'one', (g % 60) || ' * * * *', 'Europe/Paris', true, now() + interval '1 hour' from generate_series(1, 200) g" >/dev/null
psql -qtAX "$DATABASE_URL" -c "insert into task_runs (task_id, user_id, scheduled_for, priority, status, started_at, finished_at) select 1 + g % 200, 1, now() - g * interval '1 minute', 3, 'succeeded', now() - g * interval '1 minute', now() - g * interval '1 minute' + interval '1 second' from generate_series(1, 20000) g" >/dev/null
export HTTP_LISTEN=127.0.0.1:28931
$b/orchestrator/agentcron-orchestrator --instance pollbench > orch.log 2>&1 & opid=$!
sleep 2
cpu() { # ticks of the orchestrator and of every postgres process
  local o p; o=$(awk '{print $14+$15}' /proc/$opid/stat)
  p=0; for pid in $(pgrep -f "postgres.*25533|postgres:"); do p=$((p + $(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null || echo 0))); done
  echo "$o $p"
}
measure() { # measure LABEL N: N dashboards for 60 s
  read -r o0 p0 < <(cpu)
  for i in $(seq "$2"); do
    ( end=$((SECONDS + 60)); while [ $SECONDS -lt $end ]; do
        if [ $((i % 2)) = 0 ]; then path="/api/tasks?limit=200"; else path="/api/runs?limit=50"; fi
        curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $KEY" "http://127.0.0.1:28931$path" >> "lat-$1"
        sleep 2; done ) &
  done
  wait_pids=$(jobs -p | grep -v "^$opid$"); for p in $wait_pids; do [ "$p" != "$opid" ] && wait "$p" 2>/dev/null; done
  read -r o1 p1 < <(cpu)
  n=$(wc -l < "lat-$1")
  echo "$1: $n requests in 60 s; orchestrator $(( (o1 - o0) ))0 ms CPU ($(echo "scale=2; ($o1 - $o0) / 60" | bc) % of a core), postgres $(( (p1 - p0) ))0 ms ($(echo "scale=2; ($p1 - $p0) / 60" | bc) %);" \
       "latency p50 $(sort -n "lat-$1" | awk -v n="$n" 'NR == int(n * 0.5) + 1 {print $1 * 1000}') ms, p99 $(sort -n "lat-$1" | awk -v n="$n" 'NR == int(n * 0.99) + 1 {print $1 * 1000}') ms"
}
measure twenty 20
kill $opid
rm -rf "$work"
