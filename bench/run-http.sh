#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HTTP benchmark: wrk (Debian's), keep-alive, 64 connections, BENCH_SECONDS (default 10)
# per measurement, on loopback, against
#   1. nginx serving a static file of the same body as /healthz: the ceiling. One worker
#      process, as the orchestrator serves HTTP from one event loop; also one per core, for
#      reference;
#   2. the orchestrator's GET /healthz;
#   3. its GET /check-scheduled-tasks with the bearer secret, which counts scheduled and due
#      tasks in Postgres (1,000 scheduled tasks here) for every request;
#   4. for reference, /healthz over HTTPS (a second orchestrator with a certificate made here;
#      the TLS handshakes happen once per connection, as keep-alive clients do).
# Each takes turns for BENCH_ROUNDS rounds (default 3; this machine's speed wanders), and the
# medians are printed with the ratio to nginx. Targets (issue 6): /healthz at least half of
# nginx's requests/s; the webhook's p99 under 20 ms. Neither side writes an access log.
# Private Postgres and Redis under .dev/bench; nginx runs as this user's process, with its own
# configuration under .dev/bench/http (installing the package starts no service).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh wrk nginx-light
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
scripts/services.sh start bench 25440 26390
secs=${BENCH_SECONDS:-10} rounds=${BENCH_ROUNDS:-3} threads=${BENCH_WRK_THREADS:-1}
base=postgresql://agentcron@127.0.0.1:25440 redis=redis://127.0.0.1:26390
orch_port=25482 nginx_port=25483 nginx_all_port=25484 tls_port=25485
work=$root/.dev/bench/http
rm -rf "$work" && mkdir -p "$work"
# nginx's workers drop to `nobody` when started as root: serve from a directory anyone can read
www=$(mktemp -d /tmp/agentcron-bench-www.XXXXXX)
chmod 755 "$www"
printf '{"status":"ok"}' >"$www/healthz" && chmod 644 "$www/healthz"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$www"
  scripts/services.sh stop bench
}
trap cleanup EXIT

nginx_conf() { # nginx_conf NAME PORT WORKERS
  mkdir -p "$work/$1"
  cat >"$work/$1/nginx.conf" <<EOF
daemon off;
worker_processes $3;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/$1/body;
  proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fastcgi;
  uwsgi_temp_path $work/$1/uwsgi;
  scgi_temp_path $work/$1/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2;
    root $www;
    default_type application/json;
  }
}
EOF
  nginx -p "$work/$1" -e "$work/$1/error.log" -c "$work/$1/nginx.conf" & pids+=($!)
}
nginx_conf one "$nginx_port" 1
nginx_conf all "$nginx_all_port" auto

psql -q "$base/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_http WITH (FORCE)" \
  -c "CREATE DATABASE bench_http"
export DATABASE_URL=$base/bench_http REDIS_URL=$redis/6 CRON_SECRET=bench-webhook-secret LOG_LEVEL=warn
export HTTP_LISTEN=127.0.0.1:$orch_port
redis-cli -u "$REDIS_URL" flushdb >/dev/null
build-release/cli/agentcron migrate >/dev/null
psql -qtAX "$DATABASE_URL" >/dev/null <<SQL
INSERT INTO users (email) VALUES ('bench@example.com');
INSERT INTO tasks (user_id, title, agent_type, schedule, timezone, schedule_enabled, next_run_at)
SELECT 1, 'task ' || g, 'noop', '0 0 1 1 *', 'UTC', true, timestamptz '2027-01-01' FROM generate_series(1, 1000) g;
VACUUM ANALYZE tasks;
SQL
build-release/orchestrator/agentcron-orchestrator --instance bench-http 2>"$work/orchestrator.log" & pids+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
  -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
HTTP_LISTEN=127.0.0.1:$tls_port TLS_CERT_FILE=$work/tls.crt TLS_KEY_FILE=$work/tls.key \
  build-release/orchestrator/agentcron-orchestrator --instance bench-https 2>"$work/orchestrator-tls.log" & pids+=($!)
