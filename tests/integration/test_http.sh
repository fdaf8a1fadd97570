#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The orchestrator's HTTP surface with real clients (curl, raw sockets): /healthz, /readyz, the
# authenticated /check-scheduled-tasks (GET and POST), errors by status, keep-alive and
# pipelining, and hostile input (oversized heads and bodies, malformed requests, a slowloris
# client, a flood of wrong secrets) while a task due every second keeps firing on time. With
# "https", all of it again over TLS with a certificate made here, then what only HTTPS has:
# plain HTTP on the port, old protocols and suites refused, a stalled handshake, SIGHUP reloads.
# Usage: test_http.sh BUILD_DIR [https]
build=${1:?usage: test_http.sh BUILD_DIR [https]}
scheme=${2:-http}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
command -v curl >/dev/null || { echo "curl is needed: scripts/install-deps.sh installs it"; exit 1; }
export STATUS_INTERVAL_S=1 LOG_LEVEL=info CRON_SECRET=s3cret-webhook-token POLL_INTERVAL_MS=2000
trap 'stop_all; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
# raw-socket clients (python) connect through wire.connect, which speaks TLS in https mode
cat >"$tmp/wire.py" <<'PY'
import http.client, os, socket, ssl
CA = os.environ.get("TEST_TLS_CA")
def connect(port, host="127.0.0.1"):
    s = socket.create_connection((host, port))
    return ssl.create_default_context(cafile=CA).wrap_socket(s, server_hostname=host) if CA else s
def http_connection(port, host="127.0.0.1"):
    if CA:
        return http.client.HTTPSConnection(host, port, context=ssl.create_default_context(cafile=CA))
    return http.client.HTTPConnection(host, port)
PY
export PYTHONPATH=$tmp
cat >"$tmp/agents.json" <<'EOF'
{"agents": {"sleepy": {"kind": "exec", "command": ["/bin/sh", "-c", "sleep 1; echo slept"]},
            "hook": {"kind": "http", "url": "http://127.0.0.1:9/", "method": "GET", "overridable": ["path"]},
            "stuck": {"kind": "exec", "command": ["/bin/sleep", "30"], "kill_grace_ms": 200}}}
EOF
export AGENTS_FILE=$tmp/agents.json
if [ "$scheme" = https ]; then
  test_ca
  test_cert srv 30
  export TLS_CERT_FILE=$tmp/srv.crt TLS_KEY_FILE=$tmp/srv.key CURL_CA_BUNDLE=$tmp/ca.crt TEST_TLS_CA=$tmp/ca.crt
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export DATABASE_URL; DATABASE_URL=$(fresh_db http)
export REDIS_URL="$AGENTCRON_TEST_REDIS/14"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null
sql "insert into users (email, monthly_credits) values ('t@example.com', 100)"
port=$(free_port)
export HTTP_LISTEN=127.0.0.1:$port
base=$scheme://127.0.0.1:$port
"$orch" --instance http >"$tmp/orch.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
# req METHOD PATH [curl args...]: status in $code, body in $tmp/body, headers in $tmp/headers
req() {
  local m=$1 p=$2; shift 2
  code=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$m" "$@" "$base$p")
}
auth=(-H "Authorization: Bearer $CRON_SECRET")

# --- the routes
req GET /healthz
check "healthz: $code $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = ok ]'
check "every response carries a Date (IMF-fixdate): $(grep -i "^Date:" "$tmp/headers")" \
  'grep -qiE "^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} 20[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT" "$tmp/headers"'
req GET /readyz
check "readyz: $code $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r "[.status, .postgres, .redis] | join(\",\")" "$tmp/body")" = "ready,true,true" ]'
req GET /check-scheduled-tasks
check "no credentials: 401 with WWW-Authenticate: $code" '[ "$code" = 401 ] && grep -qi "^WWW-Authenticate: Bearer" "$tmp/headers" && jq -e .error "$tmp/body" >/dev/null'
req GET /check-scheduled-tasks -H "Authorization: Bearer wrong"
check "wrong secret: 401" '[ "$code" = 401 ] && [ "$(jq -r .error "$tmp/body")" = "wrong credentials" ]'
"$cli" tasks add --title due --agent noop --user 1 --cron "* * * * * *" >/dev/null
sql "update tasks set schedule_enabled = false"
"$cli" tasks add --title later --agent noop --user 1 --cron "0 0 1 1 *" >/dev/null
req GET /check-scheduled-tasks "${auth[@]}"
check "GET with the secret: $code $(cat "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -r "[.status, .scheduledTasks, .tasksCurrentlyDue] | join(\",\")" "$tmp/body")" = "healthy,1,0" ] && [[ "$(jq -r .timestamp "$tmp/body")" =~ ^20[0-9-]{8}T[0-9:.]+Z$ ]]'
req GET /api/cron/check-scheduled-tasks "${auth[@]}"
check "the Vercel-style path: $code" '[ "$code" = 200 ]'
# a task overdue (its orchestrator pass is 2 s away at most): POST runs the pass now
sql "update tasks set schedule_enabled = true, next_run_at = date_trunc('second', now()) where title = 'due'"
req POST /check-scheduled-tasks "${auth[@]}"
check "POST runs a due-check now: $code $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .enqueued "$tmp/body")" -ge 0 ] && [ "$(sql "select count(*) from task_runs")" -ge 1 ]'
req PUT /check-scheduled-tasks "${auth[@]}"
check "405 with Allow: $code" '[ "$code" = 405 ] && grep -qi "^Allow: GET, POST" "$tmp/headers"'
req GET /nope
check "404 as JSON: $code" '[ "$code" = 404 ] && [ "$(jq -r .error "$tmp/body")" = "no such route" ]'
req POST /healthz
check "405 on healthz" '[ "$code" = 405 ]'

