#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The worker benchmark, side by side on one Redis: N no-op jobs (default 100,000) with random
# priorities 1-4, drained at concurrency 64 by
#   1. BullMQ (npm bullmq): a Worker with a no-op processor;
#   2. graphile-worker (npm graphile-worker), a Postgres-only queue that keeps no history, on
#      the same Postgres with the settings of its own performance page (bench/peers/graphile_worker.mjs);
#   3. agentcron's queue alone (bench/queue_bench.c): claim a batch, ack it in one pipeline;
#   4. agentcron-worker with the noop agent: the full path, every run marked running and
#      recorded in Postgres (batched) before its job is acknowledged;
#   5. the same with alerts and tracing on: a trace per run exported over OTLP/HTTP to a sink
#      (bench/peers/otlp_sink.py) and an orchestrator evaluating alert rules every second.
# They take turns for BENCH_ROUNDS rounds (default 3; this machine's speed wanders by a
# third from minute to minute); the medians and their ratios are printed. Private Postgres and
# Redis under .dev/bench. With BENCH_BASELINE=REV (a git revision), the full path as of REV
# (built in a worktree under .dev/bench) takes its turn too, to measure what a change costs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
(cd bench/peers && npm install --no-audit --no-fund --loglevel=error >/dev/null)
baseline=
if [ -n "${BENCH_BASELINE:-}" ]; then
  baseline=$root/.dev/bench/baseline
  git worktree remove --force "$baseline" 2>/dev/null || rm -rf "$baseline"
  git worktree add --force --detach "$baseline" "$BENCH_BASELINE" >/dev/null
  (cd "$baseline" && scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null)
fi
scripts/services.sh start bench 25440 26390
trap 'scripts/services.sh stop bench' EXIT
n=${BENCH_JOBS:-100000} rounds=${BENCH_ROUNDS:-3}
redis=redis://127.0.0.1:26390 base=postgresql://agentcron@127.0.0.1:25440
export LOG_LEVEL=warn HTTP_LISTEN=off

echo "worker benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "$n no-op jobs, random priorities 1-4, concurrency 64, $rounds rounds"
echo

# Each contender starts from a compacted Redis AOF and a Postgres checkpoint, so neither pays
# for the other's leftovers (an AOF rewrite in the middle of a run costs a core for a while).
settle_servers() {
  redis-cli -u "$redis" bgrewriteaof >/dev/null 2>&1 || true
  for _ in $(seq 1 300); do
    redis-cli -u "$redis" info persistence | grep -q 'aof_rewrite_in_progress:0' && break; sleep 0.1
  done
  psql -qtAX "$base/postgres" -c "CHECKPOINT" >/dev/null
}
cpu_of() { for p in $(pgrep "$1"); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }

