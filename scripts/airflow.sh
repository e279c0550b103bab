#!/usr/bin/env bash
# A local Apache Airflow 3.3.2 for Ferry's Airflow engine tests (airflow_e2e).
#
#   scripts/airflow.sh start   install (first time) and start `airflow standalone`, wait until healthy
#   scripts/airflow.sh stop    kill the whole process group
#   scripts/airflow.sh env     print the FERRY_TEST_AIRFLOW_* variables (eval-able)
#
# Airflow comes from PyPI only (pinned), into ~/.cache/ferry/airflow-venv; its home is
# ~/.cache/ferry/airflow-home (SQLite, LocalExecutor, dags in $AIRFLOW_HOME/dags); the API
# listens on 127.0.0.1:18080. Everything can be moved with FERRY_AIRFLOW_{VENV,HOME,PORT}.
set -euo pipefail

VERSION=3.3.2
VENV="${FERRY_AIRFLOW_VENV:-$HOME/.cache/ferry/airflow-venv}"
export AIRFLOW_HOME="${FERRY_AIRFLOW_HOME:-$HOME/.cache/ferry/airflow-home}"
PORT="${FERRY_AIRFLOW_PORT:-18080}"
URL="http://127.0.0.1:$PORT"
PIDFILE="$AIRFLOW_HOME/standalone.pid"
LOG="$AIRFLOW_HOME/standalone.log"
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"

install() {
  local have
  have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))' 2>/dev/null || true)
  if [[ -x "$VENV/bin/airflow" && "$have" == "$VERSION" ]]; then
    return
  fi
  echo "installing apache-airflow==$VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "apache-airflow==$VERSION"
}

running() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

healthy() {
  # Every component reports "healthy", with a heartbeat since $1 (epoch seconds): heartbeats
  # a stopped Airflow left in the database would look healthy for a while.
  local h
  h=$(curl -fsS --max-time 5 "$URL/api/v2/monitor/health" 2>/dev/null) || return 1
  python3 - "$h" "$1" <<'EOF'
import datetime, json, sys
h, since = json.loads(sys.argv[1]), float(sys.argv[2])
ok = h.get("metadatabase", {}).get("status") == "healthy"
for part in ["scheduler", "triggerer", "dag_processor"]:
    p = h.get(part, {})
    beat = p.get(f"latest_{part}_heartbeat")
    ok = ok and p.get("status") == "healthy" and beat is not None
    ok = ok and datetime.datetime.fromisoformat(beat).timestamp() >= since
sys.exit(0 if ok else 1)
EOF
}

setup_env() {
  export PATH="$VENV/bin:$PATH" # standalone spawns `airflow …` sub-commands
  export AIRFLOW__CORE__DAGS_FOLDER="$AIRFLOW_HOME/dags"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  # 2-core machines: a few worker processes, not 32.
  export AIRFLOW__CORE__PARALLELISM="${FERRY_AIRFLOW_PARALLELISM:-4}"
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__API__PORT="$PORT"
  export AIRFLOW__API__BASE_URL="$URL"
  # Workers reach the task execution API here (default would be localhost:8080).
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$URL/execution/"
  # One JWT secret for every component, kept across restarts.
  if [[ ! -s "$AIRFLOW_HOME/jwt_secret" ]]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$AIRFLOW_HOME/jwt_secret")
  fi
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/jwt_secret")"
  export AIRFLOW__API_AUTH__JWT_SECRET
  # New and changed DAG files are seen within seconds (defaults: 300 s / 30 s).
  export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
  export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL=5
  export AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL=2
  export AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD=20
  export AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL=0
  export AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL=5
  # The scheduler looks for due runs often.
  export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=1
}

start() {
  install
  mkdir -p "$AIRFLOW_HOME/dags"
  local since
  since=$(date +%s)
  if running; then
    since=0
    echo "Airflow already running (pid $(cat "$PIDFILE"))" >&2
  else
    if curl -fsS --max-time 2 -o /dev/null "$URL/api/v2/monitor/health" 2>/dev/null; then
      echo "something else already answers on $URL" >&2
      exit 1
    fi
    setup_env
    # Own session = own process group: `stop` kills standalone and every child.
    setsid airflow standalone >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  local t0=$SECONDS
  until healthy "$since"; do
    if ! running; then
      echo "airflow standalone exited; last lines of $LOG:" >&2
      tail -n 40 "$LOG" >&2
      exit 1
    fi
    if ((SECONDS - t0 > 300)); then
      echo "Airflow not healthy after 300 s; last lines of $LOG:" >&2
      tail -n 40 "$LOG" >&2
      exit 1
    fi
    sleep 2
  done
  until [[ -s "$PASSWORDS" ]]; do sleep 1; done
  echo "Airflow $VERSION healthy on $URL after $((SECONDS - t0)) s (log: $LOG)" >&2
}

stop() {
  if [[ -f "$PIDFILE" ]]; then
    local pid
    pid=$(cat "$PIDFILE")
    # The group id is standalone's pid (setsid). LocalExecutor workers ignore SIGTERM.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    echo "Airflow stopped" >&2
  else
    echo "Airflow not running (no $PIDFILE)" >&2
  fi
}

env_vars() {
  local password
  password=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$PASSWORDS")
  echo "FERRY_TEST_AIRFLOW_URL=$URL"
  echo "FERRY_TEST_AIRFLOW_USER=admin"
  echo "FERRY_TEST_AIRFLOW_PASSWORD=$password"
  echo "FERRY_TEST_AIRFLOW_DAGS=$AIRFLOW_HOME/dags"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_vars ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