# --- keep-alive and pipelining
curl -sv "$base/healthz" "$base/healthz" -o /dev/null -o /dev/null 2>"$tmp/keepalive"
check "keep-alive: the second request reuses the connection" 'grep -q "Re-using existing connection" "$tmp/keepalive"'
python3 - "$port" >"$tmp/pipelined" <<'EOF'
import sys, wire
s = wire.connect(int(sys.argv[1]))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
import re
print(" ".join(code.decode() for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)))
EOF
check "pipelined requests answered in order: $(cat "$tmp/pipelined")" '[ "$(cat "$tmp/pipelined")" = "200 404 200" ]'
# 3,000 pipelined requests at once (about 130 KiB, four times the input buffer): reading pauses
# when the buffer is full and resumes as answers go out; every one is answered
python3 - "$port" >"$tmp/flood-pipelined" <<'EOF'
import select, ssl, sys, time, wire
s = wire.connect(int(sys.argv[1]))
out = b"GET /healthz HTTP/1.1\r\nHost: pipelined.example\r\n\r\n" * 2999
out += b"GET /healthz HTTP/1.1\r\nHost: pipelined.example\r\nConnection: close\r\n\r\n"
s.setblocking(False)
data, end, done = b"", time.time() + 20, False
retry = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError)
while not done and time.time() < end:  # send and receive at once, as a real client would
    readable, writable, _ = select.select([s], [s] if out else [], [], 1)
    if writable:
        try:
            out = out[s.send(out[:16384]):]
        except retry:
            pass
    while readable:
        try:
            chunk = s.recv(65536)
        except retry:
            break
        if not chunk:
            done = True
            break
        data += chunk
        readable = getattr(s, "pending", lambda: 0)()
print(data.count(b"HTTP/1.1 200 OK"))
EOF
check "3,000 pipelined requests, all answered: $(cat "$tmp/flood-pipelined")" '[ "$(cat "$tmp/flood-pipelined")" = 3000 ]'

# --- hostile input, while a task due every second keeps firing
sql "update tasks set schedule_enabled = true, next_run_at = date_trunc('second', now()) + interval '1 second' where title = 'due'"
before=$(sql "select count(*) from task_runs")
raw() { # raw BYTES...: sends them on one connection, prints the status line's code
  python3 - "$port" "$1" <<'EOF'
import sys, wire
s = wire.connect(int(sys.argv[1]))
s.settimeout(15)
try:
    s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
    data = s.recv(65536)
    print(data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "none")
except Exception as e:
    print("error", e)
EOF
}
big=$(head -c 20000 /dev/zero | tr '\0' a)
check "oversized headers: 431" '[ "$(raw "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n")" = 431 ]'
check "too many headers: 431" '[ "$(raw "GET /healthz HTTP/1.1\r\n$(for i in $(seq 70); do printf "X-%d: y\\\\r\\\\n" $i; done)\r\n")" = 431 ]'
check "body over 1 MiB: 413" '[ "$(raw "POST /check-scheduled-tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")" = 413 ]'
check "HTTP/0.9 (no version): 505" '[ "$(raw "GET /healthz\r\n\r\n")" = 505 ]'
check "unknown method: 501" '[ "$(raw "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n")" = 501 ]'
check "absolute-form target: 400" '[ "$(raw "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n")" = 400 ]'
check "HTTP/2.0 on the wire: 505" '[ "$(raw "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")" = 505 ]'
check "invalid header bytes: 400" '[ "$(raw "GET /healthz HTTP/1.1\r\nHo\x01st: x\r\n\r\n")" = 400 ]'
check "both Content-Length and chunked (smuggling): 400" \
  '[ "$(raw "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")" = 400 ]'
check "path traversal is just a path: 404" '[ "$(raw "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")" = 404 ]'
check "invalid UTF-8 in the path: 404" '[ "$(raw "GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")" = 404 ] || [ "$(raw "GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")" = 400 ]'
# a slowloris client: half a request, then silence; the server answers 408 and hangs up
python3 - "$port" >"$tmp/slow" <<'EOF' &
import sys, time, wire
s = wire.connect(int(sys.argv[1]))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
t = time.time()
s.settimeout(20)
data = s.recv(65536)
print(data.split(b" ")[1].decode() if data else "closed", round(time.time() - t))
EOF
slow=$!
# a flood of wrong secrets: the first 10 get 401, then 429 with Retry-After
for i in $(seq 300); do
  curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer guess-$i" "$base/check-scheduled-tasks"
done >"$tmp/flood"
# two failures came earlier (no credentials, a wrong secret): 8 more are allowed this minute
check "flood: 401 up to 10 failures a minute, then 429: $(sort "$tmp/flood" | uniq -c | tr '\n' ' ')" \
  '[ "$(grep -c 401 "$tmp/flood")" = 8 ] && [ "$(grep -c 429 "$tmp/flood")" = 292 ]'
req GET /check-scheduled-tasks -H "Authorization: Bearer guess-again"
check "429 says when to retry" '[ "$code" = 429 ] && grep -qi "^Retry-After: [0-9]" "$tmp/headers"'
wait $slow
check "slowloris: 408 after 10 s: $(cat "$tmp/slow")" '[[ "$(cat "$tmp/slow")" =~ ^408\ 1[01]$ ]]'
req GET /healthz
check "still serving after all that" '[ "$code" = 200 ]'
late=$(sql "select max(extract(epoch from enqueued_at - scheduled_for) * 1000)::int from task_runs where id > $before")
n=$(sql "select count(*) from task_runs where id > $before")
check "the per-second task kept firing on time meanwhile ($n runs, latest enqueued ${late} ms after its slot)" \
  '[ "$n" -ge 10 ] && [ "$late" -le 200 ]'
