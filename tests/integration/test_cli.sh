#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The agentcron CLI against real Postgres and Redis: users and credits, keys, every tasks and
# runs subcommand (human and --json output, exit codes, bad arguments), import of a real
# vercel.json (twice: no duplicates), and status (healthy with an orchestrator, exit 3 without
# one, and --watch read off a tmux screen).
# Usage: test_cli.sh BUILD_DIR
build=${1:?usage: test_cli.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
cli=$build/cli/agentcron
orch=$build/orchestrator/agentcron-orchestrator
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=warn HTTP_LISTEN=off
tmux_session="agentcron-test-$$"
trap 'stop_all; tmux kill-session -t "$tmux_session" 2>/dev/null; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
export DATABASE_URL; DATABASE_URL=$(fresh_db cli)
export REDIS_URL="$AGENTCRON_TEST_REDIS/13"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null
cat >"$tmp/agents.json" <<'EOF'
{"agents": {
  "report": {"kind": "http", "url": "http://127.0.0.1:9/report", "overridable": ["path"]},
  "vercel": {"kind": "http", "url": "https://my-app.vercel.app/", "method": "GET", "bearer_env": "CRON_SECRET",
             "overridable": ["path"]},
  "calcom": {"kind": "http", "url": "https://apps.example.com/calcom/", "method": "GET", "overridable": ["path"]}
}}
EOF
export AGENTS_FILE=$tmp/agents.json

# --- users, credits, keys
run "$cli" users add ops@example.com --credits 500 --max-concurrent 3 --json
check "users add: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$status" = 0 ] && [ "$(jq -r "[.email, .monthlyCredits, .maxConcurrentRuns] | join(\",\")" "$tmp/out")" = "ops@example.com,500,3" ]'
run "$cli" users add ops@example.com
check "duplicate user refused: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "duplicate key" "$tmp/err"'
run "$cli" users add not-an-email
check "bad email" '[ "$status" = 2 ] && grep -q "is not an email address" "$tmp/err"'
run "$cli" users add x@example.com --credits -5
check "negative credits" '[ "$status" = 2 ]'
run "$cli" users credits ops@example.com --grant 50 --note promo --json
check "grant: $(cat "$tmp/out")" \
  '[ "$(jq -r "[.grantedCredits, .ledger[0].reason, .ledger[0].delta, .ledger[0].note] | join(\",\")" "$tmp/out")" = "50,grant,50,promo" ]'
run "$cli" users credits 1 --allowance 800 --json
check "allowance: $(cat "$tmp/out")" \
  '[ "$(jq -r "[.monthlyCredits, .ledger[0].reason, .ledger[0].delta] | join(\",\")" "$tmp/out")" = "800,allowance,300" ]'
run "$cli" users list --json
check "users list" '[ "$(jq -r ".users | length" "$tmp/out")" = 1 ]'
run "$cli" users show nobody@example.com
check "unknown user" '[ "$status" = 1 ] && grep -q "no user \"nobody@example.com\"" "$tmp/err"'
run "$cli" keys create ops@example.com --name ci --json
key=$(jq -r .key "$tmp/out")
check "key printed once, only its hash stored" \
  '[[ "$key" == ak_* ]] && [ "${#key}" -ge 30 ] && [ "$(sql "select encode(key_sha256, '"'hex'"') from api_keys")" = "$(printf %s "$key" | sha256sum | cut -d" " -f1)" ] && ! sql "select * from api_keys" | grep -q "$key"'
run "$cli" keys list --json
check "keys list shows the prefix, not the key" '[ "$(jq -r ".keys[0].prefix" "$tmp/out")" = "${key:0:11}" ] && ! grep -q "$key" "$tmp/out"'
run "$cli" keys revoke 1
check "revoke" '[ "$status" = 0 ] && [ "$(sql "select revoked_at is not null from api_keys")" = t ]'
run "$cli" keys revoke 99
check "revoke unknown" '[ "$status" = 1 ]'

# --- tasks
run "$cli" tasks add --title "daily report" --agent report --user ops@example.com --cron "0 9 * * 1-5" \
  --timezone US/Eastern --priority high --goal "pricing" --config '{"path": "/daily"}' --json
t1=$(jq -r .id "$tmp/out")
check "add: zone canonicalised, next run a real slot: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$(jq -r "[.timezone, .priority, .config.path, .enabled] | join(\",\")" "$tmp/out")" = "America/New_York,high,/daily,true" ] && [[ "$(jq -r .nextRunAt "$tmp/out")" =~ T1[34]:00:00Z$ ]]'
run "$cli" tasks add --title x --agent report --user ops@example.com --cron "0 9 * * MON-FRI" --timezone Mars/Base
check "bad zone: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "timezone \"Mars/Base\" is not an IANA zone" "$tmp/err"'
run "$cli" tasks add --title x --agent report --user ops@example.com --cron "0 9 31 2 *"
check "never fires: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "schedule" "$tmp/err"'
run "$cli" tasks add --title x --agent report --user ops@example.com --cron "TZ=Europe/Paris 0 9 * * *" --timezone Asia/Tokyo
check "TZ= prefix disagrees: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "says TZ=Europe/Paris but the timezone is Asia/Tokyo" "$tmp/err"'
run "$cli" tasks add --title x --agent report --user ops@example.com --config '{"url": "https://evil.example/"}'
check "override refused: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "does not let tasks override" "$tmp/err"'
run "$cli" tasks add --title x --agent ghost --user ops@example.com
check "unknown agent" '[ "$status" = 2 ] && grep -q "\"ghost\" is not defined in AGENTS_FILE" "$tmp/err"'
run "$cli" tasks add --title x --agent report --user ops@example.com --priority asap
check "bad priority" '[ "$status" = 2 ] && grep -q "must be urgent, high, normal or low" "$tmp/err"'
run "$cli" tasks add --title x --agent report
check "missing options" '[ "$status" = 2 ]'
check "nothing written by refused adds" '[ "$(sql "select count(*) from tasks")" = 1 ]'
run "$cli" tasks add --title "one-off" --agent report --user 1 --json
t2=$(jq -r .id "$tmp/out")
check "task without schedule" '[ "$(jq -r "[.enabled, .nextRunAt] | join(\",\")" "$tmp/out")" = "false," ]'
run "$cli" tasks show "$t1" --json
check "show: five next fires, local and UTC" \
  '[ "$(jq -r ".nextFires | length" "$tmp/out")" = 5 ] && [[ "$(jq -r ".nextFires[0].local" "$tmp/out")" == *T09:00:00-0[45]:00 ]]'
run "$cli" tasks show "$t1"
check "show (human)" 'grep -q "next fire times:" "$tmp/out" && grep -q "America/New_York" "$tmp/out"'
run "$cli" tasks edit "$t1" --cron "30 6 * * *" --timezone Europe/London --title "early report" --json
check "edit: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$(jq -r "[.title, .schedule, .timezone] | join(\",\")" "$tmp/out")" = "early report,30 6 * * *,Europe/London" ] && [[ "$(jq -r .nextRunAt "$tmp/out")" =~ T0[56]:30:00Z$ ]]'
run "$cli" tasks edit "$t1" --cron "61 * * * *"
check "edit with a bad cron changes nothing" '[ "$status" = 2 ] && [ "$(sql "select schedule from tasks where id = $t1")" = "30 6 * * *" ]'
run "$cli" tasks list --json
check "list" '[ "$(jq -r ".tasks | map(.id) | join(\",\")" "$tmp/out")" = "$t1,$t2" ]'
run "$cli" tasks list --agent nothing --json
check "list filter" '[ "$(jq -r ".tasks | length" "$tmp/out")" = 0 ]'
run "$cli" tasks pause "$t1" --json
check "pause" '[ "$(jq -r .status "$tmp/out")" = paused ]'
run "$cli" tasks resume "$t1" --json
check "resume" '[ "$(jq -r .status "$tmp/out")" = active ] && [ "$(sql "select next_run_at > now() from tasks where id = $t1")" = t ]'
run "$cli" tasks trigger "$t2" --json
r1=$(jq -r .run "$tmp/out")
check "trigger queues a run" '[ "$(sql "select trigger || status from task_runs where id = $r1")" = manualqueued ] && [ "$(redis-cli -u "$REDIS_URL" zscore "agentcron:{default}:waiting" "$r1")" != "" ]'
run "$cli" tasks show 999
check "show unknown task" '[ "$status" = 1 ] && grep -q "no task 999" "$tmp/err"'
run "$cli" tasks frobnicate 1
check "unknown subcommand" '[ "$status" = 2 ]'
run "$cli" tasks show abc
check "bad id" '[ "$status" = 2 ]'

# --- runs
run "$cli" runs list --json
check "runs list" '[ "$(jq -r ".runs[0].id" "$tmp/out")" = "$r1" ]'
# columns stay aligned whatever the rows hold (times with milliseconds, long titles)
aligned() { # aligned FILE HEADING: every row has a word starting where HEADING does
  local pos; pos=$(head -1 "$1" | awk -v h="$2" '{print index($0, h)}')
  [ "$pos" -gt 1 ] && tail -n +2 "$1" | awk -v p="$pos" 'substr($0, p - 1, 1) != " " || substr($0, p, 1) == " " {bad = 1} END {exit bad}'
}
run "$cli" runs list
check "runs list: columns aligned: $(cat "$tmp/out")" '[ "$status" = 0 ] && aligned "$tmp/out" STATUS && aligned "$tmp/out" SCHEDULED'
"$cli" tasks add --title "nightly report for customer group alpha" --agent report --user ops@example.com >/dev/null
"$cli" tasks add --title "nightly report for customer group beta" --agent report --user ops@example.com >/dev/null
run "$cli" tasks list
check "tasks list: titles whole, columns aligned: $(cat "$tmp/out")" \
  'grep -q "nightly report for customer group alpha " "$tmp/out" && grep -q "nightly report for customer group beta " "$tmp/out" && aligned "$tmp/out" AGENT && aligned "$tmp/out" STATUS'
run "$cli" next "0 9 * * *" -n 1 --env-file /dev/null
check "next takes --env-file like every subcommand: $status $(cat "$tmp/err")" '[ "$status" = 0 ]'
run "$cli" runs show "$r1" --json
check "runs show" '[ "$(jq -r "[.status, .trigger, .task] | join(\",\")" "$tmp/out")" = "queued,manual,$t2" ]'
run "$cli" tasks cancel "$t2" --json
check "tasks cancel: $(cat "$tmp/out")" '[ "$(jq -r .cancelled "$tmp/out")" = 1 ] && [ "$(sql "select status from task_runs where id = $r1")" = cancelled ]'
run "$cli" runs retry "$r1" --json
r2=$(jq -r .run "$tmp/out")
check "retry replays as a new run" '[ "$status" = 0 ] && [ "$r2" != "$r1" ] && [ "$(sql "select status from task_runs where id = $r2")" = queued ]'
run "$cli" runs retry "$r2"
check "retry of a queued run refused" '[ "$status" = 1 ] && grep -q "only a run that ended without success" "$tmp/err"'
run "$cli" runs list --status cancelled --json
check "runs list --status" '[ "$(jq -r ".runs | map(.id) | join(\",\")" "$tmp/out")" = "$r1" ]'
run "$cli" runs list --status bogus
check "bad status" '[ "$status" = 2 ]'
run "$cli" runs list --since yesterday
check "bad time" '[ "$status" = 2 ] && grep -q "not an RFC 3339 time" "$tmp/err"'
run "$cli" tasks rm "$t2" --json
check "rm cancels its queued runs" '[ "$(jq -r .status "$tmp/out")" = deleted ] && [ "$(sql "select status from task_runs where id = $r2")" = cancelled ]'
run "$cli" tasks resume "$t2"
check "a deleted task stays deleted" '[ "$status" = 1 ]'

# --- import a vercel.json, twice
cat >"$tmp/vercel.json" <<'EOF'
{ "buildCommand": "next build",
  "crons": [ { "path": "/api/cron/daily-digest", "schedule": "0 5 * * *" },
             { "path": "/api/cron/cleanup?hard=1", "schedule": "*/10 * * * *" } ] }
EOF
run "$cli" import "$tmp/vercel.json" --base-url https://my-app.vercel.app --user ops@example.com --json
check "import of an agent that does not call as Vercel does: a note saying what to add: $(cat "$tmp/err")" \
  'grep -q "note: agent \"vercel\" does not call as Vercel Cron does" "$tmp/err"'
check "import: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$(jq -r "[.created, .updated] | join(\",\")" "$tmp/out")" = "2,0" ] && [ "$(sql "select count(*) from tasks where agent_type = '"'vercel'"' and timezone = '"'UTC'"' and schedule_enabled")" = 2 ]'
sed -i 's|"0 5 \* \* \*"|"0 6 * * *"|' "$tmp/vercel.json"
run "$cli" import "$tmp/vercel.json" --base-url https://my-app.vercel.app/ --user ops@example.com --timezone Europe/Berlin --json
check "re-import updates, never duplicates: $(cat "$tmp/out")" \
  '[ "$(jq -r "[.created, .updated] | join(\",\")" "$tmp/out")" = "0,2" ] && [ "$(sql "select count(*) from tasks where agent_type = '"'vercel'"'")" = 2 ] && [ "$(sql "select schedule || timezone from tasks where agent_config->>'"'path'"' = '"'/api/cron/daily-digest'"'")" = "0 6 * * *Europe/Berlin" ]'
check "titles never carry a query string: $(sql "select string_agg(title, ', ') from tasks where agent_type = 'vercel'")" \
  '[ "$(sql "select count(*) from tasks where agent_type = '"'vercel'"' and title like '"'%?%'"'")" = 0 ]'
run "$cli" import "$tmp/vercel.json" --base-url https://other.example.com --user ops@example.com
check "an agent name taken by another origin: name another with --agent: $(cat "$tmp/err")" \
  '[ "$status" = 2 ] && grep -q "agent \"vercel\" is not an http agent for https://other.example.com" "$tmp/err" && grep -q -- "--agent NAME" "$tmp/err"'
run "$cli" import "$tmp/vercel.json" --base-url https://other.example.com --user ops@example.com --agent ghost
check "a missing agent: what to add: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "needs an http agent \"ghost\" for https://other.example.com" "$tmp/err"'
# an app served under a path: the path goes before every route
echo '{"crons": [{"path": "/api/tasks/cron", "schedule": "*/5 * * * *"}]}' >"$tmp/calcom.json"
run "$cli" import "$tmp/calcom.json" --base-url https://apps.example.com/calcom --user ops@example.com --agent calcom --json
check "the base URL's path is kept: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$status" = 0 ] && [ "$(sql "select agent_config->>'"'path'"' from tasks where agent_type = '"'calcom'"'")" = /calcom/api/tasks/cron ]'
# config as code: a cron removed from the file, planned with --dry-run, then pruned
cleanup=$(sql "select id from tasks where agent_type = 'vercel' and agent_config->>'path' like '%cleanup%'")
"$cli" tasks trigger "$cleanup" >/dev/null
echo '{"crons": [{"path": "/api/cron/daily-digest", "schedule": "0 6 * * *"}]}' >"$tmp/vercel2.json"
run "$cli" import "$tmp/vercel2.json" --base-url https://my-app.vercel.app --user ops@example.com --timezone Europe/Berlin --prune --dry-run --json
check "--dry-run --prune plans a delete and writes nothing: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$status" = 0 ] && [ "$(jq -c "[.created, .updated, .unchanged, .deleted, .dryRun]" "$tmp/out")" = "[0,0,1,1,true]" ] && [ "$(sql "select status from tasks where id = $cleanup")" = active ]'
run "$cli" import "$tmp/vercel2.json" --base-url https://my-app.vercel.app --user ops@example.com --timezone Europe/Berlin --prune
check "--prune deletes what the file no longer lists and cancels its runs: $(cat "$tmp/out" "$tmp/err")" \
  '[ "$status" = 0 ] && grep -q "^delete *task $cleanup " "$tmp/out" && grep -q "0 to create, 0 to update, 1 unchanged, 1 to delete" "$tmp/out" && [ "$(sql "select status from tasks where id = $cleanup")" = deleted ] && [ "$(sql "select count(*) from task_runs where task_id = $cleanup and status <> '"'cancelled'"'")" = 0 ]'
