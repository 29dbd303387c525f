#!/usr/bin/env bash
# Start (or reuse) a throw-away PostgreSQL cluster for the test suite on a loopback port.
# Prints the SQLAlchemy URL on stdout. Usage: tests/services/postgres.sh [start|stop]
set -euo pipefail
PORT="${TLDOPS_TEST_PG_PORT:-55432}"
DATA="${TLDOPS_TEST_PG_DIR:-/tmp/tldops-test-pg}"
BIN="/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n1)/bin"
RUN_AS=(runuser -u postgres --)
[ "$(id -u)" = 0 ] || RUN_AS=()
URL="postgresql+psycopg://tldops:tldops@127.0.0.1:${PORT}/postgres"

case "${1:-start}" in
stop)
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
  exit 0 ;;
esac

if ! "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  if [ ! -s "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    "${RUN_AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # Durability is pointless for test data; fsync off makes CREATE DATABASE ... TEMPLATE fast.
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start -o \
    "-p $PORT -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
fi
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tldops') THEN
    CREATE ROLE tldops LOGIN SUPERUSER PASSWORD 'tldops';
  END IF;
END$$;
SQL
echo "$URL"
