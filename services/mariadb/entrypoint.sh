#!/bin/sh
# Initializes an empty data directory once, then starts the server in the foreground.
set -eu
DATADIR=/var/lib/mysql
if [ ! -d "$DATADIR/mysql" ]; then
  : "${MARIADB_DATABASE:?set MARIADB_DATABASE}" "${MARIADB_USER:?set MARIADB_USER}"
  : "${MARIADB_PASSWORD:?set MARIADB_PASSWORD}" "${MARIADB_ROOT_PASSWORD:?set MARIADB_ROOT_PASSWORD}"
  echo "socle-mariadb: initializing $DATADIR for database $MARIADB_DATABASE" >&2
  mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/dev/null
  mariadbd --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  i=0
  until mariadb-admin --socket=/run/mysqld/init.sock ping --silent 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 60 ] || { echo "socle-mariadb: server did not start" >&2; exit 1; }
    sleep 1
  done
  # Identifiers come from the stack (letters, digits, dashes); passwords are generated alphanumeric.
  mariadb --socket=/run/mysqld/init.sock --user=root <<SQL
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}';
CREATE USER 'root'@'%' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE DATABASE \`${MARIADB_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';
FLUSH PRIVILEGES;
SQL
  mariadb-admin --socket=/run/mysqld/init.sock --user=root --password="$MARIADB_ROOT_PASSWORD" shutdown
  wait "$pid" || true
  echo "socle-mariadb: initialized" >&2
fi
unset MARIADB_PASSWORD MARIADB_ROOT_PASSWORD
exec "$@"
