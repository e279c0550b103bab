#!/usr/bin/env bash
# TLS test peers for Ferry's sslmode tests: certificates, a second PostgreSQL 15 cluster that
# accepts TLS only, and a second MariaDB that requires TLS. The machine's own servers
# (5432, 3306) are not touched.
#
#   scripts/pg_tls.sh start   make the certificates (if missing), start both servers, wait until ready
#   scripts/pg_tls.sh stop    stop both servers
#   scripts/pg_tls.sh env     print the FERRY_TEST_*TLS* variables (one NAME=value a line)
#
# Certificates (openssl, in ~/.cache/ferry/tls, regenerated when one is missing):
#   ca.pem                    the test CA
#   server.pem / server.key   localhost + 127.0.0.1 (no other name: 127.0.0.2 is a name mismatch)
#   wrong-ca.pem              a second CA that signed nothing the servers use
# PostgreSQL: initdb'd in /var/tmp/ferry-pg-tls (owned by postgres), 127.0.0.1:5433 and
# 127.0.0.2:5433, ssl=on, `hostssl … trust` and `hostnossl … reject`; max_prepared_transactions
# above 0, for the two-phase commit tests (the machine's own server has 0).
# MariaDB: mariadb-install-db'd in /var/tmp/ferry-mariadb-tls, 127.0.0.1:3307, ssl_cert/ssl_key
# and require_secure_transport=ON.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
TLS_DIR="${FERRY_TLS_DIR:-$HOME/.cache/ferry/tls}"
PG_DIR="${FERRY_PG_TLS_DIR:-/var/tmp/ferry-pg-tls}"
PG_PORT="${FERRY_PG_TLS_PORT:-5433}"
MY_DIR="${FERRY_MARIADB_TLS_DIR:-/var/tmp/ferry-mariadb-tls}"
MY_PORT="${FERRY_MARIADB_TLS_PORT:-3307}"