for url in "http://127.0.0.1:$orch_port/healthz" "http://127.0.0.1:$nginx_port/healthz" \
           "http://127.0.0.1:$nginx_all_port/healthz" "https://127.0.0.1:$tls_port/healthz"; do
  for _ in $(seq 1 100); do curl -sf --cacert "$work/tls.crt" "$url" >/dev/null && break; sleep 0.1; done
  curl -sf --cacert "$work/tls.crt" "$url" >/dev/null || { echo "run-http: $url does not answer; see $work" >&2; exit 1; }
done
auth="Authorization: Bearer $CRON_SECRET"
[ "$(curl -s -H "$auth" "http://127.0.0.1:$orch_port/check-scheduled-tasks" | jq -r .scheduledTasks)" = 1000 ] ||
  { echo "run-http: the webhook does not see the 1,000 tasks" >&2; exit 1; }

# measure URL [HEADER]: prints "requests/s p99_ms"; fails on any non-2xx answer or socket error
measure() {
  local out
  out=$(wrk -t"$threads" -c64 -d"${secs}s" --latency ${2:+-H "$2"} "$1")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "run-http: errors from $1:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec:/ {rps = $2}
       $1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                    p99 = u == "us" ? v / 1000 : u == "s" ? v * 1000 : v}
       END {printf "%.0f %.2f\n", rps, p99}' <<<"$out"
}

echo "HTTP benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $threads thread(s), 64 connections, keep-alive, ${secs} s each, $rounds rounds; $(nginx -v 2>&1 | cut -d' ' -f3)"
echo
n1=() na=() h=() hp=() w=() wp=() t=() tp=()
for r in $(seq 1 "$rounds"); do
  read -r a _ <<<"$(measure "http://127.0.0.1:$nginx_port/healthz")"; n1+=("$a")
  read -r a _ <<<"$(measure "http://127.0.0.1:$nginx_all_port/healthz")"; na+=("$a")
  read -r a b <<<"$(measure "http://127.0.0.1:$orch_port/healthz")"; h+=("$a") hp+=("$b")
  read -r a b <<<"$(measure "http://127.0.0.1:$orch_port/check-scheduled-tasks" "$auth")"; w+=("$a") wp+=("$b")
  read -r a b <<<"$(measure "https://127.0.0.1:$tls_port/healthz")"; t+=("$a") tp+=("$b")
  echo "  round $r: nginx (1 worker) ${n1[-1]}, nginx (1 per core) ${na[-1]}, /healthz ${h[-1]} (p99 ${hp[-1]} ms)," \
       "/check-scheduled-tasks ${w[-1]} (p99 ${wp[-1]} ms), HTTPS /healthz ${t[-1]} (p99 ${tp[-1]} ms) requests/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mn=$(median "${n1[@]}") ma=$(median "${na[@]}") mh=$(median "${h[@]}") mhp=$(median "${hp[@]}")
mw=$(median "${w[@]}") mwp=$(median "${wp[@]}") mt=$(median "${t[@]}") mtp=$(median "${tp[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "medians of $rounds rounds:"
printf '  %-44s %8s requests/s\n' "nginx 1 worker, static file (the ceiling)" "$mn"
printf '  %-44s %8s requests/s\n' "nginx 1 worker per core, static file" "$ma"
printf '  %-44s %8s requests/s  p99 %s ms  (%sx nginx 1 worker)\n' "agentcron GET /healthz" "$mh" "$mhp" "$(ratio "$mh" "$mn")"
printf '  %-44s %8s requests/s  p99 %s ms\n' "agentcron GET /check-scheduled-tasks (auth)" "$mw" "$mwp"
printf '  %-44s %8s requests/s  p99 %s ms\n' "agentcron GET /healthz over HTTPS" "$mt" "$mtp"
healthz_ok=$(awk -v a="$mh" -v b="$mn" 'BEGIN {print (a >= b / 2) ? "met" : "NOT met"}')
webhook_ok=$(awk -v p="$mwp" 'BEGIN {print (p < 20) ? "met" : "NOT met"}')
echo "targets: /healthz >= half of nginx: $healthz_ok; webhook p99 < 20 ms: $webhook_ok"
