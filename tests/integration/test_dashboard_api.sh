#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dashboard's server side against a real orchestrator, Postgres and Redis: its files with
# ETags and a strict CSP; sign-in with an API key for an HttpOnly, SameSite=Strict session
# cookie; CSRF tokens on every change; sign-out and key revocation ending sessions; the two
# roles (an operator key sees every user's tasks and runs, a user key only its own); the schedule
# preview with DST notes and errors that name their column; run cancel and retry.
# Usage: test_dashboard_api.sh BUILD_DIR
build=${1:?usage: test_dashboard_api.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR AGENTCRON_WEB_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info POLL_INTERVAL_MS=1000 SESSION_TTL_S=600
trap 'stop_all; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
cat >"$tmp/agents.json" <<EOF
{"agents": {"sleeper": {"kind": "exec", "command": ["/bin/sh", "-c", "sleep 30"], "kill_grace_ms": 200},
            "one": {"kind": "noop"}}}
EOF
export AGENTS_FILE=$tmp/agents.json
export DATABASE_URL; DATABASE_URL=$(fresh_db dashboard_api)
export REDIS_URL="$AGENTCRON_TEST_REDIS/13"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null || { bad "migrate failed"; finish; exit 1; }
"$cli" users add alice@example.com --credits 1000 >/dev/null
"$cli" users add bob@example.com --credits 1000 >/dev/null
alice_key=$("$cli" keys create alice@example.com --json | jq -r .key)
bob_key=$("$cli" keys create bob@example.com --json | jq -r .key)
op_key=$("$cli" keys create alice@example.com --operator --name ops --json | jq -r .key)
check "keys list shows the operator key's role" '"$cli" keys list --json | jq -e "[.keys[].role] == [\"user\", \"user\", \"operator\"]" >/dev/null'
alice_task=$("$cli" tasks add --user alice@example.com --title "alice nightly" --agent one --cron "0 3 * * *" --timezone Europe/London --json | jq -r .id)
bob_task=$("$cli" tasks add --user bob@example.com --title "bob hourly" --agent one --cron "@hourly" --json | jq -r .id)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HTTP_LISTEN=127.0.0.1:$port
base=http://127.0.0.1:$port
"$orch" --instance dash >"$tmp/orch.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
# req METHOD PATH [curl args...]: status in $code, body in $tmp/body, headers in $tmp/headers
req() {
  local m=$1 p=$2; shift 2
  rm -f "$tmp/body"
  code=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$m" "$@" "$base$p")
}
header() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
json=(-H "Content-Type: application/json")

# --- the files: ETag, 304, CSP, nothing outside the folder
req GET /
etag=$(header ETag)
check "/ is the dashboard's page: $code $(header Content-Type)" '[ "$code" = 200 ] && header Content-Type | grep -q "text/html" && grep -qi "<html" "$tmp/body"'
check "it has an ETag and must revalidate: [$etag] $(header Cache-Control)" '[ -n "$etag" ] && [ "$(header Cache-Control)" = no-cache ]'
check "a strict Content-Security-Policy: $(header Content-Security-Policy)" 'header Content-Security-Policy | grep -q "default-src '"'"'self'"'"'" && ! header Content-Security-Policy | grep -q unsafe'
req GET / -H "If-None-Match: $etag"
check "a matching If-None-Match gets 304: $code" '[ "$code" = 304 ] && [ ! -s "$tmp/body" ]'
req GET /app.js
check "the script is served as JavaScript: $code $(header Content-Type)" '[ "$code" = 200 ] && header Content-Type | grep -q "text/javascript"'
for p in /../migrations/0001_init.sql /%2e%2e/etc/passwd /.stamp /nope.js; do
  req GET "$p" --path-as-is
  check "$p is not served: $code" '[ "$code" = 404 ] || [ "$code" = 400 ]'
done
req POST /app.js
check "files take GET only: $code" '[ "$code" = 405 ]'

# --- signing in
req POST /api/session "${json[@]}" -d '{"apiKey": "ak_wrongwrongwrongwrong"}'
check "a wrong key does not sign in: $code $(cat "$tmp/body")" '[ "$code" = 401 ] && [ -z "$(header Set-Cookie)" ]'
req POST /api/session "${json[@]}" -d '{"key": "x"}'
check "a malformed sign-in names the field: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = apiKey ]'
req POST /api/session "${json[@]}" -d "{\"apiKey\": \"$alice_key\"}"
cookie=$(header Set-Cookie)
check "a key signs in: $code $(cat "$tmp/body")" '[ "$code" = 201 ] && [ "$(jq -r ".user.email + \" \" + .role" "$tmp/body")" = "alice@example.com user" ]'
check "the cookie is HttpOnly, SameSite=Strict, expiring, not Secure over plain HTTP: $cookie" \
  'echo "$cookie" | grep -q HttpOnly && echo "$cookie" | grep -q "SameSite=Strict" && echo "$cookie" | grep -q "Max-Age=600" && ! echo "$cookie" | grep -q Secure'
csrf=$(jq -r .csrfToken "$tmp/body")
session=$(echo "$cookie" | sed -E 's/^agentcron_session=([0-9a-f]+);.*/\1/')
check "the stored session is a digest, not the token" '[ "$(sql "select count(*) from web_sessions where token_sha256 = decode('"'"'$session'"'"', '"'"'hex'"'"')")" = 0 ] && [ "$(sql "select count(*) from web_sessions")" = 1 ]'
ck=(-H "Cookie: agentcron_session=$session")
req GET /api/session "${ck[@]}"
check "the session knows its user and CSRF token: $code" '[ "$code" = 200 ] && [ "$(jq -r .csrfToken "$tmp/body")" = "$csrf" ]'
req GET /api/tasks "${ck[@]}"
check "with the cookie alice sees her task only: $(jq -c "[.tasks[].id]" "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -c "[.tasks[].id]" "$tmp/body")" = "[$alice_task]" ]'
check "a task says its schedule in words with its next 3 times in its zone: $(jq -c ".tasks[0].schedule" "$tmp/body")" \
  '[ "$(jq -r ".tasks[0].schedule.next | length" "$tmp/body")" = 3 ] && jq -r ".tasks[0].schedule.description" "$tmp/body" | grep -q "03:00" && [ "$(jq -r .tasks[0].owner "$tmp/body")" = alice@example.com ]'
