#!/usr/bin/env bash
# Lake test peers for the files connector: an S3-compatible server (moto, from PyPI) on
# loopback, and the independent readers in the same virtualenv: pyarrow (Parquet) and the
# Python `deltalake` package (Delta Lake; delta-rs's Python binding, a separate build) and
# PyIceberg (Apache Iceberg's Python implementation, with its SQL catalog client).
#
#   scripts/lake.sh start   install the virtualenv (if missing), start moto, wait until ready
#   scripts/lake.sh stop    stop moto
#   scripts/lake.sh env     print the FERRY_TEST_* variables (one NAME=value a line)
#
# The virtualenv lives in ~/.cache/ferry/lake-venv (versions pinned below); moto keeps its
# buckets in memory, so a restart starts empty.
set -euo pipefail

VENV="${FERRY_LAKE_VENV:-$HOME/.cache/ferry/lake-venv}"
PORT="${FERRY_S3_PORT:-15000}"
RUN_DIR="${FERRY_LAKE_RUN:-/var/tmp/ferry-lake}"
PACKAGES=("moto[server]==5.2.5" "pyarrow==21.0.0" "deltalake==1.6.6" "pyiceberg[sql-sqlite,pyarrow]==0.12.0")

install() {
  if [[ -x "$VENV/bin/moto_server" ]] && "$VENV/bin/python" -c 'import pyarrow, boto3, deltalake, pyiceberg.catalog.sql' 2>/dev/null; then
    return
  fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
}

ready() {
  "$VENV/bin/python" - "$PORT" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2)
PY
}

start() {
  install
  mkdir -p "$RUN_DIR"
  if ready; then return; fi
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$RUN_DIR/moto.log" 2>&1 &
  echo $! >"$RUN_DIR/moto.pid"
  for _ in $(seq 1 100); do
    if ready; then echo "lake: moto S3 on 127.0.0.1:$PORT"; return; fi
    sleep 0.2
  done
  echo "lake: moto did not start:" >&2
  cat "$RUN_DIR/moto.log" >&2
  exit 1
}

stop() {
  if [[ -f "$RUN_DIR/moto.pid" ]]; then
    kill "$(cat "$RUN_DIR/moto.pid")" 2>/dev/null || true
    rm -f "$RUN_DIR/moto.pid"
  fi
}

env_vars() {
  echo "FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT"
  echo "FERRY_TEST_LAKE_PYTHON=$VENV/bin/python"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_vars ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
