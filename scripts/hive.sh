#!/usr/bin/env bash
# A real Hive Metastore 2.3.10 for the files connector's metastore registration, and PySpark
# as its independent reader: both from PyPI's pyspark (its jars bundle hive-metastore, derby,
# datanucleus and libthrift), run with the machine's Java 17, on loopback.
#
#   scripts/hive.sh start   install the virtualenv (if missing), start the metastore, wait until ready
#   scripts/hive.sh stop    stop it
#   scripts/hive.sh env     print the FERRY_TEST_* variables (one NAME=value a line)
#
# The metastore keeps its catalog in an embedded Derby database under $STATE (recreated at
# each start) and answers on 127.0.0.1:$PORT (it binds every address; 2.3 has no bind setting).
set -euo pipefail

VENV="${FERRY_SPARK_VENV:-$HOME/.cache/ferry/spark-venv}"
PORT="${FERRY_HMS_PORT:-19083}"
STATE="${FERRY_HMS_STATE:-/var/tmp/ferry-hms}"

install() {
  if "$VENV/bin/python" -c 'import pyspark' 2>/dev/null; then return; fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pyspark==4.3.0"
}

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

start() {
  install
  if listening; then return; fi
  rm -rf "$STATE"
  mkdir -p "$STATE/logs" "$STATE/wh"
  local jars
  jars="$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
  # Pitfalls (DEPENDENCIES.md §g2): async logging needs a jar pyspark lacks; BoneCP is absent.
  nohup java -Xmx512m -Dhive.log.dir="$STATE/logs" -Dhive.async.log.enabled=false \
    -Djavax.jdo.option.ConnectionURL="jdbc:derby:;databaseName=$STATE/metastore_db;create=true" \
    -Ddatanucleus.schema.autoCreateAll=true -Dhive.metastore.schema.verification=false \
    -Ddatanucleus.connectionPoolingType=HikariCP -Dhive.metastore.warehouse.dir="file://$STATE/wh" \
    -Dderby.stream.error.file="$STATE/logs/derby.log" \
    -cp "$jars/*" org.apache.hadoop.hive.metastore.HiveMetaStore -p "$PORT" \
    >"$STATE/logs/hms.out" 2>&1 &
  echo $! >"$STATE/hms.pid"
  for _ in $(seq 1 300); do
    if listening; then echo "hive: metastore on 127.0.0.1:$PORT"; return; fi
    if ! kill -0 "$(cat "$STATE/hms.pid")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "hive: the metastore did not start:" >&2
  tail -50 "$STATE/logs/hms.out" >&2
  exit 1
}

stop() {
  if [[ -f "$STATE/hms.pid" ]]; then
    kill "$(cat "$STATE/hms.pid")" 2>/dev/null || true
    rm -f "$STATE/hms.pid"
  fi
}

env_vars() {
  echo "FERRY_TEST_HMS=127.0.0.1:$PORT"
  echo "FERRY_TEST_SPARK_PYTHON=$VENV/bin/python"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_vars ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
