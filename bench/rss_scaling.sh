#!/usr/bin/env bash
# Does Ferry's peak memory depend on the table size? Runs Ferry PG -> PG at
# 1M and 5M rows (parallelism 2, Ferry's default engine options unless
# FERRY_BATCH_BYTES / FERRY_CHANNEL_DEPTH / FERRY_SPLITS_PER_READER are set)
# into a pre-created target, and prints the peak RSS of each.
# The claim under test: peak RSS is the same at 1M and 5M rows and <= 256 MB.
#
# usage: bench/rss_scaling.sh [-n RUNS] [--limit-mb 256] [ROWS ...]
#   ROWS   row counts to compare (default: 1000000 5000000); source tables are
#          public.lineitem (5M) and public.lineitem_<N>, generated if missing
#   -n     runs per size (default 2); the peak is the max over the runs
# "same" means: the largest peak is within 10% (and at most 16 MB) of the
# smallest. Exit status 1 if the claim does not hold, 2 if a run failed.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

RUNS=2; LIMIT_MB=256; SIZES=()
while (($#)); do
  case "$1" in
    -n) RUNS="$2"; shift 2 ;;
    --limit-mb) LIMIT_MB="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) [[ "$1" =~ ^[1-9][0-9]*$ ]] || die "unknown argument: $1"; SIZES+=("$1"); shift ;;
  esac
done
((${#SIZES[@]})) || SIZES=(1000000 5000000)
need_ferry
ensure_databases
STAMP="$(date +%Y%m%d-%H%M%S)"
LOGDIR="$BENCH_OUT/logs/rss-$STAMP"; mkdir -p "$LOGDIR" "$BENCH_OUT/jobs"

declare -A PEAK WALL
fail=0
for rows in "${SIZES[@]}"; do
  src="$(table_for_rows "$rows")"
  ensure_source "$src" "$rows"
  prewarm_source "$src"
  dst="${src}_rss"
  job="$BENCH_OUT/jobs/rss_$rows.yaml"
  write_ferry_job "$job" "bench_rss_$rows" "$src" "{type: postgres, url: \"$PG_URL\", table: $dst}" full_overwrite 2
  PEAK[$rows]=0; walls=()
  for ((r = 1; r <= RUNS; r++)); do
    pg_recreate_like "$dst" "$src"
    base="$LOGDIR/${rows}_r$r"
    time_cmd "$base.time" "$base.out" "$base.err" "$FERRY_BIN" run --json "$job"
    got="$(psql_v -c "SELECT count(*) FROM public.\"$dst\"")"
    if [ "$T_RC" != 0 ] || [ "$got" != "$rows" ]; then
      log "FAILED: $rows rows run $r: exit $T_RC, target count $got; $(tail -3 "$base.err" | tr '\n' ' ')"
      fail=1; continue
    fi
    log "$rows rows run $r: wall $T_WALL s, peak RSS $((T_RSS_KB / 1024)) MB"
    ((T_RSS_KB > PEAK[$rows])) && PEAK[$rows]=$T_RSS_KB
    walls+=("$T_WALL")
  done
  WALL[$rows]="${walls[*]:-}"
  psql_q -c "DROP TABLE IF EXISTS public.\"$dst\""
done

echo
echo "Ferry $("$FERRY_BIN" --version 2>/dev/null || echo '?'), parallelism 2, $(engine_note)"
echo
echo "| rows | runs | wall s (each run) | peak RSS MB (max of runs) |"
echo "|---|---|---|---|"
lo=""; hi=0
for rows in "${SIZES[@]}"; do
  mb=$(( PEAK[$rows] / 1024 ))
  printf '| %s | %s | %s | %s |\n' "$rows" "$RUNS" "${WALL[$rows]:-—}" "$mb"
  [ -z "$lo" ] || ((mb < lo)) && lo=$mb
  ((mb > hi)) && hi=$mb
done
echo
((fail == 0)) || { echo "verdict: a run failed (see $LOGDIR)"; exit 2; }
tol=$(( lo / 10 )); ((tol > 16)) && tol=16; ((tol < 4)) && tol=4
same=no; ((hi - lo <= tol)) && same=yes
under=no; ((hi <= LIMIT_MB)) && under=yes
echo "peak RSS: min $lo MB, max $hi MB -> same across sizes (within $tol MB): $same; <= $LIMIT_MB MB: $under"
[ "$same" = yes ] && [ "$under" = yes ] && { echo "verdict: claim holds"; exit 0; }
echo "verdict: claim does NOT hold"; exit 1
