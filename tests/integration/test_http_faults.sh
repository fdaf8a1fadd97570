#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HTTP surface under attack: slowloris clients are cut at the request deadline however they
# trickle, and cannot take every connection from everyone else; guessing the webhook's secret
# from hundreds of rotating source addresses gets slower, not faster, while the right secret
# from an address that never failed keeps working.
# Usage: test_http_faults.sh BUILD_DIR
build=${1:?usage: test_http_faults.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
trap 'stop_all; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export DATABASE_URL; DATABASE_URL=$(fresh_db faults)
export REDIS_URL="$AGENTCRON_TEST_REDIS/13" CRON_SECRET=the-right-webhook-secret LOG_LEVEL=warn HTTP_MAX_CONNECTIONS=32
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null
port=$(free_port)
export HTTP_LISTEN=127.0.0.1:$port
"$orch" --instance faults >"$tmp/orch.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# --- slowloris: every connection slot taken by clients that send a header a byte at a time
python3 - "$port" >"$tmp/slow.json" <<'PY'
import http.client, json, select, socket, sys, time
port, n = int(sys.argv[1]), 32  # as many as HTTP_MAX_CONNECTIONS
slow = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    slow.append({"sock": s, "ended": None, "answer": ""})
start = time.time()
probes, probes_ok, last_byte = 0, 0, 0.0
while time.time() - start < 16 and any(c["ended"] is None for c in slow):
    now = time.time() - start
    if now - last_byte >= 1:  # one more byte of the header from each, every second
        last_byte = now
        for c in slow:
            if c["ended"] is None:
                try:
                    c["sock"].send(b"a")
                except OSError:
                    c["ended"] = now
    ready, _, _ = select.select([c["sock"] for c in slow if c["ended"] is None], [], [], 0.1)
    for c in slow:
        if c["sock"] in ready:
            try:
                data = c["sock"].recv(4096)
            except OSError:
                data = b""
            c["answer"] += data.decode(errors="replace")
            if not data:
                c["ended"] = time.time() - start
    if int(now * 2) > probes and now < 9:  # twice a second while the attack holds every slot
        probes += 1
        try:
            h = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
            h.request("GET", "/healthz")
            probes_ok += h.getresponse().status == 200
            h.close()
        except OSError:
            pass
ends = [c["ended"] for c in slow]
print(json.dumps({"open_at_end": sum(e is None for e in ends), "last_end": max(e or 99 for e in ends),
                  "answered_408": sum("408 Request Timeout" in c["answer"] for c in slow),
                  "probes": probes, "probes_ok": probes_ok}))
PY
check "slowloris: every trickling client is cut by the 10 s request deadline: $(cat "$tmp/slow.json")" \
  '[ "$(jq .open_at_end "$tmp/slow.json")" = 0 ] && jq -e ".last_end <= 12.5 and .answered_408 >= 1" "$tmp/slow.json" >/dev/null'
check "slowloris: /healthz answers while they hold every slot: $(cat "$tmp/slow.json")" \
  'jq -e ".probes >= 10 and .probes_ok == .probes" "$tmp/slow.json" >/dev/null'
check "slowloris: the server says whom it cut to make room" 'grep -q "event=http.evicted" "$tmp/orch.log"'

# --- guessing CRON_SECRET from 300 addresses (127.0.1.x and 127.0.2.x), 15 guesses each
python3 - "$port" >"$tmp/guess.json" <<'PY'
import json, socket, sys
port = int(sys.argv[1])
def ask(source, secret):
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(("GET /check-scheduled-tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Authorization: Bearer %s\r\n\r\n" % secret).encode())
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ")[1]) if data else 0
sources = ["127.0.%d.%d" % (1 + i // 150, 1 + i % 150) for i in range(300)]
counts = {}
for guess in range(15):
    for src in sources:
        code = ask(src, "guess-%d" % guess)
        counts[code] = counts.get(code, 0) + 1
print(json.dumps({"401": counts.get(401, 0), "429": counts.get(429, 0), "other": sum(v for k, v in counts.items() if k not in (401, 429)),
                  "right_from_new": ask("127.0.3.1", "the-right-webhook-secret"),
                  "right_from_first_offender": ask("127.0.1.1", "the-right-webhook-secret")}))
PY
check "guessing from 300 addresses: at most the budget plus one guess per address in the minute: $(cat "$tmp/guess.json")" \
  'jq -e ".[\"401\"] <= 400 and .[\"429\"] >= 4100 and .other == 0" "$tmp/guess.json" >/dev/null'
check "the right secret from an address that never failed still works: $(cat "$tmp/guess.json")" \
  '[ "$(jq .right_from_new "$tmp/guess.json")" = 200 ]'
check "an offender is not forgotten when others fill the table: $(cat "$tmp/guess.json")" \
  '[ "$(jq .right_from_first_offender "$tmp/guess.json")" = 429 ]'
cat "$tmp/slow.json" "$tmp/guess.json"
finish
