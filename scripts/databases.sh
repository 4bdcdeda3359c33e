#!/usr/bin/env bash
# Makes sure the databases the tests need (packages/outbox) are reachable and
# exports their URLs: an OMNIBUS_POSTGRES_URL / OMNIBUS_MYSQL_URL already set
# wins; otherwise the machine's PostgreSQL (:5432, trust auth, user postgres)
# and MariaDB (:3306, root without password), started when their port is
# closed, each with a `test` database created if missing.
# Usage: source scripts/databases.sh (after scripts/brokers.sh, whose port helpers it uses)
if ! declare -F port_open >/dev/null; then
  omnibus_args=("$@"); set --
  source "$(dirname "${BASH_SOURCE[0]}")/brokers.sh"
  set -- "${omnibus_args[@]}"; unset omnibus_args
fi

ensure_postgres() {
  [ -n "${OMNIBUS_POSTGRES_URL:-}" ] && return 0
  if ! port_open 5432; then
    echo "omnibus: starting PostgreSQL" >&2
    # shellcheck disable=SC2046 # one directory per installed major version
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start >&2
    wait_port 5432 60 || { echo "omnibus: PostgreSQL did not start" >&2; return 1; }
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" >&2
  export OMNIBUS_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test"
}

ensure_mariadb() {
  [ -n "${OMNIBUS_MYSQL_URL:-}" ] && return 0
  if ! port_open 3306; then
    echo "omnibus: starting MariaDB" >&2
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2
    wait_port 3306 60 || { echo "omnibus: MariaDB did not start" >&2; return 1; }
  fi
  mysql -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS test" >&2
  export OMNIBUS_MYSQL_URL="mysql://root@127.0.0.1:3306/test"
}

ensure_postgres || return 1 2>/dev/null || exit 1
ensure_mariadb || return 1 2>/dev/null || exit 1
