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
# The backup runner's account reads every table (pg_read_all_data) and can write nothing: made or
# brought up to date at each start, once the server answers on its socket (in the background, and
# reparented to the container's init, so the server never sees it as one of its own children).
if [ -n "${POSTGRES_BACKUP_PASSWORD:-}" ]; then
  backup_password=$POSTGRES_BACKUP_PASSWORD
  ( (
    i=0
    until pg_isready --quiet --host=/run/postgresql; do i=$((i + 1)); [ $i -lt 120 ] || exit 1; sleep 1; done
    psql --quiet --host=/run/postgresql --username=postgres --dbname=postgres --set=ON_ERROR_STOP=1 --set=password="$backup_password" --set=db="$POSTGRES_DB" <<'SQL' \
      || echo "socle-postgres: could not set up the backup account socle_backup" >&2
SELECT 'CREATE ROLE socle_backup' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'socle_backup') \gexec
ALTER ROLE socle_backup WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'password';
GRANT pg_read_all_data TO socle_backup;
GRANT CONNECT ON DATABASE :"db" TO socle_backup;
SQL
  ) & )
fi
unset POSTGRES_PASSWORD POSTGRES_BACKUP_PASSWORD
exec "$@"