bullmq_round() {
  settle_servers
  node bench/peers/bullmq_worker.mjs 127.0.0.1 26390 3 "$n" 64 | jq .jobs_per_s
}
graphile_round() {
  psql -q "$base/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_graphile WITH (FORCE)" \
    -c "CREATE DATABASE bench_graphile"
  settle_servers
  node bench/peers/graphile_worker.mjs "$base/bench_graphile" "$n" 64 | jq .jobs_per_s
}
queue_round() {
  redis-cli -u "$redis/4" flushdb >/dev/null
  settle_servers
  build-release/bench/queue_bench "$redis/4" "$n" 64 | jq .jobs_per_s
}
# N queued runs in Postgres, put in the queue by an orchestrator's reconciliation, then drained
# by one agentcron-worker of the tree TREE (default: this one); prints jobs/s and, on stderr,
# what it cost.
full_round() {
  local tree=${1:-$root} observe=${2:-}
  psql -q "$base/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_worker WITH (FORCE)" \
    -c "CREATE DATABASE bench_worker"
  export DATABASE_URL=$base/bench_worker REDIS_URL=$redis/5
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  AGENTCRON_MIGRATIONS_DIR=$tree/migrations "$tree/build-release/cli/agentcron" migrate >/dev/null
  psql -qtAX "$DATABASE_URL" >/dev/null <<SQL
INSERT INTO users (email) VALUES ('bench@example.com');
INSERT INTO tasks (user_id, title, agent_type) VALUES (1, 'bench', 'noop');
INSERT INTO task_runs (task_id, user_id, scheduled_for, priority)
SELECT 1, 1, timestamptz '2026-01-01' + g * interval '1 second', 1 + floor(random() * 4)::int FROM generate_series(1, $n) g;
SQL
  "$tree/build-release/orchestrator/agentcron-orchestrator" --instance bench-enqueue 2>>.dev/bench/worker.log & local orch=$!
  for _ in $(seq 1 600); do [ "$(redis-cli -u "$REDIS_URL" zcard 'agentcron:{default}:waiting')" = "$n" ] && break; sleep 0.1; done
  kill -TERM "$orch"; wait "$orch" || true
  local sink= alerts= otel=()
  if [ -n "$observe" ]; then # alerts and tracing on: a sink for spans and alerts, rules evaluated every second
    python3 bench/peers/otlp_sink.py .dev/bench/sink.port 2>>.dev/bench/sink.log & sink=$!
    for _ in $(seq 1 50); do [ -s .dev/bench/sink.port ] && break; sleep 0.1; done
    local hook=http://127.0.0.1:$(cat .dev/bench/sink.port)
    for rule in "run_failed" "failures_in_row --threshold 3" "no_success --for 1h"; do
      # shellcheck disable=SC2086
      "$tree/build-release/cli/agentcron" alerts add "bench $rule" --when $rule --channel webhook --to "$hook/alert" >/dev/null
    done
    ALERT_INTERVAL_S=1 ALERT_SIGNING_KEY=bench "$tree/build-release/orchestrator/agentcron-orchestrator" --instance bench-alerts \
      2>>.dev/bench/worker.log & alerts=$!
    # a long-running orchestrator: its start-up reconciliation of the 100,000 queued runs is not
    # the alerts' cost (its first status report follows it)
    for _ in $(seq 1 300); do redis-cli -u "$REDIS_URL" exists agentcron:{default}:status:orchestrator:bench-alerts | grep -q 1 && break; sleep 0.1; done
    otel=(OTEL_EXPORTER_OTLP_ENDPOINT="$hook")
  fi
  psql -qtAX "$DATABASE_URL" -c "VACUUM ANALYZE task_runs" >/dev/null
  settle_servers
  local pg0 rd0 t0 t1 worker
  pg0=$(cpu_of postgres) rd0=$(cpu_of redis-server)
  t0=$(date +%s%N)
  env "${otel[@]}" "$tree/build-release/agentworker/agentcron-worker" --instance bench --concurrency 64 2>>.dev/bench/worker.log & worker=$!
  # one redis-cli asks every 20 ms (one started every 20 ms took an eighth of the machine's CPU
  # from the contender; the peers' scripts time themselves), until all are acknowledged; a
  # watchdog ends the wait if the worker ends first (a crash: say so rather than wait for ever;
  # `wait -n` would miss a worker that exited before it was called)
  redis-cli -u "$REDIS_URL" -r -1 -i 0.02 hget 'agentcron:{default}:counters' completed | grep -qx "$n" &
  local poll=$!
  (while kill -0 "$worker" 2>/dev/null; do sleep 0.2; done; kill "$poll" 2>/dev/null) & local watchdog=$!
  wait "$poll" || true
  t1=$(date +%s%N)
  kill "$watchdog" 2>/dev/null || true
  if ! kill -0 "$worker" 2>/dev/null; then
    echo "full path: agentcron-worker exited before all $n runs were acknowledged; see .dev/bench/worker.log" >&2
    exit 1
  fi
  local rss wcpu recorded
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$worker/status") wcpu=$(awk '{print $14 + $15}' "/proc/$worker/stat")
  local at=
  [ "$tree" = "$root" ] || at=" at $BENCH_BASELINE"
  echo "    full path$at${observe:+ with alerts and tracing}: $n runs recorded in $(( (t1 - t0) / 1000000 )) ms; CPU: worker $((wcpu * 10)) ms," \
       "Postgres $(( ($(cpu_of postgres) - pg0) * 10 )) ms, Redis $(( ($(cpu_of redis-server) - rd0) * 10 )) ms;" \
       "worker peak RSS $((rss / 1024)) MB" >&2
  kill -TERM "$worker"; wait "$worker" || true
  if [ -n "$observe" ]; then
    kill -TERM "$alerts"; wait "$alerts" || true
    kill -TERM "$sink"; wait "$sink" || true
    rm -f .dev/bench/sink.port
  fi
  recorded=$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs WHERE status = 'succeeded'")
  [ "$recorded" = "$n" ] || { echo "full path: only $recorded of $n runs recorded" >&2; exit 1; }
  awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN {printf "%.0f\n", n / (ns / 1e9)}'
}

b=() g=() q=() f=() o=() x=()
for r in $(seq 1 "$rounds"); do
  b+=("$(bullmq_round)"); g+=("$(graphile_round)"); q+=("$(queue_round)"); f+=("$(full_round)")
  x+=("$(full_round "$root" observe)")
  [ -z "$baseline" ] || o+=("$(full_round "$baseline")")
  echo "  round $r: BullMQ ${b[-1]}, graphile-worker ${g[-1]}, agentcron queue ${q[-1]}, agentcron-worker full path ${f[-1]}," \
       "with alerts and tracing ${x[-1]}${baseline:+, at $BENCH_BASELINE ${o[-1]}} jobs/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mb=$(median "${b[@]}") mg=$(median "${g[@]}") mq=$(median "${q[@]}") mf=$(median "${f[@]}") mx=$(median "${x[@]}")
echo
echo "medians of $rounds rounds (jobs/s):"
echo "  BullMQ 6.7 Worker                 $mb"
echo "  graphile-worker 0.18              $mg   (no history: a finished job is deleted)"
echo "  agentcron queue alone             $mq   ($(ratio "$mq" "$mb")x BullMQ)"
echo "  agentcron-worker, full path       $mf   ($(ratio "$mf" "$mb")x BullMQ, $(ratio "$mf" "$mg")x graphile-worker; every run recorded in Postgres)"
echo "  full path, alerts and tracing on  $mx   ($(awk -v a="$mx" -v b="$mf" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}') against the full path; a trace per run exported)"
if [ -n "$baseline" ]; then
  mo=$(median "${o[@]}")
  echo "  full path at $BENCH_BASELINE        $mo   (this tree: $(awk -v a="$mf" -v b="$mo" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}'))"
  git worktree remove --force "$baseline" >/dev/null 2>&1 || true
fi
