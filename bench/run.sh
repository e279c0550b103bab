#!/usr/bin/env bash
# Ferry side by side with the physical-limit pipe of the same path, interleaved.
#
# usage: bench/run.sh [-n ROUNDS] [--rows N] [--table NAME] [--keep] [CASES...]
#
#   CASES     pg2pg pg2my pg2sqlite my2pg (default: all four); my2pg reads a
#             MariaDB copy of the source table (made once, untimed, with a PK)
#   -n        timed rounds per case (default 3); every round runs each tool of
#             the case once, the order rotated by one each round
#   --rows    rows of the source table (default 5000000); the 5M table is
#             public.lineitem, any other size public.lineitem_<N>; generated
#             with make_dataset.sql unless a table with that row count exists
#   --table   use this source table name instead (generated if its count differs)
#   --keep    keep the target tables / files at the end (default: dropped)
#
# Environment: FERRY_BIN (default $CARGO_TARGET_DIR/release/ferry, with
# CARGO_TARGET_DIR defaulting to ~/.cache/ferry/target), PGHOST PGPORT PGUSER
# PGDATABASE, MY_HOST MY_PORT MY_USER MY_DB, BENCH_OUT (default bench/.work),
# FERRY_PARALLELISM (pg2my / pg2sqlite, default 2); FERRY_BATCH_BYTES,
# FERRY_CHANNEL_DEPTH, FERRY_SPLITS_PER_READER go into the job files only when
# set (otherwise Ferry's own defaults are measured).
#
# Output: one markdown table per case on stdout, also written to
# $BENCH_OUT/results-<date>.md (raw runs in results-<date>.tsv, logs of every
# run in logs/<date>/). See bench/README.md.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ROUNDS=3; ROWS="$DEFAULT_ROWS"; TABLE=""; KEEP=0; CASES=()
while (($#)); do
  case "$1" in
    -n) ROUNDS="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --table) TABLE="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    pg2pg|pg2my|pg2sqlite|my2pg) CASES+=("$1"); shift ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
((${#CASES[@]})) || CASES=(pg2pg pg2my pg2sqlite my2pg)
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || die "--rows needs a positive number"
SRC="${TABLE:-$(table_for_rows "$ROWS")}"
[[ "$SRC" =~ ^[a-z_][a-z0-9_]*$ ]] || die "table name must be a plain lower-case identifier"
FERRY_PAR="${FERRY_PARALLELISM:-2}"

need_ferry
for c in "${CASES[@]}"; do
  if [ "$c" = pg2my ] || [ "$c" = my2pg ]; then command -v mariadb >/dev/null || die "$c needs the mariadb client"; fi
done
STAMP="$(date +%Y%m%d-%H%M%S)"
LOGDIR="$BENCH_OUT/logs/$STAMP"
JOBDIR="$BENCH_OUT/jobs"
SQLDIR="$BENCH_OUT/sqlite"
TSV="$BENCH_OUT/results-$STAMP.tsv"
CHK="$BENCH_OUT/checks-$STAMP.tsv"
MD="$BENCH_OUT/results-$STAMP.md"
mkdir -p "$LOGDIR" "$JOBDIR" "$SQLDIR"
printf 'case\tround\tlabel\twall_s\tmaxrss_kb\tuser_s\tsys_s\texit\trows\tgot\tferry_ms\tcheck\terror\tload1\n' > "$TSV"
printf 'case\tlabel\tresult\tdetail\n' > "$CHK"

ensure_databases
ensure_source "$SRC" "$ROWS"
HEAP_BYTES="$(psql_v -c "SELECT pg_relation_size('public.\"$SRC\"')")"
HAVE_SQLITE3=0; command -v sqlite3 >/dev/null && HAVE_SQLITE3=1

# ---------------------------------------------------------------- the cases
# labels of a case; the first one is the reference of the ratios
labels_of() {
  case "$1" in
    pg2pg) echo "copy_binary ferry_p1 ferry_p2" ;;
    pg2my) echo "csv_fifo ferry" ;;
    pg2sqlite) if ((HAVE_SQLITE3)); then echo "sqlite3_csv ferry"; else echo "ferry"; fi ;;
    my2pg) echo "mariadb_tsv ferry_p1 ferry_p2" ;;
  esac
}

