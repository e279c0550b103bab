#!/usr/bin/env bash
# Do readers of a PostgreSQL target keep working while Ferry overwrites it?
#
# The target public.lineitem_ow starts with OLD_ROWS rows of the source (its
# keys and indexes, `LIKE … INCLUDING ALL`, and one more index; untimed). Ferry then overwrites it with the whole
# source (`full_overwrite`, the task's `overwrite` choice) while a reader runs
# `SET statement_timeout = '1s'; SELECT count(*)` every 0.5 s. The claim under
# test: every read succeeds, and each one sees either the old row count (before
# the publish) or the new one (after it), never anything else, and the old one
# never again once the new one was seen.
#
# usage: bench/overwrite_readers.sh [--rows N] [--old-rows N] [--overwrite swap|delete|truncate]
#   --rows       rows of the source (default 5000000: public.lineitem)
#   --old-rows   rows in the target before the run (default 1000000)
#   --overwrite  the PostgreSQL sink's overwrite strategy (default: Ferry's own
#                default); `truncate` is the negative control: readers wait
#                for the whole load and time out
# Exit status: 0 the claim holds, 1 it does not, 2 the Ferry run failed.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ROWS="$DEFAULT_ROWS"; OLD_ROWS=1000000; OVERWRITE=""
while (($#)); do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --old-rows) OLD_ROWS="$2"; shift 2 ;;
    --overwrite) OVERWRITE="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$ROWS" =~ ^[1-9][0-9]*$ && "$OLD_ROWS" =~ ^[1-9][0-9]*$ ]] || die "row counts must be positive numbers"
((OLD_ROWS != ROWS)) || die "--old-rows must differ from --rows (old and new counts are told apart)"
case "$OVERWRITE" in ""|swap|delete|truncate) ;; *) die "--overwrite: swap, delete or truncate" ;; esac

need_ferry
ensure_databases
SRC="$(table_for_rows "$ROWS")"
DST=lineitem_ow
ensure_source "$SRC" "$ROWS"
STAMP="$(date +%Y%m%d-%H%M%S)"
LOGDIR="$BENCH_OUT/logs/readers-$STAMP"; mkdir -p "$LOGDIR" "$BENCH_OUT/jobs"

log "target public.$DST: $OLD_ROWS rows of $SRC, its keys and indexes plus one more (untimed)"
psql_q -c "DROP TABLE IF EXISTS public.$DST" \
       -c "CREATE TABLE public.$DST (LIKE public.\"$SRC\" INCLUDING ALL)" \
       -c "INSERT INTO public.$DST SELECT * FROM public.\"$SRC\" ORDER BY l_orderkey DESC, l_linenumber LIMIT $OLD_ROWS" \
       -c "CREATE INDEX ${DST}_shipdate ON public.$DST (l_shipdate)" \
       -c "VACUUM ANALYZE public.$DST" -c "CHECKPOINT"
prewarm_source "$SRC"

job="$BENCH_OUT/jobs/readers.yaml"
sink="{type: postgres, url: \"$PG_URL\", table: $DST${OVERWRITE:+, overwrite: $OVERWRITE}}"
write_ferry_job "$job" bench_readers "$SRC" "$sink" full_overwrite 2

# the reader: one line per read: start (s since epoch), duration (s), result
reads="$LOGDIR/reads.tsv"; : > "$reads"
reader() {
  while [ ! -e "$LOGDIR/stop" ]; do
    local t0 t1 out
    t0="$(date +%s.%N)"
    out="$(psql -X -At -v ON_ERROR_STOP=1 -c "SET statement_timeout = '1s'" \
             -c "SELECT count(*) FROM public.$DST" 2>&1 | tail -1 | tr '\t\n' '  ')" || true
    t1="$(date +%s.%N)"
    printf '%s\t%s\t%s\n' "$t0" "$(echo "$t1 - $t0" | bc)" "$out" >> "$reads"
    sleep "$(echo "x = 0.5 - ($t1 - $t0); if (x < 0) x = 0; x" | bc)"
  done
}
reader & reader_pid=$!
sleep 2   # some reads before the run
log "ferry overwrites public.$DST with $ROWS rows (overwrite: ${OVERWRITE:-default}) while the reader runs"
run_start="$(date +%s.%N)"
time_cmd "$LOGDIR/ferry.time" "$LOGDIR/ferry.json" "$LOGDIR/ferry.err" "$FERRY_BIN" run --json "$job"
run_end="$(date +%s.%N)"
sleep 2   # some reads after it
touch "$LOGDIR/stop"; wait "$reader_pid" || true

publish="$(json_field "$LOGDIR/ferry.json" publish)"
got="$(psql_v -c "SELECT count(*) FROM public.$DST")"
psql_q -c "DROP TABLE IF EXISTS public.$DST"
if [ "$T_RC" != 0 ] || [ "$got" != "$ROWS" ]; then
  log "Ferry run FAILED: exit $T_RC, target count $got: $(tail -3 "$LOGDIR/ferry.err" | tr '\n' ' ')"
  exit 2
fi

python3 - "$reads" "$OLD_ROWS" "$ROWS" "$run_start" "$run_end" "$T_WALL" "$T_RSS_KB" "${OVERWRITE:-default}" "$publish" <<'PY'
import sys
path, old, new, start, end, wall, rss, strategy, publish = sys.argv[1:]
start, end = float(start), float(end)
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
during = [r for r in rows if float(r[0]) >= start and float(r[0]) <= end]
bad = [r for r in rows if r[2].strip() not in (old, new)]
seq = [r[2].strip() for r in rows if r[2].strip() in (old, new)]
back = any(a == new and b == old for a, b in zip(seq, seq[1:]))
first_new = next((float(r[0]) - start for r in rows if r[2].strip() == new), None)
slowest = max(float(r[1]) for r in rows)
gaps = [float(b[0]) - float(a[0]) for a, b in zip(rows, rows[1:])]
print(f"| overwrite | Ferry wall s | peak RSS MB | reads (during the run) | failed | slowest read s | largest gap s | first new count at s | publish |")
print(f"|---|---|---|---|---|---|---|---|---|")
print(f"| {strategy} | {wall} | {int(rss) // 1024} | {len(rows)} ({len(during)}) | {len(bad)} | {slowest:.3f} | {max(gaps):.2f} | "
      f"{first_new if first_new is None else round(first_new, 2)} | {publish} |")
for r in bad[:5]:
    print(f"  failed read at +{float(r[0]) - start:.2f} s: {r[2]}")
ok = not bad and not back and first_new is not None and seq[0] == old and max(gaps) < 1.6
print("verdict: claim holds" if ok else "verdict: claim does NOT hold"
      + (" (new count seen, then old again)" if back else ""))
sys.exit(0 if ok else 1)
PY
