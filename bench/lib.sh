# Shared settings and helpers for bench/run.sh and bench/rss_scaling.sh; source it.
# Every setting can be overridden from the environment.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BENCH_DIR
export BENCH_OUT="${BENCH_OUT:-$BENCH_DIR/.work}"

# PostgreSQL: TCP loopback, trust auth
export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"
export PGDATABASE="${PGDATABASE:-bench}"
export PG_URL="${PG_URL:-postgresql://$PGUSER@$PGHOST:$PGPORT/$PGDATABASE}"

# MariaDB: TCP loopback, root with an empty password
export MY_HOST="${MY_HOST:-127.0.0.1}"
export MY_PORT="${MY_PORT:-3306}"
export MY_USER="${MY_USER:-root}"
export MY_DB="${MY_DB:-bench}"
export MY_URL="${MY_URL:-mysql://$MY_USER@$MY_HOST:$MY_PORT/$MY_DB}"

# The Ferry binary (build: cargo build --release -p ferry-cli)
export FERRY_BIN="${FERRY_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}/release/ferry}"

# default dataset size; the 5M table is called `lineitem` (the same table the
# shared harness uses), any other size `lineitem_<rows>`
DEFAULT_ROWS=5000000

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_v() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }   # prints a value
my_q() { mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" --local-infile=1 "$MY_DB" "$@"; }
my_v() { my_q -N -B "$@"; }

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# source table name for a row count
table_for_rows() {
  if [ "$1" = "$DEFAULT_ROWS" ]; then echo lineitem; else echo "lineitem_$1"; fi
}

need_ferry() {
  [ -x "$FERRY_BIN" ] || die "no Ferry binary at $FERRY_BIN; build it with
  export CARGO_TARGET_DIR=\$HOME/.cache/ferry/target; cargo build --release -p ferry-cli
or point FERRY_BIN at it"
}

# create database `bench` in PostgreSQL and MariaDB if missing (idempotent)
ensure_databases() {
  command -v psql >/dev/null || die "psql not found"
  pg_isready -h "$PGHOST" -p "$PGPORT" -q || die "PostgreSQL is not answering at $PGHOST:$PGPORT"
  if ! psql_v -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PGDATABASE'" | grep -q 1; then
    log "creating PostgreSQL database $PGDATABASE"
    psql_q -d postgres -c "CREATE DATABASE \"$PGDATABASE\""
  fi
  if command -v mariadb >/dev/null; then
    mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -e "CREATE DATABASE IF NOT EXISTS \`$MY_DB\`" \
      || die "cannot reach MariaDB at $MY_HOST:$MY_PORT as $MY_USER"
  fi
}

# ensure_source TABLE ROWS: (re)generate TABLE with ROWS rows unless a table of
# that name with exactly that row count is already there
ensure_source() {
  local tbl="$1" rows="$2" have
  have="$(psql_v -c "SELECT CASE WHEN to_regclass('public.\"$tbl\"') IS NULL THEN -1 END" )"
  if [ "$have" != "-1" ]; then
    have="$(psql_v -c "SELECT count(*) FROM public.\"$tbl\"")"
  fi
  if [ "$have" = "$rows" ]; then
    log "source public.$tbl has $rows rows: kept"
    return 0
  fi
  log "generating public.$tbl with $rows rows (had: ${have/#-1/none}); ~10 s per million rows"
  psql -X -q -v ON_ERROR_STOP=1 -v tbl="$tbl" -v nrows="$rows" -v with_ts=false \
       -f "$BENCH_DIR/make_dataset.sql" >/dev/null
  have="$(psql_v -c "SELECT count(*) FROM public.\"$tbl\"")"
  [ "$have" = "$rows" ] || die "generated $tbl has $have rows, not $rows"
}

# untimed: read the source once so that every timed run finds it in the OS cache
prewarm_source() {
  psql -X -c "COPY public.\"$1\" TO STDOUT (FORMAT binary)" >/dev/null
}

