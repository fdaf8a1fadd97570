#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local agentcron: installs what it needs, builds, and runs the whole system on loopback,
# data under .dev/dev: a private Postgres and Redis, the schema, the orchestrator with two
# in-process workers, a local webhook receiver standing in for your app, a demo user with
# credits and demo tasks (an http call to that receiver, a local command); then the runs,
# `agentcron status`, the webhook, and a run over the task API that waits for its result.
#   deploy/dev.sh         start (or keep running) and show it working
#   deploy/dev.sh stop    stop everything (data kept)
#   deploy/dev.sh env     print the settings as exports: eval "$(deploy/dev.sh env)"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=.dev/dev
pg_port=${AGENTCRON_DEV_PG_PORT:-25432} redis_port=${AGENTCRON_DEV_REDIS_PORT:-26379}
hook_port=${AGENTCRON_DEV_HOOK_PORT:-25480} http_port=${AGENTCRON_DEV_HTTP_PORT:-25481}

stop_pid() { # stop_pid NAME: the process in $state/NAME.pid, if it runs
  if [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$state/$1.pid")"
    for _ in $(seq 1 100); do kill -0 "$(cat "$state/$1.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$state/$1.pid"
}
running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
settings() {
  scripts/services.sh env dev
  echo "AGENTS_FILE=$root/$state/agents.json"
  echo "CRON_SECRET=$(cat "$state/cron_secret")"
  echo "HTTP_LISTEN=127.0.0.1:$http_port"
}

case "${1:-start}" in
  stop)
    stop_pid orchestrator
    stop_pid hook
    [ -d "$state" ] && scripts/services.sh stop dev
    echo "agentcron stopped (data kept in $state; \`deploy/dev.sh\` starts it again)"
    exit 0 ;;
  env) # exported, so that the agentcron commands run from that shell see them
    settings | while IFS='=' read -r key value; do printf 'export %s=%q\n' "$key" "$value"; done
    exit 0 ;;
  start) ;;
  *) echo "usage: deploy/dev.sh [start|stop|env]" >&2; exit 2 ;;
esac

scripts/install-deps.sh
scripts/build.sh build
bin=build/cli/agentcron orch=build/orchestrator/agentcron-orchestrator

scripts/services.sh start dev "$pg_port" "$redis_port"
[ -s "$state/cron_secret" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/cron_secret"
# The demo's agents: your app's webhook (here a local receiver that checks the bearer, as a
# Vercel cron route does) and a local command that writes a report and reports its tokens.
cat >"$state/agents.json" <<JSON
{"agents": {
  "app-webhook": {"kind": "http", "url": "http://127.0.0.1:$hook_port/ok", "bearer_env": "CRON_SECRET",
                  "base_credits": 1, "tokens_per_credit": 100, "estimate_credits": 3},
  "demo-report": {"kind": "exec", "base_credits": 1, "tokens_per_credit": 100, "estimate_credits": 2,
                  "command": ["/bin/sh", "-c", "echo \"report on: \$AGENTCRON_GOAL (run \$AGENTCRON_RUN_ID)\"; echo '{\"usage\": {\"prompt_tokens\": 42, \"completion_tokens\": 58}}'"]}
}}
JSON
set -a; eval "$(settings)"; set +a
"$bin" migrate

if ! running hook; then
  nohup python3 tests/tools/peer.py --port "$hook_port" --log "$state/hook-requests.jsonl" --bearer "$CRON_SECRET" \
    >>"$state/hook.log" 2>&1 &
  echo $! >"$state/hook.pid"
fi
# A demo user with credits and two tasks, once (the CLI checks every schedule and zone).
if ! "$bin" users show demo@example.com >/dev/null 2>&1; then
  "$bin" users add demo@example.com --credits 1000
  "$bin" tasks add --user demo@example.com --title "demo: webhook every 10 seconds" --agent app-webhook \
    --goal "Refresh the pricing page" --cron "*/10 * * * * *"
  "$bin" tasks add --user demo@example.com --title "demo: weekday report, 09:00 New York" --agent demo-report \
    --goal "Competitor pricing report" --cron "0 9 * * 1-5" --timezone America/New_York
  "$bin" tasks add --user demo@example.com --title "demo: report every 30 seconds" --agent demo-report \
    --goal "Show that exec agents run" --cron "*/30 * * * * *"
fi

if ! running orchestrator; then
  nohup "$orch" --instance dev --workers 2 >>"$state/orchestrator.log" 2>&1 &
  echo $! >"$state/orchestrator.pid"
fi
echo
echo "agentcron is running: orchestrator with 2 in-process workers (pid $(cat "$state/orchestrator.pid"), log $state/orchestrator.log)"
echo "Postgres $DATABASE_URL, Redis $REDIS_URL, demo webhook receiver http://127.0.0.1:$hook_port"
echo
echo "Waiting for a demo run to finish..."
before=$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs WHERE status = 'succeeded'")
for _ in $(seq 1 150); do
  [ "$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs WHERE status = 'succeeded'")" -gt "$before" ] && break
  sleep 0.1
done
sleep 1 # the orchestrator and its workers publish their first status report as they start
echo
echo "\$ agentcron runs list --limit 3"
"$bin" runs list --limit 3
echo
echo "\$ agentcron status"
"$bin" status || true
echo
echo "\$ curl -H \"Authorization: Bearer \$CRON_SECRET\" http://127.0.0.1:$http_port/check-scheduled-tasks"
curl -s -H "Authorization: Bearer $CRON_SECRET" "http://127.0.0.1:$http_port/check-scheduled-tasks"; echo
# An API key for the demo user (shown once at creation, so kept here for the next start)
[ -s "$state/api_key" ] || "$bin" keys create demo@example.com --json | jq -r .key >"$state/api_key"
echo
echo "\$ curl -H \"Authorization: Bearer \$KEY\" -H \"Content-Type: application/json\" \\"
echo "    -d '{\"goal\": \"A report now\", \"agentType\": \"demo-report\", \"async\": false}' http://127.0.0.1:$http_port/api/agent/execute"
curl -s -H "Authorization: Bearer $(cat "$state/api_key")" -H "Content-Type: application/json" \
  -d '{"goal": "A report now", "agentType": "demo-report", "async": false}' "http://127.0.0.1:$http_port/api/agent/execute"
echo
echo "(the API key is in $state/api_key)"
echo "The dashboard: http://127.0.0.1:$http_port/ (sign in with that key)"
echo
echo "Next: \`eval \"\$(deploy/dev.sh env)\"\` then \`build/cli/agentcron --help\`; stop with \`deploy/dev.sh stop\`."
