#!/usr/bin/env bash
# Runs every Ferry test against the real PostgreSQL and MariaDB on loopback.
# Each run gets fresh databases `ferry_test` in both servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
DB="${FERRY_TEST_DB:-ferry_test}"
psql -X -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
# Stores the server tests created in earlier runs (one database each).
for old in $(psql -X -At -h 127.0.0.1 -U postgres -d postgres \
    -c "SELECT datname FROM pg_database WHERE datname LIKE 'ferry\_store\_%'"); do
  psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $old WITH (FORCE)"
done
mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB CHARACTER SET utf8mb4"
export FERRY_TEST_PG_URL="postgresql://postgres@127.0.0.1:5432/$DB"
export FERRY_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/$DB"
# TLS peers for the sslmode and HTTPS tests: a TLS-only PostgreSQL (5433) and MariaDB
# (3307) with a test CA (scripts/pg_tls.sh), stopped when this script ends.
trap 'bash scripts/pg_tls.sh stop >/dev/null 2>&1 || true; bash scripts/lake.sh stop >/dev/null 2>&1 || true; bash scripts/hive.sh stop >/dev/null 2>&1 || true' EXIT
bash scripts/pg_tls.sh start
while IFS= read -r line; do export "$line"; done < <(bash scripts/pg_tls.sh env)
# Lake peers for the files connector: an S3-compatible server (moto) and the independent
# Parquet reader (pyarrow), from PyPI into a cached virtualenv (scripts/lake.sh).
bash scripts/lake.sh start
while IFS= read -r line; do export "$line"; done < <(bash scripts/lake.sh env)
# A real Hive Metastore 2.3.10 and PySpark (PyPI's pyspark jars, Java 17; scripts/hive.sh).
bash scripts/hive.sh start
while IFS= read -r line; do export "$line"; done < <(bash scripts/hive.sh env)
# A real Apache Airflow 3 (PyPI) for the Airflow engine's end-to-end test:
# installed and started while the tests build, stopped when this script ends.
mkdir -p "$HOME/.cache/ferry"
AIRFLOW_LOG="$HOME/.cache/ferry/airflow-start.log"
bash scripts/airflow.sh start >"$AIRFLOW_LOG" 2>&1 &
airflow_pid=$!
trap 'bash scripts/airflow.sh stop >/dev/null 2>&1 || true; bash scripts/pg_tls.sh stop >/dev/null 2>&1 || true; bash scripts/lake.sh stop >/dev/null 2>&1 || true; bash scripts/hive.sh stop >/dev/null 2>&1 || true' EXIT
cargo test --workspace --all-targets --no-run --features ferry-cli/lake "$@"
if ! wait "$airflow_pid"; then
  echo "Airflow did not start:" >&2
  cat "$AIRFLOW_LOG" >&2
  exit 1
fi
cat "$AIRFLOW_LOG" >&2
while IFS= read -r line; do export "$line"; done < <(bash scripts/airflow.sh env)
cargo test --workspace --all-targets --no-fail-fast --features ferry-cli/lake "$@"
# The API under generated input: schemathesis from PyPI, 0 server errors.
bash scripts/api_fuzz.sh
