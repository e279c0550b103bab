#!/usr/bin/env bash
# Makes sure the local PostgreSQL and MariaDB that Ferry's tests and demo use
# are up, restarting them if not. Source it or run it; idempotent.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
my_up() { mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }

if ! pg_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! my_up; then
  echo "services: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 60); do
  if pg_up && my_up; then break; fi
  sleep 1
done
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
my_up || { echo "services: MariaDB is not reachable on 127.0.0.1:3306" >&2; exit 1; }
echo "services: PostgreSQL and MariaDB are up"