run "$cli" import "$tmp/vercel2.json" --base-url https://my-app.vercel.app --user ops@example.com --timezone Europe/Berlin --prune --json
check "importing the same file again changes nothing" '[ "$(jq -c "[.created, .updated, .unchanged, .deleted]" "$tmp/out")" = "[0,0,1,0]" ]'
echo '{"crons": [{"path": "/x", "schedule": "99 * * * *"}]}' >"$tmp/bad.json"
run "$cli" import "$tmp/bad.json" --base-url https://my-app.vercel.app --user ops@example.com
check "bad schedule in vercel.json" '[ "$status" = 2 ] && grep -q "crons\[0\] (/x)" "$tmp/err"'
echo '{"crons": ' >"$tmp/broken.json"
run "$cli" import "$tmp/broken.json" --base-url https://my-app.vercel.app --user ops@example.com
check "broken vercel.json" '[ "$status" = 2 ] && grep -q "line" "$tmp/err"'

# --- status: unhealthy without an orchestrator, healthy with one, --watch on a terminal
run "$cli" status --json
check "no orchestrator: exit 3: $(cat "$tmp/out")" \
  '[ "$status" = 3 ] && [ "$(jq -r .healthy "$tmp/out")" = false ] && jq -r ".problems[0]" "$tmp/out" | grep -q "no orchestrator has reported"'
