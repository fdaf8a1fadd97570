#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The durable steps benchmark: an 8-step llm agent loop (4 model calls, 4 tool calls) against a
# local OpenAI-compatible model and tool that answer at once (bench/peers/llm_sim.py), N runs
# (default 1,000) at concurrency 64 (two workers of 32):
#   1. calm: no kills. Steps per second, and what agentcron adds per step: the time between a
#      call's answer and the run's next call (its checkpoint, and a reservation before a model
#      call), against a bare HTTP client making the same calls with nothing recorded;
#   2. chaos: model calls taking 500 ms and tool calls 100 ms (a run lasts seconds, as agents
#      do), a worker killed with -9 every 5 s (and restarted at once; its runs are taken over
#      after WORKER_LEASE_S=2). Steps per second, tokens charged, tokens paid twice (a model
#      call made again for a step already recorded: the target is 0), tokens lost in flight (a
#      model answer received by a worker killed before it was recorded: paid to the provider,
#      made again, never charged), and what restarting each interrupted run from scratch would
#      have wasted instead (those calls, and every model call its earlier attempts completed).
# Private Postgres and Redis under .dev/bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
scripts/services.sh start bench 25440 26390
sim=
trap '[ -n "$sim" ] && kill "$sim" 2>/dev/null; pkill -f "agentcron-worker --instance steps-" 2>/dev/null; scripts/services.sh stop bench' EXIT
n=${BENCH_RUNS:-1000} per_worker=${BENCH_CONCURRENCY:-32} # runs at once per worker (two workers)
users=${BENCH_USERS:-100} # the runs' owners, in turn (one user: every step waits for that user's row)
model_ms=${BENCH_MODEL_MS:-500} tool_ms=${BENCH_TOOL_MS:-100} # the chaos round's latencies: runs last long enough to be killed
redis=redis://127.0.0.1:26390 base=postgresql://agentcron@127.0.0.1:25440
export LOG_LEVEL=warn HTTP_LISTEN=off WORKER_LEASE_S=2 STATUS_INTERVAL_S=5
bin=build-release
mkdir -p .dev/bench
rm -f .dev/bench/sim.port .dev/bench/answers.jsonl
python3 bench/peers/llm_sim.py --port-file .dev/bench/sim.port --log .dev/bench/answers.jsonl 2>>.dev/bench/sim.log & sim=$!
for _ in $(seq 1 50); do [ -s .dev/bench/sim.port ] && break; sleep 0.1; done
port=$(cat .dev/bench/sim.port)
cat >.dev/bench/steps-agents.json <<JSON
{"agents": {"loop8": {"kind": "llm", "base_url": "http://127.0.0.1:$port", "model": "sim", "max_tokens": 200,
                      "max_steps": 8, "base_credits": 1, "tokens_per_credit": 100,
                      "tools": {"lookup": {"url": "http://127.0.0.1:$port/tool", "parameters": {"type": "object"}}}}}}
JSON
export AGENTS_FILE=$root/.dev/bench/steps-agents.json

echo "steps benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "$n runs of an 8-step llm loop (4 model calls of 120 tokens, 4 tool calls) of $users users, concurrency $((2 * per_worker)) (2 workers x $per_worker)"
echo