req GET "/api/tasks/$bob_task" "${ck[@]}"
check "bob's task is not found for alice: $code" '[ "$code" = 404 ]'
req GET "/api/tasks/$bob_task/runs" "${ck[@]}"
check "nor its runs: $code" '[ "$code" = 404 ]'

# --- CSRF: changes with the cookie need the token
req POST "/api/tasks/$alice_task/pause" "${ck[@]}"
check "a change with the cookie and no CSRF token is refused: $code $(cat "$tmp/body")" '[ "$code" = 403 ] && grep -q "X-CSRF-Token" "$tmp/body"'
wrong_csrf=${csrf:0:63}$([ "${csrf:63}" = 0 ] && echo 1 || echo 0) # the right one with its last digit changed
req POST "/api/tasks/$alice_task/pause" "${ck[@]}" -H "X-CSRF-Token: $wrong_csrf"
check "a wrong CSRF token is refused: $code" '[ "$wrong_csrf" != "$csrf" ] && [ "$code" = 403 ]'
check "nothing changed" '[ "$(sql "select status from tasks where id = $alice_task")" = active ]'
req POST "/api/tasks/$alice_task/pause" "${ck[@]}" -H "X-CSRF-Token: $csrf"
check "with the token it pauses: $code" '[ "$code" = 200 ] && [ "$(sql "select status from tasks where id = $alice_task")" = paused ]'
req POST "/api/tasks/$alice_task/resume" -H "Authorization: Bearer $alice_key"
check "a bearer key needs no CSRF token: $code" '[ "$code" = 200 ]'

