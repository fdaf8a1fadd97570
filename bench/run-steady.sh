#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Steady state at scale: 1,000,000 tasks, each with a daily 6-field schedule, their slots spread
# over the day's seconds (about 12 due a second), one orchestrator and one worker (noop agent,
# concurrency 64) on private Postgres and Redis under .dev/bench. For a window of BENCH_WINDOW_S
# (default 120) after a warm-up: the CPU of the orchestrator, of the worker and of the Postgres
# backends serving each (from /proc), the orchestrator's RSS, and each run's lateness (slot to
# queued, slot to running: p50, p99, max). Then with nothing due (every task moved a year ahead)
# for BENCH_IDLE_S (default 60): the same CPU figures and the database's transactions a second
# (pg_stat_database). BENCH_TASKS changes the count.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
scripts/services.sh start bench 25440 26390
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; scripts/services.sh stop bench' EXIT
base=postgresql://agentcron@127.0.0.1:25440
export DATABASE_URL=$base/bench_steady REDIS_URL=redis://127.0.0.1:26390/2 LOG_LEVEL=warn HTTP_LISTEN=off
export AGENT_WORKER_CONCURRENCY=64
tasks=${BENCH_TASKS:-1000000} window=${BENCH_WINDOW_S:-120} idle=${BENCH_IDLE_S:-60}
hz=$(getconf CLK_TCK)
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }

echo "steady-state benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
psql -q "$base/postgres" -c "DROP DATABASE IF EXISTS bench_steady WITH (FORCE)" -c "CREATE DATABASE bench_steady"
build-release/cli/agentcron migrate >/dev/null
redis-cli -u "$REDIS_URL" flushdb >/dev/null
sql "INSERT INTO users (email) VALUES ('bench@example.com')" >/dev/null
started=$(date +%s.%N)
# task g's slot: second (g * 86400 / tasks) of the UTC day, next at its first occurrence from now
sql "INSERT INTO tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     SELECT 1, 'steady ' || g, 'noop', to_char(at, 'FMSS FMMI FMHH24') || ' * * *', true,
            CASE WHEN at > now() + interval '2 seconds' THEN at ELSE at + interval '1 day' END
     FROM (SELECT g, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                     + make_interval(secs => (g::bigint * 86400 / $tasks)) AS at
           FROM generate_series(0, $tasks - 1) g) s" >/dev/null
sql "VACUUM ANALYZE tasks" >/dev/null
printf '%s tasks inserted in %.0f s\n\n' "$tasks" "$(echo "$(date +%s.%N) - $started" | bc)"

build-release/orchestrator/agentcron-orchestrator --instance steady-o 2>>.dev/bench/steady.log & pids+=($!)
orch_pid=$!
build-release/agentworker/agentcron-worker --instance steady-w 2>>.dev/bench/steady.log & pids+=($!)
worker_pid=$!

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# the Postgres backends serving the orchestrator (schedulers, LISTEN, alerts, retention) and the
# worker, looked up before each window so that sampling runs no query of its own
find_backends() {
  orch_backends=$(sql "SELECT pid FROM pg_stat_activity WHERE datname = 'bench_steady' AND application_name LIKE 'agentcron-%'
                        AND application_name <> 'agentcron-worker'")
  worker_backends=$(sql "SELECT pid FROM pg_stat_activity WHERE datname = 'bench_steady' AND application_name = 'agentcron-worker'")
}
# cpu_sample: "orchestrator worker orchestrator-backends worker-backends" in clock ticks
cpu_sample() {
  local o=0 w=0 p
  for p in $orch_backends; do o=$((o + $(ticks "$p"))); done
  for p in $worker_backends; do w=$((w + $(ticks "$p"))); done
  echo "$(ticks "$orch_pid") $(ticks "$worker_pid") $o $w"
}
xacts() { sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench_steady'"; }
# the first read of the counter is a transaction of this script's own: not counted
# report SECONDS BEFORE AFTER: the four CPU shares in % of one core
report() {
  read -r a1 a2 a3 a4 <<<"$2"; read -r b1 b2 b3 b4 <<<"$3"
  awk -v s="$1" -v hz="$hz" -v d1=$((b1 - a1)) -v d2=$((b2 - a2)) -v d3=$((b3 - a3)) -v d4=$((b4 - a4)) 'BEGIN {
    f = 100 / (s * hz)
    printf "  CPU (%% of a core): orchestrator %.2f, its Postgres backends %.2f; worker %.2f, its backends %.2f\n",
      d1 * f, d3 * f, d2 * f, d4 * f }'
}

sleep "${BENCH_WARMUP_S:-20}"
echo "due: about $((tasks / 86400)) a second, for ${window} s"
find_backends
t0=$(date +%s.%N) c0=$(cpu_sample) x0=$(xacts)
sleep "$window"
t1=$(date +%s.%N) c1=$(cpu_sample) x1=$(xacts)
report "$(echo "$t1 - $t0" | bc)" "$c0" "$c1"
echo "  RSS: orchestrator $(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$orch_pid/status) MB" \
     "(peak $(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$orch_pid/status) MB)"
echo "  transactions: $(awk -v a="$x0" -v b="$x1" -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN {printf "%.1f", (b - a - 1) / s}') a second"
sleep 3 # the window's last runs start
# a run readied ahead (SCHEDULE_LOOKAHEAD_MS) is queued as of its slot: slot to running is its lateness
sql "SELECT '  runs: ' || count(*) || ' (' || count(*) FILTER (WHERE ahead) || ' readied ahead)' ||
            ', lateness slot to queued p50 ' ||
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY q)::numeric, 1) || ' ms, p99 ' ||
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY q)::numeric, 1) || ' ms, max ' || round(max(q)::numeric, 1) ||
            ' ms; slot to running p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY r)::numeric, 1) ||
            ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY r)::numeric, 1) || ' ms, max ' ||
            round(max(r)::numeric, 1) || ' ms'
     FROM (SELECT extract(epoch FROM enqueued_at - scheduled_for) * 1000 AS q,
                  extract(epoch FROM started_at - scheduled_for) * 1000 AS r, created_at < scheduled_for AS ahead
           FROM task_runs WHERE scheduled_for BETWEEN to_timestamp($t0) AND to_timestamp($t1)) x"
echo "  tasks overdue by more than a second at the end: $(sql "SELECT count(*) FROM tasks WHERE next_run_at < now() - interval '1 second'")"

echo
echo "nothing due (every task a year ahead), for ${idle} s"
sql "UPDATE tasks SET next_run_at = next_run_at + interval '1 year'" >/dev/null
sleep 15 # the orchestrator takes the change in; Postgres flushes its counters
find_backends
t0=$(date +%s.%N) c0=$(cpu_sample) x0=$(xacts)
sleep "$idle"
t1=$(date +%s.%N) c1=$(cpu_sample) x1=$(xacts)
report "$(echo "$t1 - $t0" | bc)" "$c0" "$c1"
echo "  transactions: $(awk -v a="$x0" -v b="$x1" -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN {printf "%.2f", (b - a - 1) / s}') a second"
echo "  RSS: orchestrator $(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$orch_pid/status) MB"