check "the access log never shows the secret" '! grep -q "$CRON_SECRET" "$tmp/orch.log" && grep -q "event=http.request method=GET path=/healthz status=200" "$tmp/orch.log"'
stop_all

# --- the task API: API keys, isolation between users, validation
port=$(free_port); export HTTP_LISTEN=127.0.0.1:$port; base=$scheme://127.0.0.1:$port
"$orch" --instance api >"$tmp/api.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
"$cli" users add alice@example.com --credits 100 >/dev/null
"$cli" users add bob@example.com --credits 100 >/dev/null
"$cli" users add broke@example.com --credits 0 >/dev/null
ka=$("$cli" keys create alice@example.com --json | jq -r .key)
kb=$("$cli" keys create bob@example.com --json | jq -r .key)
kc=$("$cli" keys create broke@example.com --json | jq -r .key)
A=(-H "Authorization: Bearer $ka") B=(-H "Authorization: Bearer $kb") J=(-H "Content-Type: application/json")
req GET /api/tasks
check "API without a key: 401: $code" '[ "$code" = 401 ] && grep -qi "^WWW-Authenticate: Bearer" "$tmp/headers"'
req POST /api/session "${J[@]}" -d "{\"apiKey\": \"$ka\"}"
cookie=$(grep -i "^Set-Cookie:" "$tmp/headers" | tr -d '\r')
if [ "$scheme" = https ]; then
  check "a dashboard session's cookie is Secure over HTTPS: $cookie" '[ "$code" = 201 ] && echo "$cookie" | grep -q "; Secure" && echo "$cookie" | grep -q HttpOnly'
else
  check "and not over plain HTTP: $cookie" '[ "$code" = 201 ] && ! echo "$cookie" | grep -q Secure'
fi
req GET /api/tasks -H "Authorization: Bearer ak_notarealkeyatall000000000000"
check "API with a made-up key: 401" '[ "$code" = 401 ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "Check competitor pricing and send report", "agentType": "noop",
  "title": "Daily competitor check", "priority": "high", "async": true,
  "schedule": {"enabled": true, "cron": "0 9 * * 1-5", "timezone": "US/Eastern"}}'
ta=$(jq -r .task "$tmp/body")
check "execute with a schedule: 201 and nextRunAt: $code $(cat "$tmp/body")" \
  '[ "$code" = 201 ] && [ "$(jq -r .timezone "$tmp/body")" = America/New_York ] && [[ "$(jq -r .nextRunAt "$tmp/body")" =~ T1[34]:00:00Z$ ]]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "now", "agentType": "noop", "async": true}'
ra=$(jq -r .run "$tmp/body")
check "execute now: 202 with the run: $code $(cat "$tmp/body")" '[ "$code" = 202 ] && [ "$(sql "select status from task_runs where id = $ra")" = queued ]'
req POST /api/agent/execute "${B[@]}" "${J[@]}" -d '{"goal": "bob", "agentType": "noop", "schedule": {"cron": "*/5 * * * *"}}'
tb=$(jq -r .task "$tmp/body")
for bad in '{' '[]' '{"agentType": "noop"}' '{"goal": "x", "agentType": "ghost"}' '{"goal": "x", "agentType": "noop", "priority": "asap"}' \
           '{"goal": "x", "agentType": "noop", "priority": 1e400}' '{"goal": "x", "agentType": "noop", "schedule": {"cron": "61 * * * *"}}' \
           '{"goal": "x", "agentType": "noop", "schedule": {"cron": "* * * * *", "timezone": "Mars/Base"}}' \
           '{"goal": 5, "agentType": "noop"}' '{"goal": "\udcff", "agentType": "noop"}'; do
  req POST /api/agent/execute "${A[@]}" "${J[@]}" -d "$bad"
  [ "$code" = 400 ] && jq -e .error "$tmp/body" >/dev/null || bad "invalid body $bad: $code $(cat "$tmp/body")"
done
ok
long=$(printf 'é%.0s' $(seq 150))
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d "{\"goal\": \"$long\", \"agentType\": \"noop\", \"async\": true}"
check "a long non-ASCII goal names its task whole characters: $code" \
  '[ "$code" = 202 ] && [ "$(sql "select length(title) from tasks where id = $(jq -r .task "$tmp/body")")" = 100 ]'
sql "delete from tasks where id = $(jq -r .task "$tmp/body")"
req POST /api/agent/execute "${A[@]}" -H "Content-Type: text/plain" -d '{"goal": "x", "agentType": "noop"}'
check "415 without JSON" '[ "$code" = 415 ]'
req POST /api/agent/execute -H "Authorization: Bearer $kc" "${J[@]}" -d '{"goal": "x", "agentType": "noop"}'
check "402 without credits: $code" '[ "$code" = 402 ]'
req GET /api/tasks "${A[@]}"
check "a user lists only their own tasks" '[ "$code" = 200 ] && [ "$(jq -r "[.tasks[].id] | map(tostring) | join(\",\")" "$tmp/body")" = "$ta,$((ta + 1))" ]'
req GET "/api/tasks?limit=1" "${A[@]}"
check "pagination" '[ "$(jq -r "[(.tasks | length), .next] | join(\",\")" "$tmp/body")" = "1,$ta" ]'
for route in "GET /api/tasks/$tb" "GET /api/tasks/$tb/runs" "POST /api/tasks/$tb/pause" "POST /api/tasks/$tb/resume" \
             "POST /api/tasks/$tb/trigger" "POST /api/tasks/$tb/cancel" "DELETE /api/tasks/$tb" "GET /api/runs/$ra"; do
  set -- $route
  if [ "$2" = "/api/runs/$ra" ]; then req "$1" "$2" "${B[@]}"; else req "$1" "$2" "${A[@]}"; fi
  [ "$code" = 404 ] || bad "isolation: $route with the other user's key: $code"