# --- the preview
req GET "/api/schedule/preview?cron=30+2+*+*+*&timezone=America/New_York&from=2026-03-07T00:00:00Z&count=3" "${ck[@]}"
check "the preview lists the next times with the DST gap noted: $(jq -c "[.next[] | [.at, .dst]]" "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -r "[.next[].dst] | map(. // \"-\") | join(\",\")" "$tmp/body")" = "-,gap,-" ] && [ "$(jq -r .next[1].at "$tmp/body")" = "2026-03-08T03:00:00-04:00" ]'
req GET "/api/schedule/preview?cron=30+1+*+*+*&timezone=America/New_York&from=2026-10-31T12:00:00Z&count=2" "${ck[@]}"
check "and the overlap: $(jq -c "[.next[] | .dst]" "$tmp/body")" '[ "$(jq -r ".next[0].dst" "$tmp/body")" = overlap-first ] && jq -r .next[0].note "$tmp/body" | grep -q "clocks go back"'
req GET "/api/schedule/preview?cron=0+25+*+*+*&timezone=UTC" "${ck[@]}"
check "a bad field names its column: $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r "[.field, .column, .cronField] | join(\",\")" "$tmp/body")" = "cron,3,hour" ]'
req GET "/api/schedule/preview?cron=0+3+*+*+*&timezone=Mars/Olympus" "${ck[@]}"
check "a bad zone is named: $code $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = timezone ]'
req GET "/api/schedule/preview?timezone=UTC" "${ck[@]}"
check "no cron: 400 naming it" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = cron ]'
req GET "/api/schedule/preview?cron=*+*+*+*+*&count=1000" "${ck[@]}"
check "count is bounded: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = count ]'
req GET "/api/schedule/preview?cron=*+*+*+*+*"
check "the preview needs a sign-in: $code" '[ "$code" = 401 ]'

# --- the operator sees every user's; a user cannot
req GET /api/tasks -H "Authorization: Bearer $op_key"
check "the operator key lists both users' tasks: $(jq -c "[.tasks[].id]" "$tmp/body")" '[ "$(jq -c "[.tasks[].id]" "$tmp/body")" = "[$alice_task,$bob_task]" ]'
req GET "/api/tasks?q=HOURLY" -H "Authorization: Bearer $op_key"
check "search by title words: $(jq -c "[.tasks[].id]" "$tmp/body")" '[ "$(jq -c "[.tasks[].id]" "$tmp/body")" = "[$bob_task]" ]'
req GET "/api/tasks?state=sleeping" -H "Authorization: Bearer $op_key"
check "a bad state filter is named: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = state ]'
req POST "/api/tasks/$bob_task/pause" -H "Authorization: Bearer $op_key"
check "the operator pauses bob's task: $code" '[ "$code" = 200 ] && [ "$(sql "select status from tasks where id = $bob_task")" = paused ]'
req POST "/api/tasks/$bob_task/resume" -H "Authorization: Bearer $alice_key"
check "alice cannot resume it: $code" '[ "$code" = 404 ] && [ "$(sql "select status from tasks where id = $bob_task")" = paused ]'

# --- run cancel and retry (a sleeper run; no worker: it stays queued)
sleeper=$("$cli" tasks add --user bob@example.com --title "bob sleeper" --agent sleeper --json | jq -r .id)
run=$("$cli" tasks trigger "$sleeper" --json | jq -r .run)
req POST "/api/runs/$run/cancel" "${ck[@]}" -H "X-CSRF-Token: $csrf"
check "alice cannot cancel bob's run: $code" '[ "$code" = 404 ] && [ "$(sql "select status from task_runs where id = $run")" = queued ]'
req POST "/api/runs/$run/cancel" -H "Authorization: Bearer $bob_key"
check "bob cancels it: $code $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .result "$tmp/body")" = cancelled ] && [ "$(sql "select status from task_runs where id = $run")" = cancelled ]'
req POST "/api/runs/$run/retry" -H "Authorization: Bearer $bob_key"
retry=$(jq -r .run "$tmp/body")
check "retry makes a new run of the task: $code $(cat "$tmp/body")" '[ "$code" = 202 ] && [ "$(jq -r .retryOf "$tmp/body")" = "$run" ] && [ "$(sql "select task_id from task_runs where id = $retry")" = "$sleeper" ]'
req GET "/api/runs/$run/retry" -H "Authorization: Bearer $bob_key"
check "cancel and retry take POST: $code $(header Allow)" '[ "$code" = 405 ] && [ "$(header Allow)" = POST ]'

