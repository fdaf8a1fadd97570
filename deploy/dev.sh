#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local agentcron: installs what it needs, builds, and runs it with a private Postgres
# and Redis on loopback (data under .dev/dev), the schema migrated, a demo user and tasks,
# and the orchestrator with two in-process workers in the background.
#   deploy/dev.sh         start (or keep running) and show it working
#   deploy/dev.sh stop    stop the orchestrator, Postgres and Redis (data kept)
#   deploy/dev.sh env     print the settings, for running agentcron commands by hand
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=.dev/dev
pg_port=${AGENTCRON_DEV_PG_PORT:-25432} redis_port=${AGENTCRON_DEV_REDIS_PORT:-26379}

stop_orchestrator() {
  if [ -f "$state/orchestrator.pid" ] && kill -0 "$(cat "$state/orchestrator.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$state/orchestrator.pid")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$state/orchestrator.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$state/orchestrator.pid"
}

case "${1:-start}" in
  stop)
    stop_orchestrator
    [ -d "$state" ] && scripts/services.sh stop dev
    echo "agentcron stopped (data kept in $state; \`deploy/dev.sh\` starts it again)"
    exit 0 ;;
  env) scripts/services.sh env dev; echo "AGENTS_FILE=$root/$state/agents.json"; exit 0 ;;
  start) ;;
  *) echo "usage: deploy/dev.sh [start|stop|env]" >&2; exit 2 ;;
esac

scripts/install-deps.sh
scripts/build.sh build
bin=build/cli/agentcron orch=build/orchestrator/agentcron-orchestrator

scripts/services.sh start dev "$pg_port" "$redis_port"
set -a; eval "$(scripts/services.sh env dev)"; set +a
"$bin" migrate

# The demo's agent: a local command that writes a report and says how many tokens it used.
export AGENTS_FILE=$root/$state/agents.json
cat >"$AGENTS_FILE" <<'JSON'
{"agents": {"demo-report": {"kind": "exec", "base_credits": 1, "tokens_per_credit": 100, "estimate_credits": 2,
  "command": ["/bin/sh", "-c", "echo \"report on: $AGENTCRON_GOAL (run $AGENTCRON_RUN_ID)\"; echo '{\"usage\": {\"prompt_tokens\": 42, \"completion_tokens\": 58}}'"]}}}
JSON

# A demo user and tasks, once: a report every 10 seconds, and a weekday 09:00 New York task.
psql -qtAX "$DATABASE_URL" <<'SQL'
INSERT INTO users (email, monthly_credits) SELECT 'demo@example.com', 1000
  WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = 'demo@example.com');
INSERT INTO tasks (user_id, title, goal, agent_type, schedule, schedule_enabled, timezone, next_run_at)
  SELECT u.id, t.title, t.goal, 'demo-report', t.schedule, true, t.zone, now()
  FROM users u, (VALUES ('demo: every 10 seconds', 'Show that agentcron fires', '*/10 * * * * *', 'UTC'),
                        ('demo: weekdays 09:00 New York', 'Competitor pricing report', '0 9 * * 1-5', 'America/New_York'))
       AS t(title, goal, schedule, zone)
  WHERE u.email = 'demo@example.com' AND NOT EXISTS (SELECT 1 FROM tasks WHERE title = t.title);
UPDATE tasks SET agent_type = 'demo-report' WHERE agent_type = 'noop' AND title LIKE 'demo:%';
SQL

if ! { [ -f "$state/orchestrator.pid" ] && kill -0 "$(cat "$state/orchestrator.pid")" 2>/dev/null; }; then
  nohup "$orch" --instance dev --workers 2 >>"$state/orchestrator.log" 2>&1 &
  echo $! >"$state/orchestrator.pid"
fi
echo
echo "agentcron is running: orchestrator with 2 in-process workers, pid $(cat "$state/orchestrator.pid"), log $state/orchestrator.log"
echo "Postgres $DATABASE_URL, Redis $REDIS_URL"
echo
echo "\$ agentcron next --tz America/New_York -n 3 '0 9 * * 1-5'"
"$bin" next --tz America/New_York -n 3 '0 9 * * 1-5'
echo
echo "Waiting for the demo task to fire (every 10 seconds) and its run to finish..."
before=$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs WHERE status = 'succeeded'")
for _ in $(seq 1 150); do
  [ "$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs WHERE status = 'succeeded'")" -gt "$before" ] && break
  sleep 0.1
done
psql -q "$DATABASE_URL" -c "SELECT r.id AS run, t.title AS task, r.scheduled_for, r.status,
                                   r.prompt_tokens + r.completion_tokens AS tokens, r.credits_charged AS credits,
                                   split_part(r.output, E'\n', 1) AS output
                              FROM task_runs r JOIN tasks t ON t.id = r.task_id ORDER BY r.id DESC LIMIT 3"
psql -q "$DATABASE_URL" -c "SELECT email, monthly_credits, credits_used, credits_reserved FROM users"
grep 'event=run.finished' "$state/orchestrator.log" | tail -2
echo
echo "Stop everything with \`deploy/dev.sh stop\`; \`deploy/dev.sh env\` prints the settings for agentcron commands."