workers=()
start_worker() { "$bin/agentworker/agentcron-worker" --instance "steps-$1" --concurrency "$per_worker" 2>>.dev/bench/steps-worker.log & workers[$2]=$!; }
# round NAME KILL_EVERY_S MODEL_MS TOOL_MS: N runs queued, drained by two workers (one killed
# every KILL_EVERY_S, 0: never), the model and the tool answering after MODEL_MS and TOOL_MS
round() {
  local name=$1 every=$2
  curl -s "http://127.0.0.1:$port/config?model_ms=$3&tool_ms=$4" >/dev/null
  psql -q "$base/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_steps WITH (FORCE)" \
    -c "CREATE DATABASE bench_steps"
  export DATABASE_URL=$base/bench_steps REDIS_URL=$redis/6
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  "$bin/cli/agentcron" migrate >/dev/null
  psql -qtAX "$DATABASE_URL" >/dev/null <<SQL
INSERT INTO users (email, monthly_credits) SELECT 'bench' || u || '@example.com', 100000000 FROM generate_series(1, $users) u;
INSERT INTO tasks (user_id, title, agent_type, max_attempts, goal)
SELECT u, 'loop', 'loop8', 100, 'research' FROM generate_series(1, $users) u;
INSERT INTO task_runs (task_id, user_id, scheduled_for, priority)
SELECT 1 + g % $users, 1 + g % $users, timestamptz '2026-01-01' + g * interval '1 second', 3 FROM generate_series(1, $n) g;
SQL
  "$bin/orchestrator/agentcron-orchestrator" --instance steps-enqueue 2>>.dev/bench/steps-worker.log & local orch=$!
  for _ in $(seq 1 600); do [ "$(redis-cli -u "$REDIS_URL" zcard 'agentcron:{default}:waiting')" = "$n" ] && break; sleep 0.1; done
  kill -TERM "$orch"; wait "$orch" || true
  curl -s "http://127.0.0.1:$port/stats" >/dev/null # a clean slate
  : >.dev/bench/answers.jsonl
  local t0 kills=0 next k=0 left
  t0=$(date +%s.%N)
  start_worker a 0; start_worker b 1
  next=$(echo "$t0 + $every" | bc)
  while :; do
    left=$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs WHERE finished_at IS NULL")
    [ "$left" = 0 ] && break
    if [ "$every" != 0 ] && [ "$(echo "$(date +%s.%N) >= $next" | bc)" = 1 ]; then
      kill -9 "${workers[$k]}"; wait "${workers[$k]}" 2>/dev/null || true
      kills=$((kills + 1)); start_worker "k$kills" "$k"; k=$((1 - k)); next=$(echo "$next + $every" | bc)
    fi
    sleep 0.2
  done
  local secs
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  kill -TERM "${workers[@]}"; wait "${workers[@]}" 2>/dev/null || true
  local stats
  stats=$(curl -s "http://127.0.0.1:$port/stats")
  psql -qtAX "$DATABASE_URL" -F ' ' -c "SELECT run_id, step_id, extract(epoch FROM finished_at), attempt FROM run_steps" >.dev/bench/recorded.txt
  psql -qtAX "$DATABASE_URL" -F ' ' -c "SELECT id, attempt FROM task_runs" >.dev/bench/runs.txt
  python3 - "$name" "$secs" "$kills" "$stats" <<'PY'
import collections, json, sys
name, secs, kills, stats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
recorded = {}  # (run, step) -> (finished, attempt)
for line in open(".dev/bench/recorded.txt"):
    run, step, fin, att = line.split()
    recorded[(int(run), step)] = (float(fin), int(att))
final_attempt = {int(r): int(a) for r, a in (l.split() for l in open(".dev/bench/runs.txt"))}
answers = collections.defaultdict(list)
for line in open(".dev/bench/answers.jsonl"):
    a = json.loads(line)
    answers[(a["run"], a["step"])].append(a["t"])
tokens = 120
paid_twice = lost = 0
for key, times in answers.items():
    fin = recorded.get(key, (float("inf"), 0))[0]
    for t in sorted(times)[1:]:
        if t > fin + 0.001:  # asked again after the step was recorded: paid twice
            paid_twice += tokens
        else:
            lost += tokens  # the earlier answer never got recorded: made again
charged = sum(tokens for (run, step) in recorded if step.startswith("model-"))
# restarting from scratch: each interrupted attempt would throw away every model step done so far,
# on top of the call in flight that is lost either way
from_scratch = lost
for (run, step), (fin, att) in recorded.items():
    if step.startswith("model-"):
        from_scratch += tokens * max(0, final_attempt[run] - att)
steps = len(recorded)
print(json.dumps({"round": name, "runs": len(final_attempt), "seconds": round(secs, 1), "kills": kills,
                  "steps": steps, "steps_per_s": round(steps / secs), "gap_p50_ms": stats["gap_p50_ms"],
                  "gap_mean_ms": stats["gap_mean_ms"], "gap_p99_ms": stats["gap_p99_ms"], "takeovers": stats["takeovers"],
                  "tokens_charged": charged, "tokens_paid_twice": paid_twice, "tokens_lost_in_flight": lost,
                  "tokens_wasted_restarting_from_scratch": from_scratch}))
PY
  psql -qtAX "$DATABASE_URL" -c "SELECT 'users whose ledger is not credits_used: ' || count(*) FILTER (WHERE (SELECT coalesce(sum(delta), 0)
    FROM credit_ledger l WHERE l.user_id = u.id AND reason IN ('charge', 'step')) <> credits_used) || ', credits left reserved: '
    || sum(credits_reserved) || ', runs not succeeded: ' || (SELECT count(*) FROM task_runs WHERE status <> 'succeeded') FROM users u" >&2
}

bare=$(python3 bench/peers/llm_sim.py --baseline 200)
calm=$(round calm 0 0 0)
chaos=$(round chaos 5 "$model_ms" "$tool_ms")
echo "$calm" | jq -r '"calm:  \(.takeovers) step gaps over 1 s; \(.steps) steps in \(.seconds) s: \(.steps_per_s) steps/s; between a call'"'"'s answer and the next call: p50 \(.gap_p50_ms | . * 100 | round / 100) ms, mean \(.gap_mean_ms | . * 100 | round / 100) ms, p99 \(.gap_p99_ms | . * 100 | round / 100) ms"'
echo "$bare" | jq -r '"bare:  a client recording nothing leaves p50 \(.gap_p50_ms | . * 100 | round / 100) ms, mean \(.gap_mean_ms | . * 100 | round / 100) ms between calls"'
jq -rn --argjson c "$calm" --argjson b "$bare" '"overhead per step: \(($c.gap_mean_ms - $b.gap_mean_ms) | . * 100 | round / 100) ms (mean), \(($c.gap_p50_ms - $b.gap_p50_ms) | . * 100 | round / 100) ms (p50)"'
echo "$chaos" | jq -r '"chaos ('"$model_ms"' ms a model call, '"$tool_ms"' ms a tool call): \(.kills) workers killed (-9), \(.takeovers) step gaps over 1 s (takeovers); \(.steps) steps in \(.seconds) s: \(.steps_per_s) steps/s; between an answer and the next call: p50 \(.gap_p50_ms | . * 100 | round / 100) ms, mean \(.gap_mean_ms | . * 100 | round / 100) ms"'
echo "$chaos" | jq -r '"       tokens charged \(.tokens_charged), paid twice \(.tokens_paid_twice); wasted: \(.tokens_lost_in_flight) (calls in flight at the kills, made again), restarting from scratch \(.tokens_wasted_restarting_from_scratch)"'
echo
echo "$calm"
echo "$chaos"
