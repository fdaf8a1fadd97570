#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The orchestrator's HTTP surface with real clients (curl, raw sockets): /healthz, /readyz, the
# authenticated /check-scheduled-tasks (GET and POST), errors by status, keep-alive and
# pipelining, and hostile input (oversized heads and bodies, malformed requests, a slowloris
# client, a flood of wrong secrets) while a task due every second keeps firing on time.
# Usage: test_http.sh BUILD_DIR
build=${1:?usage: test_http.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
command -v curl >/dev/null || { echo "curl is needed: scripts/install-deps.sh installs it"; exit 1; }
export STATUS_INTERVAL_S=1 LOG_LEVEL=info CRON_SECRET=s3cret-webhook-token POLL_INTERVAL_MS=2000
pids=()
stop_all() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; pids=(); }
trap 'stop_all; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export DATABASE_URL; DATABASE_URL=$(fresh_db http)
export REDIS_URL="$AGENTCRON_TEST_REDIS/14"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null
sql "insert into users (email, monthly_credits) values ('t@example.com', 100)"
port=$(free_port)
export HTTP_LISTEN=127.0.0.1:$port
base=http://127.0.0.1:$port
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
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
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

# --- hostile input, while a task due every second keeps firing
sql "update tasks set schedule_enabled = true, next_run_at = date_trunc('second', now()) + interval '1 second' where title = 'due'"
before=$(sql "select count(*) from task_runs")
raw() { # raw BYTES...: sends them on one connection, prints the status line's code
  python3 - "$port" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
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
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
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

# --- configuration: no CRON_SECRET keeps the webhook closed; a port in use stops start-up; IPv6
port=$(free_port); export HTTP_LISTEN=127.0.0.1:$port; base=http://127.0.0.1:$port
env -u CRON_SECRET "$orch" --instance nosecret >"$tmp/nosecret.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
req GET /check-scheduled-tasks -H "Authorization: Bearer anything"
check "no CRON_SECRET: 503, not open: $code" '[ "$code" = 503 ] && grep -q "CRON_SECRET is not configured" "$tmp/body"'
run "$orch" --instance clash
check "port in use: exit 1 with a clear message: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "cannot listen on HTTP_LISTEN 127.0.0.1:$port" "$tmp/err"'
stop_all
run env HTTP_LISTEN=nonsense "$orch"
check "bad HTTP_LISTEN" '[ "$status" = 1 ] && grep -q "HTTP_LISTEN" "$tmp/err"'
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
  port=$(free_port)
  HTTP_LISTEN="[::1]:$port" "$orch" --instance v6 >"$tmp/v6.log" 2>&1 & pids+=($!)
  for _ in $(seq 50); do curl -s "http://[::1]:$port/healthz" >/dev/null && break; sleep 0.1; done
  check "IPv6" '[ "$(curl -s "http://[::1]:$port/healthz" | jq -r .status)" = ok ]'
  stop_all
fi
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$tmp"/*.log 2>/dev/null; then
  bad "sanitizer report in daemon logs"; grep -h -A5 "Sanitizer\|runtime error:" "$tmp"/*.log | head -40
else ok; fi
finish