done
req PATCH "/api/tasks/$tb" "${A[@]}" "${J[@]}" -d '{"title": "hijacked"}'
check "isolation: PATCH of another user's task: $code" '[ "$code" = 404 ]'
check "isolation: nothing of the other user's task changed: $(sql "select status, schedule_enabled from tasks where id = $tb") $(sql "select count(*) from task_runs where task_id = $tb and trigger <> 'schedule'")" '[ "$(sql "select status || schedule_enabled from tasks where id = $tb")" = activetrue ] && [ "$(sql "select count(*) from task_runs where task_id = $tb and trigger <> '"'schedule'"'")" = 0 ]'
req POST "/api/tasks/$ta/pause" "${A[@]}"
check "pause" '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = paused ]'
req POST "/api/tasks/$ta/resume" "${A[@]}"
check "resume" '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = active ]'
req POST "/api/tasks/$ta/trigger" "${A[@]}"
rt=$(jq -r .run "$tmp/body")
check "trigger: 202, a run the history says the API started" '[ "$code" = 202 ] && [ "$(sql "select trigger from task_runs where id = $rt")" = api ]'
req POST "/api/tasks/$ta/cancel" "${A[@]}"
check "cancel: $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .cancelled "$tmp/body")" = 1 ] && [ "$(sql "select status from task_runs where id = $rt")" = cancelled ]'
req GET "/api/tasks/$ta/runs" "${A[@]}"
check "runs of a task" '[ "$code" = 200 ] && [ "$(jq -r ".runs[0].id" "$tmp/body")" = "$rt" ]'
req GET "/api/runs/$ra" "${A[@]}"
check "a run" '[ "$code" = 200 ] && [ "$(jq -r .task "$tmp/body")" = "$((ta + 1))" ]'
req PATCH "/api/tasks/$tb" "${B[@]}" "${J[@]}" -d '{"schedule": {"cron": "0 6 * * *", "timezone": "Europe/Paris"}, "priority": "low", "goal": "new goal"}'
check "PATCH the schedule: $code $(cat "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -r "[.schedule.cron, .schedule.timezone, .priority, .goal] | join(\",\")" "$tmp/body")" = "0 6 * * *,Europe/Paris,low,new goal" ] && [[ "$(jq -r .nextRunAt "$tmp/body")" =~ T0[45]:00:00Z$ ]]'
req PATCH "/api/tasks/$tb" "${B[@]}" "${J[@]}" -d '{"cron": "0 25 * * *"}'
check "PATCH with a bad cron: 400 naming the field: $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = schedule ] && [ "$(sql "select schedule from tasks where id = $tb")" = "0 6 * * *" ]'
req PATCH "/api/tasks/$tb" "${B[@]}" "${J[@]}" -d '{"enabled": false}'
check "PATCH enabled false" '[ "$code" = 200 ] && [ "$(jq -r .schedule.enabled "$tmp/body")" = false ] && [ "$(sql "select schedule_enabled from tasks where id = $tb")" = f ]'
# A task and its schedule are written together or not at all: a schedule Postgres refuses leaves
# no task behind (before, the task was inserted, the schedule's UPDATE failed unseen, and the
# answer was 201 with a nextRunAt for a task that had no schedule).
sql "create function refuse_scheduled() returns trigger language plpgsql as \$\$ begin
       if new.title = 'refused schedule' and new.schedule is not null then
         raise exception 'this schedule is refused' using errcode = 'check_violation'; end if;
       return new; end \$\$;
     create trigger refuse_scheduled before insert or update on tasks for each row execute function refuse_scheduled()"
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "noop", "title": "refused schedule", "schedule": {"cron": "0 9 * * *"}}'
check "a refused schedule: 400 and no task at all: $code $(cat "$tmp/body")" \
  '[ "$code" = 400 ] && [ "$(sql "select count(*) from tasks where title = '"'refused schedule'"'")" = 0 ]'
sql "drop trigger refuse_scheduled on tasks; drop function refuse_scheduled()"
# Postgres failing under the insert is a 503 to retry, not a 400: the insert waits on a lock,
# and its connection is cut as a restart would.
# the lock is held until this test ends it, however slowly the request reaches its insert (a
# sanitizer build under load can take seconds)
psql -qtAX "$DATABASE_URL" -c "begin; lock table tasks in exclusive mode; select pg_sleep(120); commit" >/dev/null 2>&1 & locker=$!
for _ in $(seq 50); do # until the lock is held
  [ "$(sql "select count(*) from pg_locks where relation = 'tasks'::regclass and mode = 'ExclusiveLock' and granted")" = 1 ] && break
  sleep 0.1
done
# A pass whose schedulers wait on that lock must leave the API threads to answer with: with
# libuv's default four threads, four waiting schedulers left none, and every request hung.
curl -s -o /dev/null --max-time 3 -X POST "${auth[@]}" "$base/check-scheduled-tasks" & webhook=$!
sleep 0.5
stalled=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${A[@]}" "$base/api/runs/$ra")
check "a request answered while a pass waits on a lock: $stalled" '[ "$stalled" = 200 ]'
wait $webhook
curl -s -o "$tmp/cut.body" -D "$tmp/cut.headers" -w '%{http_code}' -X POST "${A[@]}" "${J[@]}" \
  -d '{"goal": "cut short", "agentType": "noop", "title": "cut short", "async": true}' "$base/api/agent/execute" >"$tmp/cut.code" & cutter=$!
