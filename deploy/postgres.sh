#!/usr/bin/env bash
# Local PostgreSQL from Debian's packages, for FerretDB's PostgreSQL backend (bench/store_backends.py).
# Its own cluster under $QHWY_DATA_DIR/postgres on 127.0.0.1:5433 (QHWY_POSTGRES_PORT), so it never clashes with a
# system PostgreSQL on 5432; a role and database "ferretdb". TCP on 127.0.0.1 only, trusted like the local FerretDB
# (no password: a development store, not for a shared network).
# Usage: deploy/postgres.sh provision|start|stop|status|url
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT="${QHWY_POSTGRES_PORT:-5433}"
PG_ROOT="$DATA_DIR/postgres"
PG_DATA="$PG_ROOT/data"
PG_SOCKETS="$PG_ROOT/sockets"  # the server's Unix socket (local peer auth for the admin commands below)
PG_LOG="$PG_ROOT/postgres.log"
PG_DB=ferretdb
PG_ROLE=ferretdb

# The newest installed server version's binaries (Debian keeps them off PATH, under /usr/lib/postgresql/<v>/bin).
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# The cluster belongs to the postgres user when run as root (the server refuses to run as root); otherwise to us.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

provision() {
  if [ -z "$(pg_bindir)" ]; then
    log "installing PostgreSQL from Debian's packages"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y postgresql >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y postgresql >&2; } \
      || die "apt-get install postgresql failed"
    [ -n "$(pg_bindir)" ] || die "postgresql installed, but no /usr/lib/postgresql/*/bin"
  fi
  if [ -f "$PG_DATA/PG_VERSION" ]; then return 0; fi
  log "creating a PostgreSQL cluster in $PG_DATA"
  mkdir -p "$PG_DATA" "$PG_SOCKETS"
  chmod 700 "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PG_ROOT" "$PG_DATA" "$PG_SOCKETS"
    # The server, running as postgres, must reach its data directory through the checkout's folders.
    as_owner test -x "$PG_ROOT" || die "user postgres cannot reach $PG_ROOT: set QHWY_DATA_DIR to a folder it can"
  fi
  as_owner "$(pg_bindir)/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=trust >>"$PG_LOG.init" 2>&1 || { cat "$PG_LOG.init" >&2; die "initdb failed"; }
}

running() { [ -f "$PG_DATA/PG_VERSION" ] && as_owner "$(pg_bindir)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

psql_admin() { as_owner "$(pg_bindir)/psql" -h "$PG_SOCKETS" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

start() {
  provision
  if running; then log "PostgreSQL already running ($PG_DATA)"; return 0; fi
  if port_open "$PG_HOST" "$PG_PORT"; then die "$PG_HOST:$PG_PORT answers but is not this cluster ($PG_DATA)"; fi
  log "starting PostgreSQL on $PG_HOST:$PG_PORT (data $PG_DATA, log $PG_LOG)"
  as_owner "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
    -o "-c port=$PG_PORT -c listen_addresses=$PG_HOST -c unix_socket_directories=$PG_SOCKETS" >&2 \
    || { tail -30 "$PG_LOG" >&2; die "PostgreSQL did not start"; }
  # FerretDB keeps each MongoDB database as a schema of this one database, owned by its role.
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'")" != 1 ]; then
    psql_admin -c "CREATE ROLE $PG_ROLE LOGIN"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE"
  fi
  log "PostgreSQL is ready: $(url)"
}

stop() {
  if ! running; then log "PostgreSQL is not running"; return 0; fi
  log "stopping PostgreSQL ($PG_DATA)"
  as_owner "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >&2
}

status() {
  if running; then echo "postgres: running on $PG_HOST:$PG_PORT (data $PG_DATA)"
  elif port_open "$PG_HOST" "$PG_PORT"; then echo "postgres: $PG_HOST:$PG_PORT answers (not this cluster)"
  else echo "postgres: stopped"; return 3; fi
}

# The URL FerretDB's --postgresql-url takes.
url() { echo "postgres://$PG_ROLE@$PG_HOST:$PG_PORT/$PG_DB"; }

case "${1:-}" in
  provision) provision ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  *) echo "usage: $0 provision|start|stop|status|url" >&2; exit 2 ;;
esac
