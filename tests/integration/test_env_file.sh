#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The env file as the one place for settings and for the secrets agents name: a worker started
# with --env-file alone (nothing exported) calls an http agent with the bearer the file holds;
# a misspelt variable and an agent whose variable is set nowhere each stop start-up with one
# line naming it; the CLI and the orchestrator take the same file. The call itself is what
# Vercel Cron sends when the agent says so: GET and a single User-Agent of its choosing.
# Usage: test_env_file.sh BUILD_DIR
build=${1:?usage: test_env_file.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
worker=$build/agentworker/agentcron-worker
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
peer_pid=
trap 'stop_all; [ -n "$peer_pid" ] && kill "$peer_pid"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
database_url=$(fresh_db envfile)
redis_url="$AGENTCRON_TEST_REDIS/12"
redis-cli -u "$redis_url" flushdb >/dev/null
sql() { psql -qtAX "$database_url" -c "$1"; }
DATABASE_URL=$database_url "$cli" migrate >/dev/null
sql "insert into users (email, monthly_credits) values ('t@example.com', 1000)"
python3 "$root/tests/tools/peer.py" --port 0 --log "$tmp/peer.jsonl" --bearer "only-in-the-env-file" >"$tmp/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/peer.out" && break; sleep 0.1; done
read -r _ port <"$tmp/peer.out"
cat >"$tmp/agents.json" <<EOF
{"agents": {"report": {"kind": "http", "url": "http://127.0.0.1:$port/ok", "bearer_env": "REPORT_WEBHOOK_TOKEN",
                       "method": "GET", "headers": {"User-Agent": "vercel-cron/1.0"}},
            "vercel": {"kind": "http", "url": "http://127.0.0.1:$port/", "method": "GET", "bearer_env": "CRON_SECRET",
                       "headers": {"User-Agent": "vercel-cron/1.0"}, "overridable": ["path"]}}}
EOF
cat >"$tmp/agentcron.env" <<EOF
DATABASE_URL=$database_url
REDIS_URL=$redis_url
AGENTS_FILE=$tmp/agents.json
HTTP_LISTEN=off
STATUS_INTERVAL_S=1
# the webhook's secret, which the vercel agent sends as its bearer, as Vercel Cron does
CRON_SECRET=only-in-the-env-file
# a secret the report agent names: it lives here, with the settings
REPORT_WEBHOOK_TOKEN=only-in-the-env-file
EOF
# nothing of it in the environment: everything comes from the file
unset DATABASE_URL REDIS_URL AGENTS_FILE HTTP_LISTEN REPORT_WEBHOOK_TOKEN CRON_SECRET

run "$cli" tasks add --title "report" --agent report --user t@example.com --env-file "$tmp/agentcron.env"
check "the CLI takes an env file with an agent's secret: $status $(cat "$tmp/err")" '[ "$status" = 0 ]'
t=$(sql "select id from tasks where title = 'report'")
"$worker" --instance envfile --env-file "$tmp/agentcron.env" >"$tmp/worker.log" 2>&1 & pids+=($!)
run "$cli" tasks trigger "$t" --env-file "$tmp/agentcron.env"
for _ in $(seq 100); do [ "$(sql "select status from task_runs where task_id = $t")" = succeeded ] && break; sleep 0.1; done
check "a run's bearer comes from the env file: $(sql "select status || ' ' || coalesce(error, '') from task_runs where task_id = $t")" \
  '[ "$(sql "select status from task_runs where task_id = $t")" = succeeded ] && [ "$(jq -s "map(.bearer_ok) | all" "$tmp/peer.jsonl")" = true ]'
check "the call is what Vercel Cron sends: GET, one User-Agent vercel-cron/1.0: $(jq -c "[.method, .user_agents]" "$tmp/peer.jsonl")" \
  '[ "$(jq -c "[.method, .user_agents]" "$tmp/peer.jsonl")" = "[\"GET\",[\"vercel-cron/1.0\"]]" ]'
api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HTTP_LISTEN=127.0.0.1:$api_port "$orch" --instance envfile --env-file "$tmp/agentcron.env" >"$tmp/orch.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.1; done
check "the orchestrator takes the same env file" 'kill -0 "${pids[1]}" 2>/dev/null'

# --- agents change without a restart (SIGHUP), and a run whose agent is missing waits
key=$("$cli" keys create t@example.com --json --env-file "$tmp/agentcron.env" | jq -r .key)
execute_calcom() {
  curl -s -o "$tmp/api.body" -w '%{http_code}' -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
    -d '{"goal": "g", "agentType": "calcom"}' "http://127.0.0.1:$api_port/api/agent/execute"
}
code=$(execute_calcom)
check "the API refuses an agent no AGENTS_FILE defines: $code $(cat "$tmp/api.body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/api.body")" = agentType ]'
sql "insert into tasks (user_id, title, goal, agent_type) values (1, 'calcom task', 'g', 'calcom')" >/dev/null # as a vanished agent leaves it
tc=$(sql "select id from tasks where title = 'calcom task'")
"$cli" tasks trigger "$tc" --env-file "$tmp/agentcron.env" >/dev/null
for _ in $(seq 50); do sql "select error from task_runs where task_id = $tc" | grep -q "defines no agent" && break; sleep 0.1; done
check "a run whose agent the worker lacks waits, saying why: $(sql "select status || ': ' || coalesce(error, '') from task_runs where task_id = $tc")" \
  '[ "$(sql "select status from task_runs where task_id = $tc")" = queued ] && sql "select error from task_runs where task_id = $tc" | grep -q "waiting: worker envfile defines no agent \"calcom\""'
