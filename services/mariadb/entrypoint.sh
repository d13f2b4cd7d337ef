#!/bin/sh
# Initializes an empty data directory once, then starts the server in the foreground.
# Accounts: the app's user (its database only), socle_backup (read-only, for dumps), and the
# server's own unix-socket accounts (root, mysql) for an administrator inside the container.
set -eu
DATADIR=/var/lib/mysql
MARKER="$DATADIR/.socle-initialized"
die() { echo "socle-mariadb: $*" >&2; exit 1; }
if [ ! -f "$MARKER" ]; then
  : "${MARIADB_DATABASE:?set MARIADB_DATABASE}" "${MARIADB_USER:?set MARIADB_USER}"
  : "${MARIADB_PASSWORD:?set MARIADB_PASSWORD}" "${MARIADB_BACKUP_PASSWORD:?set MARIADB_BACKUP_PASSWORD}"
  # Values go into SQL below: only the characters the stack generates are accepted.
  case "$MARIADB_DATABASE$MARIADB_USER" in *[!A-Za-z0-9_-]*) die "database and user names must be [A-Za-z0-9_-]";; esac
  case "$MARIADB_PASSWORD$MARIADB_BACKUP_PASSWORD" in *[!A-Za-z0-9]*) die "passwords must be alphanumeric";; esac
  # An initialization that did not finish leaves files but no marker: start it over.
  find "$DATADIR" -mindepth 1 -delete
  echo "socle-mariadb: initializing $DATADIR for database $MARIADB_DATABASE" >&2
  mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket \
    --skip-test-db --skip-name-resolve >/dev/null
  mariadbd --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  i=0
  until mariadb-admin --socket=/run/mysqld/init.sock ping --silent 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 60 ] || die "server did not start"
    sleep 1
  done
  mariadb --socket=/run/mysqld/init.sock <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
CREATE DATABASE \`${MARIADB_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';
CREATE USER 'socle_backup'@'%' IDENTIFIED BY '${MARIADB_BACKUP_PASSWORD}';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON *.* TO 'socle_backup'@'%';
FLUSH PRIVILEGES;
SQL
  mariadb-admin --socket=/run/mysqld/init.sock shutdown
  wait "$pid" || true
  touch "$MARKER"
  echo "socle-mariadb: initialized" >&2
fi
unset MARIADB_PASSWORD MARIADB_BACKUP_PASSWORD
exec "$@"