for _ in $(seq 300); do # until the insert waits for it
  [ "$(sql "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like 'INSERT INTO tasks%'")" = 1 ] && break
  sleep 0.1
done
sql "select pg_terminate_backend(pid) from pg_stat_activity where wait_event_type = 'Lock' and query like 'INSERT INTO tasks%'" >/dev/null
wait $cutter
sql "select pg_cancel_backend(pid) from pg_stat_activity where query like 'begin; lock table tasks%'" >/dev/null
wait $locker 2>/dev/null
check "Postgres failing under the insert: 503 with Retry-After, no task: $(cat "$tmp/cut.code") $(cat "$tmp/cut.body")" \
  '[ "$(cat "$tmp/cut.code")" = 503 ] && grep -qi "^Retry-After:" "$tmp/cut.headers" && [ "$(sql "select count(*) from tasks where title = '"'cut short'"'")" = 0 ]'
req GET /api/tasks "${A[@]}"
check "the API reconnects after its connection was cut: $code" '[ "$code" = 200 ]'
# unknown fields are refused, not ignored; agentConfig overrides only what the agent allows
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "hook", "agentconfig": {"path": "/y"}}'
check "an unknown field: 400 naming it: $code $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = agentconfig ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "hook", "schedule": {"cron": "0 9 * * *", "tz": "UTC"}}'
check "an unknown schedule field: 400 naming it: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = schedule.tz ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "hook", "agentConfig": {"url": "http://evil.example/"}}'
check "agentConfig may not override what the agent keeps: $code $(cat "$tmp/body")" \
  '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = agentConfig ] && jq -r .error "$tmp/body" | grep -q "does not let tasks override"'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "hook", "agentConfig": {"path": "/api/cron/x"}, "schedule": {"cron": "0 9 * * *"}}'
tc=$(jq -r .task "$tmp/body")
req GET "/api/tasks/$tc" "${A[@]}"
check "agentConfig is the task's: $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .agentConfig.path "$tmp/body")" = /api/cron/x ]'
req PATCH "/api/tasks/$tc" "${A[@]}" "${J[@]}" -d '{"agentConfig": {"path": "/api/cron/y"}, "colour": "blue"}'
check "PATCH refuses an unknown field, changing nothing: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = colour ] && [ "$(sql "select agent_config->>'"'path'"' from tasks where id = $tc")" = /api/cron/x ]'
req PATCH "/api/tasks/$tc" "${A[@]}" "${J[@]}" -d '{"agentConfig": {"path": "/api/cron/y"}}'
check "PATCH agentConfig: $code $(jq -c .agentConfig "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .agentConfig.path "$tmp/body")" = /api/cron/y ]'
# a client that retries with the same Idempotency-Key gets the first answer, not a second run
req POST /api/agent/execute "${A[@]}" "${J[@]}" -H "Idempotency-Key: deploy-1234" -d '{"goal": "once only", "agentType": "noop", "async": true}'
first=$(jq -S -c . "$tmp/body"); r_once=$(jq -r .run "$tmp/body")
req POST /api/agent/execute "${A[@]}" "${J[@]}" -H "Idempotency-Key: deploy-1234" -d '{"goal": "once only", "agentType": "noop", "async": true}'
check "the same key again: the first answer, said to be replayed: $code $(cat "$tmp/body")" \
  '[ "$code" = 202 ] && [ "$(jq -S -c . "$tmp/body")" = "$first" ] && grep -qi "^Idempotent-Replayed: true" "$tmp/headers" && [ "$(sql "select count(*) from tasks where goal = '"'once only'"'")" = 1 ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -H "Idempotency-Key: deploy-1234" -d '{"goal": "another thing", "agentType": "noop"}'
check "the same key with another body: 422: $code" '[ "$code" = 422 ] && [ "$(jq -r .field "$tmp/body")" = Idempotency-Key ]'
req POST /api/agent/execute "${B[@]}" "${J[@]}" -H "Idempotency-Key: deploy-1234" -d '{"goal": "once only", "agentType": "noop"}'
check "another user's same key is theirs: $code" '[ "$code" = 202 ] && [ "$(jq -r .run "$tmp/body")" != "$r_once" ]'
racers=()
for k in 1 2 3 4; do # four at once with one key: one does the work
  curl -s -o /dev/null -w '%{http_code}\n' -X POST "${A[@]}" "${J[@]}" -H "Idempotency-Key: race-1" \
    -d '{"goal": "raced", "agentType": "noop"}' "$base/api/agent/execute" >"$tmp/race.$k" & racers+=($!)
done
wait "${racers[@]}"
check "four racing requests with one key make one task: $(cat "$tmp"/race.* | tr '\n' ' ')" \
  '[ "$(sql "select count(*) from tasks where goal = '"'raced'"'")" = 1 ] && [ "$(cat "$tmp"/race.* | grep -vc -e 202 -e 409)" = 0 ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "body key", "agentType": "noop", "idempotencyKey": "k-body"}'