# the target of a case/label: a PG table, a MariaDB table or a SQLite file
target_of() {
  case "$1/$2" in
    pg2pg/copy_binary) echo "${SRC}_copy" ;;
    pg2pg/ferry_p*)    echo "${SRC}_$2" ;;
    pg2my/csv_fifo)    echo "${SRC}_csv" ;;
    pg2my/ferry)       echo "${SRC}_ferry" ;;
    pg2sqlite/*)       echo "$SQLDIR/${SRC}_$2.db" ;;
    my2pg/*)           echo "${SRC}_my_$2" ;;
  esac
}

SQLITE_TABLE=lineitem
# same declared types as the table Ferry creates (see ferry-connectors sqlite/types.rs)
SQLITE_DDL="CREATE TABLE $SQLITE_TABLE (
  l_orderkey INTEGER NOT NULL, l_partkey INT NOT NULL, l_suppkey INT NOT NULL,
  l_linenumber INT NOT NULL, l_quantity DECIMAL(15,2) NOT NULL,
  l_extendedprice DECIMAL(15,2) NOT NULL, l_discount DECIMAL(15,2) NOT NULL,
  l_tax DECIMAL(15,2) NOT NULL, l_returnflag CHAR(1) NOT NULL, l_linestatus CHAR(1) NOT NULL,
  l_shipdate DATE NOT NULL, l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL,
  l_shipinstruct CHAR(25) NOT NULL, l_shipmode CHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL,
  PRIMARY KEY (l_orderkey, l_linenumber))"

# untimed reset before every run
reset_target() {
  local t; t="$(target_of "$1" "$2")"
  case "$1/$2" in
    pg2pg/*|my2pg/*) pg_recreate_like "$t" "$SRC" ;;
    pg2my/*) my_recreate_lineitem "$t" && psql_q -c CHECKPOINT ;;
    pg2sqlite/sqlite3_csv) rm -f "$t" "$t-journal" "$t-wal" "$t-shm" && sqlite3 "$t" "$SQLITE_DDL" && psql_q -c CHECKPOINT && sync ;;
    pg2sqlite/ferry) rm -f "$t" "$t-journal" "$t-wal" "$t-shm" && psql_q -c CHECKPOINT && sync ;;
  esac
}

# the timed command of a case/label, into the array CMD
build_cmd() {
  local t job; t="$(target_of "$1" "$2")"; job="$JOBDIR/$1_$2.yaml"
  case "$1/$2" in
    pg2pg/copy_binary) CMD=(bash "$BENCH_DIR/cases/pg2pg_copy.sh" "$SRC" "$t") ;;
    pg2pg/ferry_p*)
      write_ferry_job "$job" "bench_$1_$2" "$SRC" \
        "{type: postgres, url: \"$PG_URL\", table: $t}" full_overwrite "${2#ferry_p}"
      CMD=("$FERRY_BIN" run --json "$job") ;;
    pg2my/csv_fifo) CMD=(bash "$BENCH_DIR/cases/pg2my_csv.sh" "$SRC" "$t" "$LOGDIR") ;;
    pg2my/ferry)
      write_ferry_job "$job" "bench_$1_$2" "$SRC" \
        "{type: mysql, url: \"$MY_URL\", table: $t}" full_overwrite "$FERRY_PAR"
      CMD=("$FERRY_BIN" run --json "$job") ;;
    pg2sqlite/sqlite3_csv) CMD=(bash "$BENCH_DIR/cases/pg2sqlite_csv.sh" "$SRC" "$t" "$SQLITE_TABLE") ;;
    my2pg/mariadb_tsv) CMD=(bash "$BENCH_DIR/cases/my2pg_tsv.sh" "$SRC" "$t") ;;
    my2pg/ferry_p*)
      write_ferry_job "$job" "bench_$1_$2" "$SRC" \
        "{type: postgres, url: \"$PG_URL\", table: $t}" full_overwrite "${2#ferry_p}" \
        "{type: mysql, url: \"$MY_URL\", table: $SRC}"
      CMD=("$FERRY_BIN" run --json "$job") ;;
    pg2sqlite/ferry)
      write_ferry_job "$job" "bench_$1_$2" "$SRC" \
        "{type: sqlite, path: \"$t\", table: $SQLITE_TABLE}" full_overwrite "$FERRY_PAR"
      CMD=("$FERRY_BIN" run --json "$job") ;;
  esac
}

# row count of the target (untimed)
count_target() {
  local t; t="$(target_of "$1" "$2")"
  case "$1" in
    pg2pg|my2pg) psql_v -c "SELECT count(*) FROM public.\"$t\"" 2>/dev/null || echo "?" ;;
    pg2my) my_v -e "SELECT count(*) FROM \`$t\`" 2>/dev/null || echo "?" ;;
    pg2sqlite) python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM " + sys.argv[2]).fetchone()[0])' \
                 "$t" "$SQLITE_TABLE" 2>/dev/null || echo "?" ;;
  esac
}

drop_target() {
  local t; t="$(target_of "$1" "$2")"
  case "$1" in
    pg2pg|my2pg) psql_q -c "DROP TABLE IF EXISTS public.\"$t\"" ;;
    pg2my) my_q -e "DROP TABLE IF EXISTS \`$t\`" ;;
    pg2sqlite) rm -f "$t" "$t-journal" "$t-wal" "$t-shm" ;;
  esac
}

# ---------------------------------------------------------- content checks
# pg2pg: count and sum of a 64-bit hash of every row's text form (order-independent)
pg_digest() { psql_v -c "SELECT count(*) || ' ' || sum(hashtextextended(t::text, 0)) FROM public.\"$1\" t"; }

# pg2my: aggregates of every column + md5 of a 1-in-1000-orders sample in key order
PG_AGG="SELECT concat_ws('|', count(*), sum(l_orderkey), sum(l_partkey), sum(l_suppkey), sum(l_linenumber),
  sum(l_quantity), sum(l_extendedprice), sum(l_discount), sum(l_tax),
  sum(ascii(l_returnflag)), sum(ascii(l_linestatus)), min(l_shipdate), max(l_shipdate),
  min(l_commitdate), max(l_commitdate), min(l_receiptdate), max(l_receiptdate),
  sum(length(rtrim(l_shipinstruct))), sum(length(rtrim(l_shipmode))), sum(length(l_comment)))"
SAMPLE_COLS="l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_tax,
  rtrim(l_returnflag), rtrim(l_linestatus), l_shipdate, l_commitdate, l_receiptdate,
  rtrim(l_shipinstruct), rtrim(l_shipmode), l_comment"
pg_sample_md5() {
  psql_v -c "SELECT md5(string_agg(concat_ws('|', $SAMPLE_COLS), E'\n' ORDER BY l_orderkey, l_linenumber))
             FROM public.\"$1\" WHERE l_orderkey % 1000 = 7"
}
my_agg() { my_v -e "$PG_AGG FROM \`$1\`"; }
my_sample_md5() {
  my_v -e "SET SESSION group_concat_max_len = 1073741824;
           SELECT md5(group_concat(concat_ws('|', $SAMPLE_COLS) ORDER BY l_orderkey, l_linenumber SEPARATOR '\n'))
           FROM \`$1\` WHERE l_orderkey % 1000 = 7"
}
# pg2sqlite: exact integer aggregates (decimals are REAL in SQLite)
SQ_AGG="SELECT count(*) || '|' || sum(l_orderkey) || '|' || sum(l_partkey) || '|' || sum(l_linenumber) || '|' || sum(length(l_comment))"

content_check() {
  local case="$1" lab want got t
  case "$case" in
    pg2pg|my2pg)
      # my2pg: the MariaDB copy was made from the PostgreSQL source, so a
      # target equal to the PostgreSQL source is equal to the MariaDB one
      want="$(pg_digest "$SRC")"
      for lab in $(labels_of "$case"); do
        t="$(target_of "$case" "$lab")"; got="$(pg_digest "$t" 2>&1 || true)"
        record_check "$case" "$lab" "count+sum(hashtextextended(row::text))" "$want" "$got"
      done ;;
    pg2my)
      want="$(psql_v -c "$PG_AGG FROM public.\"$SRC\"")"
      local wmd5; wmd5="$(pg_sample_md5 "$SRC")"
      for lab in $(labels_of "$case"); do
        t="$(target_of "$case" "$lab")"
        got="$(my_agg "$t" 2>&1 || true)"
        record_check "$case" "$lab" "aggregates of all 16 columns" "$want" "$got"
        got="$(my_sample_md5 "$t" 2>&1 || true)"
        record_check "$case" "$lab" "md5 of sampled rows (l_orderkey%1000=7) in key order" "$wmd5" "$got"
      done ;;
    pg2sqlite)
      want="$(psql_v -c "$SQ_AGG FROM public.\"$SRC\"")"
      for lab in $(labels_of "$case"); do
        t="$(target_of "$case" "$lab")"
        got="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' \
               "$t" "$SQ_AGG FROM $SQLITE_TABLE" 2>&1 || true)"
        record_check "$case" "$lab" "count, integer sums, sum(length(l_comment))" "$want" "$got"
      done ;;
  esac
}
record_check() {  # case label what want got
  local res=ok detail="$3: $4"
  if [ "$4" != "$5" ]; then res=FAIL; detail="$3: source $4, target $5"; fi
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$res" "$(echo "$detail" | tr '\t\n' '  ')" >> "$CHK"
  log "  check $1/$2: $res ($3)"
}

# ------------------------------------------------------------------- runs
run_one() {  # case label round
  local case="$1" lab="$2" r="$3" base="$LOGDIR/$1_$2_r$3"
  reset_target "$case" "$lab" >"$base.reset" 2>&1 || { cat "$base.reset" >&2; die "reset of $case/$lab failed"; }
  build_cmd "$case" "$lab"
  local load1; load1="$(cut -d' ' -f1 /proc/loadavg)"
  time_cmd "$base.time" "$base.out" "$base.err" "${CMD[@]}"
  local got ferry_ms="" committed="" check=ok err=""
  got="$(count_target "$case" "$lab")"
  if [[ "$lab" == ferry* ]]; then
    ferry_ms="$(json_field "$base.out" duration_ms)"
    committed="$(json_field "$base.out" rows_committed)"
  fi
  if [ "$T_RC" != 0 ]; then check="FAIL(exit=$T_RC)"
  elif [ "$got" != "$ROWS" ]; then check="FAIL(count=$got,want=$ROWS)"
  elif [[ "$lab" == ferry* ]] && [ "$committed" != "$ROWS" ]; then check="FAIL(rows_committed=$committed)"
  fi
  if [ "$check" != ok ]; then
    err="$( (grep -v '^\s*$' "$base.err"; grep -h '"message"' "$base.out") 2>/dev/null | tail -3 | tr '\t\n' '  ' | cut -c1-400)"
    log "  $case/$lab round $r FAILED: $check ${err}"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$case" "$r" "$lab" "$T_WALL" "$T_RSS_KB" "$T_USER" "$T_SYS" "$T_RC" "$ROWS" "$got" "$ferry_ms" "$check" "$err" "$load1" >> "$TSV"
  log "  [$case r$r] $(printf '%-12s' "$lab") wall ${T_WALL:-?} s  rss $(( ${T_RSS_KB:-0} / 1024 )) MB  ${ferry_ms:+ferry ${ferry_ms} ms  }$check"
}

log "ferry: $FERRY_BIN ($("$FERRY_BIN" --version 2>/dev/null || echo '?'))"
log "source public.$SRC: $ROWS rows, heap $((HEAP_BYTES / 1000000)) MB; rounds $ROUNDS; cases ${CASES[*]}"
for case in "${CASES[@]}"; do
  read -r -a LABS <<<"$(labels_of "$case")"
  n=${#LABS[@]}
  log "case $case: ${LABS[*]} (reference: ${LABS[0]}); prewarming the source (untimed)"
  if [ "$case" = my2pg ]; then ensure_my_source "$SRC" "$ROWS" "$LOGDIR"; prewarm_my_source "$SRC"
  else prewarm_source "$SRC"; fi
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
      run_one "$case" "${LABS[$(((k + r - 1) % n))]}" "$r"
    done
  done
  content_check "$case"
  if ((KEEP == 0)); then for lab in "${LABS[@]}"; do drop_target "$case" "$lab" >/dev/null 2>&1 || true; done; fi
done

# ------------------------------------------------------------------ report
{
  echo "# Ferry bench $STAMP"
  echo
  echo "- source: PostgreSQL public.$SRC, $ROWS rows, heap $((HEAP_BYTES / 1000000)) MB; $ROUNDS interleaved rounds"
  echo "- ferry: \`$("$FERRY_BIN" --version 2>/dev/null || echo '?')\` at $FERRY_BIN, tree $(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$BENCH_DIR/.." diff --quiet HEAD -- 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; PostgreSQL $(psql_v -c 'SHOW server_version'), shared_buffers $(psql_v -c 'SHOW shared_buffers'), wal_level $(psql_v -c 'SHOW wal_level'); MariaDB $(my_v -e 'SELECT version()' 2>/dev/null || echo '?'), innodb_buffer_pool_size $(my_v -e 'SELECT @@innodb_buffer_pool_size DIV 1048576' 2>/dev/null || echo '?') MB"
  echo "- engine options for ferry: $(engine_note) (default = Ferry's own default); parallelism as labelled (pg2my/pg2sqlite: $FERRY_PAR)"
  echo
  python3 "$BENCH_DIR/report.py" "$TSV" "$CHK"
  echo
  echo "Raw runs: $TSV; logs and job files: $LOGDIR, $JOBDIR"
} > "$MD"
cat "$MD"
log "results written to $MD"
