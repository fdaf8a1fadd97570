#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A Redis Cluster on loopback for tests and benchmarks: 3 masters, each with a replica, on six
# consecutive ports, an ACL user agentcron (password s3cret) on every node (the replicas
# authenticate with it too), data in DIR, node timeout 1 s (a dead master's replica takes over
# within about 2 s).
#
#   redis_cluster.sh start DIR FIRST_PORT [TLS_DIR]   start the six nodes and form the cluster
#   redis_cluster.sh stop DIR                         stop every node started in DIR
#   redis_cluster.sh free                             print a FIRST_PORT whose ports are free
#
# With TLS_DIR (ca.crt, srv.crt and srv.key in it) every node speaks only TLS: to clients on its
# port, to its replica and on the cluster bus.
#
# Callers pick FIRST_PORT below 32768 (see scripts/services.sh); each node also uses its port
# + 10000 for the cluster bus.
set -euo pipefail
usage="usage: redis_cluster.sh start DIR FIRST_PORT [TLS_DIR] | stop DIR | free"
cmd=${1:?$usage}
if [ "$cmd" = free ]; then # six consecutive ports below 22768 (their bus ports, + 10000, stay below 32768)
  while :; do
    first=$((20000 + RANDOM % 2700))
    python3 -c "
import socket
for p in list(range($first, $first + 6)) + list(range($first + 10000, $first + 10006)):
    socket.socket().bind(('127.0.0.1', p))" 2>/dev/null && break
  done
  echo "$first"
  exit 0
fi
dir=${2:?DIR} tls=${4:-}
tls_cli=() tls_server=()
if [ -n "$tls" ]; then
  tls_cli=(--tls --cacert "$tls/ca.crt")
  tls_server=(--tls-cert-file "$tls/srv.crt" --tls-key-file "$tls/srv.key" --tls-ca-cert-file "$tls/ca.crt"
              --tls-auth-clients no --tls-cluster yes --tls-replication yes)
fi
cli() { redis-cli "${tls_cli[@]}" --user agentcron --pass s3cret --no-auth-warning "$@"; }

case $cmd in
start)
  first=${3:?FIRST_PORT}
  mkdir -p "$dir"
  hosts=()
  for port in $(seq "$first" $((first + 5))); do
    mkdir -p "$dir/$port"
    if [ -n "$tls" ]; then ports=(--port 0 --tls-port "$port" "${tls_server[@]}"); else ports=(--port "$port"); fi
    redis-server "${ports[@]}" --bind 127.0.0.1 --cluster-enabled yes --cluster-node-timeout 1000 \
      --cluster-config-file "$dir/$port/nodes.conf" --dir "$dir/$port" --save "" --appendonly no \
      --user default off --user agentcron on '>s3cret' '~*' '&*' +@all \
      --masteruser agentcron --masterauth s3cret --daemonize yes --pidfile "$dir/$port/redis.pid" \
      --logfile "$dir/$port/redis.log"
    hosts+=("127.0.0.1:$port")
  done
  for port in $(seq "$first" $((first + 5))); do
    for _ in $(seq 50); do cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  done
  cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { echo "redis_cluster: cannot form the cluster: $(tail -3 "$dir/create.log")" >&2; exit 1; }
  for port in $(seq "$first" $((first + 5))); do # every node agrees, every replica has synced
    for _ in $(seq 100); do
      cli -p "$port" cluster info | grep -q cluster_state:ok &&
        ! cli -p "$port" info replication | grep -q "master_link_status:down" && break
      sleep 0.1
    done
  done
  ;;
stop)
  for pidfile in "$dir"/*/redis.pid; do
    # a node killed already (the cluster test kills one) must not stop the others' stop
    [ -f "$pidfile" ] && { kill -9 "$(cat "$pidfile")" 2>/dev/null || true; }
    rm -f "$pidfile"
  done
  true
  ;;
*) echo "$usage" >&2; exit 2 ;;
esac