# ensure_my_source TABLE ROWS LOGDIR: the MariaDB copy of the PostgreSQL source
# (InnoDB, TPC-H types, primary key (l_orderkey, l_linenumber)), made once with
# the CSV -> FIFO -> LOAD DATA pipe unless a table with ROWS rows is there
ensure_my_source() {
  local tbl="$1" rows="$2" dir="$3" have
  have="$(my_v -e "SELECT count(*) FROM \`$tbl\`" 2>/dev/null || echo none)"
  if [ "$have" = "$rows" ]; then log "MariaDB source $MY_DB.$tbl has $rows rows: kept"; return 0; fi
  log "copying public.$tbl into MariaDB $MY_DB.$tbl (once, untimed; had: $have)"
  my_recreate_lineitem "$tbl"
  bash "$BENCH_DIR/cases/pg2my_csv.sh" "$tbl" "$tbl" "$dir"
  my_q -e "ALTER TABLE \`$tbl\` ADD PRIMARY KEY (l_orderkey, l_linenumber)"
  have="$(my_v -e "SELECT count(*) FROM \`$tbl\`")"
  [ "$have" = "$rows" ] || die "MariaDB copy of $tbl has $have rows, not $rows"
}

# untimed: read the MariaDB source once (InnoDB buffer pool / OS cache warm)
prewarm_my_source() {
  my_q -B -N --quick -e "SELECT * FROM \`$1\`" >/dev/null
}

# engine options written into job files: parallelism always; the others only
# when set in the environment, so that Ferry's own defaults are measured
engine_yaml() {  # engine_yaml PARALLELISM
  local e="parallelism: $1"
  [ -z "${FERRY_SPLITS_PER_READER:-}" ] || e+=", splits_per_reader: $FERRY_SPLITS_PER_READER"
  [ -z "${FERRY_BATCH_BYTES:-}" ] || e+=", batch_bytes: $FERRY_BATCH_BYTES"
  [ -z "${FERRY_CHANNEL_DEPTH:-}" ] || e+=", channel_depth: $FERRY_CHANNEL_DEPTH"
  echo "{$e}"
}
engine_note() {
  echo "splits_per_reader ${FERRY_SPLITS_PER_READER:-default}, batch_bytes ${FERRY_BATCH_BYTES:-default}, channel_depth ${FERRY_CHANNEL_DEPTH:-default}"
}

# write_ferry_job FILE NAME SRC_TABLE SINK_YAML MODE PARALLELISM [SOURCE_YAML]
# (SOURCE_YAML default: the PostgreSQL table SRC_TABLE)
write_ferry_job() {
  local f="$1" name="$2" src="$3" sink="$4" mode="$5" par="$6"
  local source="${7:-}"
  [ -n "$source" ] || source="{type: postgres, url: \"$PG_URL\", table: $src}"
  cat > "$f" <<YAML
name: $name
source: $source
sink: $sink
mode: $mode
engine: $(engine_yaml "$par")
YAML
}

# pg_recreate_like DST SRC: empty PG table shaped like SRC, no PK, then CHECKPOINT
pg_recreate_like() {
  psql_q -c "DROP TABLE IF EXISTS public.\"$1\"" \
         -c "CREATE TABLE public.\"$1\" (LIKE public.\"$2\")" \
         -c "CHECKPOINT" && sync
}

# my_recreate_lineitem DST: empty MariaDB InnoDB table, no PK, TPC-H types
# (the DDL of the shared harness's cases/mk_target.sh mysql)
my_recreate_lineitem() {
  my_q -e "DROP TABLE IF EXISTS \`$1\`;
    CREATE TABLE \`$1\` (
      l_orderkey BIGINT NOT NULL, l_partkey INT NOT NULL, l_suppkey INT NOT NULL,
      l_linenumber INT NOT NULL, l_quantity DECIMAL(15,2) NOT NULL,
      l_extendedprice DECIMAL(15,2) NOT NULL, l_discount DECIMAL(15,2) NOT NULL,
      l_tax DECIMAL(15,2) NOT NULL, l_returnflag CHAR(1) NOT NULL, l_linestatus CHAR(1) NOT NULL,
      l_shipdate DATE NOT NULL, l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL,
      l_shipinstruct CHAR(25) NOT NULL, l_shipmode CHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL
    ) ENGINE=InnoDB" && sync
}

# time_cmd TIMEFILE OUTFILE ERRFILE CMD...: run CMD under /usr/bin/time; sets
# T_WALL T_RSS_KB T_USER T_SYS T_RC. Peak RSS is that of the largest single
# process of the command's tree (wait4 semantics), not a sum.
time_cmd() {
  local tf="$1" out="$2" err="$3"; shift 3
  set +e
  /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$out" 2>"$err"
  T_RC=$?
  set -e
  read -r T_WALL T_RSS_KB T_USER T_SYS < <(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$tf" | tail -1) || true
  T_WALL="${T_WALL:-}"; T_RSS_KB="${T_RSS_KB:-}"; T_USER="${T_USER:-}"; T_SYS="${T_SYS:-}"
}

# json_field FILE FIELD: a top-level field of Ferry's --json summary (empty if absent)
json_field() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
v = d.get(sys.argv[2], "")
print(v if not isinstance(v, (dict, list)) else json.dumps(v))
PY
}
