#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local agentcron: installs what it needs, builds, and runs it with a private Postgres
# and Redis on loopback (data under .dev/dev), the schema migrated, a demo user and task,
# and the orchestrator in the background.
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
  env) scripts/services.sh env dev; exit 0 ;;
  start) ;;
  *) echo "usage: deploy/dev.sh [start|stop|env]" >&2; exit 2 ;;
esac

scripts/install-deps.sh
scripts/build.sh build
bin=build/cli/agentcron orch=build/orchestrator/agentcron-orchestrator

scripts/services.sh start dev "$pg_port" "$redis_port"
set -a; eval "$(scripts/services.sh env dev)"; set +a
"$bin" migrate

# A demo user and task, once: a report every 10 seconds, and a weekday 09:00 New York task.
psql -qtAX "$DATABASE_URL" <<'SQL'
INSERT INTO users (email, monthly_credits) SELECT 'demo@example.com', 1000
  WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = 'demo@example.com');
INSERT INTO tasks (user_id, title, goal, agent_type, schedule, schedule_enabled, timezone, next_run_at)
  SELECT u.id, t.title, t.goal, 'noop', t.schedule, true, t.zone, now()
  FROM users u, (VALUES ('demo: every 10 seconds', 'Show that agentcron fires', '*/10 * * * * *', 'UTC'),
                        ('demo: weekdays 09:00 New York', 'Competitor pricing report', '0 9 * * 1-5', 'America/New_York'))
       AS t(title, goal, schedule, zone)
  WHERE u.email = 'demo@example.com' AND NOT EXISTS (SELECT 1 FROM tasks WHERE title = t.title);
SQL

if ! { [ -f "$state/orchestrator.pid" ] && kill -0 "$(cat "$state/orchestrator.pid")" 2>/dev/null; }; then
  nohup "$orch" --instance dev >>"$state/orchestrator.log" 2>&1 &
  echo $! >"$state/orchestrator.pid"
fi
echo
echo "agentcron is running: orchestrator pid $(cat "$state/orchestrator.pid"), log $state/orchestrator.log"
echo "Postgres $DATABASE_URL, Redis $REDIS_URL"
echo
echo "\$ agentcron next --tz America/New_York -n 3 '0 9 * * 1-5'"
"$bin" next --tz America/New_York -n 3 '0 9 * * 1-5'
echo
echo "Waiting for the demo task to fire (every 10 seconds)..."
before=$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs")
for _ in $(seq 1 150); do
  [ "$(psql -qtAX "$DATABASE_URL" -c "SELECT count(*) FROM task_runs")" -gt "$before" ] && break; sleep 0.1
done
psql -q "$DATABASE_URL" -c "SELECT r.id AS run, t.title AS task, r.scheduled_for, r.status
                              FROM task_runs r JOIN tasks t ON t.id = r.task_id ORDER BY r.id DESC LIMIT 3"
grep 'event=schedule.pass' "$state/orchestrator.log" | tail -2
echo
echo "Runs wait in the Redis queue until the agent workers (the next issue) take them."
echo "Stop everything with \`deploy/dev.sh stop\`; \`deploy/dev.sh env\` prints the settings for agentcron commands."