op=(-H "Authorization: Bearer $op_key")
# --- backfill and a run's live output
from_t=$(date -u -d '-3 hours' +%Y-%m-%dT%H:00:00Z); to_t=$(date -u -d '-1 hours' +%Y-%m-%dT%H:00:00Z)
req POST "/api/tasks/$bob_task/backfill" -H "Authorization: Bearer $alice_key" "${json[@]}" -d "{\"from\": \"$from_t\", \"to\": \"$to_t\"}"
check "alice cannot backfill bob's task: $code" '[ "$code" = 404 ]'
for body in '{}' "{\"from\": \"$to_t\", \"to\": \"$from_t\"}" "{\"from\": \"yesterday\", \"to\": \"$to_t\"}" "{\"from\": \"$from_t\", \"to\": \"$to_t\", \"x\": 1}"; do
  req POST "/api/tasks/$bob_task/backfill" "${op[@]}" "${json[@]}" -d "$body"
  check "backfill $body is refused naming the field: $code $(jq -c . "$tmp/body")" '[ "$code" = 400 ] && [ -n "$(jq -r .field "$tmp/body")" ]'
done
req POST "/api/tasks/$bob_task/backfill" "${op[@]}" "${json[@]}" -d "{\"from\": \"$from_t\", \"to\": \"$to_t\"}"
check "an hourly task backfills 3 slots: $code $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -c "[.slots, .created, .existing]" "$tmp/body")" = "[3,3,0]" ] && [ "$(sql "select count(*) from task_runs where task_id = $bob_task and trigger = '"'"'backfill'"'"'")" = 3 ]'
req POST "/api/tasks/$bob_task/backfill" "${op[@]}" "${json[@]}" -d "{\"from\": \"$from_t\", \"to\": \"$to_t\"}"
check "again: nothing twice: $(cat "$tmp/body")" '[ "$(jq -c "[.created, .existing]" "$tmp/body")" = "[0,3]" ]'
sql "delete from task_runs where trigger = 'backfill'" >/dev/null
req GET "/api/runs/$run/live" -H "Authorization: Bearer $alice_key"
check "alice cannot follow bob's run: $code" '[ "$code" = 404 ]'
redis-cli -u "$REDIS_URL" xadd "agentcron:{default}:log:$run" '*' a 1 s out d "hello " >/dev/null
redis-cli -u "$REDIS_URL" xadd "agentcron:{default}:log:$run" '*' a 1 s err d "warn" >/dev/null
req GET "/api/runs/$run/live" -H "Authorization: Bearer $bob_key"
last=$(jq -r .last "$tmp/body")
check "the live stream's entries: $(jq -c . "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -c "[.entries[] | [.attempt, .stream, .data]]" "$tmp/body")" = "[[1,\"out\",\"hello \"],[1,\"err\",\"warn\"]]" ] && [ "$(jq .ended "$tmp/body")" = false ]'
redis-cli -u "$REDIS_URL" xadd "agentcron:{default}:log:$run" '*' a 1 e 1 >/dev/null
req GET "/api/runs/$run/live?after=$last" -H "Authorization: Bearer $bob_key"
check "after the last one: only the end mark: $(jq -c . "$tmp/body")" '[ "$(jq -c "[(.entries | length), .ended]" "$tmp/body")" = "[0,true]" ]'
req GET "/api/runs/$run/live?after=%24" -H "Authorization: Bearer $bob_key"
check "a malformed after is named: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = after ]'

# --- the overview, the dead set, users, credits and keys
req GET /api/overview "${op[@]}"
check "the operator's overview has health, lateness, today and hours: $code $(jq -c "keys" "$tmp/body")" \
  '[ "$code" = 200 ] && jq -e ".health.instances and (.health.problems | type == \"array\") and .lateness and .today and .runsByHour" "$tmp/body" >/dev/null'
check "the runs of the last 24 h are counted by hour and status: $(jq -c .runsByHour "$tmp/body")" \
  '[ "$(jq "[.runsByHour[].runs[]] | add" "$tmp/body")" = 2 ]'
"$cli" tasks trigger "$sleeper" >/dev/null
req GET /api/overview "${op[@]}"
check "operators share one overview for 5 s: a run just made is not in it yet" '[ "$(jq "[.runsByHour[].runs[]] | add" "$tmp/body")" = 2 ]'
sleep 5.2
req GET /api/overview "${op[@]}"
check "and is after 5 s: $(jq -c .runsByHour "$tmp/body")" '[ "$(jq "[.runsByHour[].runs[]] | add" "$tmp/body")" = 3 ] && [ "$(jq ".runsByHour[-1].runs.queued" "$tmp/body")" = 2 ]'
sql "delete from task_runs where id = (select max(id) from task_runs)" >/dev/null
req GET /api/overview -H "Authorization: Bearer $alice_key"
check "a user's overview has no health: $code" '[ "$code" = 200 ] && [ "$(jq -r ".health // \"none\"" "$tmp/body")" = none ] && [ "$(jq "[.runsByHour[].runs[]] | add // 0" "$tmp/body")" = 0 ]'
req GET /api/queue/dead -H "Authorization: Bearer $alice_key"
check "the dead set is an operator's: $code" '[ "$code" = 403 ] && grep -q -- "--operator" "$tmp/body"'
redis-cli -u "$REDIS_URL" zadd "agentcron:{default}:dead" "$(date +%s%3N)" "$run" >/dev/null
req GET /api/queue/dead "${op[@]}"
check "the dead set lists its runs with when they died: $(jq -c "[.runs[] | [.id, .diedAt != null]]" "$tmp/body")" '[ "$(jq -c "[.runs[] | [.id, (.diedAt != null)]]" "$tmp/body")" = "[[$run,true]]" ]'
req GET "/api/queue/dead?limit=0" "${op[@]}"
check "a bad limit is named: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = limit ]'
req POST "/api/queue/dead/$run/requeue" "${op[@]}"
check "requeue makes a new run and leaves the dead set: $code $(cat "$tmp/body")" \
  '[ "$code" = 202 ] && [ "$(jq -r .requeueOf "$tmp/body")" = "$run" ] && [ "$(redis-cli -u "$REDIS_URL" zcard "agentcron:{default}:dead")" = 0 ]'
req GET /api/users -H "Authorization: Bearer $alice_key"
check "a user lists only themselves: $(jq -c "[.users[].email]" "$tmp/body")" '[ "$(jq -c "[.users[].email]" "$tmp/body")" = "[\"alice@example.com\"]" ]'
req GET /api/users "${op[@]}"
check "an operator lists everyone: $(jq -c "[.users[].email]" "$tmp/body")" '[ "$(jq ".users | length" "$tmp/body")" = 2 ]'
bob_id=$(sql "select id from users where email = 'bob@example.com'")
alice_id=$(sql "select id from users where email = 'alice@example.com'")
req GET "/api/users/$bob_id" -H "Authorization: Bearer $alice_key"
check "alice cannot read bob: $code" '[ "$code" = 404 ]'
req GET "/api/users/$alice_id" -H "Authorization: Bearer $alice_key"
check "alice reads herself with her ledger and usage: $code" '[ "$code" = 200 ] && jq -e ".ledger and .usage and .creditsUsed != null" "$tmp/body" >/dev/null'
req POST "/api/users/$alice_id/credits" -H "Authorization: Bearer $alice_key" "${json[@]}" -d '{"grant": 5}'
check "a user cannot grant credits: $code" '[ "$code" = 403 ] && [ "$(sql "select granted_credits from users where id = $alice_id")" = 0 ]'
for body in '{"grant": 0}' '{"grant": "5"}' '{"allowance": -1}' '{}' '{"grant": 5, "bonus": 1}' '{"grant": 5, "note": 7}'; do
  req POST "/api/users/$alice_id/credits" "${op[@]}" "${json[@]}" -d "$body"
  check "credits $body is refused: $code $(jq -r .field "$tmp/body")" '[ "$code" = 400 ] && [ -n "$(jq -r .field "$tmp/body")" ]'
done
check "nothing was granted" '[ "$(sql "select granted_credits from users where id = $alice_id")" = 0 ]'
req POST "/api/users/$alice_id/credits" "${op[@]}" "${json[@]}" -d '{"grant": 25, "note": "launch"}'
check "an operator grants: $code $(jq -c "[.grantedCredits, .ledger[0].reason, .ledger[0].note]" "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -c "[.grantedCredits, .ledger[0].reason, .ledger[0].delta, .ledger[0].note]" "$tmp/body")" = "[25,\"grant\",25,\"launch\"]" ]'
req POST "/api/users/999999/credits" "${op[@]}" "${json[@]}" -d '{"grant": 1}'
check "granting to no user is a 404: $code" '[ "$code" = 404 ]'
req POST /api/keys -H "Authorization: Bearer $alice_key" "${json[@]}" -d '{"name": "ci"}'
new_key=$(jq -r .key "$tmp/body"); new_id=$(jq -r .id "$tmp/body")
check "a user creates a key, shown once: $code" '[ "$code" = 201 ] && [[ "$new_key" == ak_* ]] && [ "$(jq -r .role "$tmp/body")" = user ]'
req GET /api/keys -H "Authorization: Bearer $alice_key"
check "her keys, never a key itself: $(jq -c "[.keys[].id]" "$tmp/body")" '[ "$(jq "[.keys[] | select(.user != \"alice@example.com\")] | length" "$tmp/body")" = 0 ] && ! grep -q "$new_key" "$tmp/body"'
req POST /api/keys -H "Authorization: Bearer $alice_key" "${json[@]}" -d '{"operator": true}'
check "a key cannot be made an operator's over the API: $code" '[ "$code" = 400 ]'
bob_key_id=$(sql "select id from api_keys where prefix = '${bob_key:0:11}'")
req DELETE "/api/keys/$bob_key_id" -H "Authorization: Bearer $alice_key"
check "alice cannot revoke bob's key: $code" '[ "$code" = 404 ] && [ "$(sql "select revoked_at is null from api_keys where id = $bob_key_id")" = t ]'
req DELETE "/api/keys/$new_id" -H "Authorization: Bearer $alice_key"
check "she revokes her new key: $code" '[ "$code" = 200 ]'
req GET /api/tasks -H "Authorization: Bearer $new_key"
check "which then fails: $code" '[ "$code" = 401 ]'