for _ in $(seq 30); do "$cli" status --json --env-file "$tmp/agentcron.env" >"$tmp/status.json" 2>/dev/null; grep -q calcom "$tmp/status.json" && break; sleep 0.2; done
check "status names the missing agent: $(jq -c .problems "$tmp/status.json")" \
  'jq -r ".problems[]" "$tmp/status.json" | grep -q "runs wait for agent \"calcom\", which worker envfile does not define"'
cp "$tmp/agents.json" "$tmp/agents.good"
echo '{"agents": {broken' >"$tmp/agents.json"
kill -HUP "${pids[0]}" "${pids[1]}"
for _ in $(seq 30); do grep -q agents.reload_failed "$tmp/worker.log" && break; sleep 0.1; done
check "a broken agents file on SIGHUP is logged and the old kept" \
  'grep -q "event=agents.reload_failed" "$tmp/worker.log" && grep -q "event=agents.reload_failed" "$tmp/orch.log" && kill -0 "${pids[0]}" && kill -0 "${pids[1]}"'
jq --arg url "http://127.0.0.1:$port/ok" '.agents.calcom = {"kind": "http", "url": $url, "method": "GET", "bearer_env": "REPORT_WEBHOOK_TOKEN"}' "$tmp/agents.good" >"$tmp/agents.json"
kill -HUP "${pids[0]}" "${pids[1]}"
for _ in $(seq 150); do [ "$(sql "select status from task_runs where task_id = $tc")" = succeeded ] && break; sleep 0.1; done
check "after SIGHUP with the agent defined, the waiting run runs, its attempt unspent: $(sql "select status || ' ' || attempt || ' ' || coalesce(error, '') from task_runs where task_id = $tc")" \
  '[ "$(sql "select status || attempt from task_runs where task_id = $tc")" = succeeded1 ] && grep -q "event=agents.reloaded" "$tmp/worker.log"'
code=$(execute_calcom)
check "and the API takes the new agent: $code" '[ "$code" = 202 ]'