"$orch" --instance cli-test >"$tmp/orch.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do redis-cli -u "$REDIS_URL" exists agentcron:{default}:status:orchestrator:cli-test | grep -q 1 && break; sleep 0.1; done
run "$cli" status --json
check "healthy with an orchestrator: $(cat "$tmp/out")" \
  '[ "$status" = 0 ] && [ "$(jq -r "[.healthy, (.instances | map(.instance) | join(\",\")), (.nextDue | length)] | join(\",\")" "$tmp/out")" = "true,cli-test,3" ]'
run "$cli" status
check "status (human)" '[ "$status" = 0 ] && grep -q "healthy" "$tmp/out" && grep -q "cli-test" "$tmp/out" && grep -q "next due:" "$tmp/out"'
unhealthy=0 # a report written while status reads must never look missing
for _ in $(seq 60); do "$cli" status --json >/dev/null 2>&1 || unhealthy=$((unhealthy + 1)); done
check "status 60 times with a live orchestrator reporting every second: $unhealthy unhealthy" '[ "$unhealthy" = 0 ]'
# fake_report NAME SECONDS_AHEAD: an orchestrator's report written by a host whose clock is ahead
fake_report() {
  redis-cli -u "$REDIS_URL" set "agentcron:{default}:status:orchestrator:$1" \
    "{\"instance\": \"$1\", \"role\": \"orchestrator\", \"ttlS\": 90, \"reportedAt\": \"$(date -u -d "+$2 seconds" +%Y-%m-%dT%H:%M:%S.%3NZ)\"}" \
    ex 90 >/dev/null
}
fake_report skewed 10
run "$cli" status --json
check "a host clock 10 s ahead is a problem of its own: $(jq -c .problems "$tmp/out")" \
  '[ "$status" = 3 ] && jq -r ".problems[]" "$tmp/out" | grep -q "the clock of orchestrator skewed is 1[0-9].[0-9] s ahead of Redis" && [ "$(jq ".problems | length" "$tmp/out")" = 1 ]'
