#!/bin/bash
# The official postgres image's start, reduced to what compose.yaml uses: on an empty
# data folder, initdb with POSTGRES_USER/POSTGRES_PASSWORD and create POSTGRES_DB; then
# PostgreSQL on every interface of the container's network, passwords required.
set -euo pipefail

# Another command, or postgres asked for its version or help, runs as given.
if [ "${1:-postgres}" != postgres ] || [[ " $* " =~ \ (-V|--version|-\?|--help|--describe-config)\  ]]; then
  exec "$@"
fi
shift || true

# Started as root: the data folder (a fresh volume is root's) goes to postgres, then
# this script runs again as postgres (PostgreSQL refuses root).
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
  exec setpriv --reuid postgres --regid postgres --init-groups bash "$0" postgres "$@"
fi

user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "Error: the database is uninitialized and POSTGRES_PASSWORD is not set." >&2
    exit 1
  fi
  initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  # Any client of the container's network, with the password (the official default).
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    # No TCP and a socket inside the data folder while the database is made: neither
    # clients nor a pg_isready healthcheck see this short-lived server.
    pg_ctl --pgdata="$PGDATA" --wait --silent \
      --options="-c listen_addresses='' -c unix_socket_directories='$PGDATA'" start
    psql --host="$PGDATA" --username="$user" --dbname=postgres --set=ON_ERROR_STOP=1 \
      --set=db="$database" \
      --quiet <<<'CREATE DATABASE :"db";'
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi

exec postgres -c listen_addresses='*' "$@"
