#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What TLS to Redis costs: agentcron's queue alone (bench/queue_bench.c: N no-op jobs enqueued in
# batches of 1,000, then drained with 64 in flight) against a Redis in the clear and one that
# speaks only TLS (a CA and certificate made here; the client checks both), on this machine. The
# two take turns for BENCH_ROUNDS rounds (default 3); the medians and their ratio are printed,
# with the CPU per 100,000 jobs of Redis and of the client (whose relay threads do the TLS).
# Private servers under .dev/bench/tls.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
n=${BENCH_JOBS:-100000} rounds=${BENCH_ROUNDS:-3}
dir=$root/.dev/bench/tls plain_port=26394 tls_port=26393
rm -rf "$dir" && mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$dir/srv.key" -out "$dir/srv.csr" -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" >"$dir/srv.ext"
openssl x509 -req -in "$dir/srv.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/srv.crt" \
  -days 2 -extfile "$dir/srv.ext" 2>/dev/null
common=(--bind 127.0.0.1 --save "" --appendonly no --daemonize yes --dir "$dir")
redis-server --port "$plain_port" "${common[@]}" --pidfile "$dir/plain.pid" --logfile "$dir/plain.log"
redis-server --port 0 --tls-port "$tls_port" --tls-cert-file "$dir/srv.crt" --tls-key-file "$dir/srv.key" \
  --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no "${common[@]}" --pidfile "$dir/tls.pid" --logfile "$dir/tls.log"
trap 'kill "$(cat "$dir/plain.pid")" "$(cat "$dir/tls.pid")" 2>/dev/null' EXIT
cli() { if [ "$1" = tls ]; then redis-cli --tls --cacert "$dir/ca.crt" -p "$tls_port" "${@:2}"; else redis-cli -p "$plain_port" "${@:2}"; fi; }
for kind in plain tls; do
  for _ in $(seq 50); do cli "$kind" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ms() { echo $(( $1 * 1000 / $(getconf CLK_TCK) )); }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "TLS benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "$n no-op jobs, random priorities 1-4, 64 in flight, Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-) in the clear and over TLS, $rounds rounds"
echo
declare -A drain enqueue rcpu ccpu
for round in $(seq "$rounds"); do
  line="  round $round:"
  for kind in plain tls; do
    if [ "$kind" = tls ]; then url=rediss://127.0.0.1:$tls_port/0; else url=redis://127.0.0.1:$plain_port/0; fi
    cli "$kind" flushall >/dev/null
    pid=$(cat "$dir/$kind.pid"); before=$(ticks "$pid")
    TIMEFORMAT="%U %S"
    { time REDIS_TLS_CA_FILE=$dir/ca.crt build-release/bench/queue_bench "$url" "$n" 64 >"$dir/out"; } 2>"$dir/time"
    spent=$(( $(ticks "$pid") - before ))
    client_ms=$(awk '{printf "%d", ($1 + $2) * 1000}' "$dir/time")
    drain[$kind]+="$(jq .jobs_per_s "$dir/out") " enqueue[$kind]+="$(jq .enqueue_per_s "$dir/out") "
    rcpu[$kind]+="$(( $(ms "$spent") * 100000 / n )) " ccpu[$kind]+="$(( client_ms * 100000 / n )) "
    line+=" $kind $(jq .jobs_per_s "$dir/out") jobs/s drained, $(jq .enqueue_per_s "$dir/out") enqueued;"
  done
  echo "$line"
done
echo
printf "medians of %d rounds:           in the clear     over TLS\n" "$rounds"
for what in drain enqueue; do
  declare -n v=$what
  p=$(median <<<"${v[plain]}") t=$(median <<<"${v[tls]}")
  printf "  %-28s %9d jobs/s %9d jobs/s   (TLS %.2fx)\n" "$what" "$p" "$t" "$(awk -v t="$t" -v p="$p" 'BEGIN {print t / p}')"
done
printf "  %-28s %9d ms     %9d ms\n" "Redis CPU per 100,000 jobs" "$(median <<<"${rcpu[plain]}")" "$(median <<<"${rcpu[tls]}")"
printf "  %-28s %9d ms     %9d ms   (the TLS relay's threads)\n" "client CPU per 100,000 jobs" "$(median <<<"${ccpu[plain]}")" "$(median <<<"${ccpu[tls]}")"