kb1=$(jq -r .run "$tmp/body")
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "body key", "agentType": "noop", "idempotencyKey": "k-body"}'
check "idempotencyKey in the body: $code" '[ "$code" = 202 ] && [ "$(jq -r .run "$tmp/body")" = "$kb1" ]'
req POST "/api/tasks/$tc/trigger" "${A[@]}" -H "Idempotency-Key: trig-1"
kt1=$(jq -r .run "$tmp/body")
req POST "/api/tasks/$tc/trigger" "${A[@]}" -H "Idempotency-Key: trig-1"
check "trigger with a key twice: one run: $code" '[ "$code" = 202 ] && [ "$(jq -r .run "$tmp/body")" = "$kt1" ] && [ "$(sql "select count(*) from task_runs where task_id = $tc and trigger = '"'api'"'")" = 1 ]'
req POST "/api/tasks/$tc/trigger" "${A[@]}" -H "Idempotency-Key: $(printf 'k%.0s' $(seq 201))"
check "a key over 200 characters: 400" '[ "$code" = 400 ]'
check "keys are kept in Postgres: $(sql "select count(*) from idempotency_keys")" '[ "$(sql "select count(*) from idempotency_keys where status is not null")" = 5 ]'
req GET /metrics
check "metrics in Prometheus text: $code" '[ "$code" = 200 ] && grep -q "^agentcron_runs{status=\"cancelled\"} [0-9]" "$tmp/body" && grep -q "^agentcron_fire_lateness_seconds_bucket{le=\"+Inf\"}" "$tmp/body" && grep -q "^agentcron_queue_jobs{state=\"waiting\"}" "$tmp/body" && grep -q "^agentcron_http_requests_total{route=\"/api/tasks/{id}\",status=\"404\"} [0-9]" "$tmp/body"'
req PUT /api/tasks "${A[@]}"
check "405 on /api/tasks" '[ "$code" = 405 ] && grep -qi "^Allow: GET" "$tmp/headers"'
req POST "/api/tasks/$ta/trigger" "${A[@]}"
rd=$(jq -r .run "$tmp/body")
req DELETE "/api/tasks/$ta" "${A[@]}"
check "delete cancels the task's queued runs, as tasks rm does: $(cat "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(sql "select status from tasks where id = $ta")" = deleted ] && [ "$(sql "select status from task_runs where id = $rd")" = cancelled ]'
req GET "/api/tasks/$ta" "${A[@]}"
check "a deleted task is gone" '[ "$code" = 404 ]'
"$cli" keys revoke "$(sql "select id from api_keys where user_id = (select id from users where email = 'bob@example.com')")" >/dev/null
req GET /api/tasks "${B[@]}"
check "a revoked key: 401" '[ "$code" = 401 ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "noop", "timeoutMs": "soon"}'
check "timeoutMs must be an integer: 400 naming it" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = timeoutMs ]'
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "x", "agentType": "noop", "maxAttempts": 0}'
check "maxAttempts 0: 400 naming it" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = maxAttempts ]'
# async: false with no worker to run it: the wait ends at the task's timeout plus 5 s, with the
# run as it stands and where to look
t0=$(date +%s%N)
req POST /api/agent/execute "${A[@]}" "${J[@]}" -d '{"goal": "nobody runs this", "agentType": "noop", "async": false, "timeoutMs": 1000}'
waited=$((($(date +%s%N) - t0) / 1000000))
check "async: false past its bound: 202 after ~6 s with a Location: $code ${waited} ms $(cat "$tmp/body")" \
  '[ "$code" = 202 ] && [ "$waited" -ge 5900 ] && [ "$waited" -le 8000 ] && [ "$(jq -r .status "$tmp/body")" = queued ] && grep -qi "^Location: /api/runs/$(jq -r .id "$tmp/body")" "$tmp/headers"'
# ... and with Postgres gone meanwhile, the bound still holds: 503 with where to look later
curl -s -o "$tmp/pgdown.body" -D "$tmp/pgdown.headers" -w '%{http_code}' "${A[@]}" "${J[@]}" \
  -d '{"goal": "Postgres goes away", "agentType": "noop", "async": false, "timeoutMs": 1000}' "$base/api/agent/execute" >"$tmp/pgdown.code" &
waiter=$!
sleep 0.5
"$root/scripts/services.sh" stop-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
req GET /check-scheduled-tasks "${auth[@]}"
check "the webhook with Postgres down: 503 degraded, saying why: $code $(cat "$tmp/body")" \
  '[ "$code" = 503 ] && [ "$(jq -r .status "$tmp/body")" = degraded ] && jq -r .reason "$tmp/body" | grep -qi postgres'
req GET /readyz
check "readyz with Postgres down: 503: $code $(cat "$tmp/body")" '[ "$code" = 503 ] && [ "$(jq -r .postgres "$tmp/body")" = false ]'
req GET /api/tasks "${A[@]}"
check "the task API with Postgres down: 503 with Retry-After: $code" '[ "$code" = 503 ] && grep -qi "^Retry-After:" "$tmp/headers"'
wait $waiter
"$root/scripts/services.sh" start-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
"$root/scripts/services.sh" stop-redis "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
req GET /check-scheduled-tasks "${auth[@]}"
check "the webhook with Redis down: 503 degraded, saying why: $code $(cat "$tmp/body")" \
  '[ "$code" = 503 ] && [ "$(jq -r .status "$tmp/body")" = degraded ] && jq -r .reason "$tmp/body" | grep -qi redis'
"$root/scripts/services.sh" start-redis "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
for _ in $(seq 50); do req GET /check-scheduled-tasks "${auth[@]}"; [ "$code" = 200 ] && break; sleep 0.2; done
check "the webhook recovers with both servers back: $code" '[ "$code" = 200 ]'
check "async: false while Postgres is down: 503 at the bound, with Location: $(cat "$tmp/pgdown.code") $(cat "$tmp/pgdown.body")" \
  '[ "$(cat "$tmp/pgdown.code")" = 503 ] && grep -qi "^Location: /api/runs/[0-9]" "$tmp/pgdown.headers" && grep -qi "^Retry-After:" "$tmp/pgdown.headers"'