# --- the README's move from Vercel Cron: a vercel.json whose bearer secret lives in the env file
echo '{"crons": [{"path": "/ok?from=vercel", "schedule": "*/5 * * * *"}]}' >"$tmp/vercel.json"
run "$cli" import "$tmp/vercel.json" --base-url "http://127.0.0.1:$port" --user t@example.com --dry-run --env-file "$tmp/agentcron.env"
check "import --dry-run: the plan, nothing written: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$status" = 0 ] && grep -q "^create .*/ok" "$tmp/out" && [ "$(sql "select count(*) from tasks where agent_type = '"'vercel'"'")" = 0 ]'
run "$cli" import "$tmp/vercel.json" --base-url "http://127.0.0.1:$port" --user t@example.com --env-file "$tmp/agentcron.env"
tv=$(sql "select id from tasks where agent_type = 'vercel'")
check "import: the task, scheduled: $(cat "$tmp/out" "$tmp/err")" '[ "$status" = 0 ] && [ -n "$tv" ] && [ "$(sql "select schedule_enabled from tasks where id = $tv")" = t ]'
# its last slot (a */5 minute), as if it were due now rather than in up to five minutes (the next
# slot's run may be readied too, when it is seconds away)
last_slot="date_trunc('hour', now()) + floor(extract(minute from now()) / 5) * interval '5 minutes'"
slot_ms=$(sql "select (extract(epoch from $last_slot) * 1000)::bigint")
sql "update tasks set next_run_at = to_timestamp($slot_ms / 1000.0) where id = $tv" >/dev/null
that_run="from task_runs where task_id = $tv and scheduled_for = to_timestamp($slot_ms / 1000.0)"
for _ in $(seq 100); do [ "$(sql "select status $that_run")" = succeeded ] && break; sleep 0.1; done
check "the imported task fires and calls the app with the env file's CRON_SECRET: $(sql "select status || ' ' || trigger || ' ' || coalesce(error, '') $that_run")" \
  '[ "$(sql "select status || trigger $that_run")" = succeededschedule ] && [ "$(jq -c "select(.query.from == \"vercel\") | [.bearer_ok, .user_agents]" "$tmp/peer.jsonl" | head -1)" = "[true,[\"vercel-cron/1.0\"]]" ]'
for _ in $(seq 30); do [ "$(redis-cli -u "$redis_url" exists agentcron:{default}:status:worker:envfile)" = 1 ] && break; sleep 0.1; done
check "the worker reports its status" '[ "$(redis-cli -u "$redis_url" exists agentcron:{default}:status:worker:envfile)" = 1 ]'
stop_all
check "a clean stop removes the worker's and the orchestrator's reports at once: $(redis-cli -u "$redis_url" keys "agentcron:{default}:status:*")" \
  '[ -z "$(redis-cli -u "$redis_url" keys "agentcron:{default}:status:*")" ]'

# a variable no agent names is a typo, caught with its line
sed 's/^REPORT_WEBHOOK_TOKEN=/REPORT_WEBHOOK_TOKNE=/' "$tmp/agentcron.env" >"$tmp/typo.env"
run "$worker" --instance typo --env-file "$tmp/typo.env"
check "a misspelt secret stops the worker, naming its line: $status $(cat "$tmp/err")" \
  '[ "$status" = 2 ] && grep -q "typo.env line 9 sets REPORT_WEBHOOK_TOKNE, which is neither a setting nor a variable an agent" "$tmp/err"'
run "$cli" tasks list --env-file "$tmp/typo.env"
check "and the CLI: $status $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "REPORT_WEBHOOK_TOKNE" "$tmp/err"'
# an agent whose variable is set nowhere stops a process that runs agents
grep -v '^REPORT_WEBHOOK_TOKEN=' "$tmp/agentcron.env" >"$tmp/unset.env"
run "$worker" --instance unset --env-file "$tmp/unset.env"
check "an agent's unset variable stops the worker, naming the agent: $status $(cat "$tmp/err")" \
  '[ "$status" = 2 ] && grep -q "report.*bearer_env names REPORT_WEBHOOK_TOKEN, which is not set" "$tmp/err"'
run "$orch" --instance unset --workers 1 --env-file "$tmp/unset.env"
check "and the orchestrator with workers: $status" '[ "$status" = 2 ] && grep -q "REPORT_WEBHOOK_TOKEN, which is not set" "$tmp/err"'
finish
