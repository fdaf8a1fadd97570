#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A private PostgreSQL 15 and Redis 7 for agentcron, on loopback, with their data under the
# repo's .dev/ folder. No system service is touched.
#
#   scripts/services.sh start NAME PG_PORT REDIS_PORT   start (or keep) instance NAME
#   scripts/services.sh stop NAME                       stop it (data kept)
#   scripts/services.sh destroy NAME                    stop it and delete its data
#   scripts/services.sh env NAME                        print DATABASE_URL and REDIS_URL
#   scripts/services.sh restart-pg NAME | restart-redis NAME   for fault tests
#   scripts/services.sh stop-pg NAME | start-pg NAME            likewise
#   scripts/services.sh stop-redis NAME | start-redis NAME      likewise
#
# Postgres refuses to run as root: when run as root, the cluster belongs to the `postgres`
# user. Connections are trusted on 127.0.0.1 only. Callers pick ports below 32768: inside
# Linux's ephemeral range (32768-60999) a client connection can hold the port for a moment
# and the server then cannot bind it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pgbin=/usr/lib/postgresql/15/bin

usage() { sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 name=$2
base="$root/.dev/$name"
pgdata="$base/pg" redisdir="$base/redis"

as_pg() { # runs a command as the cluster's owner
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_of() { cat "$base/$1.port" 2>/dev/null; }

start_pg() {
  local port=$1
  mkdir -p "$base"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    rm -rf "$pgdata"; mkdir -p "$pgdata"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres:postgres "$pgdata"
      runuser -u postgres -- test -x "$pgdata" || {
        echo "services: the postgres user cannot reach $pgdata; clone the repo where other users can read it" >&2; exit 1; }
    fi
    as_pg "$pgbin/initdb" -D "$pgdata" -U agentcron --auth=trust -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
      || { echo "services: initdb failed; see $base/initdb.log" >&2; exit 1; }
    cat >>"$pgdata/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = on
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
EOF
  fi
  echo "$port" >"$base/pg.port"
  if ! as_pg "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -o "-p $port" -l "$pgdata/server.log" -w -t 60 start >/dev/null \
      || { echo "services: postgres did not start on port $port; see $pgdata/server.log" >&2; exit 1; }
  fi
  # the database, once
  if ! "$pgbin/psql" -h 127.0.0.1 -p "$port" -U agentcron -d postgres -tAc "select 1 from pg_database where datname='agentcron'" | grep -q 1; then
    "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U agentcron agentcron
  fi
}

start_redis() {
  local port=$1
  mkdir -p "$redisdir"
  echo "$port" >"$base/redis.port"
  if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then return; fi
  redis-server --port "$port" --bind 127.0.0.1 --dir "$redisdir" --daemonize yes \
    --pidfile "$redisdir/redis.pid" --logfile "$redisdir/redis.log" --save "" --appendonly yes \
    --appendfsync everysec >/dev/null
  # PONG only once the data is loaded (before that Redis answers LOADING)
  for _ in $(seq 1 200); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return; sleep 0.05; done
  echo "services: redis did not start on port $port; see $redisdir/redis.log" >&2; exit 1
}

stop_pg() {
  [ -f "$pgdata/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
}

stop_redis() {
  local port; port=$(port_of redis) || return 0
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

case $cmd in
  start)
    [ $# -eq 4 ] || usage
    start_pg "$3"; start_redis "$4" ;;
  stop) stop_pg; stop_redis ;;
  destroy) stop_pg; stop_redis; rm -rf "$base" ;;
  env)
    echo "DATABASE_URL=postgresql://agentcron@127.0.0.1:$(port_of pg)/agentcron"
    echo "REDIS_URL=redis://127.0.0.1:$(port_of redis)/0" ;;
  restart-pg) stop_pg; start_pg "$(port_of pg)" ;;
  stop-pg) stop_pg ;;
  start-pg) start_pg "$(port_of pg)" ;;
  restart-redis) stop_redis; start_redis "$(port_of redis)" ;;
  stop-redis) stop_redis ;;
  start-redis) start_redis "$(port_of redis)" ;;
  *) usage ;;
esac
