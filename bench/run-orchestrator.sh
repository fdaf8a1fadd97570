#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The orchestrator benchmark: N tasks due at the same instant (N = 1,000, 10,000, 100,000;
# one orchestrator, then two), the time from that instant until each run is ready in the Redis
# queue (p50, p99, max: its entry's ready_at when it was readied ahead and moved from the delayed
# set at its slot, else its enqueued_at), and the orchestrators' peak RSS. SCHEDULE_LOOKAHEAD_MS
# is the orchestrator's (default 5000; 0 to measure runs written at their slot). Then, on the same Redis, BullMQ's
# job schedulers (10,000 x '* * * * *', a Worker with concurrency 64): how long after the
# minute its jobs start. Private Postgres and Redis under .dev/bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
(cd bench/peers && npm install --no-audit --no-fund --loglevel=error >/dev/null)
scripts/services.sh start bench 25440 26390
trap 'scripts/services.sh stop bench' EXIT
base=postgresql://agentcron@127.0.0.1:25440
export REDIS_URL=redis://127.0.0.1:26390/1 LOG_LEVEL=warn POLL_INTERVAL_MS=10000 HTTP_LISTEN=off
orch=build-release/orchestrator/agentcron-orchestrator
sizes=${BENCH_SIZES:-1000 10000 100000}

echo "orchestrator benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), SCHEDULE_LOOKAHEAD_MS=${SCHEDULE_LOOKAHEAD_MS:-5000}"
echo
# round N: N tasks due at one instant T a few seconds ahead (a daily 6-field schedule whose slot
# is T), against orchestrators that are already running; prints "T_ms".
round() {
  # the orchestrators' status query can deadlock with the TRUNCATE's locks: try again
  for try in 1 2 3 4 5; do
    psql -qtAX "$DATABASE_URL" -c "SET client_min_messages = warning; TRUNCATE task_runs, tasks, live_runs, run_attempts RESTART IDENTITY CASCADE" \
      >/dev/null 2>&1 && break
    [ "$try" = 5 ] && { echo "TRUNCATE failed 5 times" >&2; exit 1; }; sleep 0.2
  done
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  psql -qtAX "$DATABASE_URL" <<SQL
WITH t AS (SELECT date_trunc('second', now()) + interval '$(($1 / 20000 + 4)) seconds' AS at)
INSERT INTO tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
SELECT 1, 'bench ' || g, 'noop', to_char(t.at AT TIME ZONE 'UTC', 'FMSS FMMI FMHH24') || ' * * *', true, t.at
FROM t, generate_series(1, $1) g;
SELECT (extract(epoch FROM next_run_at) * 1000)::bigint FROM tasks LIMIT 1;
SQL
  # one redis-cli asking every 100 ms, not one started each time: that costs CPU the burst needs
  redis-cli -u "$REDIS_URL" -r 900 -i 0.1 zcard 'agentcron:{default}:waiting' | grep -qx "$1" || true
}

printf '%-14s %8s %10s %10s %10s %12s\n' orchestrators tasks p50_ms p99_ms max_ms peak_rss_mb
for k in 1 2; do
  psql -q "$base/postgres" -c "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"
  export DATABASE_URL=$base/bench
  build-release/cli/agentcron migrate >/dev/null
  psql -qtAX "$DATABASE_URL" -c "INSERT INTO users (email) VALUES ('bench@example.com')"
  pids=()
  for i in $(seq 1 "$k"); do "$orch" --instance "bench$i" 2>>.dev/bench/orchestrator.log & pids+=($!); done
  round 1000 >/dev/null # warm-up: the daemons run for long; their first statements are planned once
  for n in $sizes; do
    t_ms=$(round "$n")
    redis-cli -u "$REDIS_URL" --raw eval "local out = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do out[#out + 1] = redis.call('HGET', k, 'ready_at') or redis.call('HGET', k, 'enqueued_at') end return out" 0 'agentcron:{default}:job:*' \
      | awk -v t="$t_ms" '{print $1 - t}' | sort -n >.dev/bench/lateness.txt
    got=$(wc -l <.dev/bench/lateness.txt)
    pick() { awk -v q="$1" -v c="$got" 'NR == int(q * (c - 1)) + 1 {print; exit}' .dev/bench/lateness.txt; }
    rss=0
    for p in "${pids[@]}"; do r=$(awk '/VmHWM/ {print $2}' "/proc/$p/status"); [ "$r" -gt "$rss" ] && rss=$r; done
    printf '%-14s %8s %10s %10s %10s %12s\n' "$k" "$got/$n" "$(pick 0.5)" "$(pick 0.99)" "$(tail -1 .dev/bench/lateness.txt)" "$((rss / 1024))"
    [ "$k" = 1 ] && [ "$n" = 10000 ] && ours_p50=$(pick 0.5) && ours_p99=$(pick 0.99)
  done
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
done

[ "${BENCH_SKIP_PEER:-0}" = 1 ] && exit 0
echo
echo "BullMQ job schedulers on the same Redis (10,000 x '* * * * *', Worker concurrency 64; waits for a minute):"
bullmq=$(node bench/peers/bullmq_schedulers.mjs 127.0.0.1 26390 2 10000)
echo "  $bullmq"
echo "  BullMQ reports when jobs start; agentcron above reports when runs are ready in the queue."
if [ -n "${ours_p99:-}" ]; then
  their_p50=$(echo "$bullmq" | jq .p50) their_p99=$(echo "$bullmq" | jq .p99)
  echo "  10,000 due at once, one orchestrator against BullMQ: p50 ${ours_p50} ms vs ${their_p50} ms" \
       "($(awk -v a="$their_p50" -v b="$ours_p50" 'BEGIN {printf "%.1f", a / (b > 0 ? b : 1)}')x sooner)," \
       "p99 ${ours_p99} ms vs ${their_p99} ms ($(awk -v a="$their_p99" -v b="$ours_p99" 'BEGIN {printf "%.1f", a / (b > 0 ? b : 1)}')x sooner)"
fi