as_postgres() {
  if [[ "$(id -un)" == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# One CA (key + self-signed cert) named $1.
make_ca() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$TLS_DIR/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$TLS_DIR/$1.key" -sha256 -days 3650 \
    -subj "/CN=Ferry test $1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$TLS_DIR/$1.pem"
}

certs() {
  mkdir -p "$TLS_DIR"
  local f
  for f in ca.pem ca.key server.pem server.key wrong-ca.pem; do
    [[ -s "$TLS_DIR/$f" ]] || {
      regenerate_certs
      return
    }
  done
}

regenerate_certs() {
  echo "pg_tls: creating test certificates in $TLS_DIR" >&2
  (
    umask 077
    make_ca ca
    make_ca wrong-ca
    openssl ecparam -name prime256v1 -genkey -noout -out "$TLS_DIR/server.key" 2>/dev/null
    openssl req -new -key "$TLS_DIR/server.key" -subj "/CN=localhost" -out "$TLS_DIR/server.csr"
    cat >"$TLS_DIR/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EOF
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -CAcreateserial -days 3650 -sha256 -extfile "$TLS_DIR/server.ext" \
      -out "$TLS_DIR/server.pem" 2>/dev/null
    rm -f "$TLS_DIR/server.csr" "$TLS_DIR/server.ext"
  )
  chmod 644 "$TLS_DIR"/*.pem
  # The clusters hold copies of the old pair: give them the new one.
  rm -f "$PG_DIR/data/server.pem" "$MY_DIR/server.pem"
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

pg_start() {
  if [[ ! -f "$PG_DIR/data/PG_VERSION" ]]; then
    echo "pg_tls: initdb $PG_DIR/data" >&2
    mkdir -p "$PG_DIR"
    chown postgres: "$PG_DIR"
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$PG_DIR/initdb.log"
  fi
  # The cluster's configuration is rewritten on each start (idempotent).
  cat >"$PG_DIR/data/pg_hba.conf" <<'EOF'
# Ferry TLS test cluster: TLS or nothing.
local     all all                trust
hostnossl all all 0.0.0.0/0      reject
hostnossl all all ::/0           reject
hostssl   all all 127.0.0.0/8    trust
EOF
  cat >"$PG_DIR/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1,127.0.0.2'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
max_connections = 50
max_prepared_transactions = 10
shared_buffers = 32MB
fsync = off
EOF
  if [[ ! -f "$PG_DIR/data/server.pem" ]]; then
    install -o postgres -m 644 "$TLS_DIR/server.pem" "$PG_DIR/data/server.pem"
    install -o postgres -m 600 "$TLS_DIR/server.key" "$PG_DIR/data/server.key"
    if pg_ready; then as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" reload -s; fi
  fi
  chown postgres: "$PG_DIR/data/pg_hba.conf" "$PG_DIR/data/postgresql.auto.conf"
  if pg_ready && [[ "$(psql -X -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
    -c "SHOW max_prepared_transactions")" == 0 ]]; then
    # A cluster started by an older version of this script: the setting needs a restart.
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
  fi
  if pg_ready; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" reload -s
  else
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 30 start >/dev/null ||
      {
        tail -n 20 "$PG_DIR/postgres.log" >&2
        exit 1
      }
  fi
  psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "SELECT 1" >/dev/null
  if ! psql -X -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE test"
  fi
  echo "pg_tls: PostgreSQL with TLS only on 127.0.0.1:$PG_PORT" >&2
}

pg_stop() {
  if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
  fi
}

my_ready() {
  mariadb-admin --no-defaults -S "$MY_DIR/mysqld.sock" -u root ping >/dev/null 2>&1
}

my_start() {
  if [[ ! -d "$MY_DIR/data/mysql" ]]; then
    echo "pg_tls: mariadb-install-db $MY_DIR/data" >&2
    mkdir -p "$MY_DIR"
    chown mysql: "$MY_DIR"
    mariadb-install-db --no-defaults --user=mysql --datadir="$MY_DIR/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1
  fi
  if [[ ! -f "$MY_DIR/server.pem" ]]; then
    install -o mysql -m 644 "$TLS_DIR/server.pem" "$MY_DIR/server.pem"
    install -o mysql -m 600 "$TLS_DIR/server.key" "$MY_DIR/server.key"
    if my_ready; then
      mariadb --no-defaults -S "$MY_DIR/mysqld.sock" -u root -e "FLUSH SSL"
    fi
  fi
  if ! my_ready; then
    # Own session: `stop` ends this server and nothing else.
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$MY_DIR/data" \
      --bind-address=127.0.0.1 --port="$MY_PORT" --socket="$MY_DIR/mysqld.sock" \
      --pid-file="$MY_DIR/mysqld.pid" --log-error="$MY_DIR/error.log" \
      --ssl-cert="$MY_DIR/server.pem" --ssl-key="$MY_DIR/server.key" \
      --require-secure-transport=ON --skip-name-resolve \
      --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
      --performance-schema=OFF </dev/null >/dev/null 2>&1 &
    local t0=$SECONDS
    until my_ready; do
      if ((SECONDS - t0 > 30)); then
        echo "pg_tls: MariaDB did not start on $MY_PORT within 30 s:" >&2
        tail -n 20 "$MY_DIR/error.log" >&2
        exit 1
      fi
      sleep 0.5
    done
  fi
  mariadb --no-defaults -S "$MY_DIR/mysqld.sock" -u root -e \
    "CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4;
     CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
     GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
  echo "pg_tls: MariaDB with TLS required on 127.0.0.1:$MY_PORT" >&2
}

my_stop() {
  if [[ -f "$MY_DIR/mysqld.pid" ]]; then
    local pid
    pid=$(cat "$MY_DIR/mysqld.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
}

env_vars() {
  echo "FERRY_TEST_PG_TLS_URL=postgresql://postgres@localhost:$PG_PORT/test"
  echo "FERRY_TEST_MYSQL_TLS_URL=mysql://root@localhost:$MY_PORT/test"
  echo "FERRY_TEST_TLS_CA=$TLS_DIR/ca.pem"
  echo "FERRY_TEST_TLS_WRONG_CA=$TLS_DIR/wrong-ca.pem"
  echo "FERRY_TEST_TLS_CERT=$TLS_DIR/server.pem"
  echo "FERRY_TEST_TLS_KEY=$TLS_DIR/server.key"
}

case "${1:-}" in
  start)
    certs
    pg_start
    my_start
    ;;
  stop)
    pg_stop
    my_stop
    ;;
  env) env_vars ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