redis-cli -u "$REDIS_URL" del agentcron:{default}:status:orchestrator:skewed >/dev/null
if command -v tmux >/dev/null; then
  tmux new-session -d -s "$tmux_session" -x 160 -y 40 \
    "env DATABASE_URL='$DATABASE_URL' REDIS_URL='$REDIS_URL' AGENTS_FILE='$AGENTS_FILE' '$cli' status --watch 1"
  screen=""
  for _ in $(seq 50); do screen=$(tmux capture-pane -p -t "$tmux_session"); grep -q "next due:" <<<"$screen" && break; sleep 0.1; done
  check "status --watch draws the report on a terminal: $screen" 'grep -q "agentcron status at .*: healthy" <<<"$screen" && grep -q "orchestrator *cli-test" <<<"$screen"'
  sleep 1.5
  later=$(tmux capture-pane -p -t "$tmux_session")
  check "--watch redraws" '[ "$(grep -o "status at [^:]*:[^:]*:[0-9.]*" <<<"$later")" != "$(grep -o "status at [^:]*:[^:]*:[0-9.]*" <<<"$screen")" ]'
  tmux kill-session -t "$tmux_session"
  timeout 3.5 "$cli" status --watch 1 >"$tmp/watch.out" 2>&1
  check "status --watch into a pipe: reports one after another, no screen codes" \
    '[ "$(grep -c "agentcron status at" "$tmp/watch.out")" -ge 2 ] && ! grep -q $'"'"'\033'"'"' "$tmp/watch.out"'
