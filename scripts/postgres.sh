#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests and benchmarks: loopback only, a free port, a socket
# directory of its own, fsync off. Never point it at data you want to keep.
#
#   scripts/postgres.sh start         starts one; prints shell lines to eval:
#                                       export UDMG_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:PORT/udmg_test
#                                       export UDMG_TEST_POSTGRES_DIR=/tmp/udmg-pg.XXXXXX
#   scripts/postgres.sh start-standby PRIMARY_DIR
#                                     starts a hot standby of the server started in PRIMARY_DIR
#                                     (pg_basebackup -R over its socket, streaming replication),
#                                     on another free port; prints shell lines to eval:
#                                       export UDMG_TEST_POSTGRES_STANDBY_URL=postgresql://postgres@127.0.0.1:PORT/udmg_test
#                                       export UDMG_TEST_POSTGRES_STANDBY_DIR=/tmp/udmg-pg.XXXXXX
#                                     stop it with `stop` like any other
#   scripts/postgres.sh stop DIR      stops the server started in DIR and removes DIR
#   scripts/postgres.sh run -- CMD... starts one, runs CMD with both variables exported, and
#                                     stops it when CMD ends, also on failure or Ctrl-C;
#                                     exits with CMD's status
#
# The role `postgres` logs in without a password on loopback (trust); every other role must give
# its password (scram-sha-256), so tests can check bad credentials and missing privileges.
# initdb refuses root, so when run as root the server runs as the `postgres` user (runuser).
set -euo pipefail

PG_BIN=${UDMG_PG_BIN:-/usr/lib/postgresql/15/bin}
DATABASE=udmg_test

die() { echo "postgres.sh: $*" >&2; exit 1; }

# Runs a command as the user that owns the server files.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

give_to_owner() {
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  [[ -x $PG_BIN/initdb ]] || die "no PostgreSQL 15 in $PG_BIN; install postgresql-15 or set UDMG_PG_BIN"
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/udmg-pg.XXXXXX")
  chmod 755 "$dir"
  mkdir "$dir/socket"
  give_to_owner "$dir" "$dir/socket"
  if ! as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
         --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    die "initdb failed (log above)"
  fi
  # Trust only the superuser, only on loopback: this is a test server.
  { echo "host all postgres 127.0.0.1/32 trust"; cat "$dir/data/pg_hba.conf"; } \
    >"$dir/pg_hba.conf.new"
  mv "$dir/pg_hba.conf.new" "$dir/data/pg_hba.conf"
  give_to_owner "$dir/data/pg_hba.conf"
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/socket'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
  local url port
  if ! url=$(start_on_free_port "$dir"); then
    rm -rf "$dir"
    die "the server did not start (log above)"
  fi
  port=$(cat "$dir/port")
  as_owner "$PG_BIN/createdb" -h "$dir/socket" -p "$port" -U postgres "$DATABASE" \
    || { stop "$dir"; die "createdb $DATABASE failed"; }
  echo "export UDMG_TEST_POSTGRES_URL=$url"
  echo "export UDMG_TEST_POSTGRES_DIR=$dir"
  echo "postgres.sh: PostgreSQL 15 on 127.0.0.1:$port (data in $dir); stop it with: $0 stop $dir" >&2
}

# Starts `dir`'s data directory on a free port (trying again when another process takes it
# first) and prints the URL of DATABASE on it; false when the server does not start.
start_on_free_port() {
  local dir=$1 port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/server.log" -w -t 60 \
         start >/dev/null 2>&1; then
      echo "$port" >"$dir/port"
      echo "postgresql://postgres@127.0.0.1:$port/$DATABASE"
      return 0
    fi
  done
  tail -n 20 "$dir/server.log" >&2 || true
  return 1
}

# A hot standby of the server in PRIMARY_DIR. The primary's defaults suffice (wal_level replica,
# max_wal_senders 10, and initdb's "local replication all trust" line for the socket).
start_standby() {
  local primary=${1:-}
  [[ -n $primary && -f $primary/port ]] || die "start-standby needs the directory that start printed"
  local dir url
  dir=$(mktemp -d "${TMPDIR:-/tmp}/udmg-pg.XXXXXX")
  chmod 755 "$dir"
  mkdir "$dir/socket"
  give_to_owner "$dir" "$dir/socket"
  if ! as_owner "$PG_BIN/pg_basebackup" -D "$dir/data" -R -X stream -c fast \
         -h "$primary/socket" -p "$(cat "$primary/port")" -U postgres >"$dir/basebackup.log" 2>&1; then
    cat "$dir/basebackup.log" >&2
    rm -rf "$dir"
    die "pg_basebackup failed (log above)"
  fi
  # Its own socket directory; the rest of the primary's settings stay.
  echo "unix_socket_directories = '$dir/socket'" >>"$dir/data/postgresql.conf"
  if ! url=$(start_on_free_port "$dir"); then
    rm -rf "$dir"
    die "the standby did not start (log above)"
  fi
  echo "export UDMG_TEST_POSTGRES_STANDBY_URL=$url"
  echo "export UDMG_TEST_POSTGRES_STANDBY_DIR=$dir"
  echo "postgres.sh: hot standby on ${url#postgresql://postgres@} (data in $dir); stop it with: $0 stop $dir" >&2
}

stop() {
  local dir=${1:-}
  [[ -n $dir && -d $dir/data ]] || die "stop needs the directory that start printed (UDMG_TEST_POSTGRES_DIR)"
  as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

run() {
  [[ ${1:-} == -- ]] && shift
  [[ $# -gt 0 ]] || die "usage: $0 run -- CMD..."
  local lines
  lines=$(start)
  eval "$lines"
  # Stops the server however CMD ends (status, error, signal).
  trap 'stop "$UDMG_TEST_POSTGRES_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local status=0
  "$@" || status=$?
  return "$status"
}

case ${1:-} in
  start) start ;;
  start-standby) shift; start_standby "$@" ;;
  stop) shift; stop "$@" ;;
  run) shift; run "$@" ;;
  *) die "usage: $0 start | start-standby PRIMARY_DIR | stop DIR | run -- CMD..." ;;
esac
