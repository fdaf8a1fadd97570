#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dashboard in Debian's chromium against a real orchestrator, worker, Postgres and Redis
# (dashboard.mjs has the checks). Installs the pinned playwright-core and axe-core from npm into
# tests/browser/node_modules; screenshots go to BUILD_DIR/test-artifacts/dashboard.
# Usage: test_dashboard.sh BUILD_DIR
build=${1:?usage: test_dashboard.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
worker=$build/agentworker/agentcron-worker
cli=$build/cli/agentcron
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR AGENTCRON_WEB_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info POLL_INTERVAL_MS=1000 SHUTDOWN_GRACE_S=2
trap 'stop_all; cleanup' EXIT
command -v /usr/bin/chromium >/dev/null || { echo "chromium is needed: scripts/install-deps.sh installs it"; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/axe-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci in tests/browser failed"; exit 1; }
fi
cat >"$tmp/agents.json" <<EOF
{"agents": {"sleeper": {"kind": "exec", "command": ["/bin/sh", "-c", "echo started; sleep 1; echo still going; sleep 60"], "kill_grace_ms": 200},
            "broken": {"kind": "exec", "command": ["/bin/sh", "-c", "echo oops >&2; exit 7"]},
            "stepper": {"kind": "exec", "tokens_per_credit": 1000, "command": ["/bin/sh", "-c",
              "echo '{\\"step\\": \\"fetch\\", \\"output\\": {\\"rows\\": 3}}'; echo '{\\"step\\": \\"summarise\\", \\"output\\": {\\"summary\\": \\"three rows\\"}, \\"usage\\": {\\"prompt_tokens\\": 1500, \\"completion_tokens\\": 300}}'"]},
            "one": {"kind": "noop"}}}
EOF
export AGENTS_FILE=$tmp/agents.json
export DATABASE_URL; DATABASE_URL=$(fresh_db dashboard_browser)
export REDIS_URL="$AGENTCRON_TEST_REDIS/12"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null || { echo "migrate failed"; exit 1; }
"$cli" users add alice@example.com --credits 1000 >/dev/null
"$cli" users add bob@example.com --credits 1000 >/dev/null
ALICE_KEY=$("$cli" keys create alice@example.com --json | jq -r .key)
BOB_KEY=$("$cli" keys create bob@example.com --json | jq -r .key)
OP_KEY=$("$cli" keys create bob@example.com --operator --json | jq -r .key)
"$cli" tasks add --user alice@example.com --title "alice nightly" --agent one --cron "0 3 * * *" --timezone Europe/London >/dev/null
BOB_TASK=$("$cli" tasks add --user bob@example.com --title "bob hourly" --agent one --cron "@hourly" --json | jq -r .id)
sleeper=$("$cli" tasks add --user alice@example.com --title "alice long job" --agent sleeper --json | jq -r .id)
broken=$("$cli" tasks add --user alice@example.com --title "alice broken" --agent broken --max-attempts 1 --json | jq -r .id)
stepper=$("$cli" tasks add --user alice@example.com --title "alice agent with steps" --agent stepper --json | jq -r .id)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HTTP_LISTEN=127.0.0.1:$port
"$orch" --instance browser >"$tmp/orch.log" 2>&1 & pids+=($!)
HTTP_LISTEN=off "$worker" --instance browser >"$tmp/worker.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
SLEEPER_RUN=$("$cli" tasks trigger "$sleeper" --json | jq -r .run)
"$cli" tasks trigger "$broken" >/dev/null # fails at once, its only attempt: the dead set
STEPPER_RUN=$("$cli" tasks trigger "$stepper" --json | jq -r .run)

BASE=http://127.0.0.1:$port ALICE_KEY=$ALICE_KEY BOB_KEY=$BOB_KEY OP_KEY=$OP_KEY BOB_TASK=$BOB_TASK \
  SLEEPER_RUN=$SLEEPER_RUN STEPPER_RUN=$STEPPER_RUN SHOTS=$build/test-artifacts/dashboard node "$here/dashboard.mjs"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "the browser checks failed (above)"
finish
