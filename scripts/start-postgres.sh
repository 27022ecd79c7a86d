#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for stillwatch's tests, as user postgres, on 127.0.0.1.
#
# Idempotent: if the cluster already answers, it only prints the URL. Installs PostgreSQL with apt
# when /usr/lib/postgresql is missing. initdb refuses to run as root, so everything runs as the
# postgres user. Data lives in $PGDATA_DIR (default /tmp/stillwatch-pgdata) with fsync off: never use
# this cluster for anything but tests.
#
# Usage:  scripts/start-postgres.sh            # prints postgresql+psycopg://postgres@127.0.0.1:55432/postgres
#         export STILLWATCH_TEST_PG_URL="$(scripts/start-postgres.sh | tail -n 1)"
#         scripts/start-postgres.sh stop
set -euo pipefail

PORT="${PGPORT_STILLWATCH:-55432}"
DATA="${PGDATA_DIR:-/tmp/stillwatch-pgdata}"
SOCK="${PGSOCK_DIR:-/tmp/stillwatch-pgsock}"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"

if [ ! -d /usr/lib/postgresql ]; then
  echo "installing postgresql with apt-get" >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

as_postgres() {
  if [ "$(id -un)" = "postgres" ]; then sh -c "$1"; else su postgres -s /bin/sh -c "$1"; fi
}

if [ "${1:-start}" = "stop" ]; then
  if [ -f "$DATA/postmaster.pid" ]; then as_postgres "$BIN/pg_ctl -D $DATA -m fast -w stop" >&2; fi
  exit 0
fi

if "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; then
  echo "$URL"
  exit 0
fi

mkdir -p "$DATA" "$SOCK"
chown postgres:postgres "$DATA" "$SOCK" 2>/dev/null || true
chmod 700 "$DATA"
if [ ! -f "$DATA/PG_VERSION" ]; then
  as_postgres "$BIN/initdb -D $DATA -U postgres -A trust -E UTF8 --no-locale" >&2
fi
as_postgres "$BIN/pg_ctl -D $DATA -l $DATA/log.txt -w -o \"-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >&2
for _ in $(seq 1 50); do
  if "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; then break; fi
  sleep 0.1
done
echo "$URL"
