#!/usr/bin/env bash
# Ferry as the plug-in tool of the shared harness (/work/shared/bench):
#
#   bash /work/shared/bench/baselines.sh --tool-label ferry \
#        --tool 'bash /work/main/bench/ferry_case.sh' \
#        --tool-prep 'bash /work/main/bench/ferry_case.sh prep' pg2pg5m pg2my5m
#
# The harness exports SCENARIO SRC_TABLE DST_TABLE DST_KIND OUT_FILE ROWS
# PG_URL MY_URL BENCH_HOME BENCH_WORK; this script writes a job file for the
# scenario under $BENCH_WORK/ferry_jobs/ and runs `ferry run --json` on it.
#
#   ferry_case.sh        the timed command (what --tool runs)
#   ferry_case.sh prep   untimed, optional (--tool-prep): pre-create the target
#                        the way the harness's own COPY/CSV cases get it
#                        (cases/mk_target.sh: PG `LIKE source` without PK,
#                        MariaDB InnoDB table without PK). Without prep,
#                        Ferry creates the target itself, with the source's
#                        primary key (slower to load: the index is built row
#                        by row).
#
# Scenarios: pg2pg5m/pg2pg1m (PG -> PG), pg2my5m/pg2my1m (PG -> MariaDB),
# my2pg5m (MariaDB bench.$SRC_TABLE -> PG), incr1m (PG -> PG, mode
# incremental_merge on l_updated_at with the watermark in a state file
# $BENCH_WORK/ferry_jobs/incr1m-$DST_TABLE.state.db; the harness's init run
# is the first, full load, and `prep` deletes the state file with the
# target). Not supported by Ferry (exit 3 with a message): read*,
# pg2parquet* (no Parquet sink).
#
# Environment: FERRY_BIN (default $CARGO_TARGET_DIR/release/ferry, with
# CARGO_TARGET_DIR defaulting to ~/.cache/ferry/target), FERRY_PARALLELISM (2),
# FERRY_MODE (full_overwrite); FERRY_BATCH_BYTES, FERRY_CHANNEL_DEPTH,
# FERRY_SPLITS_PER_READER are written into the job only when set (otherwise
# Ferry's defaults apply).
set -euo pipefail
: "${SCENARIO:?run me from the shared harness (SCENARIO not set)}"
: "${SRC_TABLE:?}" "${DST_TABLE:?}" "${DST_KIND:?}" "${PG_URL:?}" "${MY_URL:?}"
FERRY_BIN="${FERRY_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}/release/ferry}"
WORK="${BENCH_WORK:-${TMPDIR:-/tmp}}/ferry_jobs"
mkdir -p "$WORK"

case "$SCENARIO" in
  pg2pg*)  src_type=postgres; src_url="$PG_URL"; snk_type=postgres; snk_url="$PG_URL" ;;
  pg2my*)  src_type=postgres; src_url="$PG_URL"; snk_type=mysql;    snk_url="$MY_URL" ;;
  my2pg*)  src_type=mysql;    src_url="$MY_URL"; snk_type=postgres; snk_url="$PG_URL" ;;
  read*)   echo "ferry_case.sh: scenario $SCENARIO (read only, no target) is not supported" >&2; exit 3 ;;
  pg2parquet*) echo "ferry_case.sh: scenario $SCENARIO is not supported: Ferry has no Parquet sink yet" >&2; exit 3 ;;
  incr*)   src_type=postgres; src_url="$PG_URL"; snk_type=postgres; snk_url="$PG_URL"
           FERRY_MODE=incremental_merge ;;
  *)       echo "ferry_case.sh: unknown scenario $SCENARIO" >&2; exit 3 ;;
esac

state="$WORK/$SCENARIO-$DST_TABLE.state.db"
if [ "${1:-}" = prep ]; then
  [ -n "${BENCH_HOME:-}" ] || { echo "ferry_case.sh prep: BENCH_HOME not set" >&2; exit 2; }
  # incremental: a new target starts from no watermark; Ferry creates the
  # target with the source's primary key (the merge key)
  case "$SCENARIO" in incr*) rm -f "$state" "$state-wal" "$state-shm"; exit 0 ;; esac
  case "$DST_KIND" in
    pg)    exec bash "$BENCH_HOME/cases/mk_target.sh" pg logged ;;
    mysql) exec bash "$BENCH_HOME/cases/mk_target.sh" mysql ;;
    *)     exit 0 ;;
  esac
fi

[ -x "$FERRY_BIN" ] || { echo "ferry_case.sh: no Ferry binary at $FERRY_BIN (cargo build --release -p ferry-cli)" >&2; exit 2; }
job="$WORK/$SCENARIO-$DST_TABLE.yaml"
# parallelism always; other engine options only when set (else Ferry's defaults)
engine="parallelism: ${FERRY_PARALLELISM:-2}"
[ -z "${FERRY_SPLITS_PER_READER:-}" ] || engine+=", splits_per_reader: $FERRY_SPLITS_PER_READER"
[ -z "${FERRY_BATCH_BYTES:-}" ] || engine+=", batch_bytes: $FERRY_BATCH_BYTES"
[ -z "${FERRY_CHANNEL_DEPTH:-}" ] || engine+=", channel_depth: $FERRY_CHANNEL_DEPTH"
cat > "$job" <<YAML
name: bench_${SCENARIO}_${DST_TABLE}
source: {type: $src_type, url: "$src_url", table: $SRC_TABLE}
sink: {type: $snk_type, url: "$snk_url", table: $DST_TABLE}
mode: ${FERRY_MODE:-full_overwrite}
engine: {$engine}
YAML
state_args=()
case "$SCENARIO" in
  incr*) echo "incremental: {cursor: l_updated_at}" >> "$job"; state_args=(--state "$state") ;;
esac
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
"$FERRY_BIN" run --json "${state_args[@]}" "$job" >"$out"
rc=$?
set -e
cat "$out"
# Ferry's own run time (without process start-up) as a phase for summarize.py;
# plain shell, so the timed command pays for no interpreter start-up
ms="$(grep -o '"duration_ms": *[0-9]*' "$out" | grep -o '[0-9]*$' || true)"
[ -z "$ms" ] || printf 'BENCH_PHASE ferry_internal %d.%03d\n' $((ms / 1000)) $((ms % 1000))
exit "$rc"