else
  bad "tmux is not installed (scripts/install-deps.sh installs it)"
fi
stop_all
check "a clean stop removes the orchestrator's report at once" \
  '[ "$(redis-cli -u "$REDIS_URL" exists agentcron:{default}:status:orchestrator:cli-test)" = 0 ]'
fake_report ahead 2
run "$cli" status --json
check "an orchestrator on a host 2 s ahead is alive (tolerated: 2 s): $(jq -c .problems "$tmp/out")" \
  '[ "$status" = 0 ] && [ "$(jq -r ".instances[0].instance" "$tmp/out")" = ahead ]'
redis-cli -u "$REDIS_URL" del agentcron:{default}:status:orchestrator:ahead >/dev/null
run "$cli" status
check "orchestrator gone: exit 3" '[ "$status" = 3 ] && grep -q UNHEALTHY "$tmp/out"'
run env REDIS_URL=redis://127.0.0.1:1/0 "$cli" status --json
check "Redis unreachable: exit 3" '[ "$status" = 3 ] && jq -r ".problems[0]" "$tmp/out" | grep -q "127.0.0.1:1"'
run "$cli" status --watch 0
check "bad --watch" '[ "$status" = 2 ]'
run "$cli" bogus
check "unknown command" '[ "$status" = 2 ]'
for c in status tasks runs users keys import next migrate tzdata; do
  "$cli" "$c" --help >/dev/null 2>&1 || bad "$c --help failed"
done
ok
finish