sleep 1 # a fresh second for the per-key limit
python3 - "$port" "$ka" >"$tmp/rate" <<'PY'
import sys, wire
c = wire.http_connection(int(sys.argv[1]))
for _ in range(120):  # on one kept-alive connection: well over 50 a second
    c.request("GET", "/api/tasks", headers={"Authorization": "Bearer " + sys.argv[2]})
    r = c.getresponse(); r.read(); print(r.status)
PY
check "per-key rate limit: $(sort "$tmp/rate" | uniq -c | tr '\n' ' ')" 'grep -q 429 "$tmp/rate" && grep -q 200 "$tmp/rate"'
check "the access log never shows an API key" '! grep -q "$ka" "$tmp/api.log"'
stop_all

# --- async: false with workers in the orchestrator: the answer comes when the run ends
port=$(free_port); export HTTP_LISTEN=127.0.0.1:$port; base=$scheme://127.0.0.1:$port
SHUTDOWN_GRACE_S=1 "$orch" --instance wait --workers 2 >"$tmp/wait.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
"$cli" users add carol@example.com --credits 100 >/dev/null
K=(-H "Authorization: Bearer $("$cli" keys create carol@example.com --json | jq -r .key)")
execute() { # execute BODY: POST /api/agent/execute as carol; also sets $took (ms)
  local t0; t0=$(date +%s%N)
  req POST /api/agent/execute "${K[@]}" "${J[@]}" -d "$1"
  took=$((($(date +%s%N) - t0) / 1000000))
}
execute '{"goal": "quick", "agentType": "noop", "async": false}'
check "async: false, a no-op: 200 with the finished run: $code ${took} ms $(cat "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = succeeded ] && [ "$(jq -r .finishedAt "$tmp/body")" != null ] && [ "$took" -lt 1000 ]'
execute '{"goal": "take a second", "agentType": "sleepy", "async": false}'
check "async: false, a one-second command: 200 after it, with its output: $code ${took} ms $(jq -c "{status, output}" "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = succeeded ] && jq -r .output "$tmp/body" | grep -q slept && [ "$took" -ge 1000 ] && [ "$took" -lt 3000 ]'
execute '{"goal": "too slow", "agentType": "stuck", "async": false, "timeoutMs": 1000, "maxAttempts": 1}'
check "async: false, a run that times out: 200 saying so: $code ${took} ms $(jq -c "{status, error}" "$tmp/body")" \
  '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = timed_out ] && [ "$took" -ge 1000 ] && [ "$took" -lt 4000 ]'
curl -s -m 1 -o /dev/null -X POST "${K[@]}" "${J[@]}" -d '{"goal": "the client gives up", "agentType": "stuck", "async": false}' "$base/api/agent/execute"
sleep 0.5
check "a client that hangs up stops its wait, freeing its connection at once" \
  'grep -q "event=http.request method=POST path=/api/agent/execute status=202" "$tmp/wait.log"'
execute '{"goal": "after a client gave up", "agentType": "noop", "async": false}'
check "a client that hangs up while waiting harms nothing: $code" '[ "$code" = 200 ] && [ "$(jq -r .status "$tmp/body")" = succeeded ]'
curl -s -o "$tmp/stop.body" -D "$tmp/stop.headers" -w '%{http_code}' -X POST "${K[@]}" "${J[@]}" \
  -d '{"goal": "cut short", "agentType": "stuck", "async": false}' "$base/api/agent/execute" >"$tmp/stop.code" &
waiter=$!
sleep 1
stop_all
wait $waiter
check "a wait cut short by shutdown: 202 with where to look: $(cat "$tmp/stop.code") $(cat "$tmp/stop.body")" \
  '[ "$(cat "$tmp/stop.code")" = 202 ] && grep -q "orchestrator is stopping" "$tmp/stop.body" && grep -qi "^Location: /api/runs/[0-9]" "$tmp/stop.headers"'

# --- configuration: no CRON_SECRET keeps the webhook closed; a port in use stops start-up; IPv6
port=$(free_port); export HTTP_LISTEN=127.0.0.1:$port; base=$scheme://127.0.0.1:$port
env -u CRON_SECRET METRICS_TOKEN=m3trics-token "$orch" --instance nosecret >"$tmp/nosecret.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
req GET /check-scheduled-tasks -H "Authorization: Bearer anything"
check "no CRON_SECRET: 503, not open: $code" '[ "$code" = 503 ] && grep -q "CRON_SECRET is not configured" "$tmp/body"'
req GET /metrics
check "METRICS_TOKEN set: /metrics without it is a 401 naming it: $code $(cat "$tmp/body")" '[ "$code" = 401 ] && grep -q "METRICS_TOKEN" "$tmp/body" && grep -qi "^WWW-Authenticate: Bearer" "$tmp/headers"'
req GET /metrics -H "Authorization: Bearer wrong"
check "METRICS_TOKEN set: a wrong token is a 401" '[ "$code" = 401 ]'
req GET /metrics -H "Authorization: Bearer m3trics-token"
check "METRICS_TOKEN set: with it, the metrics" '[ "$code" = 200 ] && grep -q "^agentcron_runs" "$tmp/body"'
run "$orch" --instance clash
check "port in use: exit 1 with a clear message: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "cannot listen on HTTP_LISTEN 127.0.0.1:$port" "$tmp/err"'
stop_all
run env HTTP_LISTEN=nonsense "$orch"
check "bad HTTP_LISTEN" '[ "$status" = 2 ] && grep -q "HTTP_LISTEN" "$tmp/err"'
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
  port=$(free_port)
  HTTP_LISTEN="[::1]:$port" "$orch" --instance v6 >"$tmp/v6.log" 2>&1 & pids+=($!)
  for _ in $(seq 50); do curl -s "$scheme://[::1]:$port/healthz" >/dev/null && break; sleep 0.1; done
  check "IPv6" '[ "$(curl -s "$scheme://[::1]:$port/healthz" | jq -r .status)" = ok ]'
  stop_all
