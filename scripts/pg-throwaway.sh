#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a folder of its own, on a free loopback port.
#   scripts/pg-throwaway.sh start DIR   initdb + start; prints the admin URL
#   scripts/pg-throwaway.sh pause DIR   stop the server, keep the data (fault tests)
#   scripts/pg-throwaway.sh resume DIR  start it again on the same port
#   scripts/pg-throwaway.sh stop DIR    stop and remove everything
set -euo pipefail
cmd=${1:?usage: pg-throwaway.sh start|pause|resume|stop DIR}
dir=${2:?usage: pg-throwaway.sh start|pause|resume|stop DIR}

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2; exit 1; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

server_start() {
  local port
  port=$(cat "$dir/port")
  as_postgres "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      chown postgres "$dir"
      # The server runs as postgres and must reach its folder (mktemp makes 0700 parents).
      chmod a+x "$(dirname "$dir")"
    fi
    chmod 700 "$dir"
    port=$(( 20000 + RANDOM % 30000 ))
    while ! port_is_free "$port"; do port=$(( 20000 + RANDOM % 30000 )); done
    echo "$port" >"$dir/port"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir/port"; fi
    as_postgres "$pgbin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
    server_start
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  pause)
    as_postgres "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    server_start
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_postgres "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "unknown command $cmd: use start, pause, resume or stop" >&2
    exit 2
    ;;
esac