# --- sign-out and revocation end sessions
req DELETE /api/session "${ck[@]}"
check "sign-out without the CSRF token is refused: $code" '[ "$code" = 403 ]'
req DELETE /api/session "${ck[@]}" -H "X-CSRF-Token: $csrf"
check "sign-out clears the cookie: $code $(header Set-Cookie)" '[ "$code" = 200 ] && header Set-Cookie | grep -q "Max-Age=0"'
req GET /api/tasks "${ck[@]}"
check "the old cookie no longer works: $code" '[ "$code" = 401 ]'
req POST /api/session "${json[@]}" -d "{\"apiKey\": \"$bob_key\"}"
bob_session=$(header Set-Cookie | sed -E 's/^agentcron_session=([0-9a-f]+);.*/\1/')
"$cli" keys revoke "$(sql "select id from api_keys where prefix = '${bob_key:0:11}'")" >/dev/null
req GET /api/tasks -H "Cookie: agentcron_session=$bob_session"
check "revoking the key ends its sessions: $code" '[ "$code" = 401 ]'
sql "update web_sessions set expires_at = now() - interval '1 second'"
req POST /api/session "${json[@]}" -d "{\"apiKey\": \"$alice_key\"}"
s2=$(header Set-Cookie | sed -E 's/^agentcron_session=([0-9a-f]+);.*/\1/')
sql "update web_sessions set expires_at = now() - interval '1 second' where token_sha256 = sha256(convert_to('$s2', 'UTF8'))"
req GET /api/tasks -H "Cookie: agentcron_session=$s2"
check "an expired session does not work: $code" '[ "$code" = 401 ]'
for bad_cookie in "agentcron_session=zz" "agentcron_session=$(printf 'a%.0s' $(seq 200))" "other=1"; do
  req GET /api/tasks -H "Cookie: $bad_cookie"
  check "a malformed or absent session cookie ($bad_cookie) is 401: $code" '[ "$code" = 401 ]'
done
check "the orchestrator logged no crash" '! grep -q "level=error" "$tmp/orch.log"'
finish