fi
if [ "$scheme" = https ]; then
  # --- what only HTTPS has
  port=$(free_port); export HTTP_LISTEN=127.0.0.1:$port; base=https://127.0.0.1:$port
  "$orch" --instance tls >"$tmp/tls.log" 2>&1 & pids+=($!); tls_pid=$!
  for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$port/healthz")
  check "plain HTTP on the HTTPS port: 400 saying so: $code $(cat "$tmp/body")" '[ "$code" = 400 ] && grep -q "speaks HTTPS" "$tmp/body"'
  handshake() { # handshake MAX_VERSION CIPHERS: prints the version and suite agreed, or "refused"
    python3 -W ignore::DeprecationWarning - "$port" "$1" "$2" <<'PY'
import socket, ssl, sys, wire
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(wire.CA)
ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
ctx.maximum_version = getattr(ssl.TLSVersion, sys.argv[2])
ctx.set_ciphers(sys.argv[3])
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
    print(s.version(), s.cipher()[0])
except (ssl.SSLError, ConnectionError) as e:
    print("refused")
PY
  }
  agreed=$(handshake TLSv1_2 DEFAULT)
  check "a modern client gets TLS 1.2 with an AEAD suite: $agreed" '[[ "$agreed" =~ ^TLSv1.2\ ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM|CHACHA20-POLY1305) ]]'
  fails_before=$(grep -c "event=http.tls_failed" "$tmp/tls.log")
  check "TLS 1.1 is refused by the server" '[ "$(handshake TLSv1_1 "ALL:@SECLEVEL=0")" = refused ]'
  check "a CBC suite is refused by the server" '[ "$(handshake TLSv1_2 "ECDHE-RSA-AES128-SHA:@SECLEVEL=0")" = refused ]'
  check "each refusal is one log line naming the client" '[ "$(grep -c "event=http.tls_failed client=127.0.0.1" "$tmp/tls.log")" = $((fails_before + 2)) ]'
  # a client that starts a handshake and stalls is cut off with the request timeout
  python3 - "$port" >"$tmp/stall" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x16\x03\x01\x02\x00")  # the header of a ClientHello record, and no more
t = time.time()
s.settimeout(20)
print("closed" if s.recv(100) == b"" else "data", round(time.time() - t))
PY
  stall=$!
  # SIGHUP with a renewed certificate: new connections get it; a connection open across the
  # reload keeps working
  python3 - "$port" >"$tmp/across" <<'PY' &
import sys, time, wire
c = wire.http_connection(int(sys.argv[1]), "localhost")
c.request("GET", "/healthz"); r = c.getresponse(); r.read(); first = r.status
time.sleep(2)
c.request("GET", "/healthz"); r = c.getresponse(); r.read()
print(first, r.status)
PY
  across=$!
  peer_cn() {
    python3 - "$port" <<'PY'
import sys, wire
s = wire.connect(int(sys.argv[1]))
print(dict(x[0] for x in s.getpeercert()["subject"])["commonName"])
PY
  }
  check "before the reload: CN=localhost" '[ "$(peer_cn)" = localhost ]'
  sleep 0.5
  test_cert renewed 3 renewed
  cp "$tmp/renewed.crt" "$tmp/srv.crt" && cp "$tmp/renewed.key" "$tmp/srv.key"
  kill -HUP "$tls_pid"
  sleep 0.5
  check "after SIGHUP new connections get the renewed certificate: $(peer_cn)" '[ "$(peer_cn)" = renewed ]'
  check "the reload is logged, with a warning as it expires within 14 days" \
    'grep -q "level=warn event=http.tls_loaded.*subject=\"CN=renewed\".*expires within 14 days" "$tmp/tls.log"'
  wait $across
  check "a connection open across the reload keeps working: $(cat "$tmp/across")" '[ "$(cat "$tmp/across")" = "200 200" ]'
  echo "not a key" >"$tmp/srv.key"
  kill -HUP "$tls_pid"
  sleep 0.5
  check "a broken reload is logged and keeps the previous certificate" \
    'grep -q "event=http.tls_reload_failed.*TLS_KEY_FILE" "$tmp/tls.log" && [ "$(peer_cn)" = renewed ]'
  wait $stall
  check "a stalled handshake is closed after 10 s: $(cat "$tmp/stall")" '[[ "$(cat "$tmp/stall")" =~ ^closed\ (9|10|11)$ ]]'
  req GET /healthz
  check "still serving HTTPS" '[ "$code" = 200 ]'
  stop_all
  cp "$tmp/renewed.key" "$tmp/srv.key"
  test_cert other 30
  run env TLS_KEY_FILE= "$orch"
  check "a certificate without a key stops start-up: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "TLS_CERT_FILE is set but TLS_KEY_FILE is not" "$tmp/err"'
  run env TLS_KEY_FILE="$tmp/other.key" "$orch"
  check "a key of another certificate stops start-up: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "is not the private key of the first certificate" "$tmp/err"'
  run env TLS_CERT_FILE="$tmp/missing.crt" "$orch"
  check "a missing certificate stops start-up: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "cannot read TLS_CERT_FILE $tmp/missing.crt: No such file" "$tmp/err"'
fi
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$tmp"/*.log 2>/dev/null; then
  bad "sanitizer report in daemon logs"; grep -h -A5 "Sanitizer\|runtime error:" "$tmp"/*.log | head -40
else ok; fi
finish
