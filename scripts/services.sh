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

# The catalog test checks that a wrong password is refused, so one test-only
# role must authenticate by password even though the machine trusts loopback
# logins. Insert that one rule ahead of the trust rules, once.
hba=$(psql -X -At -h 127.0.0.1 -U postgres -d postgres -c "SHOW hba_file" 2>/dev/null || true)
rule="host all ferry_cat_user 127.0.0.1/32 scram-sha-256"
if [ -n "$hba" ] && [ -w "$hba" ] && ! grep -qF "$rule" "$hba"; then
  echo "services: adding a password rule for the test role ferry_cat_user to $hba"
  { echo "$rule"; cat "$hba"; } > "$hba.ferry" && cat "$hba.ferry" > "$hba" && rm -f "$hba.ferry"
  psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "SELECT pg_reload_conf()" >/dev/null
fi
