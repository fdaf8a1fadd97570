#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS to Redis (REDIS_URL=rediss://user:password@host:port/db) against Debian's redis-server
# with --tls-port only (no plain port), a test CA and an ACL user: an orchestrator and a worker
# schedule and run tasks through it, the CLI reads status through it; an untrusted CA, a
# certificate for another host name or without the address asked for, a wrong password and a
# missing client certificate each fail with a message that names the cause. Then with
# tls-auth-clients: a client certificate.
# Usage: test_redis_tls.sh BUILD_DIR
build=${1:?usage: test_redis_tls.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
worker=$build/agentworker/agentcron-worker
cli=$build/cli/agentcron
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR REDIS_TLS_CA_FILE REDIS_TLS_CERT_FILE REDIS_TLS_KEY_FILE
export STATUS_INTERVAL_S=1 LOG_LEVEL=info HTTP_LISTEN=off POLL_INTERVAL_MS=500 SHUTDOWN_GRACE_S=5
redis_pids=()
trap 'stop_all; for p in "${redis_pids[@]}"; do kill "$p" 2>/dev/null; done; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

test_ca
test_cert srv 1
test_cert client 1 agentcron-client
# start_redis PORT [ARGS...]: redis-server speaking only TLS on PORT, with an ACL user agentcron
start_redis() {
  local port=$1; shift
  redis-server --port 0 --tls-port "$port" --tls-cert-file "$tmp/srv.crt" --tls-key-file "$tmp/srv.key" \
    --tls-ca-cert-file "$tmp/ca.crt" --save "" --appendonly no --dir "$tmp" --dbfilename "r$port.rdb" \
    --user default off --user agentcron on '>s3cret' '~*' '&*' +@all "$@" >"$tmp/redis-$port.log" 2>&1 &
  redis_pids+=($!)
  for _ in $(seq 50); do
    redis-cli --tls --cacert "$tmp/ca.crt" --cert "$tmp/client.crt" --key "$tmp/client.key" -p "$port" \
      --user agentcron --pass s3cret ping 2>/dev/null | grep -q PONG && return
    sleep 0.1
  done
  echo "redis-server with TLS did not start: $(tail -3 "$tmp/redis-$port.log")"; exit 1
}
port=$(free_port)
start_redis "$port" --tls-auth-clients no

export DATABASE_URL; DATABASE_URL=$(fresh_db redis_tls)
"$cli" migrate >/dev/null
"$cli" users add t@example.com --credits 1000 >/dev/null
export REDIS_URL="rediss://agentcron:s3cret@localhost:$port/3" REDIS_TLS_CA_FILE=$tmp/ca.crt

# --- what fails says why
run env REDIS_TLS_CA_FILE= "$cli" status --json
check "an untrusted certificate: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "is not trusted (The certificate is not correctly signed by the trusted CA): set REDIS_TLS_CA_FILE"'
run env REDIS_URL="rediss://agentcron:s3cret@127.0.0.2:$port/3" "$cli" status --json
check "a certificate without the address asked for: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "does not list the address 127.0.0.2 among its names: add it to the certificate (IP:127.0.0.2)"'
run env REDIS_URL="rediss://agentcron:s3cret@127.0.0.1:$port/3" "$cli" status --json
check "an address the certificate lists (IP:127.0.0.1) is taken: $(jq -c '.problems' "$tmp/out")" \
  '! jq -r ".problems[]" "$tmp/out" | grep -qi redis_url'
name=$(hostname) # a name of this machine that the certificate does not list
if [ "$name" != localhost ] && getent hosts "$name" >/dev/null; then
  run env REDIS_URL="rediss://agentcron:s3cret@$name:$port/3" "$cli" status --json
  check "a certificate for another host name: $(jq -r '.problems[0]' "$tmp/out")" \
    'jq -r ".problems[0]" "$tmp/out" | grep -q "is for another host name"'
fi
run env REDIS_URL="rediss://agentcron:wrong@localhost:$port/3" "$cli" status --json
check "a wrong password: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "WRONGPASS"'
run env REDIS_TLS_CA_FILE=$tmp/missing.crt "$cli" status --json
check "a CA file that is not there: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "REDIS_TLS_CA_FILE: cannot load CA certificates from $tmp/missing.crt"'
check "the password never shows" '! grep -q "s3cret\|wrong@" "$tmp/out"'

# --- the whole path over TLS: a scheduled task fires, a worker runs it, status reads it
t=$("$cli" tasks add --user t@example.com --title "every second" --agent noop --cron "* * * * * *" --json | jq -r .id)
"$orch" --instance tls-o >"$tmp/o.log" 2>&1 & pids+=($!)
"$worker" --instance tls-w >"$tmp/w.log" 2>&1 & pids+=($!)
wait_sql "runs succeed through Redis over TLS" 15 "select count(*) >= 3 from task_runs where task_id = $t and status = 'succeeded'" = t
run "$cli" status --json
check "status over TLS sees both daemons: $(jq -c '[.instances[].instance]' "$tmp/out")" \
  '[ "$(jq -c "[.instances[].instance] | sort" "$tmp/out")" = "[\"tls-o\",\"tls-w\"]" ]'
check "the queue's keys are in the TLS server's database 3" \
  '[ "$(redis-cli --tls --cacert "$tmp/ca.crt" -p "$port" --user agentcron --pass s3cret -n 3 exists agentcron:{default}:status:worker:tls-w 2>/dev/null)" = 1 ]'
check "the relay's socket is private" \
  '[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name "agentcron-redis-*" -perm /077 2>/dev/null)" ]'
stop_all
check "and gone when the daemons stop" '[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name "agentcron-redis-*" -newer "$tmp/o.log" 2>/dev/null)" ]'

# --- a server that wants a client certificate
port2=$(free_port)
start_redis "$port2" --tls-auth-clients yes
export REDIS_URL="rediss://agentcron:s3cret@localhost:$port2/3"
run "$cli" status --json
check "without a client certificate the server refuses: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "wants a client certificate (tls-auth-clients), set REDIS_TLS_CERT_FILE"'
run env REDIS_TLS_CERT_FILE="$tmp/client.crt" REDIS_TLS_KEY_FILE="$tmp/client.key" "$cli" status --json
check "with REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE it is taken: $(jq -c '.problems' "$tmp/out")" \
  '! jq -r ".problems[]" "$tmp/out" | grep -qi "redis_url"'
run env REDIS_TLS_CERT_FILE="$tmp/client.crt" "$cli" status --json
check "a certificate without its key: $(jq -r '.problems[0]' "$tmp/out")" \
  'jq -r ".problems[0]" "$tmp/out" | grep -q "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together"'

# --- more servers than a process keeps relays for (64: a managed cluster's nodes change
# addresses over its failovers): 70 TLS servers met in turn, a connection held open through the
# first; the least recently used relay without a connection makes room
python3 "$(dirname "$0")/../tools/tls_echo.py" "$tmp/srv.crt" "$tmp/srv.key" 70 >"$tmp/echo.ports" 2>"$tmp/echo.err" &
echo_pid=$!; redis_pids+=("$echo_pid")
for _ in $(seq 100); do [ -s "$tmp/echo.ports" ] && break; sleep 0.1; done
# shellcheck disable=SC2046
"$build/tests/tls_relays" "$tmp/ca.crt" $(cat "$tmp/echo.ports") >"$tmp/relays.log" 2>&1
kill "$echo_pid"
said() { grep -qx "$1" "$tmp/relays.log"; }
check "a relay for each of the 70: $(head -3 "$tmp/relays.log" | tr '\n' ' ')" 'said "relays made: 70 of 70"'
check "the relay with a connection open was kept, the connection unbroken" \
  'said "held connection echoes: 1" && said "held connection still echoes: 1"'
check "an evicted relay's socket is gone, and asking again relays anew" \
  'said "the evicted relay refuses: 1" && said "asked again, it relays anew: 1"'
check "the evicted relays' threads ended: $(grep threads "$tmp/relays.log")" 'said "threads beyond the start: 65, want 65"'
check "with a connection open through every relay, one more server is refused, saying why: $(grep refused: "$tmp/relays.log")" \
  'said "connections held before a refusal: 64" && grep -q "^refused: .*connections open to 64 other Redis servers, its most; close some" "$tmp/relays.log"'
check "once a connection closes, the refused server is relayed" 'said "one closed, the refused server relays: 1"'
finish
