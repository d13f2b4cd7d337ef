#!/bin/sh
# Initializes an empty PGDATA once, then starts the server in the foreground.
set -eu
MARKER="$PGDATA/.socle-initialized"
die() { echo "socle-postgres: $*" >&2; exit 1; }
if [ ! -f "$MARKER" ]; then
  : "${POSTGRES_DB:?set POSTGRES_DB}" "${POSTGRES_USER:?set POSTGRES_USER}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
  case "$POSTGRES_DB$POSTGRES_USER" in *[!A-Za-z0-9_-]*) die "database and user names must be [A-Za-z0-9_-]";; esac
  # An initialization that did not finish leaves files but no marker: start it over.
  rm -rf "$PGDATA"
  echo "socle-postgres: initializing $PGDATA for database $POSTGRES_DB" >&2
  initdb --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/run/postgresql'
password_encryption = 'scram-sha-256'
log_destination = 'stderr'
CONF
  # Local socket: the postgres superuser only. TCP: scram-sha-256 for everyone, nothing trusted.
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all postgres peer
host  all all 0.0.0.0/0 scram-sha-256
host  all all ::/0      scram-sha-256
HBA
  pg_ctl --wait --silent -o "-c listen_addresses=''" start
  psql --quiet --username=postgres --dbname=postgres --set=ON_ERROR_STOP=1 \
    --set=user="$POSTGRES_USER" --set=password="$POSTGRES_PASSWORD" --set=db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
  pg_ctl --wait --silent stop
  touch "$MARKER"
  echo "socle-postgres: initialized" >&2
fi
unset POSTGRES_PASSWORD
exec "$@"
